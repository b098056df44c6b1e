import express, { type ErrorRequestHandler, type Request, type RequestHandler, type Response } from 'express';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { GroupLimitError } from '../track/redis-store.ts';
import { badRequest, HttpError, payloadTooLarge, requestTimeout, unsupportedMediaType } from './errors.ts';
import { contentTypeProblem } from './content-type.ts';
import { receiveArgocd, receiveFlux, type WebhookAnswer, type WebhookDeps } from './webhooks.ts';
import { FindingsLimitError } from '../track/ingest.ts';
import { retryAfterSeconds, unavailableMessage, type UnavailableReason } from '../net/unavailable.ts';

/** Default body limit of /webhooks/flux (MESHDRIFT_FLUX_MAX_BODY): a Flux event message is at most 39,000 characters. */
export const MAX_BODY_BYTES = 1024 * 1024;
/**
 * Default body limit of /webhooks/argocd (MESHDRIFT_ARGOCD_MAX_BODY). The shipped template sends a
 * subset of the Application, and etcd stores no object over 1.5 MiB (its default request limit),
 * so every body the template renders fits, however many resources the app has.
 */
export const ARGOCD_MAX_BODY_BYTES = 2 * 1024 * 1024;
/**
 * How long a webhook sender may take to deliver its body once the headers are in. A sender that
 * trickles bytes would otherwise hold a connection (and its buffer) for Node's requestTimeout.
 */
export const BODY_TIMEOUT_MS = 10_000;

export interface ServerDeps {
  webhooks: WebhookDeps;
  metrics: Metrics;
  log: Logger;
  /**
   * Resolves when every dependency the service needs answers (Redis), with warnings that do not
   * make it unready (e.g. a recent Redis data loss); rejects with why not.
   */
  ready: () => Promise<readonly string[] | undefined>;
  /** Why an error means Redis cannot serve now (then 503 with Retry-After: the sender retries), or undefined (500). */
  isUnavailable: (err: unknown) => UnavailableReason | undefined;
  /** The JSON API (alerts, history, silences, dead letters), mounted at /api/v1. */
  api?: express.Router;
  /** Alertmanager's API v2 subset (amtool, karma, Grafana), mounted at /api/v2. */
  apiV2?: express.Router;
  /** POST /slack/actions (signed Slack button clicks), when SLACK_SIGNING_SECRET is set. */
  slackActions?: express.Router;
  /** The web page (issue #21), mounted at /ui. */
  ui?: express.Router;
  /** Default {@link BODY_TIMEOUT_MS}. */
  bodyTimeoutMs?: number;
  /** Body limits per webhook; defaults {@link ARGOCD_MAX_BODY_BYTES} and {@link MAX_BODY_BYTES}. */
  maxBodyBytes?: { argocd?: number; flux?: number };
}

function header(req: Request, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * Why a webhook's Content-Encoding is refused, or undefined. Argo CD and Flux send plain bodies;
 * reading only `identity` keeps the size limit a limit on what is parsed (no zip bombs).
 */
function contentEncodingProblem(contentEncoding: string | undefined): string | undefined {
  const value = contentEncoding?.trim().toLowerCase() ?? '';
  if (value === '' || value === 'identity') return undefined;
  return `Content-Encoding ${JSON.stringify(value.slice(0, 64))} is not supported: send the body uncompressed`;
}

/**
 * The request body as bytes, at most `limit` of them, all within `timeoutMs`. Rejects at once when
 * the declared or received length passes the limit: express.raw would first drain the whole body
 * (however long the sender takes) before answering 413.
 */
function readRawBody(req: Request, limit: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const tooLarge = () => payloadTooLarge(`body larger than ${limit} bytes`);
    if (Number(header(req, 'content-length') ?? 0) > limit) {
      reject(tooLarge());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (err?: HttpError) => {
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', onError).off('close', onClose);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) settle(tooLarge());
      else chunks.push(chunk);
    };
    const onEnd = () => settle();
    const onError = (err: Error) => settle(badRequest(`request body could not be read: ${err.message}`));
    // The sender went away mid-body; nobody is left to read the answer.
    const onClose = () => settle(badRequest('request aborted before the body was complete'));
    const timer = setTimeout(() => settle(requestTimeout(`request body not received within ${timeoutMs} ms`)), timeoutMs);
    req.on('data', onData).on('end', onEnd).on('error', onError).on('close', onClose);
  });
}

/** The express app: webhooks, probes and metrics. No listening here; app.ts owns the socket. */
export function createServer(deps: ServerDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // No ETag on answers: none is cacheable, and hashing every webhook's answer costs time (issue #15).
  app.set('etag', false);
  const bodyTimeoutMs = deps.bodyTimeoutMs ?? BODY_TIMEOUT_MS;
  /**
   * Checks the headers, then reads the raw body (signatures are computed over the exact bytes).
   * Every refusal closes the connection: the rest of the body is never read.
   */
  const limits = { argocd: deps.maxBodyBytes?.argocd ?? ARGOCD_MAX_BODY_BYTES, flux: deps.maxBodyBytes?.flux ?? MAX_BODY_BYTES };
  const readBody =
    (webhook: 'argocd' | 'flux', missingContentTypeOk: () => boolean): RequestHandler =>
    (req, res, next) => {
      const limit = limits[webhook];
      const refuse = (err: HttpError) => {
        res.set('Connection', 'close');
        if (err.status === 413) {
          const setting = webhook === 'argocd' ? 'MESHDRIFT_ARGOCD_MAX_BODY' : 'MESHDRIFT_FLUX_MAX_BODY';
          deps.log.warn(
            { webhook, limit, contentLength: header(req, 'content-length') },
            `webhook body over ${setting} (${limit} bytes): refused with 413, which the sender does not retry`,
          );
          deps.metrics.limitHit('webhook_body');
        }
        next(err);
      };
      const problem = contentTypeProblem(header(req, 'content-type'), missingContentTypeOk()) ?? contentEncodingProblem(header(req, 'content-encoding'));
      if (problem !== undefined) {
        refuse(unsupportedMediaType(problem));
        return;
      }
      readRawBody(req, limit, bodyTimeoutMs).then(
        (body) => {
          req.body = body;
          next();
        },
        (err: unknown) => (err instanceof HttpError ? refuse(err) : next(err)),
      );
    };

  const webhook =
    (source: 'argocd-webhook' | 'flux-webhook', receive: (req: Request) => Promise<WebhookAnswer>) =>
    async (req: Request, res: Response): Promise<void> => {
      try {
        const answer = await receive(req).catch((err: unknown) => {
          // Past a findings bound: refused whole, said to the sender (ingest logged and counted it).
          throw err instanceof FindingsLimitError ? payloadTooLarge(err.message) : err;
        });
        deps.metrics.signalReceived(source, answer.outcome === 'duplicate' ? 'unchanged' : answer.outcome);
        // Written straight to the socket (express's json/send would look up types, test freshness
        // and more for every webhook; issue #15): the same status, headers and body.
        const body = JSON.stringify(answer.body);
        res.writeHead(202, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) }).end(body);
      } catch (err) {
        answerWebhookError(deps, source, deps.log.child({ source, delivery: header(req, 'x-request-id') }), res, err);
      }
    };

  const bodyOf = (req: Request): Buffer => (Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));

  // Argo CD may send no Content-Type (its webhook service sends only the headers it is given): fine
  // when a token protects the webhook, refused (415) when it is open.
  app.post(
    '/webhooks/argocd',
    readBody('argocd', () => deps.webhooks.senders.has('argocd')),
    webhook('argocd-webhook', (req) => receiveArgocd(bodyOf(req), header(req, 'authorization'), deps.webhooks)),
  );
  // Flux's generic providers always send application/json.
  app.post(
    '/webhooks/flux',
    readBody('flux', () => false),
    webhook('flux-webhook', (req) =>
      receiveFlux(bodyOf(req), { signature: header(req, 'x-signature'), authorization: header(req, 'authorization') }, deps.webhooks),
    ),
  );

  if (deps.api) app.use('/api/v1', deps.api);
  if (deps.apiV2) app.use('/api/v2', deps.apiV2);
  if (deps.slackActions) app.use(deps.slackActions);
  if (deps.ui) app.use('/ui', deps.ui);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    try {
      const warnings = (await deps.ready()) ?? [];
      res.json({ status: 'ready', ...(warnings.length > 0 ? { warnings } : {}) });
    } catch (err) {
      res.status(503).json({ status: 'not ready', error: err instanceof Error ? err.message : String(err) });
    }
  });
  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  app.use(errorHandler(deps));
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  return app;
}

/** A webhook that failed: its HttpError, 503 with Retry-After for what a retry fixes (Redis unavailable, contention, the group limit), else 500. */
function answerWebhookError(
  deps: Pick<ServerDeps, 'metrics' | 'isUnavailable'>,
  source: 'argocd-webhook' | 'flux-webhook',
  log: Logger,
  res: Response,
  err: unknown,
): void {
  let unavailable: UnavailableReason | undefined;
  if (err instanceof HttpError) {
    deps.metrics.signalReceived(source, err.outcome);
    log.warn({ status: err.status, error: err.message }, 'webhook rejected');
    res.status(err.status).json({ error: err.message });
  } else if (err instanceof GroupLimitError) {
    // Refused, not lost: the sender retries (Argo CD notifications and Flux do on a 5xx).
    deps.metrics.signalReceived(source, 'unavailable');
    log.warn({ error: err.message }, 'webhook not processed: alert group limit reached');
    res.status(503).set('Retry-After', '60').json({ error: err.message });
  } else if ((unavailable = deps.isUnavailable(err)) !== undefined) {
    // Nothing of this signal is lost: what committed stays, the rest comes with the sender's retry.
    deps.metrics.signalReceived(source, 'unavailable');
    deps.metrics.redisUnavailable(unavailable);
    log.warn(
      { reason: unavailable, error: err instanceof Error ? err.message : String(err) },
      'webhook not processed: Redis unavailable or contended; answered 503',
    );
    res
      .status(503)
      .set('Retry-After', String(retryAfterSeconds(unavailable)))
      .json({ error: unavailableMessage(unavailable) });
  } else {
    deps.metrics.signalReceived(source, 'unavailable');
    log.error({ err }, 'webhook failed');
    res.status(500).json({ error: 'internal error; nothing was tracked, retry later' });
  }
}

/**
 * The last word on a request that failed in a handler: an HttpError answers its status, a body
 * parser failure of the routers mounted here (too large, aborted, bad encoding) a 4xx, never a 500
 * for bad input. (The webhooks read their own bodies: readRawBody.)
 */
function errorHandler(deps: Pick<ServerDeps, 'metrics'>): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    // Answered already: nothing more to say (a second answer would throw ERR_HTTP_HEADERS_SENT).
    if (res.headersSent) return;
    const source = req.path.includes('flux') ? 'flux-webhook' : 'argocd-webhook';
    if (err instanceof HttpError) {
      deps.metrics.signalReceived(source, err.outcome);
      res.status(err.status).json({ error: err.message });
      return;
    }
    // Body parser failures of the routers mounted here: too large, aborted, bad encoding. Never a
    // 500 for bad input. (The webhooks read their own bodies: readRawBody.)
    const type = typeof err === 'object' && err !== null && 'type' in err ? String(err.type) : '';
    if (type === 'entity.too.large') {
      deps.metrics.signalReceived(source, 'too_large');
      res.status(413).json({ error: `body larger than ${MAX_BODY_BYTES} bytes` });
      return;
    }
    deps.metrics.signalReceived(source, 'invalid');
    const status = typeof err === 'object' && err !== null && 'status' in err && typeof err.status === 'number' && err.status < 500 ? err.status : 400;
    res.status(status).json({ error: err instanceof Error ? err.message : 'bad request' });
  };
}
