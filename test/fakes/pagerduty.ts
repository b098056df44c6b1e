import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local fake of the PagerDuty Events API v2 (`POST /v2/enqueue`) on 127.0.0.1, port 0.
 *
 * Validates events as PagerDuty documents them (PagerDuty/developer-docs events-API-v2): a 32-char
 * `routing_key`, `event_action` trigger|acknowledge|resolve, `dedup_key` ≤255 (required for
 * acknowledge/resolve), and for trigger a `payload` with `summary` (≤1024), `source` and `severity`
 * (critical|error|warning|info); events over 512 KB are refused. Answers 202
 * `{status:"success",message:"Event processed",dedup_key}` or 400
 * `{status:"invalid event",message:"Event object is invalid",errors:[…]}`.
 *
 * Tracks alerts as PagerDuty does: a trigger opens an alert for (routing_key, dedup_key) or joins the
 * open one; acknowledge and resolve apply to the open one only, and are dropped otherwise; a trigger
 * after a resolve opens a new alert.
 */

export interface FakePagerDutyEvent {
  /** The parsed body (undefined when it was not JSON). */
  body: unknown;
  /** HTTP status the fake answered. */
  status: number;
  at: number;
}

export interface FakePagerDutyAlert {
  /** Incrementing id, one per opened alert. */
  id: number;
  routingKey: string;
  dedupKey: string;
  status: 'triggered' | 'acknowledged' | 'resolved';
  summary: string;
  severity: string;
  /** Triggers received while this alert was open (the first included). */
  triggers: number;
}

export type FakePagerDutyAnswer = {
  status: number;
  /** Sent as Retry-After (seconds) with the answer. */
  retryAfterSeconds?: number;
  /** Replaces the default JSON body for this status. */
  body?: unknown;
  /** Waits this long before answering (for client timeouts). */
  delayMs?: number;
};

export interface FakePagerDuty {
  /** http://127.0.0.1:PORT */
  url: string;
  /** http://127.0.0.1:PORT/v2/enqueue: what the notifier's `eventsUrl` takes. */
  eventsUrl: string;
  /** Every POST to /v2/enqueue, in order, including rejected ones. */
  events: FakePagerDutyEvent[];
  /** Every alert ever opened, in order. */
  alerts: FakePagerDutyAlert[];
  /** The open (triggered or acknowledged) alert for this key, if any. */
  openAlert(routingKey: string, dedupKey: string): FakePagerDutyAlert | undefined;
  /** The next n events get this answer instead of being processed (and are not applied). */
  failNext(n: number, answer: number | FakePagerDutyAnswer): void;
  close(): Promise<void>;
}

const MAX_EVENT_BYTES = 512 * 1024;
const SEVERITIES = new Set(['critical', 'error', 'warning', 'info']);
const ACTIONS = new Set(['trigger', 'acknowledge', 'resolve']);

/** Starts the fake. */
export async function startFakePagerDuty(): Promise<FakePagerDuty> {
  const events: FakePagerDutyEvent[] = [];
  const alerts: FakePagerDutyAlert[] = [];
  const failures: FakePagerDutyAnswer[] = [];
  const open = new Map<string, FakePagerDutyAlert>();
  const keyOf = (routingKey: string, dedupKey: string): string => `${routingKey}\u0000${dedupKey}`;

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) json(res, 500, { status: 'error', message: String(error) });
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const raw = await readBody(req);
    if (url.pathname !== '/v2/enqueue') return json(res, 404, { status: 'error', message: 'Not found' });
    if (req.method !== 'POST') return json(res, 405, { status: 'error', message: 'Method not allowed' });

    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      body = undefined;
    }
    const event: FakePagerDutyEvent = { body, status: 0, at: Date.now() };
    events.push(event);

    const failure = failures.shift();
    if (failure !== undefined) {
      if (failure.delayMs !== undefined) await new Promise((r) => setTimeout(r, failure.delayMs));
      event.status = failure.status;
      const headers: Record<string, string> = failure.retryAfterSeconds === undefined ? {} : { 'Retry-After': String(failure.retryAfterSeconds) };
      return json(res, failure.status, failure.body ?? defaultBody(failure.status), headers);
    }

    if (raw.length > MAX_EVENT_BYTES) {
      event.status = 400;
      return json(res, 400, invalid(['Event object is too large (limit 512 KB)']));
    }
    if (body === undefined) {
      event.status = 400;
      return json(res, 400, { status: 'invalid event', message: 'Event object is invalid', errors: ['Invalid JSON'] });
    }
    const errors = validate(body);
    if (errors.length > 0) {
      event.status = 400;
      return json(res, 400, invalid(errors));
    }

    const e = body as Record<string, unknown>;
    const routingKey = e.routing_key as string;
    const action = e.event_action as string;
    const dedupKey = typeof e.dedup_key === 'string' && e.dedup_key !== '' ? e.dedup_key : randomUUID().replaceAll('-', '');
    const current = open.get(keyOf(routingKey, dedupKey));
    if (action === 'trigger') {
      const payload = e.payload as Record<string, unknown>;
      if (current === undefined) {
        const alert: FakePagerDutyAlert = {
          id: alerts.length + 1,
          routingKey,
          dedupKey,
          status: 'triggered',
          summary: payload.summary as string,
          severity: payload.severity as string,
          triggers: 1,
        };
        alerts.push(alert);
        open.set(keyOf(routingKey, dedupKey), alert);
      } else {
        current.triggers += 1;
      }
    } else if (current !== undefined) {
      // Acknowledge and resolve without an open alert are accepted and dropped, as PagerDuty does.
      if (action === 'acknowledge') current.status = 'acknowledged';
      else {
        current.status = 'resolved';
        open.delete(keyOf(routingKey, dedupKey));
      }
    }
    event.status = 202;
    json(res, 202, { status: 'success', message: 'Event processed', dedup_key: dedupKey });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    eventsUrl: `${url}/v2/enqueue`,
    events,
    alerts,
    openAlert: (routingKey, dedupKey) => open.get(keyOf(routingKey, dedupKey)),
    failNext(n, answer) {
      const a = typeof answer === 'number' ? { status: answer } : answer;
      for (let i = 0; i < n; i++) failures.push(a);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// PagerDuty's error strings, as close as its docs and answers show them.
function validate(body: unknown): string[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return ['Event object must be a JSON object'];
  const e = body as Record<string, unknown>;
  const errors: string[] = [];
  const blank = (v: unknown): boolean => typeof v !== 'string' || v.trim() === '';

  if (blank(e.routing_key)) errors.push("'routing_key' is missing or blank");
  else if ((e.routing_key as string).length !== 32) errors.push("Length of 'routing_key' is incorrect (should be 32 characters)");

  if (blank(e.event_action)) errors.push("'event_action' is missing or blank");
  else if (!ACTIONS.has(e.event_action as string)) errors.push("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)");

  if (e.dedup_key !== undefined) {
    if (typeof e.dedup_key !== 'string') errors.push("'dedup_key' must be a string");
    else if (e.dedup_key.length > 255) errors.push("Length of 'dedup_key' exceeds 255 characters");
  }
  if ((e.event_action === 'acknowledge' || e.event_action === 'resolve') && blank(e.dedup_key)) {
    errors.push("'dedup_key' is missing or blank");
  }

  if (e.event_action === 'trigger') {
    const p = e.payload;
    if (typeof p !== 'object' || p === null || Array.isArray(p)) {
      errors.push("'payload' is missing or not an object");
    } else {
      const payload = p as Record<string, unknown>;
      if (blank(payload.summary)) errors.push("'payload.summary' is missing or blank");
      else if ((payload.summary as string).length > 1024) errors.push("Length of 'payload.summary' exceeds 1024 characters");
      if (blank(payload.source)) errors.push("'payload.source' is missing or blank");
      if (blank(payload.severity)) errors.push("'payload.severity' is missing or blank");
      else if (!SEVERITIES.has(payload.severity as string)) errors.push("'payload.severity' is invalid (must be one of: critical, error, warning, info)");
      if (payload.timestamp !== undefined && (typeof payload.timestamp !== 'string' || Number.isNaN(Date.parse(payload.timestamp)))) {
        errors.push("'payload.timestamp' is not a valid ISO 8601 timestamp");
      }
      if (payload.custom_details !== undefined && (typeof payload.custom_details !== 'object' || payload.custom_details === null)) {
        errors.push("'payload.custom_details' must be an object");
      }
    }
  }
  if (e.links !== undefined) {
    if (!Array.isArray(e.links) || !e.links.every((l) => typeof l === 'object' && l !== null && !blank((l as Record<string, unknown>).href))) {
      errors.push("'links' must be a list of objects with an 'href'");
    }
  }
  return errors;
}

function invalid(errors: string[]): unknown {
  return { status: 'invalid event', message: 'Event object is invalid', errors };
}

function defaultBody(status: number): unknown {
  if (status === 400) return invalid(['Event object is invalid']);
  if (status === 429) return { status: 'throttle event', message: 'Requests for this service are arriving too quickly. Please retry later.' };
  if (status >= 200 && status < 300) return { status: 'success', message: 'Event processed' };
  return { status: 'error', message: 'Internal server error' };
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload), ...headers });
  res.end(payload);
}
