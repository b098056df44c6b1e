import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { App } from '../../src/app.ts';
import { ARGOCD_MAX_BODY_BYTES } from '../../src/http/server.ts';
import { createLogger } from '../../src/log.ts';
import { applicationToSignal } from '../../src/sources/argocd/application.ts';
import { largeApp } from '../support/argocd-apps.ts';
import { ArgocdEngine, engineSkipReason, NotificationsReplay, parseNotificationsConfig, type Delivery } from '../support/argocd-engine.ts';
import { fixturePath, readFixture } from '../support/fixtures.ts';
import { redisUrl, testPrefix } from '../support/redis.ts';
import { postArgocd, startService, stopService } from '../support/service.ts';

// deploy/argocd is what users apply. Its triggers are evaluated by the real expr engine and its
// bodies rendered by Go text/template + sprig (test/argocd-engine), the send decided by the replayed
// notified-state rules, and each body posted to a running meshdrift (issue #13).
const CM = parse(readFileSync(new URL('../../deploy/argocd/argocd-notifications-cm.yaml', import.meta.url), 'utf8')) as { data: Record<string, string> };
const config = parseNotificationsConfig(CM.data);
const TRIGGERS = ['on-meshdrift-state', 'on-meshdrift-clean'];
const CONTEXT = { argocdUrl: 'https://argocd.example.com', clusterName: 'prod-eu-1' };

// Every Application among the shared fixtures (api-managed-resources is a diff list, not an app).
const FIXTURES = readdirSync(fixturePath('argocd/'))
  .filter((f) => f.endsWith('.json'))
  .filter((f) => {
    const o = readFixture(`argocd/${f}`) as Record<string, unknown>;
    return typeof o['metadata'] === 'object' && typeof o['status'] === 'object';
  });

const expressions = (): string[] =>
  Object.values(config.triggers).flatMap((cs) => cs.flatMap((c) => [c.when, ...(c.oncePer === undefined ? [] : [c.oncePer])]));

describe('the shipped argocd-notifications triggers (text)', () => {
  it('has the Argo CD Application fixtures to run against', () => {
    expect(FIXTURES.length).toBeGreaterThanOrEqual(6);
  });

  it("adds only meshdrift's own keys: never `context` or `subscriptions`, which a merge patch would replace", () => {
    expect(Object.keys(CM.data).sort()).toEqual([
      'service.webhook.meshdrift',
      'template.meshdrift-clean',
      'template.meshdrift-state',
      'trigger.on-meshdrift-clean',
      'trigger.on-meshdrift-state',
    ]);
    expect(CM.data['service.webhook.meshdrift']).toContain('Bearer $meshdrift-token');
  });

  it('"state" is the exact complement of "clean", once per reconcile; "clean" is edge-triggered (no oncePer)', () => {
    const [clean] = config.triggers['on-meshdrift-clean'] ?? [];
    const [state, ...more] = config.triggers['on-meshdrift-state'] ?? [];
    expect(more).toEqual([]);
    expect(state?.when).toBe(`not (${clean?.when})`);
    expect(state?.oncePer).toBe("app.status != nil and app.status.reconciledAt != nil ? app.status.reconciledAt : ''");
    expect(clean?.oncePer).toBeUndefined();
  });

  it('uses no syntax newer than expr 1.8 (`?.`, `??`, join/filter/map closures): Argo CD >= 2.3 parses it', () => {
    for (const e of expressions()) expect(e).not.toMatch(/\?\.|\?\?|\bjoin\(|\bfilter\(|\bmap\(/);
  });
});

const skip = engineSkipReason();
describe.skipIf(skip !== undefined)('the shipped argocd-notifications through the real engine', () => {
  let engine: ArgocdEngine;
  let svc: (App & { url: string }) | undefined;
  let prefix: string;
  beforeAll(async () => {
    engine = ArgocdEngine.start();
    prefix = testPrefix('tmpl');
    // The token speaks for MESHDRIFT_CLUSTER only: CONTEXT names prod-eu-1.
    svc = await startService({ redisUrl: redisUrl(), prefix, env: { MESHDRIFT_CLUSTER: 'prod-eu-1' } });
  }, 240_000);
  afterAll(async () => {
    engine?.stop();
    await stopService(svc, redisUrl(), prefix);
  });

  const post = async (d: Delivery): Promise<Response> => {
    expect(d.method).toBe('POST');
    expect(d.path).toBe('/webhooks/argocd');
    return postArgocd(svc?.url ?? '', d.body);
  };

  it("every expression compiles with Debian's expr 1.8.9 (the version notifications-engine used until Argo CD 2.5)", async () => {
    for (const e of expressions()) expect(await engine.compileError(e), e).toBeUndefined();
  });

  it("every trigger and template parses with Go's YAML exactly as the test reads it", async () => {
    for (const [key, value] of Object.entries(CM.data)) {
      if (key.startsWith('service.')) continue;
      expect(await engine.yaml(value), key).toEqual({ value: parse(value) as unknown });
    }
  });

  it.each(FIXTURES)('%s: the trigger the engine fires sends a body meshdrift accepts, with the findings of the full Application', async (file) => {
    const app = readFixture(`argocd/${file}`) as Record<string, unknown>;
    const replay = new NotificationsReplay(engine, config, CONTEXT, TRIGGERS);
    const answers: Array<{ code: number; outcome?: string }> = [];
    const sent = await replay.process(app, async (d) => {
      const res = await post(d);
      answers.push({ ...((await res.json()) as { outcome?: string }), code: res.status });
      return res.ok;
    });
    expect(replay.errors).toEqual([]);
    // Exactly one of the two complementary triggers fires for any app.
    expect(sent).toHaveLength(1);
    const body = JSON.parse(sent[0]?.body ?? '{}') as { cluster?: string; app: { metadata: Record<string, unknown>; status: Record<string, unknown> } };
    expect(body.cluster).toBe('prod-eu-1');
    expect(body.app.metadata).not.toHaveProperty('managedFields');
    expect(body.app.status).not.toHaveProperty('history');
    expect(answers).toEqual([expect.objectContaining({ code: 202 })]);
    expect(answers[0]?.outcome).not.toBe('stale');
    // What meshdrift makes of the narrowed body equals what it makes of the whole CR.
    const full = applicationToSignal(app as never, { cluster: 'x', source: 'argocd-webhook', now: 0 });
    const narrow = applicationToSignal(body.app as never, { cluster: 'x', source: 'argocd-webhook', now: 0 });
    expect(narrow.resources).toEqual(full.resources);
    // The repository of the revision (for commit links) comes through too (issue #16).
    expect(narrow.repoURL).toBe(full.repoURL);
    expect(Buffer.byteLength(sent[0]?.body ?? '')).toBeLessThan(Buffer.byteLength(JSON.stringify(app)));
  });

  it('sends the repository of each source (repoURL, chart) and nothing else of them: multi-source, credentials dropped by meshdrift', async () => {
    const app = structuredClone(readFixture('argocd/synthetic-app-outofsync-istio-gatewayapi-v3.json')) as {
      spec: Record<string, unknown>;
      status: { sync: Record<string, unknown> };
    };
    const sha = '0123456789abcdef0123456789abcdef01234567';
    delete app.spec['source'];
    app.spec['sources'] = [
      { repoURL: 'https://charts.example.com', chart: 'mesh', targetRevision: '1.2.3', helm: { values: 'password: hunter2' } },
      { repoURL: 'https://x-token:SECRET@github.com/org/mesh-config.git', path: 'prod', targetRevision: 'main' },
    ];
    app.status.sync = { ...app.status.sync, revision: undefined, revisions: ['1.2.3', sha] };
    const replay = new NotificationsReplay(engine, config, CONTEXT, TRIGGERS);
    const sent = await replay.process(app as never, async (d) => (await post(d)).status === 202);
    expect(replay.errors).toEqual([]);
    expect(sent).toHaveLength(1);
    const body = JSON.parse(sent[0]?.body ?? '{}') as { app: { spec: Record<string, unknown> } };
    expect(body.app.spec['sources']).toEqual([
      { repoURL: 'https://charts.example.com', chart: 'mesh' },
      { repoURL: 'https://x-token:SECRET@github.com/org/mesh-config.git' },
    ]);
    expect(sent[0]?.body).not.toContain('hunter2');
    const signal = applicationToSignal(body.app as never, { cluster: 'x', source: 'argocd-webhook', now: 0 });
    expect(signal.repoURL).toBe('https://github.com/org/mesh-config');
  });

  it('without `clusterName` in context the body has no `cluster` (meshdrift uses MESHDRIFT_CLUSTER), never null', async () => {
    const app = readFixture('argocd/synthetic-app-outofsync-istio-gatewayapi-v3.json') as Record<string, unknown>;
    const replay = new NotificationsReplay(engine, config, { argocdUrl: 'https://argocd.example.com' }, TRIGGERS);
    const sent = await replay.process(app, async (d) => (await post(d)).status === 202);
    expect(sent).toHaveLength(1);
    expect(JSON.parse(sent[0]?.body ?? '{}')).not.toHaveProperty('cluster');
    expect(replay.state.size).toBe(1); // delivered: the key stays
  });

  it('MESHDRIFT_ARGOCD_MAX_BODY is the Argo CD limit (413, counted, logged); the Flux limit is its own', async () => {
    const p = testPrefix('tmpl-limit');
    const lines: string[] = [];
    const small = await startService({
      redisUrl: redisUrl(),
      prefix: p,
      env: { MESHDRIFT_ARGOCD_MAX_BODY: '64KiB', MESHDRIFT_LOG_LEVEL: 'warn' },
      log: createLogger('warn', { write: (l: string) => void lines.push(l) }),
    });
    try {
      const replay = new NotificationsReplay(engine, config, CONTEXT, TRIGGERS);
      const codes: number[] = [];
      await replay.process(largeApp(1_000), async (d) => {
        const res = await postArgocd(small.url, d.body);
        codes.push(res.status);
        return res.ok;
      });
      expect(codes).toEqual([413]);
      expect(await (await fetch(`${small.url}/metrics`)).text()).toMatch(/meshdrift_signals_total\{source="argocd-webhook",outcome="too_large"\} 1/);
      expect(await (await fetch(`${small.url}/metrics`)).text()).toMatch(/meshdrift_limit_hits_total\{limit="webhook_body"\} 1/);
      expect(lines.join('')).toContain('MESHDRIFT_ARGOCD_MAX_BODY (65536 bytes)');
      // 100 KB of Flux event is under the Flux default (1 MiB): not refused for size.
      const flux = await fetch(`${small.url}/webhooks/flux`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ pad: 'x'.repeat(100_000) }),
      });
      expect(flux.status).not.toBe(413);
    } finally {
      await stopService(small, redisUrl(), p);
    }
  });

  it.each([1_000, 5_000, 10_000])(
    'a generated %i-resource app renders under the 2 MiB default and is accepted',
    async (n) => {
      const app = largeApp(n);
      const replay = new NotificationsReplay(engine, config, CONTEXT, TRIGGERS);
      let status = 0;
      const sent = await replay.process(app, async (d) => {
        const res = await post(d);
        status = res.status;
        return res.ok;
      });
      const size = Buffer.byteLength(sent[0]?.body ?? '');
      expect(size).toBeLessThan(ARGOCD_MAX_BODY_BYTES);
      // The narrow body is a small part of the CR (operationState, history and per-resource extras dropped).
      expect(size).toBeLessThan(Buffer.byteLength(JSON.stringify(app)) / 2);
      expect(status).toBe(202);
    },
    60_000,
  );
});
