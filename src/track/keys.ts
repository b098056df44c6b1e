import { createHash, hash } from 'node:crypto';

/**
 * The tracker's Redis key layout, in one place (issue #14). Every key starts with the key prefix
 * (MESHDRIFT_KEY_PREFIX) and a colon; the families below are persisted, so each keeps the exact
 * bytes it had when it was built beside its store (golden tests: test/unit/track/keys.test.ts).
 *
 * | key                                   | type   | what                                            | written by               |
 * |---------------------------------------|--------|-------------------------------------------------|--------------------------|
 * | `<p>:group:<groupKey>`                | hash   | one alert group: version `v`, a field per finding (group-layout.ts) | redis-store.ts (CAS) |
 * | `<p>:owner-groups:<sha256(path)/32>`  | set    | groups holding findings of one owner            | redis-store.ts (CAS)     |
 * | `<p>:groups:active`                   | zset   | groups with firing findings                     | redis-store.ts (CAS)     |
 * | `<p>:groups:known`                    | zset   | every group, scored by key expiry (the bound)   | redis-store.ts (CAS)     |
 * | `<p>:group-version`                   | string | the counter group versions are drawn from       | redis-store.ts (CAS)     |
 * | `<p>:groups:flush-due`                | zset   | groups owing a flush, scored by its due time (ms) or a mover's lease | redis-store.ts (CAS), flush-intents.ts |
 * | `<p>:findings:active:{refs,counts,reconciled}` | hash/hash/string | firing-finding counts and their last rebuild | redis-store.ts |
 * | `<p>:findings:active:rebuild[:refs,:counts,:done,:todo]` | string/hash/hash/set/set | a rebuild in steps (TTL) | active-findings-rebuild.ts |
 * | `<p>:history`                         | list   | recent notifications (the API's history)        | history.ts               |
 * | `<p>:inhibit:sources`                 | hash   | firing findings that may inhibit others         | inhibit-sources.ts       |
 * | `<p>:silences[:ends,:expired,:expired:ends,:version,:indexed]` | hash/zset/… | silences   | silence-store.ts         |
 * | `<p>:epoch`, `<p>:epoch:announced:<id>` | string | the Redis data-loss epoch and its announcement | redis-epoch.ts           |
 *
 * Other families are built by their features: `<p>:receiver:<name>:slack:*` and `<p>:slack:*`
 * (deliver/slack/), `<p>:remediate:*` and `<p>:audit` (remediate/), `<p>:flux:*`
 * (sources/flux/revision-store.ts), `<p>:admission:*` (track/admission-store.ts), `<p>:notification:*`
 * and the BullMQ queues (queue/).
 */

/** One alert group's state. Its prefix (groupKey '') is how the CAS scripts find the other groups. */
export function groupRedisKey(keyPrefix: string, groupKey: string): string {
  return `${keyPrefix}:group:${groupKey}`;
}

/** The set of groups holding findings of one owner (a snapshot must reach all of them); `ownerScopeKey` is model/owner.ts `ownerPath`. */
export function ownerGroupsKey(keyPrefix: string, ownerScopeKey: string): string {
  return `${keyPrefix}:owner-groups:${hash('sha256', ownerScopeKey, 'hex').slice(0, 32)}`;
}

export function activeGroupsKey(keyPrefix: string): string {
  return `${keyPrefix}:groups:active`;
}

/** Every group that exists, scored by when its key expires (epoch s): the bound on groups. */
export function knownGroupsKey(keyPrefix: string): string {
  return `${keyPrefix}:groups:known`;
}

/**
 * The flush intents: every group whose state holds a pending flush, scored by when it is due
 * (epoch ms), written by the same commit as the state (track/flush-intents.ts moves due ones into
 * the flush queue). At most one member per group, so bounded as the groups are.
 */
export function flushDueKey(keyPrefix: string): string {
  return `${keyPrefix}:groups:flush-due`;
}

/** The counter each commit draws the group's next version from. */
export function groupVersionKey(keyPrefix: string): string {
  return `${keyPrefix}:group-version`;
}

/** Where the active-findings bookkeeping lives (track/active-findings.ts). */
export function activeFindingsKeys(keyPrefix: string): { refs: string; counts: string; reconciled: string } {
  return { refs: `${keyPrefix}:findings:active:refs`, counts: `${keyPrefix}:findings:active:counts`, reconciled: `${keyPrefix}:findings:active:reconciled` };
}

/**
 * A rebuild of the active-findings counts in steps (track/active-findings-rebuild.ts): its id
 * (`running`, with a TTL every step renews), the shadow refs and counts it builds, the groups it has
 * read (`done`) and those a commit changed before it read them (`todo`). The CAS script finds them
 * from the refs key: `<refs key minus "refs">rebuild…`.
 */
export function activeFindingsRebuildKeys(keyPrefix: string): { running: string; refs: string; counts: string; done: string; todo: string } {
  const base = `${keyPrefix}:findings:active:rebuild`;
  return { running: base, refs: `${base}:refs`, counts: `${base}:counts`, done: `${base}:done`, todo: `${base}:todo` };
}

export function historyKey(keyPrefix: string): string {
  return `${keyPrefix}:history`;
}

export function inhibitSourcesKey(keyPrefix: string): string {
  return `${keyPrefix}:inhibit:sources`;
}

export function silencesKey(keyPrefix: string): string {
  return `${keyPrefix}:silences`;
}

/** The silence store's keys (track/silence-store.ts says what each holds). */
export function silenceKeys(keyPrefix: string): { active: string; ends: string; expired: string; expiredEnds: string; version: string; indexed: string } {
  const k = silencesKey(keyPrefix);
  return { active: k, ends: `${k}:ends`, expired: `${k}:expired`, expiredEnds: `${k}:expired:ends`, version: `${k}:version`, indexed: `${k}:indexed` };
}

export function epochKey(prefix: string): string {
  return `${prefix}:epoch`;
}

/** Written with SET NX by the one replica that announces the loss that `epoch` replaced. */
export function announcedKey(prefix: string, epoch: string): string {
  return `${prefix}:epoch:announced:${epoch}`;
}

/**
 * One receiver's drift storm of one cause (deliver/storm.ts), all with a TTL refreshed on every
 * touch. `cause` is '' for "too many at once" (the receiver's keys as before causes existed), else
 * `revision:<sha>` or `cluster:<name>`. Per storm: `state` (hash: id, cause, started, last join,
 * version, what was sent), `recent` (zset: groups first told within the window, counted for this
 * cause), `members` (hash: groups the storm tells, with what each says), `sample` (list: a few
 * findings to show). Per receiver: `pending` (hash: groups let through individually, not yet
 * sent), `assigned` (hash: group key → the state key of the storm it is a member of). The storm
 * scripts derive `recent`, `members` and `sample` from `state` (`<state>:recent`, ...). `index`
 * (set) lists every storm's state key for the API.
 */
export function stormKeys(
  keyPrefix: string,
  receiver: string,
  cause = '',
): { state: string; recent: string; pending: string; members: string; sample: string; assigned: string; index: string } {
  const base = `${keyPrefix}:storm:${createHash('sha256').update(receiver).digest('hex').slice(0, 24)}`;
  const state = cause === '' ? base : `${base}:c:${createHash('sha256').update(cause).digest('hex').slice(0, 24)}`;
  return {
    state,
    recent: `${state}:recent`,
    pending: `${base}:pending`,
    members: `${state}:members`,
    sample: `${state}:sample`,
    assigned: `${base}:assigned`,
    index: stormIndexKey(keyPrefix),
  };
}

export function stormIndexKey(keyPrefix: string): string {
  return `${keyPrefix}:storms`;
}
