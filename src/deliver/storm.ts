import type { Redis } from 'ioredis';
import { z } from 'zod';
import { trackedFindingSchema, type Notification, type TrackedFinding } from '../model/alert-group.ts';
import { severitySchema } from '../model/severity.ts';
import { stormIndexKey, stormKeys } from '../track/keys.ts';

/**
 * Drift storms (issue #15): when many groups of one receiver fire for the first time within a
 * short window for one cause (one bad revision, one cluster, or just too many at once), the
 * receiver is told once, by a summary ("1,412 resources in 387 apps drifted in prod-eu after
 * revision abc123, 12 critical"), instead of one message per group that a paced channel would take
 * hours to post.
 *
 * - Every decision is one Lua script over the receiver's storm keys (track/keys.ts stormKeys), so
 *   replicas agree: one opens a storm, each group is a member of one storm or told individually,
 *   never both.
 * - Causes, in order: the group's revision, its cluster, "too many at once" (any group). Each has
 *   its own window count; a group joins the first of its causes whose storm is taking members or
 *   whose count reached the threshold.
 * - A group let through individually but not yet sent (a Slack delivery waiting on the channel's
 *   pacing) joins a storm of its cause when it opens; once a group was told individually, it stays so.
 * - Members' notifications (first, updates, resolve) are not sent one by one: they update the
 *   storm's record, which a chain of `storm` jobs (storm-job.ts) sends as the summary. The groups
 *   themselves are tracked as before (GET /api/v1/alerts); GET /api/v1/storms/{id} lists members.
 * - A storm stops taking members once no new group joined for a window; new groups are then told
 *   individually again. When its last member has resolved, one resolved summary is sent.
 */

/** The owner kind a storm summary carries (its owner's name is the headline): no Slack buttons act on it. */
export const STORM_OWNER_KIND = 'DriftStorm';

export interface StormSettings {
  /** Groups first told within `windowMs` that start a storm; 0 turns storms off. */
  threshold: number;
  windowMs: number;
}

/** How long storm keys live without a touch (a storm outlives no receiver by more). */
export const STORM_TTL_SECONDS = 7 * 24 * 3600;
/** Findings kept to show in a summary: the most severe of each of the first members. */
export const STORM_SAMPLE = 20;
/** Storms listed by GET /api/v1/storms (the newest first). */
export const STORM_API_STORMS = 100;
/** Bounds of a cause's value (a revision or a cluster name) kept in a key and a job. */
const MAX_CAUSE_VALUE = 200;

/** What a storm's members share. */
export type StormCause = { kind: 'revision'; revision: string } | { kind: 'cluster'; cluster: string } | { kind: 'burst' };

/** The cause as a key part: `revision:<sha>`, `cluster:<name>`, or '' ("too many at once", the receiver's keys before causes). */
export function causeToken(c: StormCause): string {
  switch (c.kind) {
    case 'revision':
      return `revision:${c.revision}`;
    case 'cluster':
      return `cluster:${c.cluster}`;
    case 'burst':
      return '';
  }
}

export function causeOfToken(token: string): StormCause {
  if (token.startsWith('revision:')) return { kind: 'revision', revision: token.slice('revision:'.length) };
  if (token.startsWith('cluster:')) return { kind: 'cluster', cluster: token.slice('cluster:'.length) };
  return { kind: 'burst' };
}

const memberSchema = z.object({
  firing: z.number().int().nonnegative(),
  critical: z.number().int().nonnegative(),
  severity: severitySchema,
  cluster: z.string(),
  owner: z.string(),
  tool: z.string(),
  revision: z.string().optional(),
});
/** What a storm keeps of one member group: enough for the summary's counts and its detail. */
export type StormMember = z.infer<typeof memberSchema>;

export function memberOf(n: Notification): StormMember {
  const revisions = n.firing.map((f) => f.revision).filter((r): r is string => r !== undefined && r !== '');
  return {
    firing: n.firing.length,
    critical: n.firing.filter((f) => f.severity === 'critical').length,
    severity: n.severity,
    cluster: n.labels.cluster,
    owner: `${n.labels.cluster}/${n.labels.owner.kind}/${n.labels.owner.namespace}/${n.labels.owner.name}`,
    tool: n.labels.tool,
    ...(revisions[0] === undefined ? {} : { revision: revisions[0] }),
  };
}

/** The causes a group's first notification counts towards, in the order a storm is looked for. */
export function causesOf(m: StormMember): StormCause[] {
  const out: StormCause[] = [];
  if (m.revision !== undefined && m.revision.length <= MAX_CAUSE_VALUE) out.push({ kind: 'revision', revision: m.revision });
  if (m.cluster !== '' && m.cluster.length <= MAX_CAUSE_VALUE) out.push({ kind: 'cluster', cluster: m.cluster });
  out.push({ kind: 'burst' });
  return out;
}

/** `opened`: this delivery opened the storm (`fresh`: just now, not on a retry): queue its first summary. */
export type GateVerdict = { kind: 'individual' } | { kind: 'member'; stormId: string; cause: string; opened: boolean; fresh: boolean };

// Shared by the scripts: a storm's keys derive from its state key S (S:members, S:sample, S:recent).
const LIVE = `
local function live(s)
  local id = redis.call('HGET', s, 'id')
  if id and redis.call('HGET', s, 'ended') == '1' then return false end
  return id
end
`;

// KEYS: pending, assigned, index, then the state key of each candidate cause (the last: "too many at once")
// ARGV: groupKey, reason, status, now, windowMs, threshold, ttlS, member JSON, receiver, sampleMax, #causes,
//       the cause tokens (as many), the sample JSON (0 or 1)
// Returns {verdict, stormId, opened ('0', '1' on a retry of the opener, '2' just now), cause token}
const GATE = `${LIVE}
local pending, assigned, index = KEYS[1], KEYS[2], KEYS[3]
local gk, reason, status = ARGV[1], ARGV[2], ARGV[3]
local now, window, threshold, ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local member, receiver, sampleMax, ncause = ARGV[8], ARGV[9], tonumber(ARGV[10]), tonumber(ARGV[11])
local burst = KEYS[3 + ncause]
local function touch(s)
  for _, k in ipairs({s, s .. ':members', s .. ':sample', pending, assigned}) do redis.call('EXPIRE', k, ttl) end
end
local function fits(cause, json)
  if cause == '' then return true end
  local ok, m = pcall(cjson.decode, json)
  if not ok or type(m) ~= 'table' then return false end
  if string.sub(cause, 1, 9) == 'revision:' then return m.revision == string.sub(cause, 10) end
  if string.sub(cause, 1, 8) == 'cluster:' then return m.cluster == string.sub(cause, 9) end
  return false
end
-- A member already (of a storm of this version, or of the receiver's one storm before causes).
local at = redis.call('HGET', assigned, gk)
if not at and redis.call('HEXISTS', burst .. ':members', gk) == 1 then at = burst end
if at then
  local id = live(at)
  if id and redis.call('HEXISTS', at .. ':members', gk) == 1 then
    if status == 'resolved' then
      -- Not a change the summary tells: the storm's one resolve does, once every member resolved.
      redis.call('HDEL', at .. ':members', gk)
      redis.call('HDEL', assigned, gk)
    else
      redis.call('HSET', at .. ':members', gk, member)
      redis.call('HINCRBY', at, 'version', 1)
    end
    touch(at)
    -- A retry of the delivery that opened the storm makes sure its first summary is queued.
    return {'member', id, (reason == 'first' and redis.call('HGET', at, 'opener') == gk) and '1' or '0', redis.call('HGET', at, 'cause') or ''}
  end
  redis.call('HDEL', assigned, gk)
end
if reason ~= 'first' or status ~= 'firing' then
  redis.call('HDEL', pending, gk)
  return {'individual', '', '0', ''}
end
for i = 1, ncause do
  local r = KEYS[3 + i] .. ':recent'
  redis.call('ZADD', r, now, gk)
  redis.call('ZREMRANGEBYSCORE', r, '-inf', now - window)
  redis.call('PEXPIRE', r, window * 2)
end
for i = 1, ncause do
  local s, cause = KEYS[3 + i], ARGV[11 + i]
  local id = live(s)
  local opened = '0'
  local join = id and now - tonumber(redis.call('HGET', s, 'lastJoin') or '0') <= window
  if not join and redis.call('ZCARD', s .. ':recent') >= threshold then
    join = true
    if not id then
      id = tostring(now) .. '-' .. redis.call('INCR', index .. ':seq')
      redis.call('EXPIRE', index .. ':seq', ttl)
      redis.call('DEL', s, s .. ':members', s .. ':sample')
      redis.call('HSET', s, 'id', id, 'receiver', receiver, 'cause', cause, 'started', now, 'opener', gk, 'version', 0, 'sent', 0, 'joined', 0)
      opened = '2'
      redis.call('SADD', index, s)
      redis.call('EXPIRE', index, ttl)
    end
    -- Groups of this cause let through individually but not sent yet join too.
    local waiting = redis.call('HGETALL', pending)
    for j = 1, #waiting, 2 do
      if waiting[j] ~= gk and fits(cause, waiting[j + 1]) then
        redis.call('HSET', s .. ':members', waiting[j], waiting[j + 1])
        redis.call('HSET', assigned, waiting[j], s)
        redis.call('HDEL', pending, waiting[j])
        redis.call('HINCRBY', s, 'joined', 1)
      end
    end
  end
  if join then
    redis.call('HSET', s .. ':members', gk, member)
    redis.call('HSET', assigned, gk, s)
    redis.call('HDEL', pending, gk)
    redis.call('HSET', s, 'lastJoin', now)
    redis.call('HINCRBY', s, 'joined', 1)
    redis.call('HINCRBY', s, 'version', 1)
    for k = 12 + ncause, #ARGV do
      if redis.call('LLEN', s .. ':sample') >= sampleMax then break end
      redis.call('RPUSH', s .. ':sample', ARGV[k])
    end
    touch(s)
    return {'member', id, opened, cause}
  end
end
redis.call('HSET', pending, gk, member)
redis.call('EXPIRE', pending, ttl)
return {'individual', '', '0', ''}
`;

// A group told individually: no longer waiting, and never a member (it was told on its own).
// KEYS: pending, assigned, the receiver's "too many at once" state. ARGV: groupKey
const TOLD = `
redis.call('HDEL', KEYS[1], ARGV[1])
local at = redis.call('HGET', KEYS[2], ARGV[1]) or KEYS[3]
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('HDEL', at .. ':members', ARGV[1]) == 1 then redis.call('HINCRBY', at, 'version', 1) end
return 1
`;

// Ends a storm whose members have all resolved and which took none for a window.
// KEYS: state. ARGV: stormId, now, windowMs. Returns 1 when ended (now or before), 0 not yet, -1 not this storm.
const END = `
local s = KEYS[1]
if redis.call('HGET', s, 'id') ~= ARGV[1] then return -1 end
if redis.call('HGET', s, 'ended') == '1' then return 1 end
if redis.call('HLEN', s .. ':members') > 0 then return 0 end
if tonumber(ARGV[2]) - tonumber(redis.call('HGET', s, 'lastJoin') or '0') <= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', s, 'ended', '1', 'endedAt', ARGV[2])
return 1
`;

// Moves a field of a storm's state forward only, and only for this storm. KEYS: state. ARGV: stormId, field, value
const FORWARD = `
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return 0 end
if tonumber(redis.call('HGET', KEYS[1], ARGV[2]) or '0') >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
return 1
`;

export interface StormRecord {
  receiver: string;
  id: string;
  cause: StormCause;
  startedAt: number;
  lastJoinAt: number;
  ended: boolean;
  /** Notifications of members recorded (a change makes the next summary worth sending). */
  version: number;
  /** The version the last summary sent said. */
  sentVersion: number;
  /** Detail replies already told under the summary (storm-job.ts). */
  detailParts: number;
  /** Groups that joined over the storm's life. */
  joined: number;
  /** Member groups firing now (all of them; `members` may hold fewer when read with a limit). */
  memberCount: number;
  members: Map<string, StormMember>;
  sample: TrackedFinding[];
}

/** One page of a storm's members (GET /api/v1/storms/{id}). */
export interface StormMemberPage {
  members: Array<[string, StormMember]>;
  /** The cursor of the next page; absent on the last. */
  next?: string;
}

export interface StormStore {
  /** Decides one notification of `receiver`'s group: told individually, or part of a storm. */
  gate(receiver: string, n: Notification, settings: StormSettings): Promise<GateVerdict>;
  /** `groupKey` was told to `receiver` individually. */
  told(receiver: string, groupKey: string): Promise<void>;
  /** The receiver's storm of `cause` (token, see causeToken), with every member; null when none is recorded. */
  read(receiver: string, cause: string): Promise<StormRecord | null>;
  /** Ends the storm if it is over (1), else 0; -1 when `stormId` is not the receiver's storm of `cause`. */
  end(receiver: string, cause: string, stormId: string, now: number, windowMs: number): Promise<-1 | 0 | 1>;
  markSent(receiver: string, cause: string, stormId: string, version: number): Promise<void>;
  markDetail(receiver: string, cause: string, stormId: string, parts: number): Promise<void>;
  /** Every storm still recorded (active or ended, until its keys expire), newest first, at most STORM_API_STORMS, with their members. */
  list(): Promise<StormRecord[]>;
  /** A storm by id, with its members, and where its state is; null when none. */
  byId(id: string): Promise<{ record: StormRecord; stateKey: string } | null>;
  /** A page of a storm's members, about `limit` long (Redis HSCAN), from `cursor` ('0' first). */
  members(stateKey: string, cursor: string, limit: number): Promise<StormMemberPage>;
}

function parseJson<T>(schema: z.ZodType<T>, text: string): T | undefined {
  try {
    const r = schema.safeParse(JSON.parse(text));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** The members of the storm at `stateKey`: all of them (`limit` Infinity), or a count only (0). */
async function readMembers(redis: Redis, stateKey: string, limit: number): Promise<Map<string, StormMember>> {
  const members = new Map<string, StormMember>();
  if (limit === 0) return members;
  let cursor = '0';
  do {
    const [next, flat] = await redis.hscan(`${stateKey}:members`, cursor, 'COUNT', 1000);
    cursor = next;
    for (let i = 0; i + 1 < flat.length && members.size < limit; i += 2) {
      const m = parseJson(memberSchema, flat[i + 1] ?? '');
      if (m) members.set(flat[i] ?? '', m);
    }
  } while (cursor !== '0' && members.size < limit);
  return members;
}

/** The storm recorded at `stateKey`, with up to `memberLimit` members; null when none is. */
async function readStormAt(redis: Redis, stateKey: string, memberLimit: number): Promise<StormRecord | null> {
  const [state, sample, count] = await Promise.all([
    redis.hgetall(stateKey),
    redis.lrange(`${stateKey}:sample`, 0, STORM_SAMPLE - 1),
    redis.hlen(`${stateKey}:members`),
  ]);
  if (state.id === undefined || state.receiver === undefined) return null;
  return {
    receiver: state.receiver,
    id: state.id,
    cause: causeOfToken(state.cause ?? ''),
    startedAt: Number(state.started ?? 0),
    lastJoinAt: Number(state.lastJoin ?? 0),
    ended: state.ended === '1',
    version: Number(state.version ?? 0),
    sentVersion: Number(state.sent ?? 0),
    detailParts: Number(state.detail ?? 0),
    joined: Number(state.joined ?? 0),
    memberCount: count,
    members: await readMembers(redis, stateKey, memberLimit),
    sample: sample.map((s) => parseJson(trackedFindingSchema, s)).filter((f): f is TrackedFinding => f !== undefined),
  };
}

/** The sample finding a member adds: its most severe one, saying whose it is (the sample then spans up to STORM_SAMPLE apps). */
function sampleOf(n: Notification): string[] {
  const lead = n.firing[0];
  if (lead === undefined) return [];
  const { kind, namespace, name } = n.labels.owner;
  const whose = `${kind} ${namespace === '' ? name : `${namespace}/${name}`} on ${n.labels.cluster}${n.firing.length > 1 ? ` (+${n.firing.length - 1} more)` : ''}`;
  return [JSON.stringify({ ...lead, detail: lead.detail === undefined || lead.detail === '' ? whose : `${whose}: ${lead.detail}` })];
}

export function createRedisStormStore(redis: Redis, keyPrefix: string, now: () => number): StormStore {
  const stateOf = (receiver: string, cause: string): string => stormKeys(keyPrefix, receiver, cause).state;
  const forward = async (receiver: string, cause: string, stormId: string, field: string, value: number): Promise<void> => {
    await redis.eval(FORWARD, 1, stateOf(receiver, cause), stormId, field, value);
  };
  /** Every storm recorded, newest first, members not read (an expired one is forgotten). */
  const recorded = async (): Promise<Array<{ key: string; record: StormRecord }>> => {
    const index = stormIndexKey(keyPrefix);
    const out: Array<{ key: string; record: StormRecord }> = [];
    for (const key of await redis.smembers(index)) {
      const record = await readStormAt(redis, key, 0);
      if (record === null) await redis.srem(index, key);
      else out.push({ key, record });
    }
    return out.sort((a, b) => b.record.startedAt - a.record.startedAt);
  };
  const whole = async (key: string): Promise<StormRecord | null> => readStormAt(redis, key, Number.POSITIVE_INFINITY);
  return {
    async gate(receiver, n, settings) {
      const member = memberOf(n);
      const causes = causesOf(member).map(causeToken);
      const k = stormKeys(keyPrefix, receiver);
      const out = (await redis.eval(
        GATE,
        3 + causes.length,
        k.pending,
        k.assigned,
        k.index,
        ...causes.map((c) => stateOf(receiver, c)),
        n.groupKey,
        n.reason,
        n.status,
        now(),
        settings.windowMs,
        settings.threshold,
        STORM_TTL_SECONDS,
        JSON.stringify(member),
        receiver,
        STORM_SAMPLE,
        causes.length,
        ...causes,
        ...sampleOf(n),
      )) as [string, string, string, string];
      return out[0] === 'member' ? { kind: 'member', stormId: out[1], cause: out[3], opened: out[2] !== '0', fresh: out[2] === '2' } : { kind: 'individual' };
    },
    async told(receiver, groupKey) {
      const k = stormKeys(keyPrefix, receiver);
      await redis.eval(TOLD, 3, k.pending, k.assigned, k.state, groupKey);
    },
    read(receiver, cause) {
      return readStormAt(redis, stateOf(receiver, cause), Number.POSITIVE_INFINITY);
    },
    async end(receiver, cause, stormId, at, windowMs) {
      return (await redis.eval(END, 1, stateOf(receiver, cause), stormId, at, windowMs)) as -1 | 0 | 1;
    },
    markSent: (receiver, cause, stormId, version) => forward(receiver, cause, stormId, 'sent', version),
    markDetail: (receiver, cause, stormId, parts) => forward(receiver, cause, stormId, 'detail', parts),
    async list() {
      const shown = (await recorded()).slice(0, STORM_API_STORMS);
      const out: StormRecord[] = [];
      for (const { key } of shown) {
        const r = await whole(key);
        if (r) out.push(r);
      }
      return out;
    },
    async byId(id) {
      const found = (await recorded()).find((r) => r.record.id === id);
      const record = found === undefined ? null : await whole(found.key);
      return found === undefined || record === null ? null : { record, stateKey: found.key };
    },
    async members(stateKey, cursor, limit) {
      const [next, flat] = await redis.hscan(`${stateKey}:members`, cursor, 'COUNT', limit);
      const members: Array<[string, StormMember]> = [];
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const m = parseJson(memberSchema, flat[i + 1] ?? '');
        if (m) members.push([flat[i] ?? '', m]);
      }
      return next === '0' ? { members } : { members, next };
    },
  };
}
