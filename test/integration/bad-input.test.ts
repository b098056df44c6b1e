import { createHmac, timingSafeEqual } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { App } from '../../src/app.ts';
import { ARGOCD_MAX_BODY_BYTES, BODY_TIMEOUT_MS, MAX_BODY_BYTES } from '../../src/http/server.ts';
import { verifyBearerToken, verifyFluxSignature } from '../../src/http/verify-signature.ts';
import { meshAppBody } from '../support/argocd.ts';
import { readFixture } from '../support/fixtures.ts';
import { redisUrl, testPrefix } from '../support/redis.ts';
import { ARGOCD_TOKEN, FLUX_KEY, signFlux, startService, stopService } from '../support/service.ts';

// The real timingSafeEqual, wrapped in a spy: the compare test below checks what it is given.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

/**
 * Bad input at the webhook edge, against the real service on loopback with real Redis: every
 * answer is a 4xx with a JSON reason (or a 202), never a 5xx, never a hung connection.
 */

const FLUX_TOKEN = 'flux-generic-token-DO-NOT-LOG';
const HELM_DRIFT = 'flux/synthetic-event-helmrelease-v2-driftdetected-mesh.json';

let prefix: string;
let tokenPrefix: string;
let svc: App & { url: string };
/** A second service whose Flux webhook uses the `generic` provider's bearer token, not the HMAC. */
let tokenSvc: App & { url: string };

beforeAll(async () => {
  prefix = testPrefix('bad-input');
  tokenPrefix = testPrefix('bad-input-token');
  svc = await startService({ redisUrl: redisUrl(), prefix });
  tokenSvc = await startService({ redisUrl: redisUrl(), prefix: tokenPrefix, env: { MESHDRIFT_FLUX_HMAC_KEY: '', MESHDRIFT_FLUX_TOKEN: FLUX_TOKEN } });
});

afterAll(async () => {
  await stopService(svc, redisUrl(), prefix);
  await stopService(tokenSvc, redisUrl(), tokenPrefix);
});

interface Answer {
  status: number;
  error: string | undefined;
  body: Record<string, unknown>;
}

type Webhook = 'argocd' | 'flux';

/** Headers that authenticate `body` on `webhook` (bearer token, or the HMAC of the exact bytes). */
function auth(webhook: Webhook, body: Buffer | string): Record<string, string> {
  return webhook === 'argocd'
    ? { authorization: `Bearer ${ARGOCD_TOKEN}` }
    : { 'x-signature': `sha256=${createHmac('sha256', FLUX_KEY).update(body).digest('hex')}` };
}

async function post(webhook: Webhook, body: Buffer | string, headers: Record<string, string> = {}, base = svc.url): Promise<Answer> {
  const res = await fetch(`${base}/webhooks/${webhook}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...auth(webhook, body), ...headers },
    body: typeof body === 'string' ? body : new Uint8Array(body),
    signal: AbortSignal.timeout(10_000),
  });
  const parsed = (await res.json()) as Record<string, unknown>;
  return { status: res.status, error: typeof parsed.error === 'string' ? parsed.error : undefined, body: parsed };
}

const WEBHOOKS: readonly Webhook[] = ['argocd', 'flux'];
const validBody = (webhook: Webhook): string => JSON.stringify(webhook === 'argocd' ? meshAppBody() : readFixture(HELM_DRIFT));

interface RawExchange {
  /** What the server sent before it closed the connection (or before the deadline). */
  response: string;
  closed: boolean;
  elapsedMs: number;
}

/**
 * Speaks HTTP/1.1 on a bare socket: sends `head`, then `chunks` one every `intervalMs`, and
 * collects the answer until the server closes the connection or `deadlineMs` passes.
 */
function rawExchange(head: string, chunks: readonly Buffer[], intervalMs: number, deadlineMs: number): Promise<RawExchange> {
  const { port } = svc.address();
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(port, '127.0.0.1');
    let response = '';
    let timer: NodeJS.Timeout | undefined;
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      clearTimeout(deadline);
      socket.destroy();
      resolve({ response, closed, elapsedMs: Date.now() - started });
    };
    const deadline = setTimeout(() => finish(false), deadlineMs);
    socket.on('data', (d: Buffer) => {
      response += d.toString('latin1');
    });
    socket.on('close', () => finish(true));
    // The server may reset the connection while we still write: that is a close, not a failure.
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? finish(true) : reject(err)));
    socket.on('connect', () => {
      socket.write(head);
      let i = 0;
      const next = () => {
        const chunk = chunks[i++];
        if (chunk === undefined || socket.destroyed) return;
        socket.write(chunk);
        timer = setTimeout(next, intervalMs);
      };
      next();
    });
  });
}

const statusOf = (response: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0);
const errorOf = (response: string): string => {
  const body = response.slice(response.indexOf('\r\n\r\n') + 4);
  return (JSON.parse(body) as { error: string }).error;
};

// Default limits per webhook (MESHDRIFT_ARGOCD_MAX_BODY, MESHDRIFT_FLUX_MAX_BODY).
const LIMIT: Record<string, number> = { argocd: ARGOCD_MAX_BODY_BYTES, flux: MAX_BODY_BYTES };
const limitOf = (webhook: string): number => LIMIT[webhook] ?? 0;

describe('oversized bodies', () => {
  it.each(WEBHOOKS)('%s: a declared Content-Length over the limit gets 413 with the limit at once, and the connection is closed', async (webhook) => {
    const head = `POST /webhooks/${webhook} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${2 * limitOf(webhook)}\r\n\r\n`;
    // Only 64 KiB of twice the limit are ever sent: the answer must not wait for the rest.
    const got = await rawExchange(head, [Buffer.alloc(64 * 1024, 0x20)], 10, 5_000);
    expect(statusOf(got.response)).toBe(413);
    expect(errorOf(got.response)).toBe(`body larger than ${limitOf(webhook)} bytes`);
    expect(got.closed).toBe(true);
  });

  it.each(WEBHOOKS)('%s: a chunked body that grows past the limit gets 413 and the connection is closed', async (webhook) => {
    const head = `POST /webhooks/${webhook} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
    const piece = Buffer.alloc(256 * 1024, 0x20);
    const chunk = Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]);
    // Twice the limit offered in 256 KiB chunks, never terminated: the server stops reading at the limit.
    const got = await rawExchange(
      head,
      Array.from({ length: (2 * limitOf(webhook)) / piece.length }, () => chunk),
      5,
      5_000,
    );
    expect(statusOf(got.response)).toBe(413);
    expect(errorOf(got.response)).toContain(`${limitOf(webhook)} bytes`);
    expect(got.closed).toBe(true);
  });
});

describe('slow senders', () => {
  it(
    `a sender that trickles its body is answered 408 after ${BODY_TIMEOUT_MS} ms and disconnected`,
    async () => {
      const body = Buffer.from(validBody('argocd'));
      const head = `POST /webhooks/argocd HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer ${ARGOCD_TOKEN}\r\nContent-Length: ${body.length}\r\n\r\n`;
      // One byte every 100 ms: the whole body would take minutes.
      const bytes = Array.from({ length: 400 }, (_, i) => body.subarray(i, i + 1));
      const got = await rawExchange(head, bytes, 100, BODY_TIMEOUT_MS + 5_000);
      expect(statusOf(got.response)).toBe(408);
      expect(errorOf(got.response)).toBe(`request body not received within ${BODY_TIMEOUT_MS} ms`);
      expect(got.response.toLowerCase()).toContain('connection: close');
      expect(got.closed).toBe(true);
      expect(got.elapsedMs).toBeGreaterThanOrEqual(BODY_TIMEOUT_MS - 50);
      expect(got.elapsedMs).toBeLessThan(BODY_TIMEOUT_MS + 3_000);
      // The service still takes a well-behaved request.
      expect((await post('argocd', validBody('argocd'))).status).toBe(202);
    },
    BODY_TIMEOUT_MS + 15_000,
  );
});

describe('deep nesting', () => {
  const nested = (depth: number): string => `${'['.repeat(depth)}${']'.repeat(depth)}`;

  it.each(WEBHOOKS)('%s: 100,000 nested arrays as the body are a 400 naming what was expected, not a stack overflow', async (webhook) => {
    const answer = await post(webhook, nested(100_000));
    expect(answer.status).toBe(400);
    expect(answer.error).toMatch(/expected object/);
  });

  it('argocd: 100,000 nested arrays inside `context`, which is accepted and never read, are harmless (202)', async () => {
    const body = `{"app":${JSON.stringify(meshAppBody().app)},"context":{"deep":${nested(100_000)}}}`;
    const answer = await post('argocd', body);
    expect(answer.status).toBe(202);
  });

  it('flux: 100,000 nested objects where a metadata string goes are a 400 naming the path', async () => {
    const event = readFixture(HELM_DRIFT) as Record<string, unknown>;
    const body = JSON.stringify({ ...event, metadata: { revision: '__DEEP__' } }).replace('"__DEEP__"', `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`);
    const answer = await post('flux', body);
    expect(answer.status).toBe(400);
    expect(answer.error).toContain('metadata.revision');
  });
});

describe('content types', () => {
  it.each(
    WEBHOOKS.flatMap((w) =>
      ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=iso-8859-1', 'application/jsonp'].map(
        (t) => [w, t] as const,
      ),
    ),
  )('%s: %s is refused with 415 and a reason, before the body is read', async (webhook, type) => {
    const answer = await post(webhook, validBody(webhook), { 'content-type': type });
    expect(answer.status).toBe(415);
    expect(answer.error).toMatch(/^Content-Type ".+"(: JSON must be sent as charset=utf-8| is not supported: send application\/json)$/);
  });

  it.each(
    WEBHOOKS.flatMap((w) =>
      ['application/json; charset=utf-8', 'Application/JSON;charset="UTF-8"', 'application/cloudevents+json'].map((t) => [w, t] as const),
    ),
  )('%s: %s is accepted', async (webhook, type) => {
    expect((await post(webhook, validBody(webhook), { 'content-type': type })).status).toBe(202);
  });

  it.each(WEBHOOKS.flatMap((w) => ['gzip', 'deflate', 'br'].map((e) => [w, e] as const)))(
    '%s: Content-Encoding %s is refused with 415 (Argo CD and Flux send plain bodies; no zip bombs)',
    async (webhook, encoding) => {
      const answer = await post(webhook, validBody(webhook), { 'content-encoding': encoding });
      expect(answer.status).toBe(415);
      expect(answer.error).toBe(`Content-Encoding "${encoding}" is not supported: send the body uncompressed`);
    },
  );

  it('argocd: no Content-Type at all is accepted with a valid token (Argo CD sends only the headers it is configured with)', async () => {
    const body = Buffer.from(validBody('argocd'));
    // fetch adds text/plain to a string body; a byte body goes without a Content-Type.
    const res = await fetch(`${svc.url}/webhooks/argocd`, { method: 'POST', headers: auth('argocd', body), body: new Uint8Array(body) });
    expect(res.status).toBe(202);
  });

  it('argocd: no Content-Type and no token is a 401, not a 415 (the token is what protects it)', async () => {
    const res = await fetch(`${svc.url}/webhooks/argocd`, { method: 'POST', body: new Uint8Array(Buffer.from(validBody('argocd'))) });
    expect(res.status).toBe(401);
  });

  it('flux: no Content-Type is refused with 415 (Flux always sends application/json)', async () => {
    const body = Buffer.from(validBody('flux'));
    const res = await fetch(`${svc.url}/webhooks/flux`, { method: 'POST', headers: auth('flux', body), body: new Uint8Array(body) });
    expect(res.status).toBe(415);
    expect(((await res.json()) as { error: string }).error).toBe('Content-Type is required: send application/json');
  });
});

describe('invalid UTF-8', () => {
  // Each is valid JSON once the bad bytes are replaced by U+FFFD, which is what Buffer#toString does.
  const BAD: ReadonlyArray<[string, number[]]> = [
    ['a stray continuation byte', [0x80]],
    ['0xFF', [0xff]],
    ['an overlong "/"', [0xc0, 0xaf]],
    ['a UTF-16 surrogate encoded as UTF-8', [0xed, 0xa0, 0x80]],
    ['a truncated 3-byte sequence', [0xe2, 0x82]],
  ];

  it.each(WEBHOOKS.flatMap((w) => BAD.map(([name, bytes]) => [w, name, bytes] as const)))(
    '%s: %s in a string is a 400, not silently replaced',
    async (webhook, _name, bytes) => {
      const [before, after] = validBody(webhook).split('"name":"', 2) as [string, string];
      const body = Buffer.concat([Buffer.from(`${before}"name":"`), Buffer.from(bytes), Buffer.from(after)]);
      const answer = await post(webhook, body);
      expect(answer.status).toBe(400);
      expect(answer.error).toBe('body is not valid UTF-8 (JSON is sent as UTF-8, RFC 8259 §8.1)');
    },
  );

  it('a UTF-8 byte order mark is dropped, as RFC 8259 §8.1 allows a parser to', async () => {
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(validBody('flux'))]);
    expect((await post('flux', body)).status).toBe(202);
  });
});

describe('duplicate keys', () => {
  it('JSON.parse keeps the last of duplicate keys; acceptable for signatures because the HMAC covers the raw bytes, both copies included', async () => {
    const event = readFixture(HELM_DRIFT) as { reason: string };
    const json = JSON.stringify(event);
    // The signer signed the bytes with both `reason`s; the last one (not drift) decides.
    const twice = json.replace('"reason":"DriftDetected"', '"reason":"DriftDetected","reason":"UpgradeSucceeded"');
    expect(twice).not.toBe(json);
    const answer = await post('flux', twice);
    expect(answer.status).toBe(202);
    expect(answer.body.outcome).toBe('ignored');
    // Swapping the copies changes the bytes, so the old signature no longer verifies.
    const swapped = json.replace('"reason":"DriftDetected"', '"reason":"UpgradeSucceeded","reason":"DriftDetected"');
    const replayed = await post('flux', swapped, { 'x-signature': auth('flux', twice)['x-signature'] ?? '' });
    expect(replayed).toMatchObject({ status: 401, error: 'signature mismatch' });
  });

  it("argocd: a duplicate `app` whose last copy is invalid is a 400 naming the last copy's problem", async () => {
    const json = JSON.stringify(meshAppBody());
    const answer = await post('argocd', `${json.slice(0, -1)},"app":{"metadata":{}}}`);
    expect(answer.status).toBe(400);
    expect(answer.error).toContain('app.metadata.name');
  });
});

describe('signatures and tokens', () => {
  const body = (): string => validBody('flux');
  const goodSig = (raw: string): string => signFlux(raw);

  it.each([
    ['missing', undefined, 'missing X-Signature header'],
    ['wrong (right length, wrong key)', (raw: string) => signFlux(raw, `${FLUX_KEY}-other`), 'signature mismatch'],
    ['truncated by one byte', (raw: string) => goodSig(raw).slice(0, -2), 'signature mismatch'],
    ['truncated to an odd length', (raw: string) => goodSig(raw).slice(0, -1), 'malformed X-Signature header: digest is not hex'],
    ['of another body', () => signFlux('{}'), 'signature mismatch'],
    ['sha1 (not accepted)', (raw: string) => `sha1=${createHmac('sha1', FLUX_KEY).update(raw).digest('hex')}`, 'unsupported signature algorithm "sha1"'],
  ] as const)('flux HMAC %s: 401 with the reason, nothing tracked', async (_name, sign, reason) => {
    const raw = body();
    const headers: Record<string, string> = sign === undefined ? {} : { 'x-signature': sign(raw) };
    const res = await fetch(`${svc.url}/webhooks/flux`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: raw });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: reason });
  });

  it.each([
    ['argocd', 'missing', undefined, 'missing Authorization header'],
    ['argocd', 'wrong', `Bearer ${ARGOCD_TOKEN}x`, 'invalid bearer token'],
    ['argocd', 'truncated', `Bearer ${ARGOCD_TOKEN.slice(0, -1)}`, 'invalid bearer token'],
    ['argocd', 'not a bearer', `Basic ${ARGOCD_TOKEN}`, 'Authorization header is not of the form "Bearer <token>"'],
    ['flux', 'missing', undefined, 'missing Authorization header'],
    ['flux', 'wrong', `Bearer ${FLUX_TOKEN}x`, 'invalid bearer token'],
    ['flux', 'truncated', `Bearer ${FLUX_TOKEN.slice(0, -1)}`, 'invalid bearer token'],
  ] as const)('%s token %s: 401 with the reason, never the token', async (webhook, _name, authorization, reason) => {
    const base = webhook === 'argocd' ? svc.url : tokenSvc.url;
    const res = await fetch(`${base}/webhooks/${webhook}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization === undefined ? {} : { authorization }) },
      body: validBody(webhook),
    });
    expect(res.status).toBe(401);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual({ error: reason });
    expect(text).not.toContain(ARGOCD_TOKEN.slice(0, 12));
    expect(text).not.toContain(FLUX_TOKEN.slice(0, 12));
  });

  it('flux token path: the right token is accepted', async () => {
    expect((await post('flux', validBody('flux'), { authorization: `Bearer ${FLUX_TOKEN}` }, tokenSvc.url)).status).toBe(202);
  });

  it('flux HMAC: a replayed signed drift event is answered 202 "duplicate" and tracked once, not alerted twice', async () => {
    const event = readFixture(HELM_DRIFT) as { involvedObject: { name: string }; timestamp: string };
    // An owner no other test uses, so its group is this test's alone.
    const raw = JSON.stringify({ ...event, involvedObject: { ...event.involvedObject, name: 'replayed-release' }, timestamp: '2026-11-21T00:00:00Z' });
    const first = await post('flux', raw);
    expect(first).toMatchObject({ status: 202, body: { outcome: 'tracked' } });
    const replays = await Promise.all(Array.from({ length: 5 }, () => post('flux', raw)));
    for (const r of replays) expect(r).toMatchObject({ status: 202, body: { outcome: 'duplicate' } });
    const alerts = (await (await fetch(`${svc.url}/api/v1/alerts`)).json()) as { groups: Array<{ labels: Record<string, string>; findings: unknown[] }> };
    const mine = alerts.groups.filter((g) => JSON.stringify(g).includes('replayed-release'));
    expect(mine).toHaveLength(1);
  });

  it('argocd: a replayed snapshot is "unchanged", not a second alert', async () => {
    const raw = validBody('argocd');
    await post('argocd', raw);
    const again = await post('argocd', raw);
    expect(again).toMatchObject({ status: 202, body: { outcome: 'unchanged' } });
  });
});

describe('names with control, bidi or zero-width characters (issue #12 item 13)', () => {
  type Resource = { kind: string; namespace: string; name: string; status: string };
  const appWith = (edit: (app: { metadata: { name: string }; status: { resources: Resource[] } }) => void): string => {
    const body = meshAppBody() as unknown as { app: { metadata: { name: string }; status: { resources: Resource[] } } };
    edit(body.app);
    return JSON.stringify(body);
  };

  it('argocd: two resources whose names differ by a NUL are refused with 400 naming the field, and nothing is tracked', async () => {
    let index = -1;
    const body = appWith((app) => {
      const drifted = app.status.resources.find((r) => r.status === 'OutOfSync');
      if (drifted === undefined) throw new Error('fixture has no OutOfSync resource');
      index = app.status.resources.length;
      app.status.resources.push({ ...drifted, name: `${drifted.name}\u0000` });
    });
    const answer = await post('argocd', body);
    expect(answer.status).toBe(400);
    expect(answer.error).toMatch(/^refused: resources\.\d+\.name must not contain control, bidi or zero-width characters \(U\+0000 at \d+\)$/);
    expect(index).toBeGreaterThan(0);
    // The value is not echoed back.
    expect(answer.error).not.toContain('\u0000');
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    expect(metrics).toMatch(/meshdrift_signals_refused_total\{source="argocd-webhook",field="resources\.name"\} [1-9]/);
  });

  it.each([
    ['a bidi override', '\u202E'],
    ['a zero-width space', '\u200B'],
    ['a newline', '\n'],
    ['a C1 control', '\u0085'],
  ])('argocd: an Application name with %s is refused with 400 naming owner.name', async (_what, char) => {
    const answer = await post(
      'argocd',
      appWith((app) => void (app.metadata.name = `payments${char}mesh`)),
    );
    expect(answer).toMatchObject({ status: 400, error: expect.stringMatching(/^refused: owner\.name must not contain/) });
  });

  it('flux: a drifted resource named with a NUL (from the event message) is refused with 400', async () => {
    const event = readFixture(HELM_DRIFT) as { message: string };
    event.message = event.message.replace('VirtualService/bookinfo/reviews', 'VirtualService/bookinfo/rev\u0000iews');
    const answer = await post('flux', JSON.stringify(event));
    expect(answer).toMatchObject({ status: 400, error: expect.stringMatching(/^refused: resources\.\d+\.name must not contain/) });
  });
});

describe('timing-safe compares', () => {
  const spy = vi.mocked(timingSafeEqual);
  const lengths = (): Array<[number, number]> => spy.mock.calls.map(([a, b]) => [a.byteLength, b.byteLength]);

  it('bearer tokens: every compare goes through timingSafeEqual on two SHA-256 digests, whatever the given length', () => {
    spy.mockClear();
    for (const given of ['x', 'token-of-another-length-entirely', 's3cr3t', 's3cr3t-token', `${'a'.repeat(4096)}`])
      verifyBearerToken(`Bearer ${given}`, 's3cr3t-token');
    expect(lengths()).toEqual(Array(5).fill([32, 32]));
    expect(spy.mock.results.map((r) => r.value)).toEqual([false, false, false, true, false]);
  });

  it("Flux HMAC: a digest of the algorithm's length is compared with timingSafeEqual; any other length is refused before (the length is public)", () => {
    const body = Buffer.from('{"a":1}');
    const good = createHmac('sha256', FLUX_KEY).update(body).digest('hex');
    spy.mockClear();
    verifyFluxSignature(body, `sha256=${good}`, FLUX_KEY);
    verifyFluxSignature(body, `sha256=${'0'.repeat(64)}`, FLUX_KEY);
    verifyFluxSignature(body, `sha512=${'0'.repeat(128)}`, FLUX_KEY);
    expect(lengths()).toEqual([
      [32, 32],
      [32, 32],
      [64, 64],
    ]);
    spy.mockClear();
    verifyFluxSignature(body, `sha256=${good.slice(0, -2)}`, FLUX_KEY);
    expect(spy).not.toHaveBeenCalled();
  });
});
