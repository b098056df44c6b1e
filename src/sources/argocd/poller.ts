import { oneAtATime } from '../one-at-a-time.ts';
import type { AppIndex } from './app-index.ts';
import type { Env } from '../../config/env.ts';
import type { Logger } from '../../log.ts';
import type { OwnerRef, Signal } from '../../model/signal.ts';
import type { Ingest, IngestOutcome } from '../../track/ingest.ts';
import { backoffDelay, sleep, type BackoffPolicy, type Delay } from '../kube/backoff.ts';
import {
  type ArgoCdApiError,
  ArgoCdAuthError,
  type ApplicationFilters,
  type ApplicationList,
  type ArgoCdApi,
  type ArgoCdApiOptions,
  type ListedApplication,
} from './api.ts';
import { applicationToSignal } from './application.ts';
import type { DiffBudget, ManagedDiff } from './managed-diff.ts';
import { createPollHealth, type ArgoCdPollerHealth, type PollOutcome, type PollResult } from './poll-health.ts';
import { needsResourceTree, withTreeHealth, WITHOUT_TREE_COVERS } from './tree-health.ts';
import { firstLineOf } from '../../model/error-message.ts';

/**
 * Argo CD API polling (issue #5), for meshdrift outside the cluster: every interval, list the
 * Applications (project, selector and namespace filters), turn each into the full snapshot signal
 * the watch would send (application.ts, source `argocd-api`) and ingest it. Argo CD >= 3.0 keeps
 * per-resource health out of the list (reference/argocd.md §0.1), so for an app whose health is
 * Degraded or Missing the resource tree is read to name the unhealthy resources.
 *
 * Like the audit cycle (kube/audit-cycle.ts), an app listed by the previous poll and gone from this
 * one was deleted: it gets an empty snapshot, which resolves its findings. Polls never overlap; a
 * failed list is retried with backoff, and 401/403 or a long outage make the source not ready.
 */

export type { ArgoCdPollerHealth, PollOutcome, PollResult } from './poll-health.ts';
/** Which apps to poll: sent to Argo CD as query parameters. */
export interface PollFilters {
  projects: readonly string[];
  selector?: string;
  /** One list per namespace ("apps in any namespace"); empty: one list of every enabled namespace. */
  appNamespaces: readonly string[];
}

export interface ArgoCdPollerOptions {
  api: ArgoCdApi;
  /** The `cluster` of every signal (MESHDRIFT_CLUSTER), as the webhook uses: same fingerprints. */
  cluster: string;
  filters: PollFilters;
  ingest: Ingest;
  log: Logger;
  /** Time between the end of one poll and the start of the next; must be > 0. */
  intervalMs: number;
  /** Delays after failed polls; default from min(5 s, interval) up to max(5 min, interval). */
  backoff?: BackoffPolicy;
  /** Failing for longer than this makes the source not ready; default max(3 × interval, 2 min). */
  unreadyAfterMs?: number;
  /** Field changes of drifted mesh resources from Argo CD's managed-resources (managed-diff.ts); none when unset. */
  diff?: ManagedDiff;
  /** Fed with every listed app (under `cluster`), for the mesh watch and the admission recorder (app-index.ts). */
  appIndex?: Pick<AppIndex, 'put' | 'remove'>;
  /** Apps handled at once (resource tree, then ingest); default 4. */
  concurrency?: number;
  /** Poll right away (default true: nothing else lists for this source). */
  runAtStart?: boolean;
  /** Each poll's outcome, e.g. `meshdrift_argocd_polls_total{outcome}`. */
  onPoll?: (outcome: PollOutcome, result: PollResult) => void;
  /** Each poll's count of signals that changed tracked state (> 0 only). */
  onDiscovered?: (count: number) => void;
  now?: () => number;
  delay?: Delay;
  random?: () => number;
}

export interface ArgoCdPoller {
  /** One poll now; polls never overlap (a call during a poll waits for it, then polls). */
  pollNow(): Promise<PollResult>;
  health(): ArgoCdPollerHealth;
  stop(): Promise<void>;
}

/** The settings of API polling from the environment, for {@link startArgoCdPoller} and {@link createArgoCdApi}. */
export interface ArgoCdPollSettings {
  api: ArgoCdApiOptions;
  cluster: string;
  intervalMs: number;
  filters: PollFilters;
  /** Most managed-resources reads per poll (ARGOCD_DIFF_FETCHES); 0: no field changes. */
  diffFetchesPerPoll: number;
}

/**
 * Polling settings from the environment, or undefined when polling is off: no `ARGOCD_TOKEN`, or
 * `ARGOCD_POLL_INTERVAL=0`. (loadEnv already refused a token without `ARGOCD_URL`.)
 */
export function argoCdPollSettings(env: Env): ArgoCdPollSettings | undefined {
  if (env.ARGOCD_TOKEN === undefined || env.ARGOCD_URL === undefined || env.ARGOCD_POLL_INTERVAL === 0) return undefined;
  return {
    api: { apiUrl: env.ARGOCD_URL, token: env.ARGOCD_TOKEN, timeoutMs: env.ARGOCD_TIMEOUT },
    cluster: env.MESHDRIFT_CLUSTER,
    intervalMs: env.ARGOCD_POLL_INTERVAL,
    diffFetchesPerPoll: env.ARGOCD_DIFF_FETCHES,
    filters: {
      projects: env.ARGOCD_PROJECTS,
      ...(env.ARGOCD_SELECTOR !== undefined ? { selector: env.ARGOCD_SELECTOR } : {}),
      appNamespaces: env.ARGOCD_APP_NAMESPACES,
    },
  };
}

/** The list scopes of one poll: one per app namespace, or one of every enabled namespace. */
export function listScopes(filters: PollFilters): ApplicationFilters[] {
  const common: ApplicationFilters = {
    ...(filters.projects.length > 0 ? { projects: filters.projects } : {}),
    ...(filters.selector !== undefined ? { selector: filters.selector } : {}),
  };
  return filters.appNamespaces.length === 0 ? [common] : filters.appNamespaces.map((appNamespace) => ({ ...common, appNamespace }));
}

/** An Application within one Argo CD (one cluster, one tool): namespace/name, for the poll's own maps and messages; not persisted. */
const appKey = (o: OwnerRef): string => `${o.namespace}/${o.name}`;
const ownerOf = (app: { metadata: { name: string; namespace?: string | undefined } }): OwnerRef => ({
  kind: 'Application',
  namespace: app.metadata.namespace ?? '',
  name: app.metadata.name,
});
const message = (err: unknown): string => firstLineOf(err, 500);

/** What a poll remembers of an app, to resolve it if it vanishes. */
interface Seen {
  owner: OwnerRef;
  observedAt: number;
}

/** The poller's health tracker, with its defaults. */
function pollHealthOf(opts: ArgoCdPollerOptions, log: Logger, now: () => number) {
  return createPollHealth({
    log,
    now,
    unreadyAfterMs: opts.unreadyAfterMs ?? Math.max(3 * opts.intervalMs, 120_000),
    onPoll: opts.onPoll,
    onDiscovered: opts.onDiscovered,
  });
}

/** A scope listed empty after a non-empty list: its apps are kept until the next poll agrees. */
function warnEmptied(log: Logger, scopeKey: string, before: Map<string, Seen> | undefined): void {
  log.warn(
    { scope: scopeKey || '(all namespaces)', before: before?.size },
    'Argo CD listed no applications where it listed some before; resolving them only if the next poll agrees (an account that lost RBAC `applications, get` also gets an empty list)',
  );
}

/** Puts the listed apps in the app index (when there is one); their count. */
function indexed(opts: ArgoCdPollerOptions, apps: readonly ListedApplication[]): number {
  for (const app of apps) opts.appIndex?.put(opts.cluster, app);
  return apps.length;
}

/** Takes the vanished apps out of the app index (when there is one); their count. */
function unindexed(opts: ArgoCdPollerOptions, vanished: readonly Signal[]): number {
  for (const v of vanished) opts.appIndex?.remove(opts.cluster, { metadata: { namespace: v.owner.namespace, name: v.owner.name } });
  return vanished.length;
}

export function startArgoCdPoller(opts: ArgoCdPollerOptions): ArgoCdPoller {
  if (!(opts.intervalMs > 0)) throw new Error('the Argo CD poll interval must be > 0 (0 means polling off: do not start the poller)');
  const now = opts.now ?? Date.now;
  const delay = opts.delay ?? sleep;
  const random = opts.random ?? Math.random;
  const backoff = opts.backoff ?? { baseMs: Math.min(5_000, opts.intervalMs), maxMs: Math.max(300_000, opts.intervalMs) };
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  const scopes = listScopes(opts.filters);
  const log = opts.log.child({ component: 'argocd-poll' });
  const abort = new AbortController();
  const tracked = pollHealthOf(opts, log, now);
  // Per scope (its appNamespace, '' for all): the apps the last successful list of it returned.
  const previous = new Map<string, Map<string, Seen>>();
  // Scopes whose last list came back empty after a non-empty one (see vanishedOf).
  const emptiedOnce = new Set<string>();
  let stopped = false;
  const bounded = <T>(items: readonly T[], job: (item: T) => Promise<void>): Promise<void> => eachBounded(items, concurrency, () => stopped, job);

  /** One list scope: list, ingest each app's snapshot, then resolve the apps gone since the last list. */
  async function pollScope(filters: ApplicationFilters, result: PollResult, budget: DiffBudget | undefined): Promise<ScopeOutcome> {
    const scopeKey = filters.appNamespace ?? '';
    let list: ApplicationList;
    try {
      list = await opts.api.listApplications(filters);
    } catch (err) {
      result.errors.push(message(err));
      return err instanceof ArgoCdAuthError ? { halt: err } : 'failed';
    }
    const at = now();
    result.listed += indexed(opts, list.items);
    reportSkipped(list, log, result);
    const signals: Signal[] = [];
    try {
      await bounded(list.items, async (app) => {
        const signal = await withChanges(opts.diff, budget, log, app, await signalOf(opts.api, opts.cluster, log, app, at, result));
        signals.push(signal);
        await ingestPolled(opts.ingest, log, signal, result);
      });
    } catch (err) {
      result.errors.push(message(err));
      return { halt: err instanceof ArgoCdAuthError ? err : undefined };
    }
    const before = previous.get(scopeKey);
    const seen = seenOf(list, signals, before);
    const vanished = vanishedOf(opts.cluster, emptiedOnce, scopeKey, before, seen, at);
    if (vanished === undefined) {
      warnEmptied(log, scopeKey, before);
      return 'done';
    }
    previous.set(scopeKey, seen);
    result.vanished += unindexed(opts, vanished);
    await bounded(vanished, (signal) => ingestPolled(opts.ingest, log, signal, result));
    return 'done';
  }

  async function poll(): Promise<PollResult> {
    const started = now();
    const result: PollResult = { outcome: 'ok', listed: 0, trees: 0, signals: 0, discovered: 0, vanished: 0, errors: [], durationMs: 0 };
    let failedScopes = 0;
    let unauthorized: ArgoCdApiError | undefined;
    const budget = opts.diff?.budget();
    for (const filters of scopes) {
      if (stopped) break;
      const outcome = await pollScope(filters, result, budget);
      if (outcome !== 'done') failedScopes++;
      if (typeof outcome === 'object') {
        unauthorized = outcome.halt;
        break;
      }
    }
    result.durationMs = now() - started;
    result.outcome = pollOutcome(result, unauthorized !== undefined, failedScopes, scopes.length);
    tracked.record(result, unauthorized !== undefined, started);
    return result;
  }

  // One run at a time: a call during a run waits for it, then runs.
  const runs = oneAtATime(poll);
  const pollNow = (): Promise<PollResult> => runs.run();

  const loop = async (): Promise<void> => {
    if (opts.runAtStart === false) await delay(opts.intervalMs, abort.signal);
    while (!stopped) {
      try {
        await pollNow();
      } catch (err) {
        // poll() reports failures in its result; this is a bug, still never a hot loop.
        tracked.crashed(message(err));
      }
      if (stopped) break;
      const failures = tracked.failures();
      await delay(failures > 0 ? backoffDelay(failures - 1, backoff, random) : opts.intervalMs, abort.signal);
    }
  };
  const looping = loop();

  return {
    pollNow,
    health: () => tracked.health(),
    async stop() {
      if (stopped) return;
      stopped = true;
      abort.abort();
      await looping;
      await runs.idle();
    },
  };
}

/** How one list scope ended: listed and ingested, its list failed (next scope), or the poll halts (unauthorized or not). */
type ScopeOutcome = 'done' | 'failed' | { halt: ArgoCdApiError | undefined };

function pollOutcome(result: PollResult, unauthorized: boolean, failedScopes: number, scopes: number): PollOutcome {
  return unauthorized ? 'unauthorized' : failedScopes > 0 && failedScopes === scopes ? 'failed' : result.errors.length > 0 ? 'partial' : 'ok';
}

/** The signal of one listed app, with its tree's health when it needs it. */
async function signalOf(api: ArgoCdApi, cluster: string, log: Logger, app: ListedApplication, at: number, result: PollResult): Promise<Signal> {
  const ctx = { cluster, source: 'argocd-api' as const, now: at };
  if (!needsResourceTree(app)) return applicationToSignal(app, ctx);
  const ref = { name: app.metadata.name, ...(app.metadata.namespace ? { namespace: app.metadata.namespace } : {}), project: app.spec?.project || 'default' };
  try {
    const tree = await api.resourceTree(ref);
    result.trees++;
    return applicationToSignal(withTreeHealth(app, tree), ctx);
  } catch (err) {
    // A 401 here means the token went bad mid-poll: the whole poll is unauthorized.
    if (err instanceof ArgoCdAuthError && err.kind === 'unauthorized') throw err;
    result.errors.push(`${appKey(ownerOf(app))}: ${message(err)}`);
    log.warn({ app: appKey(ownerOf(app)), error: message(err) }, 'resource tree read failed; health-derived findings of this app kept as they are');
    return { ...applicationToSignal(app, ctx), covers: WITHOUT_TREE_COVERS };
  }
}

/** The signal with its field changes when the diff is on; a failure there never holds the signal back. */
async function withChanges(
  diff: ManagedDiff | undefined,
  budget: DiffBudget | undefined,
  log: Logger,
  app: ListedApplication,
  signal: Signal,
): Promise<Signal> {
  if (diff === undefined || budget === undefined) return signal;
  try {
    return await diff.withChanges(app, signal, budget);
  } catch (err) {
    log.warn({ app: appKey(ownerOf(app)), error: message(err) }, 'field changes of the drifted resources failed; the signal goes without them');
    return signal;
  }
}

/** Runs `job` over `items`, `concurrency` at a time, until `stopped()`; the first thrown error is rethrown at the end. */
async function eachBounded<T>(items: readonly T[], concurrency: number, stopped: () => boolean, job: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let fatal: unknown;
  const worker = async (): Promise<void> => {
    while (next < items.length && !stopped() && fatal === undefined) {
      const item = items[next++]!;
      try {
        await job(item);
      } catch (err) {
        fatal ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
  if (fatal !== undefined) throw fatal;
}

/** The apps a list left out for their shape: an error line each, and a warning. */
function reportSkipped(list: ApplicationList, log: Logger, result: PollResult): void {
  for (const s of list.skipped) {
    result.errors.push(`skipped app ${s.namespace ?? ''}/${s.name ?? '?'}: ${s.error}`);
    log.warn({ app: `${s.namespace ?? ''}/${s.name ?? '?'}`, error: s.error }, 'listed app does not have the expected shape; left out of this poll');
  }
}

/** Ingests one polled signal and counts it; a failed ingest is an error line of the poll, not a failed poll. */
async function ingestPolled(ingest: Ingest, log: Logger, signal: Signal, result: PollResult): Promise<void> {
  let outcome: IngestOutcome;
  try {
    outcome = await ingest(signal);
  } catch (err) {
    result.errors.push(`${appKey(signal.owner)}: ingest: ${message(err)}`);
    log.warn({ app: appKey(signal.owner), error: message(err) }, 'ingest of a polled app failed');
    return;
  }
  result.signals++;
  if (outcome.outcome === 'tracked') {
    result.discovered++;
    log.info({ app: appKey(signal.owner), findings: outcome.findings }, 'polled app changed tracked state');
  }
}

/** The apps a list saw (when each was last observed); an app skipped for its shape still exists and is kept. */
function seenOf(list: ApplicationList, signals: readonly Signal[], before: Map<string, Seen> | undefined): Map<string, Seen> {
  const seen = new Map<string, Seen>();
  const observed = new Map(signals.map((s) => [appKey(s.owner), s.observedAt]));
  for (const app of list.items) {
    const key = appKey(ownerOf(app));
    seen.set(key, { owner: ownerOf(app), observedAt: observed.get(key) ?? before?.get(key)?.observedAt ?? 0 });
  }
  // An app skipped for its shape still exists: keep it, so it does not count as vanished.
  for (const s of list.skipped) {
    if (s.name === undefined) continue;
    const key = `${s.namespace ?? ''}/${s.name}`;
    const kept = before?.get(key);
    if (kept) seen.set(key, kept);
  }
  return seen;
}

/**
 * Empty snapshots for the apps of `before` that `seen` lacks. A list that comes back empty after
 * a non-empty one is taken at its word only the second time in a row: Argo CD answers an empty
 * list (not a 403) to an account that lost its RBAC, and resolving every alert on that would be
 * wrong. `emptiedOnce` holds the scopes whose last list came back empty that way.
 */
function vanishedOf(
  cluster: string,
  emptiedOnce: Set<string>,
  scopeKey: string,
  before: Map<string, Seen> | undefined,
  seen: Map<string, Seen>,
  at: number,
): Signal[] | undefined {
  if (before === undefined || before.size === 0) return [];
  if (seen.size === 0 && !emptiedOnce.has(scopeKey)) {
    emptiedOnce.add(scopeKey);
    return undefined;
  }
  emptiedOnce.delete(scopeKey);
  const out: Signal[] = [];
  for (const [key, s] of before) {
    if (seen.has(key)) continue;
    out.push({
      source: 'argocd-api',
      cluster,
      owner: s.owner,
      project: '',
      destination: {},
      observedAt: Math.max(at, s.observedAt),
      completeness: 'snapshot',
      resources: [],
    });
  }
  return out;
}
