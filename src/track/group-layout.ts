import type { GroupLabels, Notification, TrackedFinding } from '../model/alert-group.ts';
import { ownerPath } from '../model/owner.ts';
import type { LastTold, SignalView } from './decide.ts';
import { groupStateSchema, type GroupState, type SnapshotRecord, type Timing } from './group-state.ts';

/**
 * How one alert group is laid out in its Redis hash (`<p>:group:<groupKey>`, issue #15): each
 * finding its own field, so a signal reads and writes only the findings it names (and, for a
 * snapshot, its owner's), never the whole group. Only a flush, the API and the rebuild of the
 * counts read a group whole.
 *
 * | field        | what                                                                         |
 * |--------------|------------------------------------------------------------------------------|
 * | `v`          | version, checked by the compare-and-set (track/redis-scripts.ts)             |
 * | `m`          | {@link GroupMeta}: everything but the findings, the owners and the last notification |
 * | `n`          | the last notification (read by a flush only)                                 |
 * | `f:<fp>`     | one tracked finding                                                          |
 * | `o:<owner>`  | {@link OwnerEntry}: the owner's last snapshot and its findings' fingerprints |
 * | `s`          | the whole state as one JSON value: the layout before issue #15. A group      |
 * |              | stored so is read as it is and rewritten in this layout by its next commit;  |
 * |              | a group in this layout holds {@link LEGACY_MARKER} there, which an older     |
 * |              | replica refuses loudly (its schema check fails: an error, retried) instead   |
 * |              | of reading the group as absent.                                              |
 *
 * An owner's fingerprint list may name findings a flush has dropped since: the next signal of that
 * owner reads them as absent and rewrites the list without them (flushes never touch `o:`).
 */

export const META_FIELD = 'm';
export const NOTIFICATION_FIELD = 'n';
export const LEGACY_FIELD = 's';
export const LEGACY_MARKER = '{"v":2,"layout":"per-finding fields (issue 15): read by meshdrift >= that version"}';

export const findingField = (fingerprint: string): string => `f:${fingerprint}`;
export const ownerField = (owner: string): string => `o:${owner}`;

export interface GroupMeta {
  v: 2;
  groupKey: string;
  createdAt: number;
  labels: GroupLabels;
  timing: Timing;
  firstSeen: number;
  flushSeq: number;
  pendingFlush: { seq: number; dueAt: number } | null;
  handledFlushSeq: number;
  /** When the last notification went out and whether it said firing or resolved (what a signal needs of it). */
  last: LastTold | null;
  /** Findings stored (`f:` fields). */
  size: number;
  /** Of them, firing. */
  firing: number;
}

export interface OwnerEntry {
  /** The owner's last accepted snapshot (absent until it sends one). */
  r?: SnapshotRecord;
  /** Fingerprints of the owner's findings in this group (may name dropped ones: see above). */
  fps: string[];
}

/**
 * A group as a batch of signals sees it (track/redis-store.ts): its meta, and only the findings and
 * owner entries it read (an owner without an entry reads as `{ fps: [] }`).
 */
export interface PartialGroup {
  meta: GroupMeta;
  view: SignalView;
  owners: ReadonlyMap<string, OwnerEntry>;
}

export function metaOf(
  state: Omit<GroupState, 'findings' | 'snapshots' | 'snapshotRecords' | 'lastNotification'> & { lastNotification: LastTold | null },
  size: number,
  firing: number,
): GroupMeta {
  const last = state.lastNotification;
  return {
    v: 2,
    groupKey: state.groupKey,
    createdAt: state.createdAt,
    labels: state.labels,
    timing: state.timing,
    firstSeen: state.firstSeen,
    flushSeq: state.flushSeq,
    pendingFlush: state.pendingFlush,
    handledFlushSeq: state.handledFlushSeq,
    last: last === null ? null : { status: last.status, at: last.at },
    size,
    firing,
  };
}

const countFiring = (findings: Record<string, TrackedFinding>): number => Object.values(findings).filter((f) => f.status === 'firing').length;

/** The group-state fields kept in the meta record, with what was read beside it. */
function stateFromMeta<L>(
  meta: GroupMeta,
  findings: Record<string, TrackedFinding>,
  snapshotRecords: Record<string, SnapshotRecord>,
  lastNotification: L,
): Omit<GroupState, 'lastNotification'> & { lastNotification: L } {
  return {
    v: 1,
    groupKey: meta.groupKey,
    createdAt: meta.createdAt,
    labels: meta.labels,
    timing: meta.timing,
    findings,
    firstSeen: meta.firstSeen,
    snapshots: Object.fromEntries(Object.entries(snapshotRecords).map(([owner, r]) => [owner, r.at])),
    snapshotRecords,
    flushSeq: meta.flushSeq,
    pendingFlush: meta.pendingFlush,
    handledFlushSeq: meta.handledFlushSeq,
    lastNotification,
  };
}

/** The decision's view of a group from its meta, the findings and the owner entries read (firing findings left unread say so). */
export function viewOf(meta: GroupMeta, findings: Record<string, TrackedFinding>, owners: ReadonlyMap<string, OwnerEntry>): SignalView {
  const records: Record<string, SnapshotRecord> = {};
  for (const [owner, entry] of owners) if (entry.r) records[owner] = entry.r;
  return { ...stateFromMeta(meta, findings, records, meta.last), firingUnread: meta.firing > countFiring(findings) };
}

/** A state before issue #15 (field `s`), checked against its schema: a state it cannot read is an error. */
export function parseLegacyGroup(groupKey: string, json: string): GroupState {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new Error(`group ${groupKey}: stored state is not JSON`);
  }
  const parsed = groupStateSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(
      `group ${groupKey}: stored state is not in the expected format (${parsed.error.issues[0]?.path.join('.') ?? '?'}: ${parsed.error.issues[0]?.message ?? ''})`,
    );
  }
  return parsed.data;
}

/**
 * A whole group from its hash (HGETALL), in either layout; null when there is none. Fields of this
 * layout were written by meshdrift itself and are not validated again; the legacy value is.
 */
export function assembleGroup(groupKey: string, hash: Record<string, string>): GroupState | null {
  const metaJson = hash[META_FIELD];
  if (metaJson === undefined) {
    const legacy = hash[LEGACY_FIELD];
    return legacy === undefined ? null : parseLegacyGroup(groupKey, legacy);
  }
  const meta = JSON.parse(metaJson) as GroupMeta;
  const findings: Record<string, TrackedFinding> = {};
  const snapshotRecords: Record<string, SnapshotRecord> = {};
  for (const [field, value] of Object.entries(hash)) {
    if (field.startsWith('f:')) findings[field.slice(2)] = JSON.parse(value) as TrackedFinding;
    else if (field.startsWith('o:')) {
      const entry = JSON.parse(value) as OwnerEntry;
      if (entry.r) snapshotRecords[field.slice(2)] = entry.r;
    }
  }
  const n = hash[NOTIFICATION_FIELD];
  return stateFromMeta(meta, findings, snapshotRecords, n === undefined ? null : (JSON.parse(n) as Notification));
}

/**
 * Every field of a whole state in this layout (a group migrated from `s`, or written whole): the
 * field/value pairs to set. Owners come from the findings and the snapshot records.
 */
export function allFields(state: GroupState): Array<[string, string]> {
  const owners = new Map<string, OwnerEntry>();
  const entry = (owner: string): OwnerEntry => {
    let e = owners.get(owner);
    if (!e) owners.set(owner, (e = { fps: [] }));
    return e;
  };
  for (const [owner, at] of Object.entries(state.snapshots)) entry(owner).r = state.snapshotRecords?.[owner] ?? { at, observed: false };
  for (const [owner, r] of Object.entries(state.snapshotRecords ?? {})) entry(owner).r = r;
  for (const f of Object.values(state.findings)) entry(ownerPath(f)).fps.push(f.fingerprint);
  const fields: Array<[string, string]> = [[META_FIELD, JSON.stringify(metaOf(state, Object.keys(state.findings).length, countFiring(state.findings)))]];
  for (const [fp, f] of Object.entries(state.findings)) fields.push([findingField(fp), JSON.stringify(f)]);
  for (const [owner, e] of owners) fields.push([ownerField(owner), JSON.stringify(e)]);
  if (state.lastNotification) fields.push([NOTIFICATION_FIELD, JSON.stringify(state.lastNotification)]);
  fields.push([LEGACY_FIELD, LEGACY_MARKER]);
  return fields;
}

/**
 * The fields a flush changes between two whole states of this layout: findings set or dropped (and
 * dropped ones taken out of their owner's entry, read from `hash`: an owner that sends only
 * partial signals never prunes its own), the last notification, the meta. '' as a value drops the
 * field.
 */
export function flushFields(prev: GroupState, next: GroupState, hash: Record<string, string>): Array<[string, string]> {
  const fields: Array<[string, string]> = [[META_FIELD, JSON.stringify(metaOf(next, Object.keys(next.findings).length, countFiring(next.findings)))]];
  for (const [fp, f] of Object.entries(next.findings)) if (prev.findings[fp] !== f) fields.push([findingField(fp), JSON.stringify(f)]);
  const dropped = new Set(Object.keys(prev.findings).filter((fp) => !(fp in next.findings)));
  for (const fp of dropped) fields.push([findingField(fp), '']);
  if (dropped.size > 0) {
    for (const [field, value] of Object.entries(hash)) {
      if (!field.startsWith('o:')) continue;
      const entry = JSON.parse(value) as OwnerEntry;
      const fps = entry.fps.filter((fp) => !dropped.has(fp));
      if (fps.length === entry.fps.length) continue;
      fields.push([field, JSON.stringify(entry.r ? { r: entry.r, fps } : { fps })]);
    }
  }
  if (next.lastNotification !== prev.lastNotification)
    fields.push([NOTIFICATION_FIELD, next.lastNotification === null ? '' : JSON.stringify(next.lastNotification)]);
  return fields;
}

/**
 * The fields a batch of signals changes: the findings they set (by identity: the decision keeps
 * unchanged ones as they were), each owner's entry when its record or fingerprints changed, and the
 * meta with the counts moved by what changed. `ownersRead`: owners all of whose findings that still
 * exist are in `prev` (a snapshot read them), so fingerprints it lacks are gone. Every owner whose
 * findings changed is in `prev.owners` (read with the group) or the group is new.
 */
export function signalFields(
  prev: PartialGroup | null,
  next: SignalView,
  owners: Iterable<string>,
  ownersRead: ReadonlySet<string>,
): { fields: Array<[string, string]>; meta: GroupMeta } {
  const before = prev?.view.findings ?? {};
  let size = prev?.meta.size ?? 0;
  let firing = prev?.meta.firing ?? 0;
  const fields: Array<[string, string]> = [];
  // Per owner: the fingerprints it holds and whether they changed. Only a read of all the owner's
  // findings (a snapshot) can tell which fingerprints are gone.
  const entries = new Map<string, { known: Set<string>; changed: boolean }>();
  for (const owner of owners) {
    const fps = prev?.owners.get(owner)?.fps ?? [];
    const known = new Set(ownersRead.has(owner) ? fps.filter((fp) => fp in before) : fps);
    entries.set(owner, { known, changed: known.size !== fps.length });
  }
  for (const [fp, f] of Object.entries(next.findings)) {
    const old = before[fp];
    if (old === f) continue;
    fields.push([findingField(fp), JSON.stringify(f)]);
    if (old === undefined) size++;
    firing += (f.status === 'firing' ? 1 : 0) - (old?.status === 'firing' ? 1 : 0);
    const entry = entries.get(ownerPath(f));
    if (entry !== undefined && !entry.known.has(fp)) {
      entry.known.add(fp);
      entry.changed = true;
    }
  }
  for (const [owner, { known, changed }] of entries) {
    const record = next.snapshotRecords?.[owner];
    const old = prev?.owners.get(owner)?.r;
    const recordChanged = record !== undefined && (old === undefined || old.at !== record.at || old.observed !== record.observed);
    if (!changed && !recordChanged) continue;
    const entry: OwnerEntry = { fps: [...known] };
    const r = record ?? old;
    if (r) entry.r = r;
    fields.push([ownerField(owner), JSON.stringify(entry)]);
  }
  const meta = metaOf(next, size, firing);
  fields.unshift([META_FIELD, JSON.stringify(meta)]);
  if (prev === null) fields.push([LEGACY_FIELD, LEGACY_MARKER]);
  return { fields, meta };
}
