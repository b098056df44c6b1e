import type { Logger } from '../../log.ts';
import type { Attribution } from '../../model/forensics.ts';
import type { OwnerRef, Signal } from '../../model/signal.ts';
import type { Ingest } from '../../track/ingest.ts';
import type { LiveVersion } from '../../track/admission-store.ts';
import type { SignalQueue } from '../kube/signal-queue.ts';
import type { SlimResult } from '../kube/slim.ts';
import type { WatchHandlers } from '../kube/watch.ts';
import { notInEffect } from './effect.ts';
import { ignoreOf, type AppFacts } from '../argocd/app-index.ts';
import { helmIgnoredPointers, type HelmIgnoreRule } from '../flux/drift-ignore.ts';
import { firstSight, nextVersion, type EvidenceSettings, type ObjectMemory, type Outcome } from './evidence.ts';
import { matchesAny, type MeshWatchSettings } from './settings.ts';
import { editSignal, ownerOfObject, refOf, revertSignal, watchStatesSignal, type AppContext, type WatchState } from './signals.ts';
import { cappedMeshObject, slimMeshObject, uidOf, type SlimMeshObject } from './slim.ts';

/**
 * The mesh watch of one cluster (issue #16): what it remembers of each object (evidence.ts), what
 * each new version means, and the signals that follow. Edits and reverts are sent at once, one
 * partial signal each, in order per object; the watch-only states (Shadow, NotInEffect, Unmanaged)
 * are sent as one snapshot per owner, built when it runs, so a burst of changes is one signal.
 */

export interface MeshWatchMetrics {
  /** Objects remembered, per kind (a gauge). */
  objects?(cluster: string, kind: string, count: number): void;
  /** Each watch-seen state sent (Modified, Corrected, Shadow, Unmanaged, NotInEffect). */
  state?(cluster: string, state: string): void;
  /** A version whose comparison failed (left without evidence). */
  diffFailed?(cluster: string): void;
  /** The per-cluster cap was reached (objects kept as identities only). */
  capped?(cluster: string, count: number): void;
}

/**
 * Recent admission records of one object (issue #17), as person attributions; optional. `live`: the
 * version the watch saw, whose persisted records the lookup confirms.
 */
export type AdmissionLookup = (cluster: string, uid: string, since: number, live?: LiveVersion) => Promise<Attribution[]>;

/**
 * The Application that owns an object seen in meshdrift cluster `seenIn`, as the Argo CD watch
 * knows it (sources/argocd/app-index.ts); optional.
 */
export type AppLookup = (seenIn: string, owner: OwnerRef) => AppFacts | undefined;
export type HelmIgnoreLookup = (cluster: string, owner: OwnerRef) => readonly HelmIgnoreRule[];

export interface MeshClusterDeps {
  cluster: string;
  apps?: AppLookup;
  /** The drift-detection ignore rules of a HelmRelease owner (sources/flux/drift-ignore.ts); optional. */
  helmIgnore?: HelmIgnoreLookup;
  settings: MeshWatchSettings;
  ingest: Ingest;
  queue: SignalQueue;
  log: Logger;
  now: () => number;
  metrics?: MeshWatchMetrics;
  admission?: AdmissionLookup;
}

export interface MeshCluster {
  slim(raw: unknown, ref: { group: string; kind: string }): SlimResult<SlimMeshObject>;
  handlers(): WatchHandlers<SlimMeshObject>;
  /** Sends every owner's watch-only snapshot again (after a Redis loss, and periodically). */
  resync(): void;
  /** Objects remembered (not counting those past the cap). */
  size(): number;
}

const ownerKeyOf = (o: OwnerRef): string => `${o.kind}/${o.namespace}/${o.name}`;

interface OwnerEntry {
  owner: OwnerRef;
  uids: Set<string>;
  /** The cluster its last snapshot was filed under (the Argo CD cluster once the app is known). */
  sentAs?: string;
}

const appOf = (deps: MeshClusterDeps, owner: OwnerRef | undefined): AppFacts | undefined =>
  owner === undefined || deps.apps === undefined ? undefined : deps.apps(deps.cluster, owner);

/** The ignore rules of an object's owner: its Argo CD app's ignoreDifferences, its HelmRelease's drift-detection ignore. */
export interface OwnerIgnore {
  app?: AppFacts | undefined;
  helm?: readonly HelmIgnoreRule[] | undefined;
}

const versionOf = (apiVersion: string | undefined): string => apiVersion?.slice(apiVersion.indexOf('/') + 1) ?? '';

/**
 * The evidence settings of one object: the watch's, plus its owner's matching ignore rules (Argo CD
 * jsonPointers and HelmRelease ignore paths left out; Argo CD managedFieldsManagers trusted: their
 * fields are neither drift nor blamed). `jq`: a matching Argo CD rule has jq expressions, which are
 * not evaluated.
 */
export function evidenceFor(base: EvidenceSettings, owner: OwnerIgnore, obj: SlimMeshObject): { evidence: EvidenceSettings; jq: boolean } {
  const ig = owner.app && owner.app.ignore.length > 0 ? ignoreOf(owner.app.ignore, refOf(obj)) : { pointers: [], managers: [], jq: false };
  const helm = owner.helm && owner.helm.length > 0 ? helmIgnoredPointers(owner.helm, { ...refOf(obj), version: versionOf(obj.apiVersion) }) : [];
  if (ig.pointers.length === 0 && ig.managers.length === 0 && helm.length === 0) return { evidence: base, jq: ig.jq };
  const ignorePaths = [...(base.ignorePaths ?? []), ...ig.pointers, ...helm];
  return {
    evidence: {
      gitops: base.gitops,
      ignored: ig.managers.length > 0 ? new Set([...base.ignored, ...ig.managers]) : base.ignored,
      ...(ignorePaths.length > 0 ? { ignorePaths } : {}),
    },
    jq: ig.jq,
  };
}

const ownerIgnoreOf = (deps: MeshClusterDeps, obj: SlimMeshObject): OwnerIgnore => ({
  app: appOf(deps, obj.owner),
  helm: obj.owner === undefined ? undefined : deps.helmIgnore?.(deps.cluster, obj.owner),
});

/** Sends an edit or revert the watch saw on one object, with its people looked up first. */
function emit(deps: MeshClusterDeps, obj: SlimMeshObject, outcome: Outcome): void {
  if (outcome.kind === 'none' || obj.owner === undefined) return;
  const { cluster } = deps;
  const observedAt = deps.now();
  const owner = ownerIgnoreOf(deps, obj);
  const ctx: AppContext = { app: owner.app, jq: evidenceFor(deps.settings.evidence, owner, obj).jq };
  deps.queue.submit(
    `${cluster}/mesh-object/${obj.metadata.uid}`,
    async () => {
      const attribution = await withPersons(deps, obj, outcome.attribution);
      const signal =
        outcome.kind === 'edit'
          ? editSignal(cluster, obj, { changes: outcome.changes, attribution }, observedAt, ctx)
          : revertSignal(cluster, obj, { changes: outcome.changes, attribution, by: outcome.by, at: outcome.at }, observedAt, ctx);
      deps.metrics?.state?.(cluster, signal.resources[0]?.state ?? '');
      await deps.ingest(signal);
    },
    'each',
  );
}

/** The object's next memory (its baseline and evidence) and what the watch makes of the write. */
function remember(deps: MeshClusterDeps, before: ObjectMemory | undefined, obj: SlimMeshObject): { mem: ObjectMemory; outcome: Outcome } {
  // Flux was told not to correct it: what anyone writes is its state, never an edit or shadow drift.
  if (obj.fluxOptOut !== undefined) return { mem: { prev: obj, baseline: obj.body, baselineMasked: obj.masked ?? {}, exact: true }, outcome: { kind: 'none' } };
  const { evidence } = evidenceFor(deps.settings.evidence, ownerIgnoreOf(deps, obj), obj);
  try {
    if (before === undefined || (before.prev.owner === undefined && obj.owner !== undefined)) {
      const mem = firstSight(obj, evidence);
      return { mem, outcome: mem.episode ? { kind: 'edit', attribution: mem.episode.attribution } : { kind: 'none' } };
    }
    return nextVersion(before, obj, evidence);
  } catch (err) {
    deps.metrics?.diffFailed?.(deps.cluster);
    deps.log.warn(
      { kind: obj.ref.kind, namespace: obj.metadata.namespace, name: obj.metadata.name, error: errorText(err) },
      'mesh object comparison failed; kept without evidence',
    );
    return { mem: { prev: obj, baseline: undefined, baselineMasked: {}, exact: false }, outcome: { kind: 'none' } };
  }
}

export function createMeshCluster(deps: MeshClusterDeps): MeshCluster {
  const { cluster, settings, log } = deps;
  const memory = new Map<string, ObjectMemory>();
  const weak = new Map<string, WatchState>();
  const owners = new Map<string, OwnerEntry>();
  const kinds = new Map<string, number>();
  let capWarned = false;
  let cappedCount = 0;

  const countKind = (kind: string, delta: number): void => {
    const n = (kinds.get(kind) ?? 0) + delta;
    kinds.set(kind, n);
    deps.metrics?.objects?.(cluster, kind, n);
  };
  const index = (obj: SlimMeshObject, add: boolean): OwnerEntry => {
    const owner = ownerOfObject(obj);
    const key = ownerKeyOf(owner);
    let entry = owners.get(key);
    if (!entry) owners.set(key, (entry = { owner, uids: new Set() }));
    if (add) entry.uids.add(obj.metadata.uid);
    else entry.uids.delete(obj.metadata.uid);
    return entry;
  };
  const sendSnapshot = (entry: OwnerEntry): void => {
    const app = appOf(deps, entry.owner);
    const as = app?.cluster ?? cluster;
    // Filed under another cluster before (the app became known): that snapshot is emptied there.
    const was = entry.sentAs;
    if (was !== undefined && was !== as) {
      const empty = watchStatesSignal(was, entry.owner, [], deps.now());
      deps.queue.submit(`${cluster}/mesh-as/${was}/${ownerKeyOf(entry.owner)}`, async () => void (await deps.ingest(empty)), 'latest');
    }
    entry.sentAs = as;
    deps.queue.submit(`${cluster}/mesh/${ownerKeyOf(entry.owner)}`, async () => void (await deps.ingest(snapshotOf(entry, app))), 'latest');
  };
  const snapshotOf = (entry: OwnerEntry, app: AppFacts | undefined): Signal => {
    const states: { obj: SlimMeshObject; state: WatchState }[] = [];
    for (const uid of entry.uids) {
      const state = weak.get(uid);
      const obj = memory.get(uid)?.prev;
      if (state && obj) states.push({ obj, state });
    }
    for (const s of states) deps.metrics?.state?.(cluster, s.state.state);
    if (entry.uids.size === 0) owners.delete(ownerKeyOf(entry.owner));
    return watchStatesSignal(cluster, entry.owner, states, deps.now(), { app });
  };
  const seen = (obj: SlimMeshObject): void => {
    if (obj.capped) return;
    const uid = obj.metadata.uid;
    const before = memory.get(uid);
    const { mem, outcome } = remember(deps, memory.get(uid), obj);
    memory.set(uid, mem);
    if (before === undefined) countKind(obj.ref.kind, 1);
    else if (ownerKeyOf(ownerOfObject(before.prev)) !== ownerKeyOf(ownerOfObject(obj))) {
      const old = index(before.prev, false);
      if (weak.delete(uid)) sendSnapshot(old);
    }
    const entry = index(obj, true);
    emit(deps, obj, outcome);
    const state = watchStateOf(obj, mem, settings);
    const was = weak.get(uid);
    if (state === undefined) weak.delete(uid);
    else weak.set(uid, state);
    if (!sameState(was, state)) sendSnapshot(entry);
  };
  const gone = (obj: SlimMeshObject): void => {
    const uid = obj.metadata.uid;
    const mem = memory.get(uid);
    if (!mem) return;
    memory.delete(uid);
    countKind(mem.prev.ref.kind, -1);
    const entry = index(mem.prev, false);
    if (weak.delete(uid)) sendSnapshot(entry);
    else if (entry.uids.size === 0) owners.delete(ownerKeyOf(entry.owner));
  };

  return {
    slim(raw, ref) {
      const uid = uidOf(raw);
      if (uid !== undefined && !memory.has(uid) && memory.size >= settings.maxObjects) {
        cappedCount++;
        deps.metrics?.capped?.(cluster, cappedCount);
        if (!capWarned) {
          capWarned = true;
          log.warn({ max: settings.maxObjects }, 'MESHDRIFT_MESH_MAX_OBJECTS reached in this cluster: further mesh objects are not checked');
        }
        return cappedMeshObject(raw, ref);
      }
      return slimMeshObject(raw, ref, settings.ownership);
    },
    handlers: () => ({ add: seen, update: seen, delete: gone }),
    resync() {
      for (const entry of owners.values()) if ([...entry.uids].some((uid) => weak.has(uid))) sendSnapshot(entry);
    },
    size: () => memory.size,
  };
}

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err)).slice(0, 300);

/** Adds who the admission records name (issue #17) before the tools, when a lookup is given; a failing lookup keeps the tools. */
async function withPersons(deps: MeshClusterDeps, obj: SlimMeshObject, tools: Attribution[]): Promise<Attribution[]> {
  if (!deps.admission) return tools;
  const since = Math.min(...tools.map((t) => t.at ?? deps.now())) - 60_000;
  try {
    const live: LiveVersion = { resourceVersion: obj.metadata.resourceVersion, ...(obj.body === undefined ? {} : { body: JSON.parse(obj.body) as unknown }) };
    const persons = await deps.admission(deps.cluster, obj.metadata.uid, since, live);
    return [...persons, ...tools].slice(0, 5);
  } catch (err) {
    deps.log.warn({ error: errorText(err) }, 'admission records lookup failed; the finding names the field managers only');
    return tools;
  }
}

function sameState(a: WatchState | undefined, b: WatchState | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return a.state === b.state && a.detail === b.detail && JSON.stringify(a.evidence) === JSON.stringify(b.evidence);
}

/** The watch-only state of an object now: not in effect, shadow drift (owned) or unmanaged (not owned), or none. */
export function watchStateOf(obj: SlimMeshObject, mem: ObjectMemory, settings: MeshWatchSettings): WatchState | undefined {
  const effect = notInEffect({
    group: obj.ref.group,
    kind: obj.ref.kind,
    ...(obj.metadata.generation !== undefined ? { generation: obj.metadata.generation } : {}),
    status: obj.status,
  });
  if (obj.owner !== undefined) {
    if (effect) return { state: 'NotInEffect', detail: effect.reason, ...(mem.shadow ? { evidence: mem.shadow } : {}) };
    if (mem.shadow && mem.episode === undefined) {
      const who = mem.shadow.attribution[0];
      return {
        state: 'Shadow',
        detail: `fields Git never set, owned only by ${who ? `${who.who} (a field manager, not a person)` : 'managers outside GitOps'}`,
        evidence: mem.shadow,
      };
    }
    return undefined;
  }
  if (effect) return { state: 'NotInEffect', detail: effect.reason };
  const namespace = obj.metadata.namespace ?? '';
  if (!settings.unmanaged.report || namespace === '' || obj.controlled) return undefined;
  if (matchesAny(settings.unmanaged.ignore, { namespace, kind: obj.ref.kind, name: obj.metadata.name })) return undefined;
  const writers = obj.managers.filter((m) => m.subresource === undefined).sort((a, b) => (b.time ?? 0) - (a.time ?? 0));
  const attribution: Attribution[] = writers.slice(0, 5).map((m) => ({
    kind: 'tool',
    who: m.manager,
    operation: m.operation,
    ...(m.time !== undefined ? { at: m.time } : {}),
    source: 'managedFields',
  }));
  const by = writers[0] ? `; written by ${writers[0].manager} (a field manager, not a person)` : '';
  return { state: 'Unmanaged', detail: `no Argo CD or Flux owner${by}`, evidence: { attribution } };
}
