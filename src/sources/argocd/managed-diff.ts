import type { Logger } from '../../log.ts';
import { firstLineOf } from '../../model/error-message.ts';
import type { ChangeList } from '../../model/forensics.ts';
import { parseJson } from '../../model/json.ts';
import { diffObjects } from '../../model/object-diff.ts';
import type { ResourceState, Signal } from '../../model/signal.ts';
import type { ApplicationRef, ArgoCdApi, IgnoreDifference, ListedApplication, ManagedResource } from './api.ts';

/**
 * What changed on an OutOfSync mesh resource, from Argo CD itself (issue #16): for each drifted
 * (`Modified`) resource of a mesh kind, `GET /api/v1/applications/{name}/managed-resources`
 * narrowed to that resource, then a field-level diff of `predictedLiveState` (before: what the
 * object becomes when Argo CD syncs it, i.e. what Git wants, merged as Argo CD would apply it) to
 * `normalizedLiveState` (after: live, with Argo CD's normalizations and the app's
 * `ignoreDifferences` applied). This is the pair Argo CD's own UI diff shows
 * (ui/.../application-resources-diff.tsx). The app's `ignoreDifferences` JSON pointers are also
 * passed to the diff, for the rare field one side kept.
 *
 * Bounded: at most `maxFetchesPerPoll` requests per poll (the rest wait for the next poll), each
 * with its own time-out and size limit. Cached per app, resource and Git revision, valid until
 * Argo CD reconciles the app again (`status.reconciledAt`, when Argo CD refreshes its cache of
 * these states) and re-used without a new diff while the live `resourceVersion` is unchanged: a
 * steady drift costs at most one request per Argo CD reconcile, not one per poll. A failure leaves
 * the resource without `changes` (counted, logged at debug) and never holds back the signal.
 */

/** How one drifted resource got (or did not get) its changes, for `meshdrift_argocd_diff_fetches_total{outcome}`. */
export const DIFF_FETCH_OUTCOMES = ['fetched', 'cached', 'failed', 'absent', 'budget'] as const;
export type DiffFetchOutcome = (typeof DIFF_FETCH_OUTCOMES)[number];

export interface ManagedDiffOptions {
  api: Pick<ArgoCdApi, 'managedResources'>;
  /** Whether a group/kind is a mesh kind (classify/catalog.ts): only those are diffed. */
  isMeshKind: (group: string, kind: string) => boolean;
  /** Most managed-resources requests per poll; 0 turns the diff off. */
  maxFetchesPerPoll: number;
  log: Logger;
  /** Time-out of each request (default 10 s). */
  timeoutMs?: number;
  /** Largest answer accepted (default api.ts DEFAULT_MAX_MANAGED_BYTES). */
  maxBytes?: number;
  /** Most cached resources (default 5,000); the oldest go first. */
  maxCacheEntries?: number;
  /** How long an entry holds when the app has no `reconciledAt` (default 10 min). */
  maxAgeMs?: number;
  onOutcome?: (outcome: DiffFetchOutcome) => void;
  now?: () => number;
}

/** The requests one poll may still make; shared by the apps of that poll. */
export interface DiffBudget {
  left: number;
}

export interface ManagedDiff {
  /** A fresh budget for one poll. */
  budget(): DiffBudget;
  /** The signal with `changes` on its drifted mesh resources (the same signal when there is nothing to add). */
  withChanges(app: ListedApplication, signal: Signal, budget: DiffBudget): Promise<Signal>;
}

interface Entry {
  revision: string;
  reconciledAt: string | undefined;
  fetchedAt: number;
  resourceVersion: string | undefined;
  changes: ChangeList | undefined;
}

const DEFAULT_TIMEOUT_MS = 10_000;
const DEFAULT_MAX_ENTRIES = 5_000;
const DEFAULT_MAX_AGE_MS = 10 * 60_000;

const resourceKey = (app: ListedApplication, r: ResourceState): string =>
  JSON.stringify([app.metadata.namespace ?? '', app.metadata.name, r.group, r.kind, r.namespace, r.name]);

/** The JSON pointers of the app's ignoreDifferences entries that match this resource. */
export function ignoredPointers(list: readonly IgnoreDifference[] | undefined, r: Pick<ResourceState, 'group' | 'kind' | 'namespace' | 'name'>): string[] {
  const out: string[] = [];
  for (const d of list ?? []) {
    if ((d.group ?? '') !== r.group || d.kind !== r.kind) continue;
    if (d.name !== undefined && d.name !== '' && d.name !== r.name) continue;
    if (d.namespace !== undefined && d.namespace !== '' && d.namespace !== r.namespace) continue;
    out.push(...(d.jsonPointers ?? []));
  }
  return out;
}

/** The item of an answer that is this resource (the server narrows by kind, namespace and name; an empty group matches any). */
function itemOf(items: readonly ManagedResource[], r: ResourceState): ManagedResource | undefined {
  return items.find((i) => (i.group ?? '') === r.group && i.kind === r.kind && (i.namespace ?? '') === r.namespace && i.name === r.name);
}

/** before: predicted live (what a sync makes it); after: normalized live. Undefined when either state is missing or not an object. */
export function changesOf(item: ManagedResource, r: ResourceState, ignore: readonly string[]): ChangeList | undefined {
  const before = parseJson(item.predictedLiveState ?? '');
  const after = parseJson(item.normalizedLiveState ?? '');
  const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isObject(before) || !isObject(after)) return undefined;
  return diffObjects('argocd-managed-resources', before, after, { ref: { group: r.group, kind: r.kind }, ignore });
}

export function createManagedDiff(opts: ManagedDiffOptions): ManagedDiff {
  const cache = new Map<string, Entry>();
  const now = opts.now ?? Date.now;
  const maxEntries = opts.maxCacheEntries ?? DEFAULT_MAX_ENTRIES;
  const maxAgeMs = opts.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
  const count = (o: DiffFetchOutcome): void => opts.onOutcome?.(o);

  const fresh = (e: Entry, revision: string, reconciledAt: string | undefined): boolean =>
    e.revision === revision && e.reconciledAt === reconciledAt && (reconciledAt !== undefined || now() - e.fetchedAt < maxAgeMs);

  function remember(key: string, entry: Entry): void {
    cache.delete(key);
    cache.set(key, entry);
    while (cache.size > maxEntries) cache.delete(cache.keys().next().value as string);
  }

  /** One resource's changes: from the cache, or one request (when the budget allows). */
  async function changesFor(app: ListedApplication, r: ResourceState, budget: DiffBudget): Promise<ChangeList | undefined> {
    const key = resourceKey(app, r);
    const revision = app.status?.sync?.revision ?? app.status?.sync?.revisions?.join(',') ?? '';
    const reconciledAt = app.status?.reconciledAt;
    const cached = cache.get(key);
    if (cached !== undefined && fresh(cached, revision, reconciledAt)) return (count('cached'), cached.changes);
    if (budget.left <= 0) return (count('budget'), cached?.revision === revision ? cached.changes : undefined);
    budget.left--;
    const ref: ApplicationRef = {
      name: app.metadata.name,
      ...(app.metadata.namespace ? { namespace: app.metadata.namespace } : {}),
      project: app.spec?.project || 'default',
    };
    let item: ManagedResource | undefined;
    try {
      const items = await opts.api.managedResources(
        ref,
        { group: r.group, kind: r.kind, namespace: r.namespace, name: r.name },
        { timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, ...(opts.maxBytes !== undefined ? { maxBytes: opts.maxBytes } : {}) },
      );
      item = itemOf(items, r);
    } catch (err) {
      count('failed');
      opts.log.debug(
        { app: `${ref.namespace ?? ''}/${ref.name}`, resource: `${r.group}/${r.kind} ${r.namespace}/${r.name}`, error: firstLineOf(err, 300) },
        'Argo CD managed-resources read failed; the finding has no field changes this time',
      );
      return undefined;
    }
    const base = { revision, reconciledAt, fetchedAt: now() };
    if (item === undefined) return (count('absent'), remember(key, { ...base, resourceVersion: undefined, changes: undefined }), undefined);
    // Same live object at the same revision: the diff cannot differ (Argo CD's cache moved on, the object did not).
    const same = cached !== undefined && cached.revision === revision && item.resourceVersion !== undefined && cached.resourceVersion === item.resourceVersion;
    const changes = same ? cached.changes : changesOf(item, r, ignoredPointers(app.spec?.ignoreDifferences, r));
    count(changes === undefined ? 'absent' : 'fetched');
    remember(key, { ...base, resourceVersion: item.resourceVersion, changes });
    return changes;
  }

  return {
    budget: () => ({ left: Math.max(0, opts.maxFetchesPerPoll) }),
    async withChanges(app, signal, budget) {
      if (opts.maxFetchesPerPoll <= 0) return signal;
      const drifted = signal.resources.filter((r) => r.state === 'Modified' && opts.isMeshKind(r.group, r.kind));
      if (drifted.length === 0) return signal;
      const found = new Map<ResourceState, ChangeList>();
      for (const r of drifted) {
        const changes = await changesFor(app, r, budget);
        if (changes !== undefined && (changes.changes.length > 0 || (changes.omitted ?? 0) > 0)) found.set(r, changes);
      }
      if (found.size === 0) return signal;
      return { ...signal, resources: signal.resources.map((r) => (found.has(r) ? { ...r, changes: found.get(r)! } : r)) };
    },
  };
}
