import { Writable } from 'node:stream';
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
import { startFakePagerDuty, type FakePagerDuty } from '../fakes/pagerduty.ts';
import { createPagerDutyNotifier } from '../../src/deliver/pagerduty/notifier.ts';
import { pagerDutyDedupKey } from '../../src/deliver/pagerduty/render.ts';
import { createConsoleNotifier } from '../../src/deliver/console/notifier.ts';
import { escalationGroupKey } from '../../src/remediate/escalation.ts';
import { createEscalationEnder } from '../../src/remediate/human-acts.ts';
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
let pagerduty: FakePagerDuty;
let started: ReadonlyMap<string, Notifier> = new Map();
let consoleLines: string[];
const ROUTING_KEY = 'R0UT1NGKEY0123456789ABCDEFGHIJKL';
// The console receiver's capture: one JSON line per notification.
const consoleOut = new Writable({
  write(chunk: Buffer, _enc, done) {
    consoleLines.push(
      ...chunk
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== ''),
    );
    done();
  },
});

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

/**
 * Starts queues and workers around a remediate receiver `auto-sync` and a Slack receiver `chat`,
 * or (`paging`) no Slack at all: a PagerDuty receiver `pager` (the fake) and a console `log`.
 */
async function start(config: Partial<RemediationConfigInput>, opts: { operationMs?: number; paging?: { escalateTo?: string[] } } = {}): Promise<void> {
  argocd = await startFakeArgoCd({ token: TOKEN, operationMs: opts.operationMs ?? 30 });
  const others: [string, Notifier][] = opts.paging
    ? [
        ['pager', createPagerDutyNotifier({ routingKey: ROUTING_KEY, eventsUrl: pagerduty.eventsUrl, timeoutMs: 2_000 })],
        ['log', createConsoleNotifier(consoleOut)],
      ]
    : [
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
      ];
  const notifiers = new Map<string, Notifier>([
    ...others,
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
        ...(opts.paging?.escalateTo ? { escalateTo: opts.paging.escalateTo } : {}),
      }),
    ],
  ]);
  started = notifiers;
  const metrics = createMetrics(registry);
  queues = createQueues(redis, prefix, { attempts: 3, backoffMs: 100 }, { remediationDebounceMs: 300 });
  workers = createWorkers({
    connection: workerRedis,
    prefix,
    store: createRedisTrackStore({ redis, keyPrefix: prefix }),
    queues,
    handlers: createJobHandlers({
      queues,
      notifiers: () => notifiers,
      metrics,
      log: createLogger('silent'),
      now: Date.now,
      audit,
      // The root route's receiver, as app.ts gives it.
      escalationDefault: () => ['log'],
    }),
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
  consoleLines = [];
  pagerduty = await startFakePagerDuty();
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
  await pagerduty.close();
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
    // The policy's escalation severity (default high); the findings' own severity does not raise it.
    expect(note?.text).toContain('Escalated at *HIGH* severity');
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

describe('escalations are notifications of their own (issue #22): PagerDuty and the console hear them, with no Slack at all', () => {
  const owner = { cluster: LABELS.cluster, tool: LABELS.tool, owner: APP };
  const escalationDedup = pagerDutyDedupKey(escalationGroupKey('auto-sync', owner));
  const escalationLines = () =>
    consoleLines.map((l) => JSON.parse(l) as { status: string; severity: string; escalation?: { kind: string; headline: string } }).filter((l) => l.escalation);

  it('a flap-breaker trip triggers its own PagerDuty alert (own dedup key, policy severity) and a console line; a human "Sync now" resolves it', async () => {
    await start({ verifyTimeoutMs: 300, flap: { max: 1, withinMs: 60_000 } }, { paging: { escalateTo: ['pager', 'log'] } });
    const first = finding(VS, { severity: 'medium' });
    await queues.enqueueDeliveries(notification(1, [first], { severity: 'medium' }));
    await waitFor(async () => (await records()).some((r) => r.outcome === 'verified'), 8_000, 'the first action verified');
    argocd.drift('payments-mesh', VS);
    await new Promise((r) => setTimeout(r, 350));
    const again = notification(2, [first], { reason: 'repeat', severity: 'medium' });
    await queues.enqueueDeliveries(again);
    await waitFor(() => pagerduty.alerts.length === 1, 8_000, 'the PagerDuty alert');
    const alert = pagerduty.alerts[0];
    expect(alert).toMatchObject({ dedupKey: escalationDedup, status: 'triggered', severity: 'error' });
    expect(alert?.dedupKey).not.toBe(pagerDutyDedupKey('g-remediate'));
    expect(alert?.summary).toMatch(
      /^\[HIGH\] Auto-remediation stopped for Application argocd\/payments-mesh \(auto-sync\): 1 resource\(s\) drifted again after 1 remediations within 1m/,
    );
    const body = pagerduty.events.at(-1)?.body as {
      payload: { class: string; custom_details: { escalation: { kind: string }; firing: Array<{ name: string }> } };
    };
    expect(body.payload.class).toBe('remediation-escalation');
    expect(body.payload.custom_details.escalation.kind).toBe('flap-breaker');
    expect(body.payload.custom_details.firing.map((f) => f.name)).toEqual(['payments']);
    await waitFor(() => escalationLines().length === 1, 5_000, 'the console line');
    expect(escalationLines()[0]).toMatchObject({ status: 'firing', severity: 'high', escalation: { kind: 'flap-breaker' } });
    expect(argocd.syncs()).toHaveLength(1);

    // A human acts: "Sync now" (a remediation job with a Slack actor) ends the escalation.
    await queues.notifications.save(again);
    await queues.enqueueRemediation('auto-sync', again, owner, 'slack:U0HUMAN');
    await waitFor(() => pagerduty.alerts[0]?.status === 'resolved', 8_000, 'the PagerDuty resolve');
    await waitFor(() => escalationLines().some((l) => l.status === 'resolved'), 5_000, 'the console resolve');
    expect(escalationLines().find((l) => l.status === 'resolved')?.escalation?.headline).toMatch(/no longer escalated: slack:U0HUMAN asked to remediate it$/);
    expect(JSON.stringify(pagerduty.events)).not.toContain(TOKEN);
  });

  it('a verify failure triggers one too; the next action that converges resolves it', async () => {
    await start({ verifyTimeoutMs: 2_000 }, { operationMs: 60_000, paging: { escalateTo: ['pager', 'log'] } });
    await queues.enqueueDeliveries(notification(1, [finding(VS)]));
    await waitFor(() => escalationLines().length === 1, 8_000, 'the console escalation');
    expect(escalationLines()[0]).toMatchObject({ status: 'firing', severity: 'high', escalation: { kind: 'verify-failed' } });
    expect(escalationLines()[0]?.escalation?.headline).toBe(
      'Auto-remediation did not converge for Application argocd/payments-mesh (auto-sync): Sync did not converge within 2 s: the sync operation is still running',
    );
    await waitFor(() => pagerduty.alerts.length === 1, 5_000, 'the PagerDuty alert');
    expect(pagerduty.alerts[0]).toMatchObject({ dedupKey: escalationDedup, status: 'triggered', severity: 'error' });
    const failed = (await records()).find((r) => r.outcome === 'verify-failed');
    expect(failed).toBeDefined();

    // The operation ends, the resource drifts again, and the next action converges: the escalation resolves.
    argocd.finishOperation('payments-mesh');
    argocd.drift('payments-mesh', VS);
    await waitFor(() => argocd.app('payments-mesh')?.operation === undefined, 3_000, 'the operation');
    await queues.enqueueDeliveries(notification(2, [finding(VS)], { reason: 'repeat' }));
    // This one converges: its operation is finished at once (the fake's runs a minute otherwise).
    await waitFor(() => argocd.syncs().length === 2, 10_000, 'the second sync');
    argocd.finishOperation('payments-mesh');
    await waitFor(async () => (await records()).some((r) => r.outcome === 'verified'), 10_000, 'the second action verified');
    await waitFor(() => escalationLines().some((l) => l.status === 'resolved'), 5_000, 'the console resolve');
    await waitFor(() => pagerduty.alerts[0]?.status === 'resolved', 5_000, 'the PagerDuty resolve');
    expect(escalationLines().filter((l) => l.status === 'firing')).toHaveLength(1);
    expect(pagerduty.alerts).toHaveLength(1);
  });

  it('a human silencing or acknowledging the group from Slack resolves it; with nothing open, nothing is told', async () => {
    await start({ verifyTimeoutMs: 300, flap: { max: 1, withinMs: 60_000 } }, { paging: { escalateTo: ['pager'] } });
    const first = finding(VS);
    await queues.enqueueDeliveries(notification(1, [first]));
    await waitFor(async () => (await records()).some((r) => r.outcome === 'verified'), 8_000, 'the first action verified');
    argocd.drift('payments-mesh', VS);
    await new Promise((r) => setTimeout(r, 350));
    const again = notification(2, [first], { reason: 'repeat' });
    await queues.enqueueDeliveries(again);
    await waitFor(() => pagerduty.alerts[0]?.status === 'triggered', 8_000, 'the PagerDuty alert');
    const end = createEscalationEnder({ lastNotification: async () => again, notifiers: () => started, queues, log: createLogger('silent') });
    await expect(end('g-remediate', 'slack:U0ACK', 'acknowledged it')).resolves.toBe(1);
    await waitFor(() => pagerduty.alerts[0]?.status === 'resolved', 8_000, 'the PagerDuty resolve');
    const resolve = pagerduty.events.at(-1)?.body as { event_action: string; dedup_key: string };
    expect(resolve).toMatchObject({ event_action: 'resolve', dedup_key: escalationDedup });
    await expect(end('g-remediate', 'slack:U0ACK', 'silenced it')).resolves.toBe(0);
  });

  it('escalate_to unset: told to the root route receiver (the console here), so PagerDuty is not paged', async () => {
    await start({ verifyTimeoutMs: 1_000 }, { operationMs: 60_000, paging: {} });
    await queues.enqueueDeliveries(notification(1, [finding(VS)]));
    await waitFor(() => escalationLines().length === 1, 8_000, 'the console escalation');
    expect(pagerduty.events).toHaveLength(0);
  });
});
