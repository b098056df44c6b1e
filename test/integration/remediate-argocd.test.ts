import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Notifier, SendResult } from '../../src/deliver/notifier.ts';
import type { Notification, TrackedFinding } from '../../src/model/alert-group.ts';
import { createArgoCdSyncClient, type ArgoCdSyncBody } from '../../src/remediate/argocd-sync.ts';
import { createRedisAuditTrail, type AuditRecord, type AuditTrail, type RemediationOutcome } from '../../src/remediate/audit.ts';
import type { RemediationConfigInput } from '../../src/remediate/policy.ts';
import { createRemediator, type RemediationEscalation } from '../../src/remediate/remediator.ts';
import { REMEDIATION } from '../../src/remediate/capability.ts';
import { startFakeArgoCd, type FakeArgoCd } from '../fakes/argocd.ts';
import { deleteKeys, redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { remediate } from '../support/remediate.ts';

const TOKEN = 'argocd-SECRET-token-0123456789';
const READ_ONLY = 'argocd-READONLY-token-9876543210';
const APP = { kind: 'Application', namespace: 'argocd', name: 'payments-mesh' };
const T0 = Date.UTC(2026, 10, 24, 10, 0, 0);
const MIN = 60_000;
const HOUR = 60 * MIN;

type Res = { group: string; kind: string; namespace: string; name: string };
const VS: Res = { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'payments', name: 'payments' };
const AP: Res = { group: 'security.istio.io', kind: 'AuthorizationPolicy', namespace: 'payments', name: 'payments-allow-frontend' };
const PA: Res = { group: 'security.istio.io', kind: 'PeerAuthentication', namespace: 'payments', name: 'default' };
const DR: Res = { group: 'networking.istio.io', kind: 'DestinationRule', namespace: 'payments', name: 'payments' };

let redis: Redis;
let prefix: string;
let fake: FakeArgoCd;
let audit: AuditTrail;
let now: number;
let outcomes: [string, RemediationOutcome][];
let escalations: RemediationEscalation[];

function finding(r: Res, over: Partial<TrackedFinding> = {}): TrackedFinding {
  return {
    fingerprint: `fp-${r.kind}-${r.name}`,
    groupKey: 'g-payments',
    cluster: 'prod',
    tool: 'argocd',
    owner: APP,
    project: 'mesh-prod',
    resource: r,
    state: 'Modified',
    category: 'traffic',
    mesh: 'istio',
    severity: 'high',
    receivers: ['auto-sync'],
    reasons: [],
    observedAt: now,
    firstSeen: now,
    lastSeen: now,
    status: 'firing',
    ...over,
  };
}

let seq = 0;
function notification(findings: TrackedFinding[], over: Partial<Notification> = {}): Notification {
  seq += 1;
  return {
    groupKey: 'g-payments',
    seq,
    reason: seq === 1 ? 'first' : 'new-findings',
    status: 'firing',
    labels: { cluster: 'prod', tool: 'argocd', owner: APP, project: 'mesh-prod' },
    severity: 'high',
    firing: findings,
    resolved: [],
    at: now,
    firstSeen: now,
    ...over,
  };
}

function remediator(config: Partial<RemediationConfigInput> = {}, token = TOKEN): Notifier {
  return createRemediator({
    name: 'auto-sync',
    config: { action: 'argocd-sync', ...config },
    argocd: { apiUrl: fake.url, token, timeoutMs: 2_000 },
    redis,
    keyPrefix: prefix,
    now: () => now,
    audit,
    onOutcome: (action, outcome) => outcomes.push([action, outcome]),
    onEscalate: (e) => {
      escalations.push(e);
    },
  });
}

const records = async (): Promise<AuditRecord[]> => (await audit.list({ limit: 100 })).reverse();
const syncBodies = (): ArgoCdSyncBody[] => fake.syncs().map((r) => r.body as ArgoCdSyncBody);
const opDone = (name = 'payments-mesh', ns?: string) => waitFor(() => fake.app(name, ns)?.operation === undefined, 3_000, 'the sync operation to finish');
const resourceStatus = (r: Res): unknown =>
  (fake.app('payments-mesh')?.status as { resources: Record<string, unknown>[] } | undefined)?.resources.find((x) => x.kind === r.kind && x.name === r.name)
    ?.status;

beforeEach(async () => {
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  prefix = testPrefix('remediate-argocd');
  fake = await startFakeArgoCd({ token: TOKEN, readOnlyToken: READ_ONLY, operationMs: 30 });
  now = T0;
  seq = 0;
  outcomes = [];
  escalations = [];
  audit = createRedisAuditTrail(redis, prefix, { now: () => now });
});

afterEach(async () => {
  await fake.close();
  await deleteKeys(redisUrl(), prefix);
  redis.disconnect();
});

describe('remediate receiver (argocd-sync) against the fake Argo CD', () => {
  it('is a notifier named remediate that ignores resolves', () => {
    const r = remediator();
    expect(r.type).toBe('remediate');
    expect(r.sendResolved).toBe(false);
  });

  it('declares its remediation capability; send() never acts (the queue runs it per owner), and says so', async () => {
    const r = remediator({ dryRun: false });
    expect(r.capabilities?.names).toEqual(['remediation']);
    const result = await r.send(notification([finding(VS)]));
    expect(result).toMatchObject({
      ok: false,
      retryable: false,
      reason: 'remediate receiver "auto-sync" acts per owner through remediation jobs, not by a delivery',
    });
    expect(fake.requests).toHaveLength(0);
    expect(await records()).toEqual([]);
  });

  it('dry run by default: reads the app, posts no sync, audits what it would do', async () => {
    const result = await remediate(remediator(), notification([finding(VS), finding(AP)]));
    expect(result).toEqual({ ok: true });
    expect(fake.requests.filter((r) => r.method === 'POST')).toHaveLength(0);
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'GET /api/v1/applications/payments-mesh',
      'GET /api/v1/applications/payments-mesh/syncwindows',
    ]);
    const [rec, ...rest] = await records();
    expect(rest).toHaveLength(0);
    expect(rec).toMatchObject({
      actor: 'meshdrift',
      action: 'argocd-sync',
      outcome: 'dry-run',
      dryRun: true,
      cluster: 'prod',
      owner: APP,
      resources: [VS, AP],
      groupKey: 'g-payments',
      seq: 1,
    });
    expect(rec?.reason).toMatch(/^dry run: would sync 2 drifted resources of Application argocd\/payments-mesh/);
    expect(outcomes).toEqual([['argocd-sync', 'dry-run']]);
    expect(resourceStatus(VS)).toBe('OutOfSync');
  });

  it('syncs only the drifted resources the notification names, without prune', async () => {
    // PeerAuthentication `default` is OutOfSync too, but the route did not send it here.
    const result = await remediate(remediator({ dryRun: false }), notification([finding(VS), finding(AP)]));
    expect(result).toEqual({ ok: true });
    const [sync] = fake.syncs();
    expect(sync?.path).toBe('/api/v1/applications/payments-mesh/sync');
    expect(sync?.authorization).toBe(`Bearer ${TOKEN}`);
    expect(sync?.contentType).toMatch(/^application\/json/);
    expect(sync?.body).toEqual({
      resources: [VS, AP],
      prune: false,
      dryRun: false,
      infos: [{ name: 'meshdrift', value: expect.stringMatching(/^sync 2 drifted resources of Application argocd\/payments-mesh/) as unknown }],
    });
    // The fake's operation, as Argo CD sets it, then finishes.
    expect(fake.app('payments-mesh')?.operation).toMatchObject({ sync: { resources: [VS, AP] }, initiatedBy: { username: 'meshdrift' } });
    await opDone();
    expect([resourceStatus(VS), resourceStatus(AP), resourceStatus(PA)]).toEqual(['Synced', 'Synced', 'OutOfSync']);
    const [rec] = await records();
    expect(rec).toMatchObject({
      outcome: 'performed',
      dryRun: false,
      resources: [VS, AP],
      fingerprints: ['fp-VirtualService-payments', 'fp-AuthorizationPolicy-payments-allow-frontend'],
    });
    expect(outcomes).toEqual([['argocd-sync', 'performed']]);
  });

  it('addresses an Application outside the control-plane namespace with appNamespace', async () => {
    const app = structuredClone(fake.app('payments-mesh'));
    if (!app) throw new Error('fixture missing');
    app.metadata.namespace = 'team-payments';
    fake.putApp(app);
    const owner = { ...APP, namespace: 'team-payments' };
    const result = await remediate(
      remediator({ dryRun: false }),
      notification([finding(VS, { owner })], { labels: { cluster: 'prod', tool: 'argocd', owner, project: 'mesh-prod' } }),
    );
    expect(result).toEqual({ ok: true });
    expect(fake.requests[0]?.query).toEqual({ appNamespace: 'team-payments' });
    expect(syncBodies()[0]?.appNamespace).toBe('team-payments');
  });

  it('does the same notification once, even when delivered twice', async () => {
    const r = remediator({ dryRun: false });
    const n = notification([finding(VS)]);
    await expect(remediate(r, n)).resolves.toEqual({ ok: true });
    await expect(remediate(r, n)).resolves.toEqual({ ok: true });
    expect(fake.syncs()).toHaveLength(1);
    expect(await records()).toHaveLength(1);
  });

  it('rate limit: a fourth action on the owner within the hour is skipped and audited', async () => {
    fake.drift('payments-mesh', DR);
    const r = remediator({ dryRun: false });
    for (const res of [VS, AP, PA]) {
      await expect(remediate(r, notification([finding(res)]))).resolves.toEqual({ ok: true });
      await opDone();
      now += 5 * MIN;
    }
    await expect(remediate(r, notification([finding(DR)]))).resolves.toEqual({ ok: true });
    expect(fake.syncs()).toHaveLength(3);
    const last = (await records()).at(-1);
    expect(last).toMatchObject({ outcome: 'rate-limited', resources: [] });
    expect(last?.reason).toMatch(/rate limit: 3 actions on Application argocd\/payments-mesh in the last hour \(max 3\)/);
    // An hour after the first action, one slot is free again.
    now = T0 + 61 * MIN;
    await expect(remediate(r, notification([finding(DR, { firstSeen: now })], { reason: 'repeat' }))).resolves.toEqual({ ok: true });
    expect(fake.syncs()).toHaveLength(4);
  });

  it('operation in progress: defers with growing backoff, then syncs once it is done', async () => {
    fake.startOperation('payments-mesh');
    const r = remediator({ dryRun: false });
    const n = notification([finding(VS)]);
    const first = await remediate(r, n);
    expect(first).toMatchObject({ ok: false, retryable: true, retryAfterMs: 30_000 });
    const second = await remediate(r, n);
    expect(second).toMatchObject({ ok: false, retryable: true, retryAfterMs: 60_000 });
    expect(fake.requests.filter((q) => q.method === 'POST')).toHaveLength(0);
    fake.finishOperation('payments-mesh');
    // The other user's operation synced everything it touched; drift VS again so there is work left.
    fake.drift('payments-mesh', VS);
    await expect(remediate(r, n)).resolves.toEqual({ ok: true });
    expect(fake.syncs()).toHaveLength(1);
    expect((await records()).map((x) => x.outcome)).toEqual(['deferred', 'deferred', 'performed']);
  });

  it('skips resources an earlier operation already synced', async () => {
    fake.startOperation('payments-mesh');
    fake.finishOperation('payments-mesh'); // syncs every resource of the app
    await expect(remediate(remediator({ dryRun: false }), notification([finding(VS)]))).resolves.toEqual({ ok: true });
    expect(fake.syncs()).toHaveLength(0);
    expect((await records())[0]).toMatchObject({ outcome: 'skipped', reason: expect.stringMatching(/already synced/) as unknown });
  });

  it('gives up deferring after maxDeferMs, until the next notification', async () => {
    fake.startOperation('payments-mesh');
    const r = createRemediator({
      name: 'auto-sync',
      config: { action: 'argocd-sync', dryRun: false },
      argocd: { apiUrl: fake.url, token: TOKEN },
      redis,
      keyPrefix: prefix,
      now: () => now,
      audit,
      maxDeferMs: 10 * MIN,
    });
    const n = notification([finding(VS)]);
    expect(await remediate(r, n)).toMatchObject({ retryable: true });
    now += 11 * MIN;
    expect(await remediate(r, n)).toMatchObject({ ok: false, retryable: false, reason: expect.stringMatching(/gave up after 11m/) as unknown });
    expect((await records()).map((x) => x.outcome)).toEqual(['deferred', 'failed']);
  });

  it('maps the 400 "another operation is already in progress" race to a retryable deferral', async () => {
    // hitchhiker-babel-fish is the sync-response fixture: its `.operation` is set.
    const client = createArgoCdSyncClient({ apiUrl: fake.url, token: TOKEN });
    const res = await client.remediate({
      owner: { kind: 'Application', namespace: 'argocd', name: 'hitchhiker-babel-fish' },
      resources: [{ group: '', kind: 'Service', namespace: 'hitchhiker-staging', name: 'babel-fish-guestbook-ui' }],
      prune: false,
      reason: 'test',
    });
    expect(res).toEqual({
      ok: false,
      kind: 'in-progress',
      retryable: true,
      retryAfterMs: 30_000,
      reason: 'argocd sync of Application hitchhiker-babel-fish: another operation is already in progress; retrying later',
    });
    expect(fake.requests[0]?.status).toBe(400);
    expect(fake.requests[0]?.body).toMatchObject({ resources: [{ kind: 'Service' }] });
    const inspected = await client.inspect({ kind: 'Application', namespace: 'argocd', name: 'hitchhiker-babel-fish' });
    expect(inspected).toMatchObject({ ok: true, state: { inProgress: true } });
  });

  it('a deny sync window: read first (syncwindows canSync false), deferred 5 minutes with no sync POST, synced once it closes', async () => {
    fake.denyWindow('payments-mesh', true);
    const r = remediator({ dryRun: false });
    const n = notification([finding(VS)]);
    const result = await remediate(r, n);
    expect(result).toEqual({
      ok: false,
      retryable: true,
      retryAfterMs: 300_000,
      reason: 'argocd: a sync window denies syncing Application payments-mesh now (active: deny 0 * * * * for 1h); retrying in 5m',
    });
    expect(fake.requests.filter((q) => q.method === 'POST')).toHaveLength(0);
    expect(fake.syncWindowReads()).toHaveLength(1);
    const [rec] = await records();
    expect(rec).toMatchObject({ outcome: 'deferred' });
    expect(rec?.reason).toMatch(/a sync window denies syncing .* retrying in 5m \(deferral 1, next try in 300s\)/);
    expect(outcomes).toEqual([['argocd-sync', 'deferred']]);
    fake.denyWindow('payments-mesh', false);
    await expect(remediate(r, n)).resolves.toEqual({ ok: true });
    expect(fake.syncs()).toHaveLength(1);
  });

  it('sync windows are judged as Argo CD judges a manual sync: a deny with manualSync or an active allow permits, an inactive allow blocks', async () => {
    const client = createArgoCdSyncClient({ apiUrl: fake.url, token: TOKEN });
    const deny = { kind: 'deny' as const, schedule: '0 22 * * *', duration: '8h' };
    const allow = { kind: 'allow' as const, schedule: '0 9 * * 1-5', duration: '8h' };
    const cases: Array<[Parameters<FakeArgoCd['setSyncWindows']>[1], boolean]> = [
      [[{ ...deny, manualSync: true, active: true }], true],
      [[{ ...allow, manualSync: false, active: true }], true],
      [[{ ...allow, manualSync: false, active: false }], false],
      [[{ ...deny, manualSync: false, active: false }], true],
    ];
    for (const [windows, canSync] of cases) {
      fake.setSyncWindows('payments-mesh', windows);
      const inspected = await client.inspect(APP);
      if (!inspected.ok) throw new Error(inspected.reason);
      expect(inspected.state.syncWindow === undefined).toBe(canSync);
    }
    // The answer's shape (application.proto ApplicationSyncWindowsResponse): windows without `active`, canSync.
    const res = await fetch(`${fake.url}/api/v1/applications/payments-mesh/syncwindows`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(await res.json()).toEqual({ assignedWindows: [{ kind: 'deny', schedule: '0 22 * * *', duration: '8h', manualSync: false }], canSync: true });
  });

  it('a window that closes between the read and the sync is still a deferral (the 403 is mapped)', async () => {
    const client = createArgoCdSyncClient({ apiUrl: fake.url, token: TOKEN });
    fake.denyWindow('payments-mesh', true);
    const res = await client.remediate({ owner: APP, resources: [VS], prune: false, reason: 'test' });
    expect(res).toMatchObject({ ok: false, kind: 'sync-window', retryable: true, retryAfterMs: 300_000 });
    expect(fake.requests.at(-1)).toMatchObject({ method: 'POST', status: 403 });
  });

  it('someone else started an operation moments ago: deferred without a write, acted on once Argo CD had time to compare', async () => {
    const app = fake.app('payments-mesh');
    if (!app) throw new Error('no app');
    const status = app.status as Record<string, unknown>;
    status.operationState = {
      phase: 'Succeeded',
      startedAt: new Date(T0 - 10_000).toISOString(),
      finishedAt: new Date(T0 - 5_000).toISOString(),
      operation: { sync: {}, initiatedBy: { username: 'alice' } },
    };
    const r = remediator({ dryRun: false });
    const n = notification([finding(VS)]);
    expect(await remediate(r, n)).toMatchObject({ ok: false, retryable: true });
    expect(fake.requests.filter((q) => q.method === 'POST')).toHaveLength(0);
    expect((await records())[0]?.reason).toMatch(
      /^alice started an operation on Application argocd\/payments-mesh at 2026-11-24T09:59:50.000Z; waiting for Argo CD/,
    );
    now = T0 + 2 * MIN;
    await expect(remediate(r, n)).resolves.toEqual({ ok: true });
    expect(fake.syncs()).toHaveLength(1);
  });

  describe('scope: what meshdrift reads of the Application, never the webhook', () => {
    // payments-mesh deploys to destination name prod-eu-1, namespace payments, project mesh-prod; the findings claim cluster "prod".
    it('a body claiming a permitted cluster for an app whose destination is another: refused and audited, no write', async () => {
      const r = remediator({ dryRun: false, scope: { clusters: ['prod'] } });
      await expect(remediate(r, notification([finding(VS)]))).resolves.toEqual({ ok: true });
      expect(fake.requests.filter((q) => q.method === 'POST')).toHaveLength(0);
      const [rec, ...rest] = await records();
      expect(rest).toHaveLength(0);
      expect(rec).toMatchObject({ outcome: 'denied', cluster: 'prod', resources: [VS] });
      expect(rec?.reason).toBe(
        "refused: Application argocd/payments-mesh is outside receiver auto-sync's scope: its destination cluster is prod-eu-1, not one of the receiver's clusters (prod)",
      );
      expect(outcomes).toEqual([['argocd-sync', 'denied']]);
      // Decided: the same notification again does not ask Argo CD twice.
      await remediate(r, notification([finding(VS)], { seq }));
      expect(fake.requests.filter((q) => q.method === 'POST')).toHaveLength(0);
    });

    it('refused in a dry run too, so the dry run says what would really happen', async () => {
      await remediate(remediator({ scope: { projects: ['mesh-staging'] } }), notification([finding(VS)]));
      expect((await records())[0]).toMatchObject({ outcome: 'denied', dryRun: true });
      expect((await records())[0]?.reason).toMatch(/its project is mesh-prod, not one of the receiver's projects \(mesh-staging\)$/);
    });

    it('the destination namespace and the named resources must be in `namespaces`', async () => {
      await remediate(remediator({ dryRun: false, scope: { namespaces: ['checkout'] } }), notification([finding(VS)]));
      expect((await records())[0]?.reason).toMatch(/its namespace is payments, not one of the receiver's namespaces \(checkout\)$/);
      await remediate(remediator({ dryRun: false, scope: { namespaces: ['payments'] } }), notification([finding({ ...VS, namespace: 'kube-system' })]));
      expect((await records())[1]?.reason).toMatch(/it would name 1 resource\(s\) in namespaces outside the receiver's \(kube-system\)$/);
      expect(fake.requests.filter((q) => q.method === 'POST')).toHaveLength(0);
    });

    it('inside the scope (destination mapped by MESHDRIFT_ARGOCD_DESTINATIONS), it syncs', async () => {
      const r = createRemediator({
        name: 'auto-sync',
        config: { action: 'argocd-sync', dryRun: false, scope: { clusters: ['prod'], projects: ['mesh-prod'], namespaces: ['payments'] } },
        argocd: { apiUrl: fake.url, token: TOKEN },
        destinations: new Map([['prod-eu-1', 'prod']]),
        redis,
        keyPrefix: prefix,
        now: () => now,
        audit,
      });
      await expect(remediate(r, notification([finding(VS)]))).resolves.toEqual({ ok: true });
      expect(fake.syncs()).toHaveLength(1);
    });
  });

  it('flap breaker: the same finding coming back after 3 remediations escalates, then stays held', async () => {
    const r = remediator({ dryRun: false, maxPerHour: 10 });
    for (let i = 0; i < 3; i++) {
      await expect(remediate(r, notification([finding(VS, { firstSeen: now })]))).resolves.toEqual({ ok: true });
      await opDone();
      // Someone edits it by hand again; the next snapshot opens a new episode.
      now += 5 * MIN;
      fake.drift('payments-mesh', VS);
    }
    expect(fake.syncs()).toHaveLength(3);
    await expect(remediate(r, notification([finding(VS, { firstSeen: now })]))).resolves.toEqual({ ok: true });
    expect(fake.syncs()).toHaveLength(3);
    expect(escalations).toHaveLength(1);
    expect(escalations[0]).toMatchObject({ receiver: 'auto-sync', fingerprints: ['fp-VirtualService-payments'], resources: [VS] });
    const recs = await records();
    expect(recs.map((x) => x.outcome)).toEqual(['performed', 'performed', 'performed', 'escalated']);
    expect(recs[3]?.reason).toMatch(/flap breaker tripped: 1 resource\(s\) of Application argocd\/payments-mesh drifted again after 3 remediations within 60m/);
    // Still drifted later: held, not escalated twice, not synced.
    now += 5 * MIN;
    await expect(remediate(r, notification([finding(VS, { firstSeen: now })], { reason: 'repeat' }))).resolves.toEqual({ ok: true });
    expect(fake.syncs()).toHaveLength(3);
    expect(escalations).toHaveLength(1);
    expect((await records()).at(-1)).toMatchObject({ outcome: 'skipped', reason: expect.stringMatching(/flap breaker open since/) as unknown });
    expect(outcomes.map(([, o]) => o)).toEqual(['performed', 'performed', 'performed', 'escalated', 'skipped']);
  });

  it('the flap escalation is an event with a fixed id: a retry of the same notification tells the same event again, a later one nothing', async () => {
    const r = remediator({ dryRun: false, maxPerHour: 10, flap: { max: 1, withinMs: HOUR } });
    const remediation = REMEDIATION.of(r);
    if (!remediation) throw new Error('no remediation');
    const owner = { cluster: 'prod', tool: 'argocd' as const, owner: APP };
    await remediation.remediateOwner(notification([finding(VS, { firstSeen: now })]), owner);
    await opDone();
    now += 5 * MIN;
    fake.drift('payments-mesh', VS);
    const n = notification([finding(VS, { firstSeen: now })], { reason: 'repeat' });
    const tripped = await remediation.remediateOwner(n, owner);
    const [event] = tripped.escalations?.events ?? [];
    expect(event).toMatchObject({
      status: 'firing',
      kind: 'flap-breaker',
      severity: 'high',
      id: `flap:auto-sync:g-payments:${n.seq}:prod/argocd/Application/argocd/payments-mesh`,
    });
    // The job ran again (a crash before its follow-ups were queued): decided already, the same event is told again (its job id makes it once).
    const retried = await remediation.remediateOwner(n, owner);
    expect(retried.escalations?.events).toEqual([event]);
    // A later notification of the same drift: held, nothing new to tell.
    now += MIN;
    const later = await remediation.remediateOwner(notification([finding(VS, { firstSeen: now })], { reason: 'repeat' }), owner);
    expect(later.escalations).toBeUndefined();
    expect(fake.syncs()).toHaveLength(1);
  });

  it('one remediation per owner at a time: a held lock defers', async () => {
    const key = `${prefix}:remediate:lock:prod/argocd/Application/argocd/payments-mesh`;
    await redis.set(key, 'other-replica', 'PX', 10_000);
    const result = await remediate(remediator({ dryRun: false }), notification([finding(VS)]));
    expect(result).toEqual({ ok: false, retryable: true, retryAfterMs: 5_000, reason: 'another remediation of Application argocd/payments-mesh is running' });
    expect(fake.requests).toHaveLength(0);
    expect(await redis.get(key)).toBe('other-replica');
  });

  it('never puts the token into a reason or an audit record', async () => {
    const results: SendResult[] = [];
    // Read-only token: the sync is forbidden (not retryable).
    results.push(await remediate(remediator({ dryRun: false }, READ_ONLY), notification([finding(VS)])));
    // A wrong token.
    results.push(await remediate(remediator({ dryRun: false }, `${TOKEN}-wrong`), notification([finding(AP)])));
    // A broken proxy that echoes the Authorization header.
    fake.failNext(1, 502, { error: `upstream said: Bearer ${TOKEN}`, code: 14, message: `upstream said: Bearer ${TOKEN}` });
    results.push(await remediate(remediator({ dryRun: false }), notification([finding(PA)])));
    // A server that cannot be reached.
    const gone = createRemediator({
      name: 'auto-sync',
      config: { action: 'argocd-sync', dryRun: false },
      argocd: { apiUrl: 'http://127.0.0.1:9', token: TOKEN, timeoutMs: 1_000 },
      redis,
      keyPrefix: prefix,
      now: () => now,
      audit,
    });
    results.push(await remediate(gone, notification([finding(DR)])));

    expect(results.map((r) => (r.ok ? 'ok' : `${r.retryable}`))).toEqual(['false', 'false', 'true', 'true']);
    expect(results[0]).toMatchObject({ reason: expect.stringMatching(/HTTP 403, permission denied/) as unknown });
    expect(results[1]).toMatchObject({ reason: expect.stringMatching(/HTTP 401, the token was rejected/) as unknown });
    expect(results[2]).toMatchObject({ reason: expect.stringMatching(/HTTP 502: upstream said: Bearer \[redacted\]/) as unknown });
    const dump = JSON.stringify({ results, audit: await records(), raw: await redis.xrange(`${prefix}:audit`, '-', '+') });
    for (const secret of [TOKEN, READ_ONLY]) expect(dump).not.toContain(secret);
    expect((await records()).map((x) => x.outcome)).toEqual(['failed', 'failed', 'deferred', 'deferred']);
  });
});
