import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Notifier, SendResult } from '../deliver/notifier.ts';
import type { Notification } from '../model/alert-group.ts';
import type { ResourceRef } from '../model/signal.ts';
import type { ActionFailure, RemediationClient } from './action.ts';
import { createArgoCdSyncClient } from './argocd-sync.ts';
import type { AuditEntry, AuditTrail, RemediationOutcome } from './audit.ts';
import { createAxiosKubeHttp, createFluxReconcileClient, type KubeHttp } from './flux-reconcile.ts';
import {
  decideRemediation,
  deferDelayMs,
  ownerKey,
  ownerLabel,
  ownersOf,
  RATE_WINDOW_MS,
  remediationConfigSchema,
  type FindingRemediationHistory,
  type RemediationAction,
  type RemediationConfig,
  type RemediationConfigInput,
  type RemediationDecision,
  type RemediationOwner,
} from './policy.ts';

/** What an escalation hook receives: the findings whose flap breaker tripped. */
export interface RemediationEscalation {
  receiver: string;
  owner: RemediationOwner;
  fingerprints: string[];
  resources: ResourceRef[];
  reason: string;
  notification: Notification;
}

/** Options for {@link createRemediator}. */
export interface RemediatorOptions {
  /** The policy's receiver name (audit records and idempotency keys carry it). */
  name: string;
  config: RemediationConfigInput;
  /** Needed for `argocd-sync`. */
  argocd?: { apiUrl: string; token: string; controlPlaneNamespace?: string; timeoutMs?: number };
  /** Needed for `flux-reconcile`: a base URL and bearer token, or a ready Kubernetes transport. */
  flux?: { apiUrl: string; token: string; timeoutMs?: number } | { http: KubeHttp };
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
  /** Called when a flap breaker trips (escalation message, paging: later). Errors are ignored. */
  onEscalate?: (escalation: RemediationEscalation) => void | Promise<void>;
}

const DONE_TTL_MS = 24 * 3_600_000;
const DEFER_TTL_MS = 6 * 3_600_000;

// Deletes the lock only if this holder still owns it.
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * A remediation receiver (policy type `remediate`, issue #6). It receives the same notifications
 * as Slack; for each owner in one, it loads the rate limit and flap history from Redis, asks the
 * pure {@link decideRemediation}, audits the decision, and only then acts (unless dry run), one
 * remediation per owner at a time. Never throws.
 */
export function createRemediator(opts: RemediatorOptions): Notifier {
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

  async function audit(n: Notification, owner: RemediationOwner, o: RemediationOutcome, reason: string, fields: { resources: ResourceRef[]; fingerprints: string[] }): Promise<void> {
    const entry: AuditEntry = {
      at: opts.now(),
      actor,
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
  async function defer(n: Notification, owner: RemediationOwner, decision: RemediationDecision, reason: string, minDelayMs: number, doneKey: string): Promise<SendResult> {
    const key = k('defer', ownerKey(owner));
    const now = opts.now();
    const res = await redis.multi().hsetnx(key, 'first', String(now)).hincrby(key, 'n', 1).hget(key, 'first').pexpire(key, DEFER_TTL_MS).exec();
    const count = Number(res?.[1]?.[1] ?? 1);
    const first = Number(res?.[2]?.[1] ?? now);
    const fields = { resources: decision.resources, fingerprints: decision.fingerprints };
    if (now - first >= maxDeferMs) {
      const gaveUp = `${reason}; gave up after ${Math.round((now - first) / 60_000)}m of deferrals (the next notification tries again)`;
      await redis.del(key);
      await audit(n, owner, 'failed', gaveUp, fields);
      await markDone(doneKey);
      return { ok: false, retryable: false, reason: gaveUp };
    }
    const delay = Math.max(minDelayMs, deferDelayMs(count, deferBaseMs, deferCapMs));
    await audit(n, owner, 'deferred', `${reason} (deferral ${count}, next try in ${Math.round(delay / 1000)}s)`, fields);
    return { ok: false, retryable: true, reason, retryAfterMs: delay };
  }

  async function markDone(doneKey: string): Promise<void> {
    await redis.set(doneKey, '1', 'PX', DONE_TTL_MS);
  }

  async function escalate(n: Notification, owner: RemediationOwner, decision: RemediationDecision, now: number): Promise<void> {
    if (decision.escalate.length === 0) return;
    const tripped = new Set(decision.escalate);
    const resources = n.firing.filter((f) => tripped.has(f.fingerprint)).map((f) => f.resource);
    const p = redis.multi();
    for (const fp of decision.escalate) p.set(k('escalated', fp), String(now), 'PX', config.flap.withinMs);
    await p.exec();
    const reason = `flap breaker tripped: ${resources.length} resource(s) of ${ownerLabel(owner)} drifted again after ${config.flap.max} remediations within ${Math.round(config.flap.withinMs / 60_000)}m; auto-remediation stopped for them, escalating`;
    await audit(n, owner, 'escalated', reason, { resources, fingerprints: decision.escalate });
    try {
      await opts.onEscalate?.({ receiver: opts.name, owner, fingerprints: decision.escalate, resources, reason, notification: n });
    } catch {
      // The escalation is audited and counted; a failing hook must not undo that.
    }
  }

  async function handleOwner(n: Notification, owner: RemediationOwner): Promise<SendResult> {
    const oKey = ownerKey(owner);
    const doneKey = k('done', opts.name, n.groupKey, String(n.seq), oKey);
    if ((await redis.exists(doneKey)) === 1) return { ok: true };
    const lockKey = k('lock', oKey);
    const token = randomUUID();
    if ((await redis.set(lockKey, token, 'PX', lockMs, 'NX')) !== 'OK') {
      return { ok: false, retryable: true, reason: `another remediation of ${ownerLabel(owner)} is running`, retryAfterMs: lockRetryMs };
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
        if (!inspected.ok) return await actionFailed(n, owner, decision, inspected, doneKey);
        decision = decideRemediation({ ...input, inProgress: inspected.state.inProgress, suspended: inspected.state.suspended, alreadySynced: inspected.state.synced });
      }
      await escalate(n, owner, decision, now);
      const fields = { resources: decision.resources, fingerprints: decision.fingerprints };

      if (decision.action === 'escalate') {
        await markDone(doneKey);
        return { ok: true };
      }
      if (decision.action === 'skip') {
        if (decision.skip === 'in-progress') return await defer(n, owner, decision, decision.reason, 0, doneKey);
        await audit(n, owner, decision.skip === 'rate-limited' ? 'rate-limited' : 'skipped', decision.reason, fields);
        await markDone(doneKey);
        return { ok: true };
      }
      if (config.dryRun) {
        await audit(n, owner, 'dry-run', decision.reason, fields);
        await markDone(doneKey);
        return { ok: true };
      }

      const done = await client.remediate({ owner: owner.owner, resources: decision.resources, prune: decision.prune, reason: decision.reason });
      if (!done.ok) return await actionFailed(n, owner, decision, done, doneKey);
      const at = opts.now();
      const member = `${at}:${randomUUID().slice(0, 8)}`;
      const p = redis.multi();
      p.zadd(k('actions', oKey), at, member).zremrangebyscore(k('actions', oKey), '-inf', at - RATE_WINDOW_MS).pexpire(k('actions', oKey), RATE_WINDOW_MS);
      for (const fp of decision.fingerprints) {
        p.zadd(k('history', fp), at, member).zremrangebyscore(k('history', fp), '-inf', at - historyMs).pexpire(k('history', fp), historyMs);
      }
      p.del(k('defer', oKey)).set(doneKey, '1', 'PX', DONE_TTL_MS);
      await p.exec();
      await audit(n, owner, 'performed', `${decision.reason}: ${done.detail}`, fields);
      return { ok: true };
    } finally {
      await redis.eval(RELEASE, 1, lockKey, token).catch(() => undefined);
    }
  }

  async function actionFailed(n: Notification, owner: RemediationOwner, decision: RemediationDecision, failure: ActionFailure, doneKey: string): Promise<SendResult> {
    const fields = { resources: decision.resources, fingerprints: decision.fingerprints };
    if (failure.kind === 'in-progress' || failure.kind === 'sync-window') {
      return defer(n, owner, decision, failure.reason, failure.retryAfterMs ?? 0, doneKey);
    }
    if (failure.retryable) {
      await audit(n, owner, 'deferred', failure.reason, fields);
      return { ok: false, retryable: true, reason: failure.reason };
    }
    await audit(n, owner, failure.kind === 'suspended' ? 'skipped' : 'failed', failure.reason, fields);
    await markDone(doneKey);
    return { ok: false, retryable: false, reason: failure.reason };
  }

  return {
    name: 'remediate',
    // A resolve never triggers an action (issue #6); the worker need not even deliver it.
    sendResolved: false,
    async send(n) {
      const owners = ownersOf(n.status === 'firing' ? n : { ...n, firing: n.resolved });
      const results: SendResult[] = [];
      for (const owner of owners) {
        try {
          results.push(await handleOwner(n, owner));
        } catch (error) {
          // Redis (or the audit stream) failed: nothing unaudited happened after the failure.
          results.push({ ok: false, retryable: true, reason: `remediation of ${ownerLabel(owner)} could not use Redis: ${error instanceof Error ? error.message : String(error)}` });
        }
      }
      return combine(results);
    },
  };
}

function buildClient(config: RemediationConfig, opts: RemediatorOptions): RemediationClient {
  if (config.action === 'argocd-sync') {
    if (!opts.argocd) throw new Error(`remediate receiver "${opts.name}": argocd-sync needs the Argo CD API URL and token`);
    return createArgoCdSyncClient(opts.argocd);
  }
  if (!opts.flux) throw new Error(`remediate receiver "${opts.name}": flux-reconcile needs the Kubernetes API URL and token`);
  const f = opts.flux;
  if ('http' in f) return createFluxReconcileClient({ http: f.http, now: opts.now });
  return createFluxReconcileClient({ http: createAxiosKubeHttp(f), now: opts.now, token: f.token });
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

// One result for all owners: a retryable failure wins (completed owners are marked done and are
// not repeated), then a permanent one, else ok.
function combine(results: SendResult[]): SendResult {
  const failures = results.filter((r): r is Extract<SendResult, { ok: false }> => !r.ok);
  if (failures.length === 0) return { ok: true };
  const retryable = failures.filter((f) => f.retryable);
  const chosen = retryable.length > 0 ? retryable : failures;
  const reason = chosen.map((f) => f.reason).join('; ');
  const waits = chosen.map((f) => f.retryAfterMs);
  const allWait = waits.every((w): w is number => w !== undefined);
  return { ok: false, retryable: retryable.length > 0, reason, ...(retryable.length > 0 && allWait ? { retryAfterMs: Math.min(...waits) } : {}) };
}
