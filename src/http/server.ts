import type { IncomingMessage, OutgoingHttpHeaders, RequestListener, ServerResponse } from 'node:http';
import express, { type ErrorRequestHandler } from 'express';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { GroupLimitError } from '../track/redis-store.ts';
import { badRequest, HttpError, payloadTooLarge, requestTimeout, unsupportedMediaType } from './errors.ts';
import { contentTypeProblem } from './content-type.ts';
import { receiveArgocd, receiveFlux, type WebhookDeps } from './webhooks.ts';
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

function header(req: IncomingMessage, name: string): string | undefined {
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
function readRawBody(req: IncomingMessage, limit: number, timeoutMs: number): Promise<Buffer> {
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

/** A JSON answer as express's `res.status(status).json(body)` writes it (no ETag: none is cacheable). */
function sendJson(res: ServerResponse, status: number, body: unknown, headers?: OutgoingHttpHeaders): void {
  // Answered already: nothing more to say (a second answer would throw ERR_HTTP_HEADERS_SENT).
  if (res.headersSent) return;
  const text = JSON.stringify(body);
  const own = { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) };
  res.writeHead(status, headers === undefined ? own : { ...headers, ...own }).end(text);
}

type Webhook = 'argocd' | 'flux';
const SOURCE = { argocd: 'argocd-webhook', flux: 'flux-webhook' } as const;

/**
 * One webhook request, start to answer, on node:http's own request and response (issue #15: no
 * router or middleware stack per webhook): the headers are checked, then the raw body is read
 * (signatures are computed over the exact bytes), then `receive` runs. Every refusal before the
 * body is read closes the connection: the rest of the body is never read.
 */
function webhookHandler(deps: ServerDeps) {
  const bodyTimeoutMs = deps.bodyTimeoutMs ?? BODY_TIMEOUT_MS;
  const limits = { argocd: deps.maxBodyBytes?.argocd ?? ARGOCD_MAX_BODY_BYTES, flux: deps.maxBodyBytes?.flux ?? MAX_BODY_BYTES };
  // Argo CD may send no Content-Type (its webhook service sends only the headers it is given): fine
  // when a token protects the webhook, refused (415) when it is open. Flux's generic providers
  // always send application/json.
  const missingContentTypeOk = { argocd: () => deps.webhooks.senders.has('argocd'), flux: () => false };
  const receive = {
    argocd: (req: IncomingMessage, body: Buffer) => receiveArgocd(body, header(req, 'authorization'), deps.webhooks),
    flux: (req: IncomingMessage, body: Buffer) =>
      receiveFlux(body, { signature: header(req, 'x-signature'), authorization: header(req, 'authorization') }, deps.webhooks),
  };
  const refuse = (webhook: Webhook, req: IncomingMessage, res: ServerResponse, err: HttpError): void => {
    const limit = limits[webhook];
    if (err.status === 413) {
      const setting = webhook === 'argocd' ? 'MESHDRIFT_ARGOCD_MAX_BODY' : 'MESHDRIFT_FLUX_MAX_BODY';
      deps.log.warn(
        { webhook, limit, contentLength: header(req, 'content-length') },
        `webhook body over ${setting} (${limit} bytes): refused with 413, which the sender does not retry`,
      );
      deps.metrics.limitHit('webhook_body');
    }
    deps.metrics.signalReceived(SOURCE[webhook], err.outcome);
    sendJson(res, err.status, { error: err.message }, { connection: 'close' });
  };
  return async (webhook: Webhook, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const source = SOURCE[webhook];
    const problem = contentTypeProblem(header(req, 'content-type'), missingContentTypeOk[webhook]()) ?? contentEncodingProblem(header(req, 'content-encoding'));
    if (problem !== undefined) {
      refuse(webhook, req, res, unsupportedMediaType(problem));
      return;
    }
    let body: Buffer;
    try {
      body = await readRawBody(req, limits[webhook], bodyTimeoutMs);
    } catch (err) {
      if (err instanceof HttpError) refuse(webhook, req, res, err);
      else answerWebhookError(deps, source, deps.log.child({ source, delivery: header(req, 'x-request-id') }), res, err);
      return;
    }
    try {
      const answer = await receive[webhook](req, body).catch((err: unknown) => {
        // Past a findings bound: refused whole, said to the sender (ingest logged and counted it).
        throw err instanceof FindingsLimitError ? payloadTooLarge(err.message) : err;
      });
      deps.metrics.signalReceived(source, answer.outcome === 'duplicate' ? 'unchanged' : answer.outcome);
      sendJson(res, 202, answer.body);
    } catch (err) {
      answerWebhookError(deps, source, deps.log.child({ source, delivery: header(req, 'x-request-id') }), res, err);
    }
  };
}

/**
 * The HTTP handler: POST /webhooks/argocd and /webhooks/flux answered straight from node:http
 * (issue #15: express's router, its request and response objects cost a webhook a share of its
 * time); every other request, and a webhook path spelled otherwise (a query string, a trailing
 * slash, other letter case), goes to the express app, whose routes run the same handler. No
 * listening here; app.ts owns the socket.
 */
export function createServer(deps: ServerDeps): RequestListener {
  const handleWebhook = webhookHandler(deps);
  const app = expressApp(deps, handleWebhook);
  return (req, res) => {
    if (req.method === 'POST') {
      const webhook = req.url === '/webhooks/flux' ? 'flux' : req.url === '/webhooks/argocd' ? 'argocd' : undefined;
      if (webhook !== undefined) {
        void handleWebhook(webhook, req, res);
        return;
      }
    }
    app(req, res);
  };
}

/** The express app: webhooks (the same handler), the APIs, the web page, probes and metrics. */
function expressApp(deps: ServerDeps, handleWebhook: ReturnType<typeof webhookHandler>): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // No ETag on answers: none is cacheable, and hashing every webhook's answer costs time (issue #15).
  app.set('etag', false);
  app.post('/webhooks/argocd', (req, res) => handleWebhook('argocd', req, res));
  app.post('/webhooks/flux', (req, res) => handleWebhook('flux', req, res));

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
  res: ServerResponse,
  err: unknown,
): void {
  let unavailable: UnavailableReason | undefined;
  if (err instanceof HttpError) {
    deps.metrics.signalReceived(source, err.outcome);
    log.warn({ status: err.status, error: err.message }, 'webhook rejected');
    sendJson(res, err.status, { error: err.message });
  } else if (err instanceof GroupLimitError) {
    // Refused, not lost: the sender retries (Argo CD notifications and Flux do on a 5xx).
    deps.metrics.signalReceived(source, 'unavailable');
    log.warn({ error: err.message }, 'webhook not processed: alert group limit reached');
    sendJson(res, 503, { error: err.message }, { 'retry-after': '60' });
  } else if ((unavailable = deps.isUnavailable(err)) !== undefined) {
    // Nothing of this signal is lost: what committed stays, the rest comes with the sender's retry.
    deps.metrics.signalReceived(source, 'unavailable');
    deps.metrics.redisUnavailable(unavailable);
    log.warn(
      { reason: unavailable, error: err instanceof Error ? err.message : String(err) },
      'webhook not processed: Redis unavailable or contended; answered 503',
    );
    sendJson(res, 503, { error: unavailableMessage(unavailable) }, { 'retry-after': String(retryAfterSeconds(unavailable)) });
  } else {
    deps.metrics.signalReceived(source, 'unavailable');
    log.error({ err }, 'webhook failed');
    sendJson(res, 500, { error: 'internal error; nothing was tracked, retry later' });
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
