import { oneAtATime } from '../one-at-a-time.ts';
import type { Env } from '../../config/env.ts';
import type { Logger } from '../../log.ts';
import type { OwnerRef, Signal } from '../../model/signal.ts';
import type { Ingest, IngestOutcome } from '../../track/ingest.ts';
import { backoffDelay, sleep, type BackoffPolicy, type Delay } from '../kube/backoff.ts';
import { ArgoCdApiError, ArgoCdAuthError, type ApplicationFilters, type ArgoCdApi, type ArgoCdApiOptions, type ListedApplication, type ResourceTree } from './api.ts';
import { applicationToSignal } from './application.ts';

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

export type PollOutcome = 'ok' | 'partial' | 'failed' | 'unauthorized';

export interface PollResult {
  outcome: PollOutcome;
  /** Apps listed, over every namespace scope. */
  listed: number;
  /** Resource trees read (apps Degraded or Missing). */
  trees: number;
  /** Signals ingested. */
  signals: number;
  /** Signals whose ingest changed tracked state (`tracked`). */
  discovered: number;
  /** Apps gone since the previous poll, resolved with an empty snapshot. */
  vanished: number;
  /** One line per failed list, tree, skipped app or ingest; never a secret. */
  errors: string[];
  durationMs: number;
}

export interface ArgoCdPollerHealth {
  /** False after 401/403 (until a poll succeeds) and while the API has failed for longer than `unreadyAfterMs`. */
  ready: boolean;
  /** When the current run of failed polls began (epoch ms); absent while polls succeed. */
  since?: number;
  /** The last poll's error, when it failed (redacted: never the token). */
  lastError?: string;
  /** When a poll last listed successfully (epoch ms). */
  lastSuccessAt?: number;
  consecutiveFailures: number;
}

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
    filters: {
      projects: env.ARGOCD_PROJECTS,
      ...(env.ARGOCD_SELECTOR !== undefined ? { selector: env.ARGOCD_SELECTOR } : {}),
      appNamespaces: env.ARGOCD_APP_NAMESPACES,
    },
  };
}

/** App health codes under which some resource may be unhealthy (gitops-engine pkg/health/health.go healthOrder). */
const TREE_HEALTH = new Set(['Degraded', 'Missing']);

/**
 * Whether the list lacks the per-resource health this app needs: its health is Degraded or Missing
 * and its resources carry none (3.x `resourceHealthSource: appTree`; 2.x lists had it inline).
 */
export function needsResourceTree(app: ListedApplication): boolean {
  const health = app.status?.health?.status;
  if (health === undefined || !TREE_HEALTH.has(health)) return false;
  const resources = app.status?.resources ?? [];
  if (resources.length === 0) return false;
  return app.status?.resourceHealthSource === 'appTree' || !resources.some((r) => r.health !== undefined);
}

const resourceKey = (group: string | undefined, kind: string, namespace: string | undefined, name: string): string => `${group ?? ''}/${kind}/${namespace ?? ''}/${name}`;

/**
 * Health per resource from a tree, as the API server fills `status.resources[].health` on GET
 * (`inferResourcesStatusHealth`, server/application/application.go L2912-2933): a node's health,
 * or Missing for a node that was never created (no resourceVersion, uid nor createdAt).
 */
export function healthFromTree(tree: ResourceTree): Map<string, { status: string; message?: string }> {
  const out = new Map<string, { status: string; message?: string }>();
  for (const node of tree.nodes ?? []) {
    const key = resourceKey(node.group, node.kind, node.namespace, node.name);
    if (node.health?.status !== undefined) {
      out.set(key, { status: node.health.status, ...(node.health.message !== undefined ? { message: node.health.message } : {}) });
    } else if (node.resourceVersion === undefined && node.uid === undefined && node.createdAt === undefined) {
      out.set(key, { status: 'Missing', message: 'Resource has not been created' });
    }
  }
  return out;
}

/**
 * The app with each resource's health taken from its tree where the list had none. application.ts
 * then combines it with the sync status as for any app: Synced + Degraded/Missing is Unhealthy,
 * OutOfSync + Missing is Missing, other OutOfSync stays Modified.
 */
export function withTreeHealth(app: ListedApplication, tree: ResourceTree): ListedApplication {
  const status = app.status;
  if (!status?.resources) return app;
  const health = healthFromTree(tree);
  return {
    ...app,
    status: {
      ...status,
      resources: status.resources.map((r) => {
        if (r.health !== undefined) return r;
        const h = health.get(resourceKey(r.group, r.kind, r.namespace, r.name));
        return h === undefined ? r : { ...r, health: h };
      }),
    },
  };
}

/**
 * When an app's tree could not be read, its snapshot still speaks for its sync drift, not for
 * health-derived states: an Unhealthy or Missing finding found by an earlier poll stays as it is.
 */
const WITHOUT_TREE_COVERS: NonNullable<Signal['covers']> = { states: ['Modified', 'Extraneous'] };

/** The list scopes of one poll: one per app namespace, or one of every enabled namespace. */
export function listScopes(filters: PollFilters): ApplicationFilters[] {
  const common: ApplicationFilters = {
    ...(filters.projects.length > 0 ? { projects: filters.projects } : {}),
    ...(filters.selector !== undefined ? { selector: filters.selector } : {}),
  };
  return filters.appNamespaces.length === 0 ? [common] : filters.appNamespaces.map((appNamespace) => ({ ...common, appNamespace }));
}

const ownerKey = (o: OwnerRef): string => `${o.namespace}/${o.name}`;
const ownerOf = (app: { metadata: { name: string; namespace?: string | undefined } }): OwnerRef => ({ kind: 'Application', namespace: app.metadata.namespace ?? '', name: app.metadata.name });
const message = (err: unknown): string => ((err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '').slice(0, 500);

/** What a poll remembers of an app, to resolve it if it vanishes. */
interface Seen {
  owner: OwnerRef;
  observedAt: number;
}

export function startArgoCdPoller(opts: ArgoCdPollerOptions): ArgoCdPoller {
  if (!(opts.intervalMs > 0)) throw new Error('the Argo CD poll interval must be > 0 (0 means polling off: do not start the poller)');
  const now = opts.now ?? Date.now;
  const delay = opts.delay ?? sleep;
  const random = opts.random ?? Math.random;
  const backoff = opts.backoff ?? { baseMs: Math.min(5_000, opts.intervalMs), maxMs: Math.max(300_000, opts.intervalMs) };
  const unreadyAfterMs = opts.unreadyAfterMs ?? Math.max(3 * opts.intervalMs, 120_000);
  const concurrency = Math.max(1, opts.concurrency ?? 4);
  const scopes = listScopes(opts.filters);
  const log = opts.log.child({ component: 'argocd-poll' });
  const abort = new AbortController();
  // Per scope (its appNamespace, '' for all): the apps the last successful list of it returned.
  const previous = new Map<string, Map<string, Seen>>();
  // Scopes whose last list came back empty after a non-empty one (see vanishedOf).
  const emptiedOnce = new Set<string>();
  let stopped = false;
  let failures = 0;
  let failingSince: number | undefined;
  let lastError: string | undefined;
  let lastSuccessAt: number | undefined;
  let authFailed = false;

  /** The signal of one listed app, with its tree's health when it needs it. */
  async function signalOf(app: ListedApplication, at: number, result: PollResult): Promise<Signal> {
    const ctx = { cluster: opts.cluster, source: 'argocd-api' as const, now: at };
    if (!needsResourceTree(app)) return applicationToSignal(app, ctx);
    const ref = { name: app.metadata.name, ...(app.metadata.namespace ? { namespace: app.metadata.namespace } : {}), project: app.spec?.project || 'default' };
    try {
      const tree = await opts.api.resourceTree(ref);
      result.trees++;
      return applicationToSignal(withTreeHealth(app, tree), ctx);
    } catch (err) {
      // A 401 here means the token went bad mid-poll: the whole poll is unauthorized.
      if (err instanceof ArgoCdAuthError && err.kind === 'unauthorized') throw err;
      result.errors.push(`${ownerKey(ownerOf(app))}: ${message(err)}`);
      log.warn({ app: ownerKey(ownerOf(app)), error: message(err) }, 'resource tree read failed; health-derived findings of this app kept as they are');
      return { ...applicationToSignal(app, ctx), covers: WITHOUT_TREE_COVERS };
    }
  }

  /** Runs `job` over `items`, `concurrency` at a time; the first thrown error is rethrown at the end. */
  async function eachBounded<T>(items: readonly T[], job: (item: T) => Promise<void>): Promise<void> {
    let next = 0;
    let fatal: unknown;
    const worker = async (): Promise<void> => {
      while (next < items.length && !stopped && fatal === undefined) {
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

  async function ingestOne(signal: Signal, result: PollResult): Promise<void> {
    let outcome: IngestOutcome;
    try {
      outcome = await opts.ingest(signal);
    } catch (err) {
      result.errors.push(`${ownerKey(signal.owner)}: ingest: ${message(err)}`);
      log.warn({ app: ownerKey(signal.owner), error: message(err) }, 'ingest of a polled app failed');
      return;
    }
    result.signals++;
    if (outcome.outcome === 'tracked') {
      result.discovered++;
      log.info({ app: ownerKey(signal.owner), findings: outcome.findings }, 'polled app changed tracked state');
    }
  }

  /**
   * Empty snapshots for the apps of `before` that `seen` lacks. A list that comes back empty after
   * a non-empty one is taken at its word only the second time in a row: Argo CD answers an empty
   * list (not a 403) to an account that lost its RBAC, and resolving every alert on that would be
   * wrong.
   */
  function vanishedOf(scopeKey: string, before: Map<string, Seen> | undefined, seen: Map<string, Seen>, at: number): Signal[] | undefined {
    if (before === undefined || before.size === 0) return [];
    if (seen.size === 0 && !emptiedOnce.has(scopeKey)) {
      emptiedOnce.add(scopeKey);
      return undefined;
    }
    emptiedOnce.delete(scopeKey);
    const out: Signal[] = [];
    for (const [key, s] of before) {
      if (seen.has(key)) continue;
      out.push({ source: 'argocd-api', cluster: opts.cluster, owner: s.owner, project: '', destination: {}, observedAt: Math.max(at, s.observedAt), completeness: 'snapshot', resources: [] });
    }
    return out;
  }

  async function poll(): Promise<PollResult> {
    const started = now();
    const result: PollResult = { outcome: 'ok', listed: 0, trees: 0, signals: 0, discovered: 0, vanished: 0, errors: [], durationMs: 0 };
    let failedScopes = 0;
    let unauthorized: ArgoCdApiError | undefined;
    for (const filters of scopes) {
      if (stopped) break;
      const scopeKey = filters.appNamespace ?? '';
      let list;
      try {
        list = await opts.api.listApplications(filters);
      } catch (err) {
        failedScopes++;
        result.errors.push(message(err));
        if (err instanceof ArgoCdAuthError) {
          unauthorized = err;
          break;
        }
        continue;
      }
      const at = now();
      result.listed += list.items.length;
      for (const s of list.skipped) {
        result.errors.push(`skipped app ${s.namespace ?? ''}/${s.name ?? '?'}: ${s.error}`);
        log.warn({ app: `${s.namespace ?? ''}/${s.name ?? '?'}`, error: s.error }, 'listed app does not have the expected shape; left out of this poll');
      }
      const signals: Signal[] = [];
      try {
        await eachBounded(list.items, async (app) => {
          const signal = await signalOf(app, at, result);
          signals.push(signal);
          await ingestOne(signal, result);
        });
      } catch (err) {
        failedScopes++;
        result.errors.push(message(err));
        unauthorized = err instanceof ArgoCdAuthError ? err : undefined;
        break;
      }
      const before = previous.get(scopeKey);
      const seen = new Map<string, Seen>();
      const observed = new Map(signals.map((s) => [ownerKey(s.owner), s.observedAt]));
      for (const app of list.items) {
        const key = ownerKey(ownerOf(app));
        seen.set(key, { owner: ownerOf(app), observedAt: observed.get(key) ?? before?.get(key)?.observedAt ?? 0 });
      }
      // An app skipped for its shape still exists: keep it, so it does not count as vanished.
      for (const s of list.skipped) {
        if (s.name === undefined) continue;
        const key = `${s.namespace ?? ''}/${s.name}`;
        const kept = before?.get(key);
        if (kept) seen.set(key, kept);
      }
      const vanished = vanishedOf(scopeKey, before, seen, at);
      if (vanished === undefined) {
        log.warn({ scope: scopeKey || '(all namespaces)', before: before?.size }, 'Argo CD listed no applications where it listed some before; resolving them only if the next poll agrees (an account that lost RBAC `applications, get` also gets an empty list)');
        continue;
      }
      previous.set(scopeKey, seen);
      result.vanished += vanished.length;
      await eachBounded(vanished, (signal) => ingestOne(signal, result));
    }
    result.durationMs = now() - started;
    result.outcome = unauthorized ? 'unauthorized' : failedScopes > 0 && failedScopes === scopes.length ? 'failed' : result.errors.length > 0 ? 'partial' : 'ok';
    record(result, unauthorized, started);
    return result;
  }

  /** Updates health from a finished poll, logs it, and reports it. */
  function record(result: PollResult, unauthorized: ArgoCdApiError | undefined, started: number): void {
    if (result.outcome === 'failed' || result.outcome === 'unauthorized') {
      failures++;
      failingSince ??= started;
      lastError = result.errors.at(-1) ?? 'poll failed';
      // Sticky until a poll succeeds: a later timeout does not make a rejected token good again.
      if (unauthorized !== undefined) authFailed = true;
      log.warn({ outcome: result.outcome, error: lastError, consecutiveFailures: failures }, 'Argo CD poll failed');
    } else {
      if (failures > 0) log.info({ after: failures }, 'Argo CD poll succeeded again');
      failures = 0;
      failingSince = undefined;
      lastError = undefined;
      authFailed = false;
      lastSuccessAt = now();
      const level = result.outcome === 'ok' && result.discovered === 0 ? 'debug' : 'info';
      log[level]({ outcome: result.outcome, listed: result.listed, trees: result.trees, signals: result.signals, discovered: result.discovered, vanished: result.vanished, errors: result.errors.length, durationMs: result.durationMs }, 'Argo CD poll done');
    }
    if (result.discovered > 0) opts.onDiscovered?.(result.discovered);
    opts.onPoll?.(result.outcome, result);
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
        failures++;
        failingSince ??= now();
        lastError = message(err);
        log.error({ error: lastError }, 'Argo CD poll crashed');
      }
      if (stopped) break;
      await delay(failures > 0 ? backoffDelay(failures - 1, backoff, random) : opts.intervalMs, abort.signal);
    }
  };
  const looping = loop();

  return {
    pollNow,
    health() {
      const longOutage = failingSince !== undefined && now() - failingSince > unreadyAfterMs;
      return {
        ready: !authFailed && !longOutage,
        ...(failingSince !== undefined ? { since: failingSince } : {}),
        ...(lastError !== undefined ? { lastError } : {}),
        ...(lastSuccessAt !== undefined ? { lastSuccessAt } : {}),
        consecutiveFailures: failures,
      };
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      abort.abort();
      await looping;
      await runs.idle();
    },
  };
}
