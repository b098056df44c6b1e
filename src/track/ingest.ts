import type { Redis } from 'ioredis';
import { classify, type ClassifyPolicy } from '../classify/classify.ts';
import { RUNBOOK_DROPPED } from '../classify/annotations.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { findingLabels, type Finding } from '../model/finding.ts';
import { isInhibitionSource, type CompiledInhibitRule, type InhibitionSource } from '../route/inhibit.ts';
import type { InhibitSourceStore } from './inhibit-sources.ts';
import { isObservedSource, signalIdentityIssue, type Signal } from '../model/signal.ts';
import type { SignalInput } from './decide.ts';
import { ownerPath } from '../model/owner.ts';
import { adoptGroups, groupInputs, scopeOf } from './grouping.ts';
import type { GroupState } from './group-state.ts';
import { GroupFindingsLimitError, type CommitMark, type TrackStore } from './redis-store.ts';
import { ownerGroupsKey } from './keys.ts';
import { withBudget, type MemoryBudget } from './memory-budget.ts';
import type { FlushIntents } from './flush-intents.ts';

export type IngestOutcome =
  | {
      outcome: 'tracked' | 'unchanged' | 'stale';
      /** The alert groups this signal touched. */
      groups: string[];
      findings: number;
    }
  | {
      /**
       * Not tracked: an identity (cluster, owner, a resource's group, kind, namespace or name) holds
       * a control, bidi or zero-width character (model/signal.ts). A webhook answers 400 naming the
       * field; a watch or poll skips the object (logged and counted).
       */
      outcome: 'refused';
      groups: [];
      findings: 0;
      field: string;
      reason: string;
    };

/**
 * What a caller may hand the ingest of one signal (issue #15: fewer dependent round trips per
 * webhook). `ownerGroups`: the owner's group index, read ahead by the caller in the round trip of
 * its own read (used only when `owner` is the signal's owner path, else read as usual). `mark`: a
 * write the signal's last group commit makes in the same script (the Flux revision memory and the
 * event's processed mark); the outcome's `marked` says whether it was made, else the caller makes
 * it itself after the ingest, as before.
 */
export interface IngestOptions {
  ownerGroups?: { owner: string; groups: Promise<string[]> };
  mark?: CommitMark;
}

/** The one entry point every source calls: classify → group → track (each group's flush recorded with it). */
export type Ingest = (signal: Signal, options?: IngestOptions) => Promise<IngestOutcome & { marked?: boolean }>;

/**
 * Reads the owner's group index now (its reply lands with whatever else the caller sends in this
 * turn of the event loop: one round trip), for {@link IngestOptions.ownerGroups}. A read nobody
 * awaits (the event turned out a duplicate) fails silently; one awaited fails the ingest as usual.
 */
export function readOwnerGroupsAhead(owners: OwnerGroupIndex, owner: string): NonNullable<IngestOptions['ownerGroups']> {
  const groups = owners.groupsOf(owner);
  groups.catch(() => undefined);
  return { owner, groups };
}

/**
 * Which groups hold findings of an owner. A snapshot must reach every one of them, including
 * groups its findings no longer route to (a policy change, a severity change), or what drifted
 * there would never resolve. The store keeps it, in the same commit as the group state.
 */
export interface OwnerGroupIndex {
  groupsOf(ownerKey: string): Promise<string[]>;
  /** Drops a group that no longer exists (deleted by a flush) from the owner's list. */
  forget(ownerKey: string, groupKey: string): Promise<void>;
}

export function createRedisOwnerGroupIndex(redis: Redis, keyPrefix: string): OwnerGroupIndex {
  return {
    groupsOf: (owner) => redis.smembers(ownerGroupsKey(keyPrefix, owner)),
    forget: async (owner, groupKey) => void (await redis.srem(ownerGroupsKey(keyPrefix, owner), groupKey)),
  };
}

/**
 * A signal past a findings bound (MESHDRIFT_MAX_SNAPSHOT_FINDINGS, MESHDRIFT_MAX_GROUP_FINDINGS).
 * Refused whole, never truncated: a snapshot cut short would resolve what it left out. What was
 * tracked before stays as it was; the webhooks answer 413 with this message.
 */
export class FindingsLimitError extends Error {
  override readonly name = 'FindingsLimitError';
  readonly limit: 'snapshot' | 'group';
  constructor(limit: 'snapshot' | 'group', message: string) {
    super(message);
    this.limit = limit;
  }
}

/** Default bounds; see MESHDRIFT_MAX_SNAPSHOT_FINDINGS and MESHDRIFT_MAX_GROUP_FINDINGS. */
export const DEFAULT_FINDINGS_LIMITS = { snapshotFindings: 20_000, groupFindings: 20_000 } as const;

export interface IngestDeps {
  policy: () => ClassifyPolicy;
  store: TrackStore;
  /**
   * Told of the flushes the commits recorded (track/flush-intents.ts): each commit records its
   * group's flush intent in Redis itself; no job is added on the signal's path.
   */
  flushes: FlushIntents;
  owners: OwnerGroupIndex;
  /** Inhibit rules in force, and where firing inhibition sources are kept. */
  inhibition?: { rules: () => readonly CompiledInhibitRule[]; sources: InhibitSourceStore };
  metrics: Metrics;
  /** meshdrift's clock (the shared one: clock.ts): receipt time of every signal. */
  now: () => number;
  /** Where a refused signal, and a sender's time from the future, are logged (warn); default: not logged, only counted. */
  log?: Logger;
  /** How far before its receipt a sender's timestamp may lie (MESHDRIFT_MAX_SENDER_SKEW; default 1 min). */
  maxSenderSkewMs?: number;
  /** Findings bounds; default {@link DEFAULT_FINDINGS_LIMITS}. */
  limits?: { snapshotFindings: number; groupFindings: number };
  /** Shared with the workers: a signal holds as many findings as it lists resources while it is ingested. */
  budget?: MemoryBudget;
}

export const DEFAULT_MAX_SENDER_SKEW_MS = 60_000;

/**
 * The time a signal is ordered by. A sender's (webhook) timestamp is bounded to
 * [receipt - maxSkew, receipt]: a far-future time cannot make later snapshots stale, a far-past one
 * cannot pass for history. What meshdrift observed itself carries its own clock's time (never after
 * the receipt).
 */
export function signalTime(
  signal: Pick<Signal, 'source' | 'observedAt'>,
  receivedAt: number,
  maxSkewMs: number,
): { at: number; observed: boolean; clamped: boolean } {
  const observed = isObservedSource(signal.source);
  const floor = observed ? Number.NEGATIVE_INFINITY : receivedAt - maxSkewMs;
  const at = Math.min(receivedAt, Math.max(floor, signal.observedAt));
  return { at, observed, clamped: !observed && at !== signal.observedAt };
}

const isoOrNumber = (ms: number): string => (Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : String(ms));

export function createIngest(deps: IngestDeps): Ingest {
  const maxSkew = deps.maxSenderSkewMs ?? DEFAULT_MAX_SENDER_SKEW_MS;
  return async (received, options) => {
    const refused = signalIdentityIssue(received);
    if (refused !== null) {
      deps.metrics.signalRefused(received.source, refused.field.replace(/\.\d+\./, '.'));
      // The value itself is not logged: it is what could not be shown safely.
      deps.log?.warn(
        { source: received.source, field: refused.field, reason: refused.reason },
        'signal refused: an identity holds a control, bidi or zero-width character',
      );
      return { outcome: 'refused', groups: [], findings: 0, field: refused.field, reason: refused.reason };
    }
    return withBudget(deps.budget, received.resources.length, () => ingestOne(received, deps, maxSkew, options));
  };
}

/** A rule's runbook_url that did not render to an http(s) link (classify/annotations.ts) is left out, and said here. */
function reportDroppedRunbooks(findings: readonly Finding[], log: Logger | undefined): void {
  for (const f of findings) {
    const dropped = f.reasons.find((r) => r.startsWith(RUNBOOK_DROPPED));
    if (dropped !== undefined) log?.warn({ cluster: f.cluster, owner: f.owner.name, kind: f.resource.kind, name: f.resource.name }, dropped);
  }
}

/** A sender time outside MESHDRIFT_MAX_SENDER_SKEW, counted as `at`: a metric and a log line. */
function reportClamped(received: Signal, at: number, now: number, deps: IngestDeps): void {
  const future = received.observedAt > now;
  deps.metrics.senderTimeClamped(received.source, future ? 'future' : 'past');
  // From the future: a sender's wrong clock or a forgery (an older time is routine: debug).
  const fields = {
    source: received.source,
    cluster: received.cluster,
    owner: `${received.owner.kind}/${received.owner.namespace}/${received.owner.name}`,
    claimed: isoOrNumber(received.observedAt),
    counted: isoOrNumber(at),
  };
  if (future) deps.log?.warn(fields, 'sender timestamp after its receipt; counted as the receipt (MESHDRIFT_MAX_SENDER_SKEW)');
  else deps.log?.debug(fields, 'sender timestamp older than MESHDRIFT_MAX_SENDER_SKEW; counted as receipt minus the skew');
}

/**
 * A signal past a findings bound is refused whole, before anything is written: a truncated
 * snapshot would resolve what it left out.
 */
function checkFindingLimits(
  findings: number,
  inputs: readonly SignalInput[],
  limits: { snapshotFindings: number; groupFindings: number },
  owner: string,
  refuse: (limit: 'snapshot' | 'group', message: string) => never,
): void {
  if (findings > limits.snapshotFindings) {
    refuse(
      'snapshot',
      `${findings} drifted resources in one signal of ${owner}: more than MESHDRIFT_MAX_SNAPSHOT_FINDINGS (${limits.snapshotFindings}); nothing of it was tracked`,
    );
  }
  for (const input of inputs) {
    if (input.findings.length > limits.groupFindings) {
      refuse(
        'group',
        `${input.findings.length} findings for one alert group from ${owner}: more than MESHDRIFT_MAX_GROUP_FINDINGS (${limits.groupFindings}); nothing of it was tracked`,
      );
    }
  }
}

async function ingestOne(
  received: Signal,
  deps: IngestDeps,
  maxSkew: number,
  options: IngestOptions | undefined,
): Promise<IngestOutcome & { marked?: boolean }> {
  const started = performance.now();
  const policy = deps.policy();
  const now = deps.now();
  const time = signalTime(received, now, maxSkew);
  if (time.clamped) reportClamped(received, time.at, now, deps);
  const signal: Signal = time.at === received.observedAt ? received : { ...received, observedAt: time.at };
  const findings = classify(signal, policy);
  reportDroppedRunbooks(findings, deps.log);
  const scope = scopeOf(signal);
  const owner = ownerPath(scope);
  const limits = deps.limits ?? DEFAULT_FINDINGS_LIMITS;
  const refuse = (limit: 'snapshot' | 'group', message: string): never => {
    deps.metrics.limitHit(limit === 'snapshot' ? 'snapshot_findings' : 'group_findings');
    deps.log?.warn({ owner, source: signal.source, findings: findings.length, limit }, message);
    throw new FindingsLimitError(limit, message);
  };
  let inputs: SignalInput[] = groupInputs(signal, findings, policy.route);
  checkFindingLimits(findings.length, inputs, limits, `${scope.owner.kind} ${scope.owner.namespace}/${scope.owner.name}`, refuse);
  const ahead = options?.ownerGroups;
  const known = await (ahead !== undefined && ahead.owner === owner ? ahead.groups : deps.owners.groupsOf(owner));
  // A group to open while the owner has groups this signal is not keyed to: one of them may be
  // the same group under an older key (an upgrade from positional route ids, an edited route).
  const knownSet = new Set(known);
  const computed = new Set(inputs.map((i) => i.groupKey));
  const others = known.filter((k) => !computed.has(k));
  if (others.length > 0 && inputs.some((i) => !knownSet.has(i.groupKey))) {
    const states = await Promise.all(others.map((k) => deps.store.get(k)));
    inputs = adoptGroups(
      inputs,
      states.filter((g): g is GroupState => g !== null),
      policy.route,
    );
  }
  if (signal.completeness === 'snapshot') {
    // The snapshot's findings, whatever group they went to: a reload that only moved one to
    // another group does not resolve it in the old one (track/decide.ts applySignal).
    const reported = new Map(findings.map((f) => [f.fingerprint, f]));
    const routed = new Set(inputs.map((i) => i.groupKey));
    inputs = inputs.map((i) => ({ ...i, reported }));
    for (const groupKey of known) {
      if (!routed.has(groupKey))
        inputs.push({ groupKey, findings: [], completeness: 'snapshot', scope, observedAt: signal.observedAt, ...comparedAtOf(signal), reported });
    }
  }

  // Every group this signal reaches learns whether meshdrift observed it or was told it.
  inputs = inputs.map((i) => ({ ...i, observed: time.observed }));
  let changed = false;
  let stale = false;
  const inhibitRules = deps.inhibition?.rules() ?? [];
  const sourcesAdd = new Map<string, InhibitionSource>();
  const sourcesRemove = new Set<string>();
  // The caller's mark rides on the last group's commit: every group before it has committed by
  // then. (The inhibition sources below come after it: a retry of a signal whose source update
  // failed would open nothing, so it would not add them either; the mark changes nothing there.)
  const mark = options?.mark;
  let marked = false;
  for (const [i, input] of inputs.entries()) {
    let result: Awaited<ReturnType<TrackStore['apply']>>;
    const last = i === inputs.length - 1;
    try {
      // A group the owner's index does not name is most likely new: its batch may skip the read.
      result = await deps.store.apply(input, now, { absent: !knownSet.has(input.groupKey), ...(last && mark ? { mark } : {}) });
    } catch (err) {
      // Several owners together grew the group past the bound (the store checks it on commit).
      if (err instanceof GroupFindingsLimitError) refuse('group', `${err.message}; groups before it in this signal were tracked`);
      throw err;
    }
    if (result.next === null && input.findings.length === 0) await deps.owners.forget(owner, input.groupKey);
    // The commit recorded the flush intent with the state (nothing to repair after a crash here);
    // one due within the mover's lookahead is moved to the queue off this path, at once.
    const pending = result.next?.pendingFlush;
    if (pending && result.changed) deps.flushes.recorded(pending.dueAt, now);
    for (const f of result.opened) deps.metrics.findingOpened(f.severity, f.category);
    if (result.opened.length > 0) {
      deps.metrics.appDrifted(
        { cluster: scope.cluster, tool: scope.tool, kind: scope.owner.kind, namespace: scope.owner.namespace, name: scope.owner.name },
        result.opened.length,
      );
    }
    if (result.resolved > 0) deps.metrics.findingsResolved(result.resolved);
    if (inhibitRules.length > 0) {
      for (const f of result.opened) {
        const labels = findingLabels(f);
        if (isInhibitionSource(labels, inhibitRules)) sourcesAdd.set(f.fingerprint, { id: f.fingerprint, labels });
      }
      for (const f of result.resolvedFindings) sourcesRemove.add(f.fingerprint);
    }
    changed ||= result.changed;
    stale ||= result.stale;
    if (last) marked = result.marked === true;
  }
  if (deps.inhibition && (sourcesAdd.size > 0 || sourcesRemove.size > 0)) {
    await deps.inhibition.sources.update(
      [...sourcesAdd.values()],
      [...sourcesRemove].filter((fp) => !sourcesAdd.has(fp)),
    );
  }

  const outcome = changed ? 'tracked' : stale ? 'stale' : 'unchanged';
  if (outcome !== 'tracked') deps.metrics.dedupSuppressed(signal.source);
  deps.metrics.ingestDuration(signal.source, (performance.now() - started) / 1000);
  return { outcome, groups: inputs.map((i) => i.groupKey), findings: findings.length, ...(marked ? { marked } : {}) };
}

/** A snapshot's comparison time, for every group it reaches (track/decide.ts). */
const comparedAtOf = (signal: Signal): { comparedAt?: number } => (signal.comparedAt !== undefined ? { comparedAt: signal.comparedAt } : {});
