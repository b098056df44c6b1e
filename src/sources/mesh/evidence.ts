import { MAX_ATTRIBUTIONS, MAX_CHANGES, type Attribution, type ChangeList, type FieldChange } from '../../model/forensics.ts';
import { diffObjects } from '../../model/object-diff.ts';
import { pathsOverlap, type ManagerSummary } from './fields.ts';
import { removePaths, underPointer } from './paths.ts';
import type { SlimMeshObject } from './slim.ts';

/**
 * What one mesh object's new version says (issue #16), pure: who wrote it, what changed against
 * the version its GitOps manager last wrote, and whether that is an edit, a revert or neither.
 *
 * The baseline is the body as the GitOps tool last wrote it: the live body, at a write by GitOps
 * (or ignored) managers only, without the fields only other managers own. At first sight (a list
 * after a start) the same rule gives it, but what those other managers changed cannot be told from
 * what they added: their fields are then reported as owned, without before/after.
 */

export interface EvidenceSettings {
  /** The GitOps tools' field managers. */
  gitops: ReadonlySet<string>;
  /** Managers whose writes are expected (progressive delivery controllers…): neither baseline nor drift. */
  ignored: ReadonlySet<string>;
  /** JSON pointers left out of every comparison (MESHDRIFT_MESH_IGNORE_PATHS, the owner's Argo CD ignoreDifferences). */
  ignorePaths?: readonly string[];
}

/** The watch's memory of one object between two versions. */
export interface ObjectMemory {
  prev: SlimMeshObject;
  /** JSON of the redacted baseline body; undefined when the body was too big to keep. */
  baseline: string | undefined;
  baselineMasked: Record<string, string>;
  /** The baseline comes from a write the watch saw (else: inferred at first sight). */
  exact: boolean;
  /** A watch-seen edit not yet reverted: reported Modified. */
  episode?: { changes?: ChangeList; attribution: Attribution[]; paths: string[] };
  /** Fields Git never set, owned only by other managers (Argo CD leaves them Synced). */
  shadow?: { changes?: ChangeList; attribution: Attribution[] };
}

export type Outcome =
  | { kind: 'none' }
  | { kind: 'edit'; changes?: ChangeList; attribution: Attribution[] }
  | { kind: 'reverted'; changes?: ChangeList; attribution: Attribution[]; by: string; at?: number };

const trusted = (s: EvidenceSettings, manager: string): boolean => s.gitops.has(manager) || s.ignored.has(manager);
const mainResource = (m: ManagerSummary): boolean => m.subresource === undefined;

/** Paths owned by untrusted managers that no trusted manager owns too (or holds an enclosing field of). */
export function untrustedOnlyPaths(managers: readonly ManagerSummary[], s: EvidenceSettings): string[] {
  const trustedPaths = managers.filter((m) => mainResource(m) && trusted(s, m.manager)).flatMap((m) => m.paths);
  const out = new Set<string>();
  for (const m of managers) {
    if (!mainResource(m) || trusted(s, m.manager)) continue;
    for (const p of m.paths) {
      const covered = trustedPaths.some((t) => t === p || (p.startsWith(t) && (p[t.length] === '.' || p[t.length] === '[')));
      if (!covered && !underPointer(p, s.ignorePaths ?? [])) out.add(p);
    }
  }
  return [...out];
}

/** The managers that wrote this version: entries new or with a new time or operation since `prev`. */
export function writersOf(prev: readonly ManagerSummary[], next: readonly ManagerSummary[]): ManagerSummary[] {
  const seen = new Map(prev.filter(mainResource).map((m) => [`${m.manager}\0${m.operation}`, m.time]));
  const writers = next.filter((m) => mainResource(m) && (!seen.has(`${m.manager}\0${m.operation}`) || seen.get(`${m.manager}\0${m.operation}`) !== m.time));
  if (writers.length > 0) return writers;
  // Two writes by one manager within a second keep its time: the newest entry wrote it.
  const newest = Math.max(...next.filter(mainResource).map((m) => m.time ?? 0));
  return next.filter((m) => mainResource(m) && (m.time ?? 0) === newest);
}

function baselineOf(obj: SlimMeshObject, s: EvidenceSettings): { baseline: string | undefined; masked: Record<string, string>; pruned: string[] } {
  const pruned = untrustedOnlyPaths(obj.managers, s);
  const masked = Object.fromEntries(Object.entries(obj.masked ?? {}).filter(([p]) => !pruned.some((q) => pathsOverlap(p, q))));
  if (obj.body === undefined) return { baseline: undefined, masked, pruned };
  if (pruned.length === 0) return { baseline: obj.body, masked, pruned };
  return { baseline: JSON.stringify(removePaths(JSON.parse(obj.body), pruned)), masked, pruned };
}

/** The changes from the baseline to the live body, masked values told by their digests. */
export function changesOf(mem: Pick<ObjectMemory, 'baseline' | 'baselineMasked'>, obj: SlimMeshObject, s: EvidenceSettings): ChangeList | undefined {
  if (mem.baseline === undefined || obj.body === undefined) return undefined;
  const list = diffObjects('snapshot', JSON.parse(mem.baseline), JSON.parse(obj.body), {
    ref: obj.ref,
    ...(s.ignorePaths ? { ignore: s.ignorePaths } : {}),
  });
  const live = obj.masked ?? {};
  const seen = new Set(list.changes.map((c) => c.path));
  const extra: FieldChange[] = [];
  for (const path of new Set([...Object.keys(mem.baselineMasked), ...Object.keys(live)])) {
    if (seen.has(path) || mem.baselineMasked[path] === live[path]) continue;
    extra.push({ path, masked: true });
  }
  const room = MAX_CHANGES - list.changes.length;
  const changes = [...list.changes, ...extra.slice(0, Math.max(0, room))];
  const omitted = (list.omitted ?? 0) + Math.max(0, extra.length - room);
  return omitted > 0 ? { source: 'snapshot', changes, omitted } : { source: 'snapshot', changes };
}

/** The untrusted managers whose fields intersect `paths`, newest first, as tools (never persons). */
export function attributionOf(managers: readonly ManagerSummary[], paths: readonly string[], s: EvidenceSettings): Attribution[] {
  const out: Attribution[] = [];
  for (const m of managers) {
    if (!mainResource(m) || trusted(s, m.manager)) continue;
    const hit = paths.filter((p) => m.paths.some((o) => pathsOverlap(p, o)));
    if (hit.length === 0) continue;
    out.push({
      kind: 'tool',
      who: m.manager,
      operation: m.operation,
      ...(m.time !== undefined ? { at: m.time } : {}),
      source: 'managedFields',
      paths: hit.slice(0, MAX_CHANGES),
    });
  }
  return out.sort((a, b) => (b.at ?? 0) - (a.at ?? 0)).slice(0, MAX_ATTRIBUTIONS);
}

/** The first memory of an object seen for the first time (a list, or a create). */
export function firstSight(obj: SlimMeshObject, s: EvidenceSettings): ObjectMemory {
  const { baseline, masked, pruned } = baselineOf(obj, s);
  const mem: ObjectMemory = { prev: obj, baseline, baselineMasked: masked, exact: false };
  if (pruned.length === 0) return mem;
  const attribution = attributionOf(obj.managers, pruned, s);
  // Argo CD calls such fields Synced (shadow); Flux has not applied since they were written.
  if (obj.owner?.kind === 'Application') mem.shadow = { attribution };
  else mem.episode = { attribution, paths: pruned };
  return mem;
}

/**
 * Whether every change adds a field Git never set: Argo CD's diff does not see those (shadow
 * drift); Flux prunes them at its next apply, so under Flux they are an edit like any other.
 */
export const onlyAdditions = (c: ChangeList | undefined): boolean =>
  c !== undefined && c.changes.length > 0 && c.changes.every((x) => x.before === undefined && !x.masked);

/**
 * A new version of a known object: the memory after it and what it means. An edit by an
 * untrusted manager keeps the baseline; a write by trusted managers only moves it, and closes an
 * open edit episode whose fields are back (reverted).
 */
export function nextVersion(mem: ObjectMemory, obj: SlimMeshObject, s: EvidenceSettings): { mem: ObjectMemory; outcome: Outcome } {
  if (obj.bodyDigest === mem.prev.bodyDigest) return { mem: { ...mem, prev: obj }, outcome: { kind: 'none' } };
  const writers = writersOf(mem.prev.managers, obj.managers);
  const editors = writers.filter((m) => !trusted(s, m.manager));
  if (editors.length > 0) {
    const changes = changesOf(mem, obj, s);
    const paths = changes?.changes.map((c) => c.path) ?? untrustedOnlyPaths(obj.managers, s);
    let attribution = attributionOf(obj.managers, paths, s);
    if (attribution.length === 0) attribution = editors.slice(0, MAX_ATTRIBUTIONS).map((m) => toolOf(m));
    if (changes !== undefined && changes.changes.length === 0) {
      // Back to the baseline by hand (or ignored paths only): the baseline stays the GitOps write, never
      // recomputed from this version, whose fields the editor now owns (a whole `spec.http` after a
      // list edit); an open edit is reverted by the editor.
      const next: ObjectMemory = { ...mem, prev: obj };
      delete next.shadow;
      delete next.episode;
      return { mem: next, outcome: mem.episode === undefined ? { kind: 'none' } : revertedBy(mem.episode, editors) };
    }
    const next: ObjectMemory = { ...mem, prev: obj };
    delete next.shadow;
    delete next.episode;
    if (onlyAdditions(changes) && obj.owner?.kind === 'Application') next.shadow = { ...(changes ? { changes } : {}), attribution };
    else next.episode = { ...(changes ? { changes } : {}), attribution, paths };
    return { mem: next, outcome: next.episode ? { kind: 'edit', ...(changes ? { changes } : {}), attribution } : { kind: 'none' } };
  }
  return close(mem, obj, s, writers);
}

function toolOf(m: ManagerSummary): Attribution {
  return { kind: 'tool', who: m.manager, operation: m.operation, ...(m.time !== undefined ? { at: m.time } : {}), source: 'managedFields' };
}

/** A write by trusted managers (or an edit back to the baseline): the baseline moves; an open episode whose fields are back is reverted. */
function close(mem: ObjectMemory, obj: SlimMeshObject, s: EvidenceSettings, writers: readonly ManagerSummary[]): { mem: ObjectMemory; outcome: Outcome } {
  const { baseline, masked, pruned } = baselineOf(obj, s);
  const next: ObjectMemory = { prev: obj, baseline, baselineMasked: masked, exact: true };
  if (pruned.length > 0) {
    const changes = changesOf(next, obj, s);
    next.shadow = { ...(changes ? { changes } : {}), attribution: attributionOf(obj.managers, pruned, s) };
  }
  const episode = mem.episode;
  if (episode === undefined) return { mem: next, outcome: { kind: 'none' } };
  const stillDiffers = pruned.some((p) => episode.paths.some((q) => pathsOverlap(p, q)));
  if (stillDiffers) return { mem: { ...next, episode }, outcome: { kind: 'none' } };
  return { mem: next, outcome: revertedBy(episode, writers) };
}

/** The end of an edit episode: its evidence, by whom and when. */
function revertedBy(episode: NonNullable<ObjectMemory['episode']>, writers: readonly ManagerSummary[]): Outcome {
  const by = writers.map((w) => w.manager).join(', ') || 'a GitOps manager';
  const at = Math.max(...writers.map((w) => w.time ?? 0));
  return { kind: 'reverted', ...(episode.changes ? { changes: episode.changes } : {}), attribution: episode.attribution, by, ...(at > 0 ? { at } : {}) };
}
