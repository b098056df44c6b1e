import { createHmac } from 'node:crypto';
import { Agent, request } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFixture, readFixtureBytes } from '../support/fixtures.ts';
import { deleteKeys, redisUrl, testPrefix } from '../support/redis.ts';
import { ARGOCD_TOKEN, FLUX_KEY } from '../support/service.ts';
import { anyBytes, damagedBytes, deeplyNested, fuzzRuns, mutated, oddValue, type Json } from './arbitraries.ts';
import type { MemoryAnswer } from './memory-probe.ts';
import { startServe, type ServeProcess } from './serve.ts';

/**
 * Property: whatever body reaches a webhook (authenticated, so it gets to the parser), the answer
 * is a 202 or a 4xx whose JSON `error` names the problem; never a 5xx, never a crash, and the
 * server's memory stays flat. Against `meshdrift serve` in its own process on loopback, with real
 * Redis: a crash is an exit, and the generator here and the server each get a core.
 *
 * Cheap receivers: group_wait is 1h, so the bodies that are accepted are tracked in Redis and their
 * flush jobs wait, delayed, until the keys are deleted; nothing is delivered during the run.
 */

const TOTAL = fuzzRuns(100_000);
/** Bodies sent at once per fast-check run, over keep-alive connections. */
const BATCH = 64;
const FLUX_TOKEN = 'flux-fuzz-token-DO-NOT-LOG';
/** Growth allowed after warm-up, after a full GC: retained garbage, not transient buffers. */
const HEAP_GROWTH_LIMIT_MB = 48;
const RSS_GROWTH_LIMIT_MB = 160;

const ARGOCD_APPS = [
  'argocd/synthetic-app-outofsync-istio-gatewayapi-v3.json',
  'argocd/app-outofsync-requirespruning-v3.json',
  'argocd/app-outofsync-syncfailed-missing-v2.json',
  'argocd/app-synced-healthy-appset-owned.json',
  'argocd/app-synced-progressing-v3.json',
];
const FLUX_EVENTS = [
  'flux/synthetic-event-helmrelease-v2-driftdetected-mesh.json',
  'flux/event-kustomization-v1-artifactfailed-error.json',
  'flux/event-kustomization-v1beta2-reconciliation-finished-commit-status.json',
  'flux/event-kustomization-v1beta2-created-summary.wire.json',
  'flux/generic-hmac-testvector.body.json',
];

const argocdSeeds: Json[] = ARGOCD_APPS.map((f) => ({ app: readFixture(f) as Json }));
const fluxSeeds: Json[] = [
  ...FLUX_EVENTS.map((f) => readFixture(f) as Json),
  (readFixture('flux/request-generic-kustomization-v1-created-progressing.json') as { body: Json }).body,
];

/** Bodies for one webhook: arbitrary JSON, mutated seeds, damaged seed bytes, any bytes, deep nesting. */
function bodies(seeds: Json[], seedBytes: Buffer[]): fc.Arbitrary<Buffer> {
  const json = (a: fc.Arbitrary<unknown>) => a.map((v) => Buffer.from(JSON.stringify(v) ?? 'null'));
  return fc.oneof(
    { arbitrary: json(mutated(seeds)), weight: 10 },
    { arbitrary: json(fc.jsonValue({ maxDepth: 4 })), weight: 3 },
    // The right top-level keys with values of any type.
    {
      arbitrary: json(
        fc.dictionary(fc.constantFrom('app', 'cluster', 'context', 'involvedObject', 'severity', 'timestamp', 'message', 'reason', 'metadata'), oddValue, {
          maxKeys: 6,
        }),
      ),
      weight: 3,
    },
    { arbitrary: damagedBytes(seedBytes), weight: 4 },
    { arbitrary: anyBytes, weight: 2 },
    { arbitrary: deeplyNested.map((t) => Buffer.from(t)), weight: 1 },
  );
}

const argocdBodies = bodies(
  argocdSeeds,
  argocdSeeds.map((s) => Buffer.from(JSON.stringify(s))),
);
const fluxBodies = bodies(fluxSeeds, [...FLUX_EVENTS.map((f) => readFixtureBytes(f)), ...fluxSeeds.map((s) => Buffer.from(JSON.stringify(s)))]);

/** Every 4xx reason the webhooks give; each says what was wrong (and where, for schema errors). */
const REASONS: readonly RegExp[] = [
  /^empty body: expected a JSON object$/,
  /^body is not valid UTF-8 /,
  /^malformed JSON: .+/,
  /^not an Argo CD notification body: \S.*: .+/,
  /^not a Flux event: \S.*: .+/,
  /^body larger than \d+ bytes$/,
  // A name with a control, bidi or zero-width character (model/signal.ts), the field named.
  /^refused: [\w.]+ must not contain control, bidi or zero-width characters \(U\+[0-9A-F]{4,6} at \d+\)$/,
];

interface Answer {
  status: number;
  text: string;
}

const agent = new Agent({ keepAlive: true, maxSockets: BATCH });

function send(url: URL, body: Buffer, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': String(body.length), ...headers }, timeout: 15_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('no answer within 15 s')));
    req.on('error', reject);
    req.end(body);
  });
}

/** Why an answer breaks the property, or undefined when it holds. */
function violation(a: Answer): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(a.text);
  } catch {
    return `HTTP ${a.status} with a body that is not JSON: ${a.text.slice(0, 200)}`;
  }
  const fields = (body ?? {}) as { status?: unknown; error?: unknown };
  if (a.status === 202) return fields.status === 'accepted' ? undefined : `202 without status "accepted": ${a.text.slice(0, 200)}`;
  if (a.status < 400 || a.status >= 500) return `HTTP ${a.status}: ${a.text.slice(0, 300)}`;
  if (typeof fields.error !== 'string') return `HTTP ${a.status} without an error reason: ${a.text.slice(0, 200)}`;
  const reason = fields.error;
  return REASONS.some((r) => r.test(reason)) ? undefined : `HTTP ${a.status} with an unexpected reason: ${reason.slice(0, 300)}`;
}

const mb = (bytes: number): number => Math.round((bytes / 1024 / 1024) * 10) / 10;

interface Target {
  name: string;
  server: () => ServeProcess;
  url: () => URL;
  share: number;
  arbitrary: fc.Arbitrary<Buffer>;
  headers: (body: Buffer) => Record<string, string>;
}

let prefix: string;
let tokenPrefix: string;
let svc: ServeProcess;
let tokenSvc: ServeProcess;

const TARGETS: Target[] = [
  {
    name: 'argocd (bearer)',
    server: () => svc,
    url: () => new URL('/webhooks/argocd', svc.url),
    share: 0.45,
    arbitrary: argocdBodies,
    headers: () => ({ authorization: `Bearer ${ARGOCD_TOKEN}` }),
  },
  {
    name: 'flux (generic-hmac)',
    server: () => svc,
    url: () => new URL('/webhooks/flux', svc.url),
    share: 0.4,
    arbitrary: fluxBodies,
    headers: (b) => ({ 'x-signature': `sha256=${createHmac('sha256', FLUX_KEY).update(b).digest('hex')}` }),
  },
  {
    name: 'flux (generic, token)',
    server: () => tokenSvc,
    url: () => new URL('/webhooks/flux', tokenSvc.url),
    share: 0.15,
    arbitrary: fluxBodies,
    headers: () => ({ authorization: `Bearer ${FLUX_TOKEN}` }),
  },
];

/** The default policy (console receiver) with flushes an hour away: accepted bodies are tracked, nothing is delivered during the run. */
const serveEnv = (keyPrefix: string, auth: Record<string, string>): Record<string, string> => ({
  REDIS_URL: redisUrl(),
  MESHDRIFT_KEY_PREFIX: keyPrefix,
  MESHDRIFT_CLUSTER: 'fuzz-cluster',
  MESHDRIFT_GROUP_WAIT: '1h',
  MESHDRIFT_GROUP_INTERVAL: '1h',
  ...auth,
});

beforeAll(async () => {
  prefix = testPrefix('fuzz-webhooks');
  tokenPrefix = testPrefix('fuzz-webhooks-token');
  [svc, tokenSvc] = await Promise.all([
    startServe(serveEnv(prefix, { MESHDRIFT_ARGOCD_TOKEN: ARGOCD_TOKEN, MESHDRIFT_FLUX_HMAC_KEY: FLUX_KEY })),
    startServe(serveEnv(tokenPrefix, { MESHDRIFT_FLUX_TOKEN: FLUX_TOKEN })),
  ]);
}, 60_000);

afterAll(async () => {
  agent.destroy();
  await Promise.all([svc?.stop(), tokenSvc?.stop()]);
  await deleteKeys(redisUrl(), prefix);
  await deleteKeys(redisUrl(), tokenPrefix);
}, 60_000);

describe('webhook fuzzing', () => {
  it(`${TOTAL} generated bodies: every answer a 202 or a 4xx with a reason, never a 5xx; memory flat`, async () => {
    const statuses = new Map<string, number>();
    let sent = 0;
    const started = performance.now();
    /** Each server's memory after warm-up. */
    const baseline = new Map<ServeProcess, MemoryAnswer>();

    for (const target of TARGETS) {
      const numRuns = Math.max(1, Math.round((TOTAL * target.share) / BATCH));
      const server = target.server();
      let runs = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(target.arbitrary, { minLength: BATCH, maxLength: BATCH }), async (batch) => {
          const answers = await Promise.all(batch.map((body) => send(target.url(), body, target.headers(body)).catch((err: unknown) => err as Error)));
          const gone = server.exited();
          if (gone !== undefined) throw new Error(`${target.name}: ${gone}`);
          answers.forEach((a, i) => {
            const why = a instanceof Error ? `no answer: ${a.message}` : violation(a);
            if (why !== undefined)
              throw new Error(
                `${target.name}: ${why}\nbody (${batch[i]?.length ?? 0} bytes): ${JSON.stringify(batch[i]?.subarray(0, 300).toString('latin1'))}`,
              );
            const key = `${target.name} ${(a as Answer).status}`;
            statuses.set(key, (statuses.get(key) ?? 0) + 1);
          });
          sent += batch.length;
          runs++;
          // Warm-up: the first tenth of each server's first target (JIT, pools, Redis scripts).
          if (!baseline.has(server) && runs === Math.ceil(numRuns / 10)) baseline.set(server, await server.memory());
        }),
        { numRuns, endOnFailure: true },
      );
    }

    const seconds = (performance.now() - started) / 1000;
    const lines = [
      `webhook fuzz: ${sent} bodies in ${seconds.toFixed(1)} s (${Math.round(sent / seconds)} bodies/s)`,
      ...[...statuses.entries()].sort().map(([k, n]) => `  ${k}: ${n}`),
    ];
    const growth: Array<{ heap: number; rss: number }> = [];
    for (const [name, server] of [
      ['argocd + flux-hmac server', svc],
      ['flux-token server', tokenSvc],
    ] as const) {
      const before = baseline.get(server);
      const end = await server.memory();
      if (!before) continue;
      growth.push({ heap: mb(end.heapUsed - before.heapUsed), rss: mb(end.rss - before.rss) });
      lines.push(
        `  ${name}, after warm-up → end (after GC): heapUsed ${mb(before.heapUsed)} → ${mb(end.heapUsed)} MB, rss ${mb(before.rss)} → ${mb(end.rss)} MB`,
      );
    }
    console.log(lines.join('\n'));

    expect(sent).toBeGreaterThanOrEqual(TOTAL - BATCH * TARGETS.length);
    expect(growth).toHaveLength(2);
    for (const g of growth) {
      expect(g.heap).toBeLessThan(HEAP_GROWTH_LIMIT_MB);
      expect(g.rss).toBeLessThan(RSS_GROWTH_LIMIT_MB);
    }
    // Still alive and answering, and no webhook ended in a 5xx (counted as "unavailable").
    for (const s of [svc, tokenSvc]) {
      expect(s.exited()).toBeUndefined();
      expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
      const metrics = await (await fetch(`${s.url}/metrics`)).text();
      expect(metrics).not.toMatch(/meshdrift_signals_total\{[^}]*outcome="unavailable"\} [1-9]/);
    }
  }, 600_000);
});
