import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP relay on 127.0.0.1:0 in front of a fake receiver (Slack, PagerDuty), for fault tests: it
 * forwards each request to `target` unless `answer` says otherwise. That makes outages a matter of
 * time windows and request contents (which the fakes' count-based `failNext` cannot express), and a
 * relay per replica tells which replica a request came from.
 *
 * What `answer` may return for a request:
 * - `'forward'`: relayed as is, and the target's answer relayed back;
 * - `'hold'`: never forwarded and never answered (lost in flight; the caller times out or dies);
 * - `'forward-hold'`: forwarded, so the target acts on it, but its answer never comes back;
 * - `{ status, headers?, body? }`: answered by the relay; the target never sees it.
 */
export type RelayAnswer = 'forward' | 'hold' | 'forward-hold' | { status: number; headers?: Record<string, string>; body?: string };

export interface RelayRequest {
  at: number;
  method: string;
  path: string;
  body: string;
  /** What happened to it: the status the caller got, or `held` / `forward-held`. */
  outcome: number | 'held' | 'forward-held' | 'error';
  /** Whether the caller is still connected (only meaningful for held requests). */
  open: boolean;
}

export interface Relay {
  /** http://127.0.0.1:PORT */
  url: string;
  /** Every request, in arrival order. */
  requests: RelayRequest[];
  /** Decides each request's fate; default: forward everything. */
  answer: (req: { at: number; method: string; path: string; body: string }) => RelayAnswer;
  close(): Promise<void>;
}

/** Starts a relay to `target` (an origin such as http://127.0.0.1:1234; the request path is kept). */
export async function startRelay(target: string): Promise<Relay> {
  const requests: RelayRequest[] = [];
  const relay: Relay = { url: '', requests, answer: () => 'forward', close: async () => undefined };

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const entry: RelayRequest = { at: Date.now(), method: req.method ?? 'GET', path: req.url ?? '/', body, outcome: 'held', open: true };
    requests.push(entry);
    res.on('close', () => (entry.open = false));
    const answer = relay.answer(entry);
    if (answer === 'hold') return;
    if (typeof answer === 'object') {
      entry.outcome = answer.status;
      res.writeHead(answer.status, answer.headers ?? {});
      res.end(answer.body ?? '');
      return;
    }
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (typeof v === 'string' && !['host', 'connection', 'content-length', 'transfer-encoding'].includes(k)) headers[k] = v;
    }
    let upstream: Response;
    try {
      upstream = await fetch(`${target}${entry.path}`, { method: entry.method, headers, ...(entry.method === 'GET' ? {} : { body }) });
    } catch {
      entry.outcome = 'error';
      res.writeHead(502).end();
      return;
    }
    const text = await upstream.text();
    if (answer === 'forward-hold') {
      entry.outcome = 'forward-held';
      return;
    }
    entry.outcome = upstream.status;
    const out: Record<string, string> = {};
    upstream.headers.forEach((value, key) => {
      if (!['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'content-encoding'].includes(key)) out[key] = value;
    });
    res.writeHead(upstream.status, out);
    res.end(text);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  relay.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  relay.close = () =>
    new Promise<void>((resolve) => {
      // Held requests never end by themselves.
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return relay;
}
