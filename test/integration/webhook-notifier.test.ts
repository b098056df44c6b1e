import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createWebhookNotifier, type WebhookPayload } from '../../src/deliver/webhook/notifier.ts';
import { makeNotification, makeTrackedFinding, T0 } from '../support/notifications.ts';

const HMAC_KEY = 'webhook-hmac-key-SECRET';
const PATH_TOKEN = 'T0KEN-IN-PATH-SECRET';
const QUERY_TOKEN = 'T0KEN-IN-QUERY-SECRET';

const n = makeNotification({
  // Non-ASCII on purpose: the signature is over bytes, not characters.
  firing: [makeTrackedFinding('allow-checkout'), makeTrackedFinding('zürich-😀', { detail: 'changed "spec"\n' })],
  at: T0 + 1000,
});

interface Received {
  method: string | undefined;
  path: string | undefined;
  headers: IncomingMessage['headers'];
  raw: Buffer;
}

type Answer = { status: number; delayMs?: number; body?: string };

let received: Received[];
let answers: Answer[];
let server: ReturnType<typeof createServer>;
let base: string;
let hookUrl: string;

beforeEach(async () => {
  received = [];
  answers = [];
  server = createServer((req, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method, path: req.url, headers: req.headers, raw: Buffer.concat(chunks) });
      const answer = answers.shift() ?? { status: 200 };
      setTimeout(() => {
        if (!res.destroyed) res.writeHead(answer.status, { 'Content-Type': 'text/plain' }).end(answer.body ?? '');
      }, answer.delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  hookUrl = `${base}/hooks/${PATH_TOKEN}?token=${QUERY_TOKEN}`;
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

// What a receiver does: recompute the HMAC over the raw bytes it read, compare in constant time.
function verify(raw: Buffer, header: string | string[] | undefined, key: string): boolean {
  if (typeof header !== 'string' || !header.startsWith('sha256=')) return false;
  const expected = Buffer.from(createHmac('sha256', key).update(raw).digest('hex'));
  const got = Buffer.from(header.slice('sha256='.length));
  return got.length === expected.length && timingSafeEqual(got, expected);
}

describe('webhook notifier against a local HTTP receiver', () => {
  it('POSTs the JSON payload with a signature the receiver can verify over the raw body', async () => {
    const notifier = createWebhookNotifier({ url: hookUrl, hmacKey: HMAC_KEY, timeoutMs: 2_000 });
    expect(notifier.type).toBe('webhook');

    await expect(notifier.send(n)).resolves.toEqual({ ok: true });

    expect(received).toHaveLength(1);
    const [req] = received;
    expect(req?.method).toBe('POST');
    expect(req?.path).toBe(`/hooks/${PATH_TOKEN}?token=${QUERY_TOKEN}`);
    expect(req?.headers['content-type']).toBe('application/json');
    expect(verify(req?.raw ?? Buffer.alloc(0), req?.headers['x-meshdrift-signature'], HMAC_KEY)).toBe(true);
    expect(verify(req?.raw ?? Buffer.alloc(0), req?.headers['x-meshdrift-signature'], 'another-key')).toBe(false);

    const payload = JSON.parse(req?.raw.toString('utf8') ?? '') as WebhookPayload;
    expect(payload).toMatchObject({ version: 'meshdrift/1', groupKey: 'g1', seq: 1, status: 'firing', notification_reason: 'first' });
    expect(payload.alerts.map((a) => a.labels.name)).toEqual(['allow-checkout', 'zürich-😀']);
  });

  it('sends no signature header without an HMAC key', async () => {
    await expect(createWebhookNotifier({ url: hookUrl, timeoutMs: 2_000 }).send(n)).resolves.toEqual({ ok: true });
    expect(received[0]?.headers).not.toHaveProperty('x-meshdrift-signature');
  });

  it.each([200, 201, 202, 204])('maps HTTP %i to delivered', async (status) => {
    answers.push({ status });
    await expect(createWebhookNotifier({ url: hookUrl, timeoutMs: 2_000 }).send(n)).resolves.toEqual({ ok: true });
  });

  it.each([
    [400, false],
    [401, false],
    [403, false],
    [404, false],
    [413, false],
    [408, true],
    [429, true],
    [500, true],
    [503, true],
  ])('maps HTTP %i to retryable=%s, showing only scheme and host', async (status, retryable) => {
    // A receiver that echoes the URL back must not get the token into the reason.
    answers.push({ status, body: `bad request to ${hookUrl}` });
    const result = await createWebhookNotifier({ url: hookUrl, hmacKey: HMAC_KEY, timeoutMs: 2_000 }).send(n);
    expect(result).toEqual({ ok: false, retryable, reason: `webhook ${base}: HTTP ${status}` });
  });

  it('maps a timeout to retryable', async () => {
    answers.push({ status: 200, delayMs: 1_000 });
    expect(await createWebhookNotifier({ url: hookUrl, timeoutMs: 200 }).send(n)).toEqual({
      ok: false,
      retryable: true,
      reason: `webhook ${base}: request timed out`,
    });
  });

  it('maps a refused connection to retryable', async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    // Not listening, so afterEach's close returns at once.
    server = createServer();
    expect(await createWebhookNotifier({ url: hookUrl, timeoutMs: 2_000 }).send(n)).toEqual({
      ok: false,
      retryable: true,
      reason: `webhook ${base}: request failed: ECONNREFUSED`,
    });
  });

  it('never puts the path, query, credentials or HMAC key into a reason', async () => {
    const withCredentials = hookUrl.replace('http://', 'http://hook-user:hook-PASSWORD-SECRET@');
    const statuses: Answer[] = [{ status: 400 }, { status: 500 }, { status: 429 }, { status: 200, delayMs: 600 }];
    for (const answer of statuses) {
      answers.push(answer);
      const result = await createWebhookNotifier({ url: withCredentials, hmacKey: HMAC_KEY, timeoutMs: 300 }).send(n);
      expect(result.ok).toBe(false);
      const text = JSON.stringify(result);
      expect(text).not.toContain('SECRET');
      expect(text).not.toContain('/hooks');
      expect(text).not.toContain('hook-user');
    }
  });

  it('refuses an invalid URL when created, without echoing it', () => {
    expect(() => createWebhookNotifier({ url: `not a url ${PATH_TOKEN}` })).toThrow(/^webhook url is not a valid URL$/);
    expect(() => createWebhookNotifier({ url: 'file:///etc/passwd' })).toThrow(/must be http or https/);
  });
});
