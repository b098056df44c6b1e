import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { withCapabilities, type Notifier, type SendResult } from '../deliver/notifier.ts';
import { REMEDIATION, type Remediation, type RemediationRun } from './capability.ts';
import type { OwnerNote } from '../model/owner-note.ts';
import { mrkdwnCode, mrkdwnLine } from '../deliver/text.ts';
import type { Notification } from '../model/alert-group.ts';
import { severityRank, type Severity } from '../model/severity.ts';
import type { ResourceRef } from '../model/signal.ts';
import type { ActionFailure, RemediationClient } from './action.ts';
import { createArgoCdSyncClient } from './argocd-sync.ts';
import type { AuditEntryInput, AuditTrail, RemediationOutcome } from './audit.ts';
import { ownerKey, ownerLabel } from '../model/owner.ts';
import { createArgoCdOperationClient } from './argocd-operation.ts';
import { createFluxReconcileClient } from './flux-reconcile.ts';
import { createAxiosKubeHttp, type KubeHttp } from './kube-http.ts';
import {
  decideRemediation,
  deferDelayMs,
  RATE_WINDOW_MS,
  remediationConfigSchema,
  type FindingRemediationHistory,
  type RemediationAction,
  type RemediationConfig,
  type RemediationConfigInput,
  type RemediationDecision,
  type RemediationOwner,
} from './policy.ts';
import { decideVerify, verifyPollMs, type VerifyTicket } from './verify.ts';

/** What an escalation hook receives: the findings whose flap breaker tripped. */
export interface RemediationEscalation {
  receiver: string;
  owner: RemediationOwner;
  fingerprints: string[];
  resources: ResourceRef[];
  reason: string;
  notification: Notification;
}

/**
 * A remediation receiver: a receiver in the policy, whose deliveries the queue turns into per-owner
 * remediation jobs (declared: {@link REMEDIATION}, remediate/jobs.ts); `send` is never how it acts.
 */
export interface RemediationReceiver extends Notifier, Remediation {}

/** Options for {@link createRemediator}. */
export interface RemediatorOptions {
  /** The policy's receiver name (audit records and idempotency keys carry it). */
  name: string;
  config: RemediationConfigInput;
  /** Needed for `argocd-sync`. */
  argocd?: { apiUrl: string; token: string; controlPlaneNamespace?: string; timeoutMs?: number };
  /** `flux-reconcile` by a base URL and bearer token, or a ready Kubernetes transport (else `kube`). */
  flux?: { apiUrl: string; token: string; timeoutMs?: number } | { http: KubeHttp };
  /**
   * The Kubernetes API of the policy's `kube.cluster` (kube-http.ts `createKubeConfigHttp`): needed
   * for `argocd-operation`, and for `flux-reconcile` without `flux`.
   */
  kube?: KubeHttp;
  /** `flux-reconcile`: annotate the owner's source first (`source_first`). */
  sourceFirst?: boolean;
  /** Replaces the client built from `argocd`/`flux` (another transport). */
  client?: RemediationClient;
  redis: Redis;
  keyPrefix: string;
  now: () => number;
  audit: AuditTrail;
  /** Who acts: `meshdrift` (default). */
  actor?: string;
  /** Per-owner lock lifetime; default 60 s (longer than a GET plus a POST with their timeouts). */
  lockMs?: number;
  /** Wait suggested when another replica holds the owner's lock; default 5 s. */
  lockRetryMs?: number;
  /** Backoff while an operation is in progress: first wait (default 30 s), cap (default 10 min). */
  deferBaseMs?: number;
  deferCapMs?: number;
  /** Give up deferring (until the next notification) after this long; default 1 h. */
  maxDeferMs?: number;
  /** Called once per audited outcome; wire to `meshdrift_remediations_total{action,outcome}`. */
  onOutcome?: (action: RemediationAction, outcome: RemediationOutcome) => void;
  /** Called when a flap breaker trips, besides the Slack note the run returns. Errors are ignored. */
  onEscalate?: (escalation: RemediationEscalation) => void | Promise<void>;
}

const DONE_TTL_MS = 24 * 3_600_000;
// The newest notification seq seen per (receiver, group, owner): an older job arriving late loses.
const LATEST = `local cur = tonumber(redis.call('GET', KEYS[1]) or '0') if cur > tonumber(ARGV[1]) then return 0 end redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1`;
const DEFER_TTL_MS = 6 * 3_600_000;

// Deletes the lock only if this holder still owns it.
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * A remediation receiver (policy type `remediate`, issue #6). It receives the same notifications
 * as Slack; for each owner in one, it loads the rate limit and flap history from Redis, asks the
 * pure {@link decideRemediation}, audits the decision, and only then acts (unless dry run), one
 * remediation per owner at a time. Never throws.
 */
export function createRemediator(opts: RemediatorOptions): RemediationReceiver {
  const config: RemediationConfig = remediationConfigSchema.parse(opts.config);
  const client = opts.client ?? buildClient(config, opts);
  const actor = opts.actor ?? 'meshdrift';
  const lockMs = opts.lockMs ?? 60_000;
  const lockRetryMs = opts.lockRetryMs ?? 5_000;
  const deferBaseMs = opts.deferBaseMs ?? 30_000;
  const deferCapMs = opts.deferCapMs ?? 10 * 60_000;
  const maxDeferMs = opts.maxDeferMs ?? 3_600_000;
  const { redis } = opts;
  const k = (...parts: string[]): string => [opts.keyPrefix, 'remediate', ...parts].join(':');
  // How far back per-finding history matters.
  const historyMs = Math.max(config.flap.withinMs, config.verifyTimeoutMs);

  const outcome = (o: RemediationOutcome): void => {
    try {
      opts.onOutcome?.(config.action, o);
    } catch {
      // A metrics hook must not change what happened.
    }
  };

  async function audit(n: Notification, owner: RemediationOwner, o: RemediationOutcome, reason: string, fields: { resources: ResourceRef[]; fingerprints: string[] }, by = actor): Promise<void> {
    const entry: AuditEntryInput = {
      kind: 'remediation',
      at: opts.now(),
      actor: by,
      action: config.action,
      cluster: owner.cluster,
      owner: owner.owner,
      resources: fields.resources,
      fingerprints: fields.fingerprints,
      dryRun: config.dryRun,
      outcome: o,
      reason,
      groupKey: n.groupKey,
      seq: n.seq,
    };
    await opts.audit.append(entry);
    outcome(o);
  }

  async function loadHistory(owner: RemediationOwner, fingerprints: string[], now: number): Promise<{ recent: number[]; history: Record<string, FindingRemediationHistory> }> {
    const p = redis.pipeline();
    p.zrangebyscore(k('actions', ownerKey(owner)), `(${now - RATE_WINDOW_MS}`, '+inf', 'WITHSCORES');
    for (const fp of fingerprints) {
      p.zrangebyscore(k('history', fp), `(${now - historyMs}`, '+inf', 'WITHSCORES');
      p.get(k('escalated', fp));
    }
    const res = (await p.exec()) ?? [];
    const value = (i: number): unknown => {
      const r = res[i];
      if (!r || r[0]) throw new Error(`redis read failed: ${r?.[0]?.message ?? 'no answer'}`);
      return r[1];
    };
    const history: Record<string, FindingRemediationHistory> = {};
    fingerprints.forEach((fp, i) => {
      const escalated = value(2 + 2 * i);
      history[fp] = {
        remediatedAt: scores(value(1 + 2 * i)),
        ...(typeof escalated === 'string' && Number.isFinite(Number(escalated)) ? { escalatedAt: Number(escalated) } : {}),
      };
    });
    return { recent: scores(value(0)), history };
  }

  // A deferral: back off (doubling per consecutive deferral of the owner), give up after maxDeferMs.
  // Who asked, for the audit records of one run (meshdrift, or the Slack user of "Sync now").
  interface Run {
    n: Notification;
    owner: RemediationOwner;
    doneKey: string;
    by: string;
  }

  // A deferral: back off (doubling per consecutive deferral of the owner), give up after maxDeferMs.
  async function defer(run: Run, decision: RemediationDecision, reason: string, minDelayMs: number): Promise<SendResult> {
    const { n, owner } = run;
    const key = k('defer', ownerKey(owner));
    const now = opts.now();
    const res = await redis.multi().hsetnx(key, 'first', String(now)).hincrby(key, 'n', 1).hget(key, 'first').pexpire(key, DEFER_TTL_MS).exec();
    const count = Number(res?.[1]?.[1] ?? 1);
    const first = Number(res?.[2]?.[1] ?? now);
    const fields = { resources: decision.resources, fingerprints: decision.fingerprints };
    if (now - first >= maxDeferMs) {
      const gaveUp = `${reason}; gave up after ${Math.round((now - first) / 60_000)}m of deferrals (the next notification tries again)`;
      await redis.del(key);
      await audit(n, owner, 'failed', gaveUp, fields, run.by);
      await markDone(run.doneKey);
      return { ok: false, retryable: false, reason: gaveUp };
    }
    const delay = Math.max(minDelayMs, deferDelayMs(count, deferBaseMs, deferCapMs));
    await audit(n, owner, 'deferred', `${reason} (deferral ${count}, next try in ${Math.round(delay / 1000)}s)`, fields, run.by);
    return { ok: false, retryable: true, reason, retryAfterMs: delay };
  }

  async function markDone(doneKey: string): Promise<void> {
    await redis.set(doneKey, '1', 'PX', DONE_TTL_MS);
  }

  // Trips the breaker for the decision's findings: remembered, audited, the hook called, and a
  // note for the alert's thread (broadcast: a human has to look now).
  async function escalate(run: Run, decision: RemediationDecision, now: number): Promise<OwnerNote[]> {
    if (decision.escalate.length === 0) return [];
    const { n, owner } = run;
    const tripped = new Set(decision.escalate);
    const findings = n.firing.filter((f) => tripped.has(f.fingerprint));
    const resources = findings.map((f) => f.resource);
    const p = redis.multi();
    for (const fp of decision.escalate) p.set(k('escalated', fp), String(now), 'PX', config.flap.withinMs);
    await p.exec();
    const within = Math.round(config.flap.withinMs / 60_000);
    const reason = `flap breaker tripped: ${resources.length} resource(s) of ${ownerLabel(owner)} drifted again after ${config.flap.max} remediations within ${within}m; auto-remediation stopped for them, escalating`;
    await audit(n, owner, 'escalated', reason, { resources, fingerprints: decision.escalate }, run.by);
    try {
      await opts.onEscalate?.({ receiver: opts.name, owner, fingerprints: decision.escalate, resources, reason, notification: n });
    } catch {
      // The escalation is audited and counted; a failing hook must not undo that.
    }
    const severity = config.flap.escalateSeverity ?? findings.reduce<Severity>((top, f) => (severityRank(f.severity) < severityRank(top) ? f.severity : top), 'info');
    const listed = resources.slice(0, 5).map((r) => mrkdwnCode(`${r.kind} ${r.namespace === '' ? '' : `${r.namespace}/`}${r.name}`, MAX_NOTE_NAME)).join(', ');
    const more = resources.length > 5 ? ` and ${resources.length - 5} more` : '';
    const text =
      `:rotating_light: *Auto-remediation stopped* for ${resources.length} resource(s) of ${mrkdwnLine(ownerLabel(owner), MAX_NOTE_NAME)} (${listed}${more}): ` +
      `they drifted back ${config.flap.max} times within ${within}m of being reverted by ${mrkdwnLine(opts.name, MAX_NOTE_NAME)}. ` +
      `Escalated at *${severity.toUpperCase()}* severity: someone keeps changing them by hand, or Git is not what the mesh needs. ` +
      `meshdrift will not revert them again for ${within}m.`;
    return [{ id: `escalate:${opts.name}:${n.groupKey}:${n.seq}:${ownerKey(owner)}`, cluster: owner.cluster, tool: owner.tool, owner: owner.owner, text, broadcast: true }];
  }

  async function handleOwner(n: Notification, owner: RemediationOwner, by: string): Promise<RemediationRun> {
    const oKey = ownerKey(owner);
    const run: Run = { n, owner, by, doneKey: k('done', opts.name, n.groupKey, String(n.seq), oKey) };
    const only = (result: SendResult, notes: OwnerNote[] = []): RemediationRun => ({ result, notes });
    if ((await redis.exists(run.doneKey)) === 1) return only({ ok: true });
    const lockKey = k('lock', oKey);
    const token = randomUUID();
    if ((await redis.set(lockKey, token, 'PX', lockMs, 'NX')) !== 'OK') {
      return only({ ok: false, retryable: true, reason: `another remediation of ${ownerLabel(owner)} is running`, retryAfterMs: lockRetryMs });
    }
    try {
      const now = opts.now();
      const fingerprints = n.firing.filter((f) => ownerKey(f) === oKey).map((f) => f.fingerprint);
      const { recent, history } = await loadHistory(owner, fingerprints, now);
      const input = { notification: n, owner, config, recentActions: recent, history, inProgress: false, now };
      let decision = decideRemediation(input);
      if (decision.action === 'sync') {
        // Read the target only when an action is still on the table; the read is not destructive,
        // so a dry run does it too and reports truthfully what would happen.
        const inspected = await client.inspect(owner.owner);
        if (!inspected.ok) return only(await actionFailed(run, decision, inspected));
        decision = decideRemediation({ ...input, inProgress: inspected.state.inProgress, suspended: inspected.state.suspended, alreadySynced: inspected.state.synced });
      }
      const notes = await escalate(run, decision, now);
      const fields = { resources: decision.resources, fingerprints: decision.fingerprints };

      if (decision.action === 'escalate') {
        await markDone(run.doneKey);
        return only({ ok: true }, notes);
      }
      if (decision.action === 'skip') {
        if (decision.skip === 'in-progress') return only(await defer(run, decision, decision.reason, 0), notes);
        await audit(n, owner, decision.skip === 'rate-limited' ? 'rate-limited' : 'skipped', decision.reason, fields, by);
        await markDone(run.doneKey);
        return only({ ok: true }, notes);
      }
      if (config.dryRun) {
        await audit(n, owner, 'dry-run', decision.reason, fields, by);
        await markDone(run.doneKey);
        return only({ ok: true }, notes);
      }

      const done = await client.remediate({ owner: owner.owner, resources: decision.resources, prune: decision.prune, reason: decision.reason });
      if (!done.ok) return only(await actionFailed(run, decision, done), notes);
      const at = opts.now();
      const member = `${at}:${randomUUID().slice(0, 8)}`;
      const p = redis.multi();
      p.zadd(k('actions', oKey), at, member).zremrangebyscore(k('actions', oKey), '-inf', at - RATE_WINDOW_MS).pexpire(k('actions', oKey), RATE_WINDOW_MS);
      for (const fp of decision.fingerprints) {
        p.zadd(k('history', fp), at, member).zremrangebyscore(k('history', fp), '-inf', at - historyMs).pexpire(k('history', fp), historyMs);
      }
      p.del(k('defer', oKey)).set(run.doneKey, '1', 'PX', DONE_TTL_MS);
      await p.exec();
      await audit(n, owner, 'performed', `${decision.reason}: ${done.detail}`, fields, by);
      const verify: VerifyTicket = {
        receiver: opts.name,
        action: config.action,
        actionId: `${opts.name}:${oKey}:${member}`,
        actor: by,
        cluster: owner.cluster,
        tool: owner.tool,
        owner: owner.owner,
        resources: decision.resources,
        fingerprints: decision.fingerprints,
        groupKey: n.groupKey,
        seq: n.seq,
        startedAt: at,
        deadline: at + config.verifyTimeoutMs,
        pollMs: verifyPollMs(config.verifyTimeoutMs),
        ...(done.requestedAt === undefined ? {} : { requestedAt: done.requestedAt }),
      };
      return { result: { ok: true }, verify, notes };
    } finally {
      await redis.eval(RELEASE, 1, lockKey, token).catch(() => undefined);
    }
  }

  async function actionFailed(run: Run, decision: RemediationDecision, failure: ActionFailure): Promise<SendResult> {
    const fields = { resources: decision.resources, fingerprints: decision.fingerprints };
    if (failure.kind === 'in-progress' || failure.kind === 'sync-window') {
      return defer(run, decision, failure.reason, failure.retryAfterMs ?? 0);
    }
    if (failure.retryable) {
      await audit(run.n, run.owner, 'deferred', failure.reason, fields, run.by);
      return { ok: false, retryable: true, reason: failure.reason };
    }
    await audit(run.n, run.owner, failure.kind === 'suspended' ? 'skipped' : 'failed', failure.reason, fields, run.by);
    await markDone(run.doneKey);
    return { ok: false, retryable: false, reason: failure.reason };
  }

  // Redis failures become a retryable result: nothing unaudited happened after the failure.
  async function guarded(owner: RemediationOwner, work: () => Promise<RemediationRun>): Promise<RemediationRun> {
    try {
      return await work();
    } catch (error) {
      return { result: { ok: false, retryable: true, reason: `remediation of ${ownerLabel(owner)} could not use Redis: ${error instanceof Error ? error.message : String(error)}` }, notes: [] };
    }
  }

  const receiver: RemediationReceiver = {
    type: 'remediate',
    receiver: opts.name,
    // A resolve never triggers an action (issue #6); the worker need not even deliver it.
    sendResolved: false,
    // The queue never sends to a remediation receiver: it queues one job per owner (remediate/jobs.ts).
    async send() {
      return { ok: false, retryable: false, reason: `remediate receiver "${opts.name}" acts per owner through remediation jobs, not by a delivery` };
    },
    async remediateOwner(n, owner, by = actor) {
      // Latest wins: a job for an older notification than one already handled for this owner
      // (a retried or late job) has nothing to say any more.
      return guarded(owner, async () => {
        const fresh = await redis.eval(LATEST, 1, k('latest', opts.name, n.groupKey, ownerKey(owner)), String(n.seq), String(DONE_TTL_MS));
        if (Number(fresh) !== 1) return { result: { ok: true }, notes: [] };
        // A resolve says the drift is gone: nothing to do, and nothing worth an audit record.
        if (n.status !== 'firing') return { result: { ok: true }, notes: [] };
        return handleOwner(n, owner, by);
      });
    },
    async verify(ticket) {
      const now = opts.now();
      const observed = await client.observe(ticket.owner, { resources: ticket.resources, requestedAt: ticket.requestedAt });
      const decision = observed.ok ? decideVerify(ticket, observed.observation, now) : decideVerify(ticket, undefined, now, observed.reason);
      if (decision.state === 'pending') return { state: 'pending', retryInMs: Math.max(1, Math.min(ticket.pollMs, ticket.deadline - now + 1)) };
      const owner: RemediationOwner = { cluster: ticket.cluster, tool: ticket.tool, owner: ticket.owner };
      const note: OwnerNote = {
        id: `verify:${ticket.actionId}`,
        cluster: ticket.cluster,
        tool: ticket.tool,
        owner: ticket.owner,
        text: `${decision.state === 'verified' ? ':white_check_mark:' : ':warning:'} ${mrkdwnLine(decision.reason, MAX_NOTE_REASON)}`,
        broadcast: false,
      };
      // Once per action, whichever replica or retry gets here first.
      if ((await redis.set(k('verdict', ticket.actionId), decision.state, 'PX', DONE_TTL_MS, 'NX')) !== 'OK') return { state: decision.state, reason: decision.reason, notes: [] };
      const n = { groupKey: ticket.groupKey, seq: ticket.seq } as Notification;
      await audit(n, owner, decision.state, decision.reason, { resources: ticket.resources, fingerprints: ticket.fingerprints }, ticket.actor);
      return { state: decision.state, reason: decision.reason, notes: [note] };
    },
  };
  return withCapabilities(receiver, REMEDIATION.grant(receiver));
}

// Names and reasons in a Slack note go through the one sanitiser (src/deliver/text.ts), bounded here.
const MAX_NOTE_NAME = 300;
const MAX_NOTE_REASON = 1000;

function buildClient(config: RemediationConfig, opts: RemediatorOptions): RemediationClient {
  if (config.action === 'argocd-sync') {
    if (!opts.argocd) throw new Error(`remediate receiver "${opts.name}": argocd-sync needs the Argo CD API URL and token`);
    return createArgoCdSyncClient(opts.argocd);
  }
  if (config.action === 'argocd-operation') {
    if (!opts.kube) throw new Error(`remediate receiver "${opts.name}": argocd-operation needs the Kubernetes API of a MESHDRIFT_CLUSTERS cluster (kube.cluster)`);
    return createArgoCdOperationClient({ http: opts.kube });
  }
  const sourceFirst = opts.sourceFirst === true;
  const f = opts.flux;
  if (!f) {
    if (!opts.kube) throw new Error(`remediate receiver "${opts.name}": flux-reconcile needs the Kubernetes API URL and token, or a MESHDRIFT_CLUSTERS cluster (kube.cluster)`);
    return createFluxReconcileClient({ http: opts.kube, now: opts.now, sourceFirst });
  }
  if ('http' in f) return createFluxReconcileClient({ http: f.http, now: opts.now, sourceFirst });
  return createFluxReconcileClient({ http: createAxiosKubeHttp(f), now: opts.now, token: f.token, sourceFirst });
}

// ZRANGEBYSCORE … WITHSCORES answers [member, score, member, score, …].
function scores(raw: unknown): number[] {
  if (!Array.isArray(raw)) return [];
  const out: number[] = [];
  for (let i = 1; i < raw.length; i += 2) {
    const v = Number(raw[i]);
    if (Number.isFinite(v)) out.push(v);
  }
  return out;
}
