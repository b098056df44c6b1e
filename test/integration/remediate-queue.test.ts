import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Notifier } from '../../src/deliver/notifier.ts';
import { createRedisSlackMessageStore } from '../../src/deliver/slack/message-store.ts';
import { createSlackNotifier } from '../../src/deliver/slack/notifier.ts';
import { createLogger } from '../../src/log.ts';
import { createMetrics } from '../../src/metrics.ts';
import type { Notification, TrackedFinding } from '../../src/model/alert-group.ts';
import { createQueues, type Queues } from '../../src/queue/queues.ts';
import { createWorkers, type Workers } from '../../src/queue/worker.ts';
import { createJobHandlers } from '../../src/jobs.ts';
import { createRedisAuditTrail, type AuditRecord, type AuditTrail } from '../../src/remediate/audit.ts';
import type { RemediationConfigInput } from '../../src/remediate/policy.ts';
import { createRemediator } from '../../src/remediate/remediator.ts';
import { createRedisTrackStore } from '../../src/track/redis-store.ts';
import { startFakeArgoCd, type FakeArgoCd } from '../fakes/argocd.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { deleteKeys, redisUrl, testPrefix, waitFor } from '../support/redis.ts';

/**
 * Remediation through the queue (issue #6): per-owner jobs where the latest notification wins,
 * the verify step in delayed jobs, and the notes (verdicts, escalations) in the alert's Slack thread.
 */

const TOKEN = 'argocd-SECRET-token-0123456789';
const SLACK_TOKEN = 'xoxb-queue-SECRET-token';
const APP = { kind: 'Application', namespace: 'argocd', name: 'payments-mesh' };
const LABELS = { cluster: 'prod', tool: 'argocd' as const, owner: APP, project: 'mesh-prod' };
type Res = { group: string; kind: string; namespace: string; name: string };
const VS: Res = { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'payments', name: 'payments' };
const AP: Res = { group: 'security.istio.io', kind: 'AuthorizationPolicy', namespace: 'payments', name: 'payments-allow-frontend' };
const DR: Res = { group: 'networking.istio.io', kind: 'DestinationRule', namespace: 'payments', name: 'payments' };

let redis: Redis;
let workerRedis: Redis;
let prefix: string;
let argocd: FakeArgoCd;
let slack: FakeSlack;
let audit: AuditTrail;
let registry: Registry;
let queues: Queues;
let workers: Workers;

function finding(r: Res, over: Partial<TrackedFinding> = {}): TrackedFinding {
  const now = Date.now();
  return {
    fingerprint: `fp-${r.kind}-${r.name}`,
    groupKey: 'g-remediate',
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

function notification(seq: number, firing: TrackedFinding[], over: Partial<Notification> = {}): Notification {
  const now = Date.now();
  return {
    groupKey: 'g-remediate',
    seq,
    reason: seq === 1 ? 'first' : 'new-findings',
    status: 'firing',
    labels: { ...LABELS, receiver: 'auto-sync' },
    severity: 'high',
    firing,
    resolved: [],
    at: now,
    firstSeen: now,
    ...over,
  };
}

/** Starts queues and workers around a remediate receiver `auto-sync` and a Slack receiver `chat`. */
async function start(config: Partial<RemediationConfigInput>, opts: { operationMs?: number } = {}): Promise<void> {
  argocd = await startFakeArgoCd({ token: TOKEN, operationMs: opts.operationMs ?? 30 });
  const notifiers = new Map<string, Notifier>([
    [
      'auto-sync',
      createRemediator({
        name: 'auto-sync',
        config: { action: 'argocd-sync', dryRun: false, ...config },
        argocd: { apiUrl: argocd.url, token: TOKEN, timeoutMs: 2_000 },
        redis,
        keyPrefix: prefix,
        now: Date.now,
        audit,
        onOutcome: (a, o) => metrics.remediation(a, o),
      }),
    ],
    [
      'chat',
      createSlackNotifier({
        token: SLACK_TOKEN,
        channel: '#mesh-drift',
        apiUrl: slack.url,
        store: createRedisSlackMessageStore(redis, `${prefix}:receiver:chat`),
        timeoutMs: 2_000,
      }),
    ],
  ]);
  const metrics = createMetrics(registry);
  queues = createQueues(redis, prefix, { attempts: 3, backoffMs: 100 }, { remediationDebounceMs: 300 });
  workers = createWorkers({
    connection: workerRedis,
    prefix,
    store: createRedisTrackStore({ redis, keyPrefix: prefix }),
    queues,
    handlers: createJobHandlers({ queues, notifiers: () => notifiers, metrics, log: createLogger('silent'), now: Date.now, audit }),
    metrics,
    log: createLogger('silent'),
    now: Date.now,
  });
  void workers.deliver.run();
  await workers.deliver.waitUntilReady();
}

/** The Slack receiver's message about the owner (another group, as a Slack route makes it). */
async function slackMessageAboutTheOwner(): Promise<string> {
  const n = notification(1, [finding(VS, { receivers: ['chat'] })], { groupKey: 'g-slack', labels: { ...LABELS, receiver: 'chat' } });
  await queues.enqueueDeliveries(n);
  await waitFor(() => slack.messages.size === 1, 5_000, 'the alert message');
  return [...slack.messages.keys()][0] ?? '';
}

const records = async (): Promise<AuditRecord[]> => (await audit.list({ limit: 100 })).reverse();
const metricsText = async (): Promise<string> => registry.metrics();

beforeEach(async () => {
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  workerRedis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
  prefix = testPrefix('remediate-queue');
  audit = createRedisAuditTrail(redis, prefix, { now: Date.now });
  registry = new Registry();
  slack = await startFakeSlack({ token: SLACK_TOKEN });
});

afterEach(async () => {
  await workers.close();
  await queues.close();
  await argocd.close();
  await slack.close();
  await deleteKeys(redisUrl(), prefix);
  redis.disconnect();
  workerRedis.disconnect();
});

describe('remediation jobs, one owner at a time, latest wins', () => {
  it('3 quick notifications for one owner cause 1 action, with the latest content', async () => {
    await start({ verifyTimeoutMs: 5_000 });
    argocd.drift('payments-mesh', DR);
    await queues.enqueueDeliveries(notification(1, [finding(VS)]));
    await queues.enqueueDeliveries(notification(2, [finding(VS), finding(DR)]));
    await queues.enqueueDeliveries(notification(3, [finding(VS), finding(DR), finding(AP)]));
    await waitFor(() => argocd.syncs().length >= 1, 15_000, 'the sync');
    // Long enough for a second (wrong) action: debounce 300 ms, and the superseded jobs were replaced.
    await new Promise((r) => setTimeout(r, 1_000));
    expect(argocd.syncs()).toHaveLength(1);
    expect((argocd.syncs()[0]?.body as { resources: Res[] } | undefined)?.resources).toEqual([VS, DR, AP]);
    const performed = (await records()).filter((r) => r.outcome === 'performed');
    expect(performed).toHaveLength(1);
    expect(performed[0]).toMatchObject({ kind: 'remediation', seq: 3, resources: [VS, DR, AP] });
  });

  it("a job queued for an older notification acts on the newest one of its group (its add can overtake the newer one's)", async () => {
    await start({ verifyTimeoutMs: 5_000 });
    argocd.drift('payments-mesh', DR);
    // Seq 2 and then 3 were decided and stored; the job that reached the owner's debounce last was seq 2's.
    const older = notification(2, [finding(VS), finding(DR)]);
    await queues.notifications.save(older);
    await queues.notifications.save(notification(3, [finding(VS), finding(DR), finding(AP)], { at: older.at + 1 }));
    await queues.enqueueRemediation('auto-sync', older, { cluster: LABELS.cluster, tool: LABELS.tool, owner: APP });
    await waitFor(() => argocd.syncs().length >= 1, 15_000, 'the sync');
    expect((argocd.syncs()[0]?.body as { resources: Res[] } | undefined)?.resources).toEqual([VS, DR, AP]);
    // The record is written after Argo CD answered the sync: on a loaded machine, later than the sync is seen.
    let performed: Awaited<ReturnType<typeof records>> = [];
    await waitFor(
      async () => {
        performed = (await records()).filter((r) => r.outcome === 'performed');
        return performed.length > 0;
      },
      15_000,
      'the performed record',
    );
    expect(performed[0]).toMatchObject({ kind: 'remediation', seq: 3 });
  });

  it('an older notification arriving after a newer one was handled does nothing', async () => {
    await start({ verifyTimeoutMs: 5_000 });
    await queues.enqueueDeliveries(notification(2, [finding(VS), finding(DR)]));
    await waitFor(() => argocd.syncs().length === 1, 15_000, 'the sync');
    await queues.enqueueDeliveries(notification(1, [finding(VS)]));
    await new Promise((r) => setTimeout(r, 800));
    expect(argocd.syncs()).toHaveLength(1);
    expect((await records()).filter((r) => r.seq === 1)).toEqual([]);
  });
});

describe('verify step', () => {
  it('the resources Synced in time: audited verified, counted, told in the alert thread', async () => {
    await start({ verifyTimeoutMs: 3_000 });
    const ts = await slackMessageAboutTheOwner();
    await queues.enqueueDeliveries(notification(1, [finding(VS), finding(AP)]));
    await waitFor(async () => (await records()).some((r) => r.outcome === 'verified'), 8_000, 'the verified record');
    const verified = (await records()).find((r) => r.outcome === 'verified');
    expect(verified).toMatchObject({ kind: 'remediation', action: 'argocd-sync', actor: 'meshdrift', resources: [VS, AP], groupKey: 'g-remediate', seq: 1 });
    expect(verified?.reason).toMatch(/^Sync by meshdrift verified: 2 resources Synced after \d+ s$/);
    expect(await metricsText()).toContain('meshdrift_remediations_total{action="argocd-sync",outcome="verified"} 1');
    await waitFor(() => (slack.replies.get(ts) ?? []).length === 1, 5_000, 'the thread reply');
    const reply = slack.replies.get(ts)?.[0];
    expect(reply?.text).toMatch(/^:white_check_mark: Sync by meshdrift verified: 2 resources Synced after \d+ s$/);
    expect(reply?.broadcast).toBeUndefined();
  });

  it('the sync did not converge within the timeout: audited verify-failed, counted, told with what is left', async () => {
    // The operation runs longer than the verify timeout.
    await start({ verifyTimeoutMs: 1_000 }, { operationMs: 60_000 });
    const ts = await slackMessageAboutTheOwner();
    await queues.enqueueDeliveries(notification(1, [finding(VS)]));
    await waitFor(async () => (await records()).some((r) => r.outcome === 'verify-failed'), 8_000, 'the verify-failed record');
    const failed = (await records()).find((r) => r.outcome === 'verify-failed');
    expect(failed?.reason).toBe('Sync did not converge within 1 s: the sync operation is still running');
    expect((await records()).filter((r) => r.outcome === 'verified')).toEqual([]);
    expect(await metricsText()).toContain('meshdrift_remediations_total{action="argocd-sync",outcome="verify-failed"} 1');
    await waitFor(() => (slack.replies.get(ts) ?? []).length === 1, 5_000, 'the thread reply');
    expect(slack.replies.get(ts)?.[0]?.text).toBe(':warning: Sync did not converge within 1 s: the sync operation is still running');
  });

  it('a resource that drifts back before the verify names it as still out of sync', async () => {
    await start({ verifyTimeoutMs: 1_000 });
    await queues.enqueueDeliveries(notification(1, [finding(VS)]));
    await waitFor(() => argocd.syncs().length === 1, 15_000, 'the sync');
    await waitFor(() => argocd.app('payments-mesh')?.operation === undefined, 3_000, 'the operation');
    argocd.drift('payments-mesh', VS);
    await waitFor(async () => (await records()).some((r) => r.outcome === 'verify-failed'), 8_000, 'the verify-failed record');
    expect((await records()).find((r) => r.outcome === 'verify-failed')?.reason).toBe(
      'Sync did not converge within 1 s: 1 resource still out of sync (VirtualService payments/payments)',
    );
  });
});

describe('flap breaker escalation', () => {
  it('tells the alert thread, broadcast to the channel, that auto-remediation stopped, and why', async () => {
    await start({ verifyTimeoutMs: 300, flap: { max: 1, withinMs: 60_000 } });
    const ts = await slackMessageAboutTheOwner();
    const first = finding(VS, { severity: 'critical' });
    await queues.enqueueDeliveries(notification(1, [first], { severity: 'critical' }));
    await waitFor(async () => (await records()).some((r) => r.outcome === 'verified'), 5_000, 'the first action verified');
    // Someone edits it again by hand; the group repeats after the verify time.
    argocd.drift('payments-mesh', VS);
    await new Promise((r) => setTimeout(r, 350));
    await queues.enqueueDeliveries(notification(2, [first], { reason: 'repeat', severity: 'critical' }));
    await waitFor(async () => (await records()).some((r) => r.outcome === 'escalated'), 5_000, 'the escalation');
    expect(argocd.syncs()).toHaveLength(1);
    await waitFor(() => (slack.replies.get(ts) ?? []).some((m) => m.broadcast === true), 5_000, 'the escalation reply');
    const note = (slack.replies.get(ts) ?? []).find((m) => m.broadcast === true);
    expect(note?.text).toContain('*Auto-remediation stopped* for 1 resource(s) of Application argocd/payments-mesh (`VirtualService payments/payments`)');
    expect(note?.text).toContain('they drifted back 1 times within 1m of being reverted by auto-sync');
    expect(note?.text).toContain('Escalated at *CRITICAL* severity');
    expect(await metricsText()).toContain('meshdrift_remediations_total{action="argocd-sync",outcome="escalated"} 1');
    expect(JSON.stringify([...slack.replies.values()])).not.toContain(TOKEN);
  });

  it("tells it at the policy's escalate_severity when one is set", async () => {
    await start({ verifyTimeoutMs: 300, flap: { max: 1, withinMs: 60_000, escalateSeverity: 'critical' } });
    const ts = await slackMessageAboutTheOwner();
    const first = finding(VS, { severity: 'medium' });
    await queues.enqueueDeliveries(notification(1, [first], { severity: 'medium' }));
    await waitFor(async () => (await records()).some((r) => r.outcome === 'verified'), 5_000, 'the first action verified');
    argocd.drift('payments-mesh', VS);
    await new Promise((r) => setTimeout(r, 350));
    await queues.enqueueDeliveries(notification(2, [first], { reason: 'repeat', severity: 'medium' }));
    await waitFor(() => (slack.replies.get(ts) ?? []).some((m) => m.broadcast === true), 5_000, 'the escalation reply');
    expect((slack.replies.get(ts) ?? []).find((m) => m.broadcast === true)?.text).toContain('Escalated at *CRITICAL* severity');
  });
});
