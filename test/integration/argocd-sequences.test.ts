import { readFileSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { App } from '../../src/app.ts';
import { AP, DR, meshAppIn, VS, type AppState, type MeshResource } from '../support/argocd-apps.ts';
import { ArgocdEngine, engineSkipReason, NotificationsReplay, parseNotificationsConfig, type Delivery } from '../support/argocd-engine.ts';
import { redisUrl, testPrefix } from '../support/redis.ts';
import { postArgocd, startService, stopService } from '../support/service.ts';

// Issue #13 items 1-3 and 6, "done when": sequences of one app's states, each reconcile passed
// through the replayed notifications controller (real expr, real templates), only what it sends is
// posted, and after each step meshdrift's firing findings equal the app's drifted resources.
const CM = parse(readFileSync(new URL('../../deploy/argocd/argocd-notifications-cm.yaml', import.meta.url), 'utf8')) as { data: Record<string, string> };
const config = parseNotificationsConfig(CM.data);
const TRIGGERS = ['on-meshdrift-state', 'on-meshdrift-clean'];
const START = Date.UTC(2026, 10, 24, 10, 0, 0);
const RECONCILE_MS = 3 * 60_000; // Argo CD's default: timeout.reconciliation 120s + jitter up to 60s

const skip = engineSkipReason();
describe.skipIf(skip !== undefined)('Argo CD notification sequences end with meshdrift equal to the app', () => {
  let engine: ArgocdEngine;
  let svc: (App & { url: string }) | undefined;
  let prefix: string;
  let replay: NotificationsReplay;
  let reconcile: number;
  beforeAll(() => {
    engine = ArgocdEngine.start();
  }, 240_000);
  afterAll(() => engine?.stop());
  beforeEach(async () => {
    prefix = testPrefix('seq');
    // The token speaks for MESHDRIFT_CLUSTER only: the context names prod-eu-1.
    svc = await startService({ redisUrl: redisUrl(), prefix, env: { MESHDRIFT_CLUSTER: 'prod-eu-1' } });
    replay = new NotificationsReplay(engine, config, { argocdUrl: 'https://argocd.example.com', clusterName: 'prod-eu-1' }, TRIGGERS);
    reconcile = 0;
  });
  afterEach(async () => stopService(svc, redisUrl(), prefix));

  const post = async (d: Delivery): Promise<boolean> => (await postArgocd(svc?.url ?? '', d.body)).status === 202;
  const down = async (): Promise<boolean> => false; // meshdrift unreachable, or a 413/5xx
  const at = (k: number): string => new Date(START + k * RECONCILE_MS).toISOString().replace(/\.000Z$/, 'Z');

  /** One reconcile of the app in `state` (a new reconciledAt), through the controller. */
  async function step(state: AppState, deliver: (d: Delivery) => Promise<boolean> = post): Promise<Delivery[]> {
    reconcile += 1;
    const sent = await replay.process(meshAppIn(state, at(reconcile)), deliver);
    expect(replay.errors).toEqual([]);
    return sent;
  }
  /** A controller pass without a new reconcile (an informer resync, another app update). */
  async function resync(state: AppState, deliver: (d: Delivery) => Promise<boolean> = post): Promise<Delivery[]> {
    return replay.process(meshAppIn(state, at(reconcile)), deliver);
  }

  async function firing(): Promise<string[]> {
    const res = await fetch(`${svc?.url ?? ''}/api/v1/alerts`);
    const { groups } = (await res.json()) as { groups: Array<{ findings: Array<{ status: string; resource: { kind: string; name: string } }> }> };
    return groups.flatMap((g) => g.findings.filter((f) => f.status === 'firing').map((f) => `${f.resource.kind}/${f.resource.name}`)).sort();
  }
  const names = (rs: readonly MeshResource[]): string[] => rs.map((r) => `${r.kind}/${r.name}`).sort();
  const triggers = (sent: Delivery[]): string[] => sent.map((d) => d.trigger);

  it('A → A+B → A: each change is sent and B resolves (oncePer memory cannot hide the return to A)', async () => {
    expect(triggers(await step({ drifted: [VS] }))).toEqual(['on-meshdrift-state']);
    expect(await firing()).toEqual(names([VS]));
    await step({ drifted: [VS, AP] });
    expect(await firing()).toEqual(names([VS, AP]));
    expect(triggers(await step({ drifted: [VS] }))).toEqual(['on-meshdrift-state']);
    expect(await firing()).toEqual(names([VS]));
    expect(triggers(await step({ drifted: [] }))).toEqual(['on-meshdrift-clean']);
    expect(await firing()).toEqual([]);
  });

  it('a set change whose delivery failed is sent again at the next reconcile; a failed "clean" at the next pass', async () => {
    await step({ drifted: [VS] });
    expect(triggers(await step({ drifted: [VS, AP] }, down))).toEqual(['on-meshdrift-state']);
    expect(await firing()).toEqual(names([VS])); // meshdrift never heard of B
    expect(await resync({ drifted: [VS, AP] })).toEqual([]); // the oncePer key of this reconcile is kept
    expect(triggers(await step({ drifted: [VS, AP] }))).toEqual(['on-meshdrift-state']);
    expect(await firing()).toEqual(names([VS, AP]));
    expect(triggers(await step({ drifted: [] }, down))).toEqual(['on-meshdrift-clean']);
    expect(await firing()).toEqual(names([VS, AP]));
    expect(triggers(await resync({ drifted: [] }))).toEqual(['on-meshdrift-clean']); // key deleted on failure
    expect(await firing()).toEqual([]);
  });

  it.each(['Progressing', 'Suspended', 'Degraded'])('back to Synced while %s: the fixed drift is reported and resolves', async (health) => {
    await step({ drifted: [VS, DR] });
    expect(await firing()).toEqual(names([VS, DR]));
    expect(triggers(await step({ drifted: [], health }))).toEqual(['on-meshdrift-state']);
    expect(await firing()).toEqual([]);
    // Later Healthy: the clean edge fires once, and nothing more while it stays clean.
    expect(triggers(await step({ drifted: [] }))).toEqual(['on-meshdrift-clean']);
    expect(await step({ drifted: [] })).toEqual([]);
  });

  it('back to Synced while the last sync operation is still Failed: reported and resolved', async () => {
    await step({ drifted: [AP] });
    expect(await firing()).toEqual(names([AP]));
    const failed = { phase: 'Failed', finishedAt: at(reconcile) };
    expect(triggers(await step({ drifted: [], operation: failed }))).toEqual(['on-meshdrift-state']);
    expect(await firing()).toEqual([]);
  });

  it('an app without status.health evaluates without errors (no `?.` needed) and is sent', async () => {
    expect(triggers(await step({ drifted: [VS], noHealth: true }))).toEqual(['on-meshdrift-state']);
    expect(await firing()).toEqual(names([VS]));
    expect(triggers(await step({ drifted: [], noHealth: true }))).toEqual(['on-meshdrift-state']);
    expect(await firing()).toEqual([]);
  });

  it('contrast: the triggers shipped before (#13 item 1) send nothing for Synced while Progressing or with a Failed last operation, and the drift stays firing', async () => {
    // Their first condition and their clean trigger, with `?.`/`??` spelled as expr 1.8 nil guards
    // (the set-change condition needs `join`, which expr 1.8 lacks, and plays no part here).
    const old = parseNotificationsConfig({
      'trigger.on-meshdrift-state': stringify([
        {
          when: "app.status.sync.status != 'Synced' or app.status.health.status in ['Degraded','Missing','Unknown'] or (app.status.operationState != nil and app.status.operationState.phase in ['Failed','Error'])",
          send: ['meshdrift-state'],
        },
      ]),
      'trigger.on-meshdrift-clean': stringify([
        {
          when: "app.status.sync.status == 'Synced' and app.status.health.status == 'Healthy' and (app.status.operationState == nil or app.status.operationState.phase not in ['Running','Failed','Error'])",
          send: ['meshdrift-clean'],
        },
      ]),
      'template.meshdrift-state': CM.data['template.meshdrift-state'] ?? '',
      'template.meshdrift-clean': CM.data['template.meshdrift-clean'] ?? '',
    });
    replay = new NotificationsReplay(engine, old, { argocdUrl: 'https://argocd.example.com' }, TRIGGERS);
    await step({ drifted: [VS] });
    expect(await step({ drifted: [], health: 'Progressing' })).toEqual([]);
    expect(await firing()).toEqual(names([VS])); // meshdrift's state is not the app's
    // The "not clean" key set while OutOfSync is still set while the last operation is Failed.
    replay = new NotificationsReplay(engine, old, { argocdUrl: 'https://argocd.example.com' }, TRIGGERS);
    await step({ drifted: [VS, AP] });
    expect(await step({ drifted: [], operation: { phase: 'Failed', finishedAt: at(reconcile) } })).toEqual([]);
    expect(await firing()).toEqual(names([VS, AP]));
  });

  it('cost: a not-clean app is sent once per reconcile (20 an hour), a clean one once; the annotation stays bounded', async () => {
    const hour = 60 / 3;
    let notClean = 0;
    for (let i = 0; i < hour; i++) notClean += (await step({ drifted: [VS] }, down)).length;
    expect(notClean).toBe(hour);
    let clean = 0;
    for (let i = 0; i < hour; i++) clean += (await step({ drifted: [] }, down)).length + (await resync({ drifted: [] }, async () => true)).length;
    // The first clean send failed (down), the resync delivered it, then nothing more.
    expect(clean).toBe(2);
    // 150 reconciles not clean: oncePer keys are truncated to the newest 100, each key is short.
    for (let i = 0; i < 150; i++) await step({ drifted: [VS] }, down);
    expect(replay.state.size).toBe(100);
    expect(Buffer.byteLength(replay.annotation())).toBeLessThan(12 * 1024);
  }, 60_000);
});
