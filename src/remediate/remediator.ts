import type { Redis } from 'ioredis';
import { withCapabilities, type Notifier, type SendResult } from '../deliver/notifier.ts';
import { REMEDIATION, type Remediation, type RemediationRun, type VerifyStep } from './capability.ts';
import type { OwnerNote } from '../model/owner-note.ts';
import type { Notification } from '../model/alert-group.ts';
import type { ResourceRef } from '../model/signal.ts';
import type { ActionFailure, RemediationClient, TargetState } from './action.ts';
import { destinationCluster, outOfScope } from './scope.ts';
import { buildRemediationClient, type RemediationClientOptions } from './client-for.ts';
import type { AuditEntryInput, AuditTrail, RemediationOutcome } from './audit.ts';
import { ownerKey, ownerLabel } from '../model/owner.ts';
import { remediationKeys, type RemediationKeys } from './keys.ts';
import { escalationNote, verdictNote } from './notes.ts';
import { createEscalationState, ESCALATION_REFS, type EscalationEvent, type EscalationState } from './escalation.ts';
import type { RemediationEscalations } from './capability.ts';
import { createRemediationState, type RemediationState } from './remediation-state.ts';
import {
  decideRemediation,
  deferDelayMs,
  isArgoCdAction,
  remediationConfigSchema,
  type RemediationAction,
  type RemediationConfig,
  type RemediationConfigInput,
  type RemediationDecision,
  type RemediationOwner,
} from './policy.ts';
import { decideVerify, verifyPollMs, type VerifyTicket } from './verify.ts';
import { fallbackBestEffort, type BestEffort } from '../best-effort.ts';

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
export interface RemediatorOptions extends RemediationClientOptions {
  config: RemediationConfigInput;
  /** Replaces the client built from `argocd`/`flux` (another transport). */
  client?: RemediationClient;
  redis: Redis;
  keyPrefix: string;
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
  /** Receivers that hear escalations (policy `escalate_to`); undefined: the default, the root route's receiver. */
  escalateTo?: readonly string[];
  /** MESHDRIFT_ARGOCD_DESTINATIONS: Argo CD destination name or server → meshdrift cluster (the `clusters` scope). */
  destinations?: ReadonlyMap<string, string>;
  /** Another actor's operation started less than this long ago: defer (Argo CD has not compared since); default 60 s. */
  recentOperationMs?: number;
  /** Called once per audited outcome; wire to `meshdrift_remediations_total{action,outcome}`. */
  onOutcome?: (action: RemediationAction, outcome: RemediationOutcome) => void;
  /** Where a failed release of an owner's lock is reported (`remediation_lock_release`); default: logged on stderr. */
  bestEffort?: BestEffort;
  /** Called when a flap breaker trips, besides the Slack note the run returns. Errors are ignored. */
  onEscalate?: (escalation: RemediationEscalation) => void | Promise<void>;
}

/** Everything one remediate receiver's steps share. */
interface Ctx {
  name: string;
  config: RemediationConfig;
  client: RemediationClient;
  keys: RemediationKeys;
  state: RemediationState;
  now: () => number;
  audit: AuditTrail;
  /** Who acts by default: `meshdrift`. */
  actor: string;
  lockMs: number;
  lockRetryMs: number;
  deferBaseMs: number;
  deferCapMs: number;
  maxDeferMs: number;
  /** How far back per-finding history matters. */
  historyMs: number;
  destinations: ReadonlyMap<string, string>;
  recentOperationMs: number;
  escalations: EscalationState;
  escalateTo: readonly string[] | undefined;
  onOutcome?: RemediatorOptions['onOutcome'];
  onEscalate?: RemediatorOptions['onEscalate'];
}

/** One owner of one notification, as one run handles it. */
interface Run {
  n: Notification;
  owner: RemediationOwner;
  oKey: string;
  doneKey: string;
  /** Who asked, for the audit records (meshdrift, or the Slack user of "Sync now"). */
  by: string;
}

/** What an audit record is about: a notification, or the action a verify step looks at. */
type AuditSubject = Pick<Notification, 'groupKey' | 'seq'>;
type AuditFields = { resources: ResourceRef[]; fingerprints: string[] };

/**
 * A remediation receiver (policy type `remediate`, issue #6). It receives the same notifications
 * as Slack; for each owner in one (one queue job each, remediate/jobs.ts), it loads the rate limit
 * and flap history from Redis, asks the pure {@link decideRemediation}, audits the decision, and
 * only then acts (unless dry run), one remediation per owner at a time. Never throws.
 */
export function createRemediator(opts: RemediatorOptions): RemediationReceiver {
  const ctx = contextOf(opts);
  const receiver: RemediationReceiver = {
    type: 'remediate',
    receiver: opts.name,
    // A resolve never triggers an action (issue #6); the worker need not even deliver it.
    sendResolved: false,
    // The queue never sends to a remediation receiver: it queues one job per owner (remediate/jobs.ts).
    async send() {
      return { ok: false, retryable: false, reason: `remediate receiver "${opts.name}" acts per owner through remediation jobs, not by a delivery` };
    },
    remediateOwner: (n, owner, by = ctx.actor) => guarded(owner, () => latestOnly(ctx, n, owner, by)),
    verify: (ticket) => verifyOnce(ctx, ticket),
    async resolveEscalation(owner, why) {
      const events = await resolvedEvents(ctx, ownerKey(owner), why);
      return events.length === 0 ? undefined : escalationsOf(ctx, events);
    },
  };
  return withCapabilities(receiver, REMEDIATION.grant(receiver));
}

function contextOf(opts: RemediatorOptions): Ctx {
  const config: RemediationConfig = remediationConfigSchema.parse(opts.config);
  const keys = remediationKeys(opts.keyPrefix);
  return {
    name: opts.name,
    config,
    client: opts.client ?? buildRemediationClient(config.action, opts),
    keys,
    state: createRemediationState(opts.redis, keys, opts.bestEffort ?? fallbackBestEffort()),
    now: opts.now,
    audit: opts.audit,
    actor: opts.actor ?? 'meshdrift',
    lockMs: opts.lockMs ?? 60_000,
    lockRetryMs: opts.lockRetryMs ?? 5_000,
    deferBaseMs: opts.deferBaseMs ?? 30_000,
    deferCapMs: opts.deferCapMs ?? 10 * 60_000,
    maxDeferMs: opts.maxDeferMs ?? 3_600_000,
    historyMs: Math.max(config.flap.withinMs, config.verifyTimeoutMs),
    destinations: opts.destinations ?? new Map(),
    recentOperationMs: opts.recentOperationMs ?? 60_000,
    escalations: createEscalationState(opts.redis, keys),
    escalateTo: opts.escalateTo,
    ...(opts.onOutcome ? { onOutcome: opts.onOutcome } : {}),
    ...(opts.onEscalate ? { onEscalate: opts.onEscalate } : {}),
  };
}

const nothing = (): RemediationRun => ({ result: { ok: true }, notes: [] });
const only = (result: SendResult, notes: OwnerNote[] = []): RemediationRun => ({ result, notes });

// Redis failures become a retryable result: nothing unaudited happened after the failure.
async function guarded(owner: RemediationOwner, work: () => Promise<RemediationRun>): Promise<RemediationRun> {
  try {
    return await work();
  } catch (error) {
    return {
      result: {
        ok: false,
        retryable: true,
        reason: `remediation of ${ownerLabel(owner)} could not use Redis: ${error instanceof Error ? error.message : String(error)}`,
      },
      notes: [],
    };
  }
}

// Latest wins: a job for an older notification than one already handled for this owner (a retried
// or late job) has nothing to say any more. A resolve says the drift is gone: nothing to do, and
// nothing worth an audit record.
async function latestOnly(ctx: Ctx, n: Notification, owner: RemediationOwner, by: string): Promise<RemediationRun> {
  if (!(await ctx.state.claimLatest(ctx.name, n.groupKey, ownerKey(owner), n.seq))) return nothing();
  if (n.status !== 'firing') return nothing();
  return handleOwner(ctx, n, owner, by);
}

async function audit(
  ctx: Ctx,
  about: AuditSubject,
  owner: RemediationOwner,
  o: RemediationOutcome,
  reason: string,
  fields: AuditFields,
  by: string,
): Promise<void> {
  const entry: AuditEntryInput = {
    kind: 'remediation',
    at: ctx.now(),
    actor: by,
    action: ctx.config.action,
    cluster: owner.cluster,
    owner: owner.owner,
    resources: fields.resources,
    fingerprints: fields.fingerprints,
    dryRun: ctx.config.dryRun,
    outcome: o,
    reason,
    groupKey: about.groupKey,
    seq: about.seq,
  };
  await ctx.audit.append(entry);
  try {
    ctx.onOutcome?.(ctx.config.action, o);
  } catch {
    // A metrics hook must not change what happened.
  }
}

const fieldsOf = (decision: RemediationDecision): AuditFields => ({ resources: decision.resources, fingerprints: decision.fingerprints });

/** One owner, its lock held: decide (reading the target when an action is on the table), then act. */
async function handleOwner(ctx: Ctx, n: Notification, owner: RemediationOwner, by: string): Promise<RemediationRun> {
  const oKey = ownerKey(owner);
  const run: Run = { n, owner, oKey, by, doneKey: ctx.keys.done(ctx.name, n.groupKey, n.seq, oKey) };
  // A human asking (Slack "Sync now") ends an open escalation: someone is on it.
  const human = by === ctx.actor ? [] : await resolvedEvents(ctx, oKey, `${by} asked to remediate it`);
  if (await ctx.state.isDone(run.doneKey)) {
    // Decided already: a retry re-tells the escalation this notification opened (same ids: told once).
    const retold = await ctx.escalations.find(ctx.name, oKey, flapEscalationId(ctx, run));
    return withEscalations(ctx, only({ ok: true }), [...human, ...(retold ? [retold] : [])]);
  }
  const release = await ctx.state.lock(oKey, ctx.lockMs);
  if (release === null)
    return only({ ok: false, retryable: true, reason: `another remediation of ${ownerLabel(owner)} is running`, retryAfterMs: ctx.lockRetryMs });
  try {
    const now = ctx.now();
    const decided = await decide(ctx, run, now);
    if ('failed' in decided) return withEscalations(ctx, only(decided.failed), human);
    const escalated = await escalate(ctx, run, decided.decision, now);
    const done = await act(ctx, run, decided.decision, escalated.notes);
    return withEscalations(ctx, done, [...human, ...escalated.events]);
  } finally {
    await release();
  }
}

/** The run with escalation events to tell (none: the run as it is). */
function withEscalations(ctx: Ctx, run: RemediationRun, events: EscalationEvent[]): RemediationRun {
  return events.length === 0 ? run : { ...run, escalations: escalationsOf(ctx, events) };
}

function escalationsOf(ctx: Ctx, events: EscalationEvent[]): RemediationEscalations {
  return { to: ctx.escalateTo, events };
}

/** The owner's open escalation, resolved (audited), as an event list: empty when none was open. */
async function resolvedEvents(ctx: Ctx, oKey: string, why: string): Promise<EscalationEvent[]> {
  const resolved = await ctx.escalations.resolve(ctx.name, oKey, ctx.now(), why);
  return resolved ? [resolved] : [];
}

const flapEscalationId = (ctx: Ctx, run: Pick<Run, 'n' | 'oKey'>): string => `flap:${ctx.name}:${run.n.groupKey}:${run.n.seq}:${run.oKey}`;

/** The pure decision from the owner's history, and (when it would act) from the target's state. */
async function decide(ctx: Ctx, run: Run, now: number): Promise<{ decision: RemediationDecision } | { failed: SendResult }> {
  const { n, owner } = run;
  const fingerprints = n.firing.filter((f) => ownerKey(f) === run.oKey).map((f) => f.fingerprint);
  const { recent, history } = await ctx.state.loadHistory(run.oKey, fingerprints, now, ctx.historyMs);
  const input = { notification: n, owner, config: ctx.config, recentActions: recent, history, inProgress: false, now };
  const decision = decideRemediation(input);
  if (decision.action !== 'sync') return { decision };
  // Read the target only when an action is still on the table; the read is not destructive, so a
  // dry run does it too and reports truthfully what would happen.
  const inspected = await ctx.client.inspect(owner.owner);
  if (!inspected.ok) return { failed: await actionFailed(ctx, run, decision, inspected) };
  const { state } = inspected;
  // Scope first, from what was read (issue #22): whatever the webhook said, an owner outside is refused.
  const refused = scopeRefusal(ctx, decision, state);
  if (refused !== null) {
    await audit(ctx, n, owner, 'denied', `refused: ${ownerLabel(owner)} is outside receiver ${ctx.name}'s scope: ${refused}`, fieldsOf(decision), run.by);
    await ctx.state.markDone(run.doneKey);
    return { failed: { ok: true } };
  }
  if (state.syncWindow) return { failed: await defer(ctx, run, decision, state.syncWindow.reason, state.syncWindow.retryAfterMs) };
  const op = state.lastOperation;
  const othersJustStarted = op !== undefined && !op.byMeshdrift && now - op.startedAt >= 0 && now - op.startedAt < ctx.recentOperationMs ? op : undefined;
  return {
    decision: decideRemediation({
      ...input,
      inProgress: state.inProgress,
      suspended: state.suspended,
      alreadySynced: state.synced,
      ...(othersJustStarted
        ? { recentOperation: `${othersJustStarted.by} started an operation on ${ownerLabel(owner)} at ${new Date(othersJustStarted.startedAt).toISOString()}` }
        : {}),
    }),
  };
}

/** Why the target, as read, is outside this receiver's scope (scope.ts), or null. */
function scopeRefusal(ctx: Ctx, decision: RemediationDecision, state: TargetState): string | null {
  const lists = ctx.config.scope;
  if (lists.clusters === undefined && lists.projects === undefined && lists.namespaces === undefined) return null;
  const scope = state.scope;
  if (scope === undefined) return 'where it deploys could not be read';
  const argo = isArgoCdAction(ctx.config.action);
  // Argo CD: the destination's cluster; Flux: the cluster the object was read from (kube.cluster).
  const cluster = argo ? (scope.destination ? destinationCluster(scope.destination, ctx.destinations, ctx.config.cluster) : undefined) : ctx.config.cluster;
  return outOfScope(lists, {
    cluster,
    project: scope.project,
    namespace: argo ? scope.destination?.namespace : scope.namespace,
    resources: decision.resources,
  });
}

/** Carries out a decision: escalated, skipped, deferred, dry run, or the action and its verify ticket. */
async function act(ctx: Ctx, run: Run, decision: RemediationDecision, notes: OwnerNote[]): Promise<RemediationRun> {
  const fields = fieldsOf(decision);
  if (decision.action === 'escalate') {
    await ctx.state.markDone(run.doneKey);
    return only({ ok: true }, notes);
  }
  if (decision.action === 'skip') {
    if (decision.skip === 'in-progress') return only(await defer(ctx, run, decision, decision.reason, 0), notes);
    await audit(ctx, run.n, run.owner, decision.skip === 'rate-limited' ? 'rate-limited' : 'skipped', decision.reason, fields, run.by);
    await ctx.state.markDone(run.doneKey);
    return only({ ok: true }, notes);
  }
  if (ctx.config.dryRun) {
    await audit(ctx, run.n, run.owner, 'dry-run', decision.reason, fields, run.by);
    await ctx.state.markDone(run.doneKey);
    return only({ ok: true }, notes);
  }
  const done = await ctx.client.remediate({ owner: run.owner.owner, resources: decision.resources, prune: decision.prune, reason: decision.reason });
  if (!done.ok) return only(await actionFailed(ctx, run, decision, done), notes);
  const at = ctx.now();
  const member = await ctx.state.recordAction({ ownerKey: run.oKey, fingerprints: decision.fingerprints, at, historyMs: ctx.historyMs, doneKey: run.doneKey });
  await audit(ctx, run.n, run.owner, 'performed', `${decision.reason}: ${done.detail}`, fields, run.by);
  return { result: { ok: true }, verify: verifyTicketOf(ctx, run, decision, { at, member, requestedAt: done.requestedAt }), notes };
}

function verifyTicketOf(
  ctx: Ctx,
  run: Run,
  decision: RemediationDecision,
  action: { at: number; member: string; requestedAt: string | undefined },
): VerifyTicket {
  const { owner, n } = run;
  return {
    receiver: ctx.name,
    action: ctx.config.action,
    actionId: `${ctx.name}:${run.oKey}:${action.member}`,
    actor: run.by,
    cluster: owner.cluster,
    tool: owner.tool,
    owner: owner.owner,
    resources: decision.resources,
    fingerprints: decision.fingerprints,
    groupKey: n.groupKey,
    seq: n.seq,
    startedAt: action.at,
    deadline: action.at + ctx.config.verifyTimeoutMs,
    pollMs: verifyPollMs(ctx.config.verifyTimeoutMs),
    ...(action.requestedAt === undefined ? {} : { requestedAt: action.requestedAt }),
  };
}

// A deferral: back off (doubling per consecutive deferral of the owner), give up after maxDeferMs.
async function defer(ctx: Ctx, run: Run, decision: RemediationDecision, reason: string, minDelayMs: number): Promise<SendResult> {
  const now = ctx.now();
  const { count, first } = await ctx.state.countDeferral(run.oKey, now);
  if (now - first >= ctx.maxDeferMs) {
    const gaveUp = `${reason}; gave up after ${Math.round((now - first) / 60_000)}m of deferrals (the next notification tries again)`;
    await ctx.state.clearDeferrals(run.oKey);
    await audit(ctx, run.n, run.owner, 'failed', gaveUp, fieldsOf(decision), run.by);
    await ctx.state.markDone(run.doneKey);
    return { ok: false, retryable: false, reason: gaveUp };
  }
  const delay = Math.max(minDelayMs, deferDelayMs(count, ctx.deferBaseMs, ctx.deferCapMs));
  await audit(ctx, run.n, run.owner, 'deferred', `${reason} (deferral ${count}, next try in ${Math.round(delay / 1000)}s)`, fieldsOf(decision), run.by);
  return { ok: false, retryable: true, reason, retryAfterMs: delay };
}

async function actionFailed(ctx: Ctx, run: Run, decision: RemediationDecision, failure: ActionFailure): Promise<SendResult> {
  if (failure.kind === 'in-progress' || failure.kind === 'sync-window') return defer(ctx, run, decision, failure.reason, failure.retryAfterMs ?? 0);
  if (failure.retryable) {
    await audit(ctx, run.n, run.owner, 'deferred', failure.reason, fieldsOf(decision), run.by);
    return { ok: false, retryable: true, reason: failure.reason };
  }
  await audit(ctx, run.n, run.owner, failure.kind === 'suspended' ? 'skipped' : 'failed', failure.reason, fieldsOf(decision), run.by);
  await ctx.state.markDone(run.doneKey);
  return { ok: false, retryable: false, reason: failure.reason };
}

// Trips the breaker for the decision's findings: remembered, audited, the hook called, a note
// for the alert's thread (broadcast: a human has to look now), and an escalation opened, told as a
// notification of its own (escalation.ts).
async function escalate(ctx: Ctx, run: Run, decision: RemediationDecision, now: number): Promise<{ notes: OwnerNote[]; events: EscalationEvent[] }> {
  if (decision.escalate.length === 0) return { notes: [], events: [] };
  const { n, owner } = run;
  const { flap } = ctx.config;
  const tripped = new Set(decision.escalate);
  const findings = n.firing.filter((f) => tripped.has(f.fingerprint));
  const resources = findings.map((f) => f.resource);
  await ctx.state.markEscalated(decision.escalate, now, flap.withinMs);
  const within = Math.round(flap.withinMs / 60_000);
  const reason = `flap breaker tripped: ${resources.length} resource(s) of ${ownerLabel(owner)} drifted again after ${flap.max} remediations within ${within}m; auto-remediation stopped for them, escalating`;
  await audit(ctx, n, owner, 'escalated', reason, { resources, fingerprints: decision.escalate }, run.by);
  try {
    await ctx.onEscalate?.({ receiver: ctx.name, owner, fingerprints: decision.escalate, resources, reason, notification: n });
  } catch {
    // The escalation is audited and counted; a failing hook must not undo that.
  }
  const event: EscalationEvent = {
    id: flapEscalationId(ctx, run),
    status: 'firing',
    kind: 'flap-breaker',
    receiver: ctx.name,
    ...owner,
    project: n.labels.project,
    severity: flap.escalateSeverity ?? ctx.config.escalationSeverity,
    reason: `${resources.length} resource(s) drifted again after ${flap.max} remediations within ${within}m; meshdrift will not revert them again for ${within}m`,
    resources: resources.slice(0, ESCALATION_REFS),
    fingerprints: decision.escalate.slice(0, ESCALATION_REFS),
    groupKey: n.groupKey,
    seq: n.seq,
    firstAt: now,
    at: now,
  };
  await ctx.escalations.open(event);
  return {
    notes: [escalationNote({ receiver: ctx.name, groupKey: n.groupKey, seq: n.seq, owner, findings, flap: { ...flap, escalateSeverity: event.severity } })],
    events: [event],
  };
}

/** One look at an action's result; a verdict is audited and told once per action, whichever replica or retry gets there first. */
async function verifyOnce(ctx: Ctx, ticket: VerifyTicket): Promise<VerifyStep> {
  const now = ctx.now();
  const observed = await ctx.client.observe(ticket.owner, { resources: ticket.resources, requestedAt: ticket.requestedAt });
  const decision = observed.ok ? decideVerify(ticket, observed.observation, now) : decideVerify(ticket, undefined, now, observed.reason);
  if (decision.state === 'pending') return { state: 'pending', retryInMs: Math.max(1, Math.min(ticket.pollMs, ticket.deadline - now + 1)) };
  const owner: RemediationOwner = { cluster: ticket.cluster, tool: ticket.tool, owner: ticket.owner };
  const oKey = ownerKey(owner);
  const escalationId = `verify:${ticket.actionId}`;
  if (!(await ctx.state.claimVerdict(ticket.actionId, decision.state))) {
    // Told already, or the replica that claimed it stopped before queuing it: the same ids make it once.
    const retold = decision.state === 'verify-failed' ? await ctx.escalations.find(ctx.name, oKey, escalationId) : undefined;
    return { state: decision.state, reason: decision.reason, notes: [], ...(retold ? { escalations: escalationsOf(ctx, [retold]) } : {}) };
  }
  await audit(ctx, ticket, owner, decision.state, decision.reason, { resources: ticket.resources, fingerprints: ticket.fingerprints }, ticket.actor);
  const events =
    decision.state === 'verified'
      ? await resolvedEvents(ctx, oKey, decision.reason)
      : [await openVerifyEscalation(ctx, ticket, owner, escalationId, decision.reason, now)];
  return {
    state: decision.state,
    reason: decision.reason,
    notes: [verdictNote(ticket, decision)],
    ...(events.length > 0 ? { escalations: escalationsOf(ctx, events) } : {}),
  };
}

/** An action that did not converge: an escalation of its own (the Slack thread hears the verdict as before). */
async function openVerifyEscalation(
  ctx: Ctx,
  ticket: VerifyTicket,
  owner: RemediationOwner,
  id: string,
  reason: string,
  now: number,
): Promise<EscalationEvent> {
  const event: EscalationEvent = {
    id,
    status: 'firing',
    kind: 'verify-failed',
    receiver: ctx.name,
    ...owner,
    project: '',
    severity: ctx.config.escalationSeverity,
    reason: reason.slice(0, 1000),
    resources: ticket.resources.slice(0, ESCALATION_REFS),
    fingerprints: ticket.fingerprints.slice(0, ESCALATION_REFS),
    groupKey: ticket.groupKey,
    seq: ticket.seq,
    firstAt: now,
    at: now,
  };
  await ctx.escalations.open(event);
  return event;
}
