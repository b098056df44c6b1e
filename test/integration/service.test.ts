import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { isThreadReply, startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { meshApp, meshAppBody, SYNCED_AT } from '../support/argocd.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { postArgocd, postFlux, startService, stopService } from '../support/service.ts';
import { waitSettled } from '../support/settle.ts';

// Channel messages only: thread replies are chat.postMessage calls too.
const posts = (slack: FakeSlack) => slack.calls.filter((c) => c.method === 'chat.postMessage' && !isThreadReply(c));
const updates = (slack: FakeSlack) => slack.calls.filter((c) => c.method === 'chat.update');
const blocksText = (args: Record<string, unknown>) => JSON.stringify(args.blocks);

let slack: FakeSlack;
let prefix: string;
const apps: App[] = [];

async function service(): Promise<App & { url: string }> {
  const app = await startService({ redisUrl: redisUrl(), prefix, slackUrl: slack.url });
  apps.push(app);
  return app;
}

beforeEach(async () => {
  prefix = testPrefix('svc');
  slack = await startFakeSlack({ token: 'xoxb-test-SECRET-token' });
});

afterEach(async () => {
  for (const app of apps.splice(0)) await stopService(app, redisUrl(), prefix);
  await slack.close();
});

describe('Argo CD webhook → Slack, end to end', () => {
  it('an OutOfSync app gives exactly one Slack message naming its drifted mesh resources with severities', async () => {
    const svc = await service();
    const res = await postArgocd(svc.url, meshAppBody());
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ status: 'accepted', outcome: 'tracked', findings: 4 });
    await waitFor(() => posts(slack).length === 1, 10_000, 'the Slack message');
    await waitSettled(svc);
    expect(posts(slack)).toHaveLength(1);
    const text = blocksText(posts(slack)[0]?.args ?? {});
    expect(text).toContain('AuthorizationPolicy');
    expect(text).toContain('payments-allow-frontend');
    expect(text).toContain('VirtualService');
    expect(text).toMatch(/CRITICAL[^"]*AuthorizationPolicy|AuthorizationPolicy[^"]*CRITICAL/);
    expect(text).toMatch(/HIGH[^"]*VirtualService|VirtualService[^"]*HIGH/);
    expect(posts(slack)[0]?.authorization).toBe('Bearer xoxb-test-SECRET-token');
  });

  it('50 concurrent copies of the same event still give one message', async () => {
    const svc = await service();
    const answers = await Promise.all(Array.from({ length: 50 }, () => postArgocd(svc.url, meshAppBody())));
    expect(answers.map((r) => r.status)).toEqual(Array(50).fill(202));
    await waitFor(() => posts(slack).length >= 1, 10_000, 'the Slack message');
    await waitSettled(svc);
    expect(posts(slack)).toHaveLength(1);
    expect(updates(slack)).toHaveLength(0);
  });

  it('two service instances on one Redis, 25 copies each, give one message', async () => {
    const [a, b] = [await service(), await service()];
    await Promise.all(Array.from({ length: 50 }, (_, i) => postArgocd((i % 2 === 0 ? a : b).url, meshAppBody())));
    await waitFor(() => posts(slack).length >= 1, 10_000, 'the Slack message');
    await waitSettled([a, b]);
    expect(posts(slack)).toHaveLength(1);
  });

  it('a Synced snapshot updates the same message to resolved', async () => {
    const svc = await service();
    await postArgocd(svc.url, meshAppBody());
    await waitFor(() => posts(slack).length === 1, 10_000, 'the first message');
    const ts = [...slack.messages.keys()][0];
    expect((await postArgocd(svc.url, meshAppBody('Synced', SYNCED_AT))).status).toBe(202);
    await waitFor(() => updates(slack).length === 1, 10_000, 'the resolve update');
    const update = updates(slack)[0]?.args ?? {};
    expect(update.ts).toBe(ts);
    expect(blocksText(update)).toContain('RESOLVED');
    // MTTD and time to resolve: one observation per finding. All 4 resolve (the ServiceEntry that
    // required pruning is gone from the Synced snapshot).
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    const count = (name: string) => [...metrics.matchAll(new RegExp(`^${name}_count\\{[^}]*\\} (\\d+)`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
    expect(count('meshdrift_time_to_notify_seconds')).toBe(4);
    expect(count('meshdrift_time_to_resolve_seconds')).toBe(4);
    await waitSettled(svc);
    expect(posts(slack)).toHaveLength(1);
    expect(updates(slack)).toHaveLength(1);
  });

  it('requires the bearer token; rejects malformed and invalid bodies with 400, oversized with 413', async () => {
    const svc = await service();
    expect((await postArgocd(svc.url, meshAppBody(), null)).status).toBe(401);
    expect((await postArgocd(svc.url, meshAppBody(), 'wrong')).status).toBe(401);
    const malformed = await postArgocd(svc.url, '{"app": ');
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: string }).error).toMatch(/malformed JSON/);
    const invalid = await postArgocd(svc.url, { app: { metadata: {} } });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { error: string }).error).toContain('app.metadata.name');
    const big = await postArgocd(svc.url, JSON.stringify({ app: meshApp(), pad: 'x'.repeat(2 * 1024 * 1024) }));
    expect(big.status).toBe(413);
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    expect(metrics).toMatch(/meshdrift_signals_total\{source="argocd-webhook",outcome="unauthorized"\} 2/);
    expect(metrics).toMatch(/meshdrift_signals_total\{source="argocd-webhook",outcome="invalid"\} 2/);
    expect(metrics).toMatch(/meshdrift_signals_total\{source="argocd-webhook",outcome="too_large"\} 1/);
    expect(slack.calls).toHaveLength(0);
  });
});

describe('Flux webhook (generic-hmac) → Slack', () => {
  const kustomization = {
    kind: 'Kustomization',
    namespace: 'flux-system',
    name: 'mesh-policies',
    uid: '5e1c-test',
    apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
  };
  const event = (message: string, revision: string, timestamp: string, reason = 'Progressing') => ({
    involvedObject: kustomization,
    severity: 'info',
    timestamp,
    message,
    reason,
    metadata: { revision },
    reportingController: 'kustomize-controller',
    reportingInstance: 'kustomize-controller-abc',
  });
  const R1 = 'main@sha1:1111111111111111111111111111111111111111';
  const R2 = 'main@sha1:2222222222222222222222222222222222222222';

  it('a configured event at an already-seen revision alerts; one at a new revision does not', async () => {
    const svc = await service();
    const heartbeat = await postFlux(
      svc.url,
      event('Reconciliation finished in 1.2s, next run in 10m0s', R1, '2026-11-24T10:00:00Z', 'ReconciliationSucceeded'),
    );
    expect(heartbeat.status).toBe(202);
    const drift = await postFlux(
      svc.url,
      event('AuthorizationPolicy/shop/allow-frontend configured\nVirtualService/shop/cart configured', R1, '2026-11-24T10:10:00Z'),
    );
    expect(await drift.json()).toMatchObject({ outcome: 'tracked', findings: 2 });
    await waitFor(() => posts(slack).length === 1, 10_000, 'the drift message');
    const text = blocksText(posts(slack)[0]?.args ?? {});
    expect(text).toContain('allow-frontend');
    expect(text).toContain('Corrected');

    const rollout = await postFlux(svc.url, event('VirtualService/shop/cart configured', R2, '2026-11-24T10:20:00Z'));
    expect(await rollout.json()).toMatchObject({ outcome: 'rollout', revision: R2 });
    // The Corrected findings resolve by themselves (an update); the rollout posts nothing new.
    await waitFor(() => updates(slack).length === 1, 10_000, 'the self-resolve update');
    await waitSettled(svc);
    expect(posts(slack)).toHaveLength(1);
    // Flux had reverted both when it reported them: they stayed drifted for no time by meshdrift's
    // clock (first seen = last seen), not until they were told (group_wait, 300 ms, later).
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    const total = (name: string) => [...metrics.matchAll(new RegExp(`^${name}\\{[^}]*\\} (\\S+)`, 'gm'))].reduce((n, m) => n + Number(m[1]), 0);
    expect(total('meshdrift_time_to_resolve_seconds_count')).toBe(2);
    expect(total('meshdrift_time_to_resolve_seconds_sum')).toBe(0);
  });

  it('the same event delivered twice (an Alert retry) is processed once', async () => {
    const svc = await service();
    await postFlux(svc.url, event('Reconciliation finished in 1s, next run in 10m0s', R1, '2026-11-24T10:00:00Z', 'ReconciliationSucceeded'));
    const rollout = event('VirtualService/shop/cart configured', R2, '2026-11-24T10:05:00Z');
    expect(await (await postFlux(svc.url, rollout)).json()).toMatchObject({ outcome: 'rollout' });
    // Without duplicate detection the retry would see R2 as "already seen" and call it drift.
    expect(await (await postFlux(svc.url, rollout)).json()).toMatchObject({ outcome: 'duplicate' });
    await waitSettled(svc);
    expect(slack.calls).toHaveLength(0);
  });

  it('rejects a bad or missing signature with 401 before parsing', async () => {
    const svc = await service();
    const body = JSON.stringify(event('VirtualService/shop/cart configured', R1, '2026-11-24T10:10:00Z'));
    expect((await postFlux(svc.url, body, 'sha256=00')).status).toBe(401);
    expect((await postFlux(svc.url, '{not json', 'sha256=00')).status).toBe(401);
    const malformed = await postFlux(svc.url, '{not json');
    expect(malformed.status).toBe(400);
  });
});
