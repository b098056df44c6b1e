import express, { type ErrorRequestHandler, type Request, type Response } from 'express';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { HttpError } from './errors.ts';
import { receiveArgocd, receiveFlux, type WebhookAnswer, type WebhookDeps } from './webhooks.ts';

export const MAX_BODY_BYTES = 1024 * 1024;

export interface ServerDeps {
  webhooks: WebhookDeps;
  metrics: Metrics;
  log: Logger;
  /** Resolves when every dependency the service needs answers (Redis); rejects with why not. */
  ready: () => Promise<void>;
  /** Whether an error came from an unavailable dependency (then 503: the sender retries). */
  isUnavailable: (err: unknown) => boolean;
  /** The JSON API (alerts, history, silences, dead letters), mounted at /api/v1. */
  api?: express.Router;
  /** POST /slack/actions (signed Slack button clicks), when SLACK_SIGNING_SECRET is set. */
  slackActions?: express.Router;
}

function header(req: Request, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The express app: webhooks, probes and metrics. No listening here; app.ts owns the socket. */
export function createServer(deps: ServerDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  // Raw bytes for every webhook: signatures are computed over the exact body, before parsing.
  const raw = express.raw({ type: () => true, limit: MAX_BODY_BYTES });

  const webhook =
    (source: 'argocd-webhook' | 'flux-webhook', receive: (req: Request) => Promise<WebhookAnswer>) =>
    async (req: Request, res: Response): Promise<void> => {
      const log = deps.log.child({ source, delivery: header(req, 'x-request-id') });
      try {
        const answer = await receive(req);
        deps.metrics.signalReceived(source, answer.outcome === 'duplicate' ? 'unchanged' : answer.outcome);
        res.status(202).json(answer.body);
      } catch (err) {
        if (err instanceof HttpError) {
          deps.metrics.signalReceived(source, err.outcome);
          log.warn({ status: err.status, error: err.message }, 'webhook rejected');
          res.status(err.status).json({ error: err.message });
        } else if (deps.isUnavailable(err)) {
          deps.metrics.signalReceived(source, 'unavailable');
          log.warn({ error: err instanceof Error ? err.message : String(err) }, 'webhook not processed: Redis unavailable');
          res.status(503).set('Retry-After', '5').json({ error: 'temporarily unavailable (Redis): retry later' });
        } else {
          deps.metrics.signalReceived(source, 'unavailable');
          log.error({ err }, 'webhook failed');
          res.status(500).json({ error: 'internal error; nothing was tracked, retry later' });
        }
      }
    };

  const bodyOf = (req: Request): Buffer => (Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0));

  app.post(
    '/webhooks/argocd',
    raw,
    webhook('argocd-webhook', (req) => receiveArgocd(bodyOf(req), header(req, 'authorization'), deps.webhooks)),
  );
  app.post(
    '/webhooks/flux',
    raw,
    webhook('flux-webhook', (req) =>
      receiveFlux(bodyOf(req), { signature: header(req, 'x-signature'), authorization: header(req, 'authorization') }, deps.webhooks),
    ),
  );

  if (deps.api) app.use('/api/v1', deps.api);
  if (deps.slackActions) app.use(deps.slackActions);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    try {
      await deps.ready();
      res.json({ status: 'ready' });
    } catch (err) {
      res.status(503).json({ status: 'not ready', error: err instanceof Error ? err.message : String(err) });
    }
  });
  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
  });

  const onError: ErrorRequestHandler = (err: unknown, req, res, _next) => {
    // Body parser failures: too large, aborted, bad encoding. Never a 500 for bad input.
    const type = typeof err === 'object' && err !== null && 'type' in err ? String(err.type) : '';
    const source = req.path.includes('flux') ? 'flux-webhook' : 'argocd-webhook';
    if (type === 'entity.too.large') {
      deps.metrics.signalReceived(source, 'too_large');
      res.status(413).json({ error: `body larger than ${MAX_BODY_BYTES} bytes` });
      return;
    }
    deps.metrics.signalReceived(source, 'invalid');
    const status = typeof err === 'object' && err !== null && 'status' in err && typeof err.status === 'number' && err.status < 500 ? err.status : 400;
    res.status(status).json({ error: err instanceof Error ? err.message : 'bad request' });
  };
  app.use(onError);
  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });
  return app;
}
