import type { Redis } from 'ioredis';

/**
 * The Lua scripts behind the track store (track/redis-store.ts): the compare-and-set commit of a
 * group, the claim and release of flush intents (track/flush-intents.ts) and the steps of the
 * rebuild of the active-findings counts. Their text is pinned byte for byte by
 * test/unit/track/redis-scripts.test.ts (a replica of another version must run the same script).
 */

// KEYS: group hash, active-groups zset, owner→groups set ('' key unused), active-findings refs
// hash, active-findings counts hash, version counter, known-groups zset, flush-due zset. Versions come from one
// counter per prefix, so they never repeat: a group deleted and re-created cannot reach the version
// a stale reader saw before the delete (an ABA that a per-group count restarting at 1 would let
// through). ARGV: expected version, 'd' to delete the group or '' to write it, ttl s, group key,
// 'add'|'rem' for the zset, zset score, 'add'|'rem'|'' for the owner set, now (s), most groups,
// owner set ttl s, 'set'|'keep' (keep: a key that already expires keeps its deadline), the flush
// intent: 'set' (the group owes the flush due at the next argument, epoch ms), 'nx' (the same, only
// if the group has no member yet: the flush it owes is not new), 'rem' (it owes none) or ''
// (nothing to do), its due time, the number of (field, value) pairs that follow (the group hash fields this commit changes, track/group-layout.ts;
// value '' drops the field), those pairs, the number of further owners and then their (owner set key,
// 'add'|'rem') pairs (a batch of signals of several owners commits once: redis-store.ts), the number
// of marks and then per mark (latest key, seen key, latest value or '', its time, latest ttl s, seen
// ttl s) (redis-store.ts CommitMark: the Flux revision memory and event mark, written as
// sources/flux/revision-store.ts COMMIT_SCRIPT writes them), then
// (fingerprint, severity|mesh|category, +1|-1) per changed firing finding (active-findings.ts). A
// commit writes only the fields it changes: its cost follows the signal, not the group (issue #15).
// The owner index and
// the counts are committed with the state they describe: one round trip, and never out of step with
// it. A reference that goes below zero was never counted (a group written before the counts existed,
// until the reconcile below): it is dropped. So is the flush intent (track/flush-intents.ts): a group
// that owes a flush is in the flush-due zset from the commit that scheduled it, with no window in
// which the state says "pending" and nothing would ever run it; a deleted, evicted or expired group
// leaves it.
//
// Every group key expires (issue #12); the known-groups zset holds each group with its deadline
// (epoch s). Groups past it are dropped from the active and known indexes here, 100 per commit. A
// commit that would create a group when `most groups` are known first drops the resolved group
// closest to its end (returns 2), and returns -1 when every group it looked at is firing.
export const CAS_SCRIPT = `
local cur = redis.call('HGET', KEYS[1], 'v') or '0'
if cur ~= ARGV[1] then return 0 end
local result = 1
local now = tonumber(ARGV[8])
local prefixLen = #KEYS[1] - #ARGV[4]
local groupPrefix = string.sub(KEYS[1], 1, prefixLen)
for _, g in ipairs(redis.call('ZRANGEBYSCORE', KEYS[7], '-inf', now, 'LIMIT', 0, 100)) do
  local left = redis.call('TTL', groupPrefix .. g)
  if left > 0 then
    redis.call('ZADD', KEYS[7], now + left, g)
  elseif left == -1 then
    redis.call('ZADD', KEYS[7], now + tonumber(ARGV[3]), g)
  else
    redis.call('ZREM', KEYS[7], g)
    redis.call('ZREM', KEYS[2], g)
    redis.call('ZREM', KEYS[8], g)
  end
end
if ARGV[2] == 'd' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[7], ARGV[4])
  redis.call('ZREM', KEYS[8], ARGV[4])
else
  if cur == '0' and redis.call('ZSCORE', KEYS[7], ARGV[4]) == false and redis.call('ZCARD', KEYS[7]) >= tonumber(ARGV[9]) then
    -- Full: make room by dropping the resolved group closest to its end (of the 100 closest), if
    -- any: one that is not firing and owes no notification (no pending flush).
    local room = false
    for _, g in ipairs(redis.call('ZRANGE', KEYS[7], 0, 99)) do
      if redis.call('ZSCORE', KEYS[2], g) == false then
        local json = redis.call('HGET', groupPrefix .. g, 'm') or redis.call('HGET', groupPrefix .. g, 's')
        local idle = not json
        if json then
          local ok, st = pcall(cjson.decode, json)
          idle = ok and type(st) == 'table' and (st.pendingFlush == nil or st.pendingFlush == cjson.null)
        end
        if idle then
          redis.call('DEL', groupPrefix .. g)
          redis.call('ZREM', KEYS[7], g)
          redis.call('ZREM', KEYS[8], g)
          room = true
          break
        end
      end
    end
    if not room then return -1 end
    result = 2
  end
  redis.call('HSET', KEYS[1], 'v', tostring(redis.call('INCR', KEYS[6])))
  for i = 15, 14 + 2 * tonumber(ARGV[14]), 2 do
    if ARGV[i + 1] == '' then redis.call('HDEL', KEYS[1], ARGV[i]) else redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
  end
  local left = redis.call('TTL', KEYS[1])
  if ARGV[11] == 'keep' and left > 0 then
    redis.call('ZADD', KEYS[7], now + left, ARGV[4])
  else
    redis.call('EXPIRE', KEYS[1], ARGV[3])
    redis.call('ZADD', KEYS[7], now + tonumber(ARGV[3]), ARGV[4])
  end
  if ARGV[12] == 'set' then
    redis.call('ZADD', KEYS[8], ARGV[13], ARGV[4])
  elseif ARGV[12] == 'nx' then
    redis.call('ZADD', KEYS[8], 'NX', ARGV[13], ARGV[4])
  elseif ARGV[12] == 'rem' then
    redis.call('ZREM', KEYS[8], ARGV[4])
  end
end
if ARGV[5] == 'add' then redis.call('ZADD', KEYS[2], ARGV[6], ARGV[4]) else redis.call('ZREM', KEYS[2], ARGV[4]) end
if ARGV[7] == 'add' then redis.call('SADD', KEYS[3], ARGV[4]) elseif ARGV[7] == 'rem' then redis.call('SREM', KEYS[3], ARGV[4]) end
if ARGV[7] ~= '' then redis.call('EXPIRE', KEYS[3], ARGV[10]) end
local ownersAt = 15 + 2 * tonumber(ARGV[14])
local marksAt = ownersAt + 1 + 2 * tonumber(ARGV[ownersAt])
local deltasAt = marksAt + 1 + 6 * tonumber(ARGV[marksAt])
for i = ownersAt + 1, marksAt - 1, 2 do
  if ARGV[i + 1] == 'add' then redis.call('SADD', ARGV[i], ARGV[4]) else redis.call('SREM', ARGV[i], ARGV[4]) end
  redis.call('EXPIRE', ARGV[i], ARGV[10])
end
for i = marksAt + 1, deltasAt - 1, 6 do
  if ARGV[i + 2] ~= '' then
    local stored = redis.call('GET', ARGV[i])
    local newer = false
    if stored and string.sub(stored, 1, 1) == '{' then
      local ok, v = pcall(cjson.decode, stored)
      if ok and type(v) == 'table' and tonumber(v.t) and tonumber(v.t) > tonumber(ARGV[i + 3]) then newer = true end
    end
    if not newer then redis.call('SET', ARGV[i], ARGV[i + 2], 'EX', ARGV[i + 4]) end
  end
  redis.call('SET', ARGV[i + 1], '1', 'EX', ARGV[i + 5])
end
local function count(refs, counts)
  for i = deltasAt, #ARGV, 3 do
    local field = ARGV[i + 1]
    local ref = ARGV[i] .. '|' .. field
    if ARGV[i + 2] == '1' then
      if redis.call('HINCRBY', refs, ref, 1) == 1 then redis.call('HINCRBY', counts, field, 1) end
    else
      local left = redis.call('HINCRBY', refs, ref, -1)
      if left <= 0 then redis.call('HDEL', refs, ref) end
      if left == 0 and redis.call('HINCRBY', counts, field, -1) <= 0 then redis.call('HDEL', counts, field) end
    end
  end
end
count(KEYS[4], KEYS[5])
-- A rebuild of the counts in steps is under way (active-findings-rebuild.ts): a group it has read,
-- or one this commit creates (its delta is all it holds), follows this commit in the shadow counts;
-- one it has not read is read (again) before it ends.
local rb = string.sub(KEYS[4], 1, #KEYS[4] - 4) .. 'rebuild'
local rbLeft = redis.call('PTTL', rb)
if rbLeft > 0 then
  if cur == '0' and ARGV[2] ~= 'd' then redis.call('SADD', rb .. ':done', ARGV[4]) end
  if redis.call('SISMEMBER', rb .. ':done', ARGV[4]) == 1 then
    count(rb .. ':refs', rb .. ':counts')
    redis.call('PEXPIRE', rb .. ':done', rbLeft)
    redis.call('PEXPIRE', rb .. ':refs', rbLeft)
    redis.call('PEXPIRE', rb .. ':counts', rbLeft)
  else
    redis.call('SADD', rb .. ':todo', ARGV[4])
    redis.call('PEXPIRE', rb .. ':todo', rbLeft)
  end
end
return result
`;

// The rebuild of the active-findings counts in bounded steps (active-findings-rebuild.ts): the
// replica that sets the hourly marker builds shadow refs and counts from the active groups, a
// batch per step, while the CAS above keeps them in step with every commit; the last step swaps
// them in. No step reads more than one batch: Redis is never blocked for long.
//
// Start. KEYS: marker, running, shadow refs, shadow counts, done, todo, active groups. ARGV: every
// s, rebuild id, ttl ms. Returns the number of active groups, or -1 when another run was recent.
export const REBUILD_START_SCRIPT = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return -1 end
redis.call('UNLINK', KEYS[3], KEYS[4], KEYS[5], KEYS[6])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
return redis.call('ZCARD', KEYS[7])
`;

// One step: adds the firing refs (fingerprint|severity|mesh|category) read from groups, each only
// if the group is still at the version they were read at. KEYS: running, shadow refs, shadow
// counts, done, todo. ARGV: id, ttl ms, group key prefix, then per group: group, version ('' =
// gone), last ('1': the group is done after this chunk), n, n refs. Returns {'lost'} when this
// rebuild is no longer the one running, else {'ok', groups that changed since they were read}: those
// go to todo (and a group's earlier chunks are taken back by the caller: REBUILD_UNDO_SCRIPT).
export const REBUILD_STEP_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {'lost'} end
local out = {'ok'}
local i = 4
while i <= #ARGV do
  local g, expected, last, n = ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3])
  local first = i + 4
  i = first + n
  if redis.call('SISMEMBER', KEYS[4], g) == 1 then
    redis.call('SREM', KEYS[5], g)
  elseif (redis.call('HGET', ARGV[3] .. g, 'v') or '') ~= expected then
    redis.call('SADD', KEYS[5], g)
    out[#out + 1] = g
  else
    for j = first, i - 1 do
      local ref = ARGV[j]
      if redis.call('HINCRBY', KEYS[2], ref, 1) == 1 then
        redis.call('HINCRBY', KEYS[3], string.sub(ref, string.find(ref, '|', 1, true) + 1), 1)
      end
    end
    if last == '1' then
      redis.call('SADD', KEYS[4], g)
      redis.call('SREM', KEYS[5], g)
    end
  end
end
for k = 1, 5 do redis.call('PEXPIRE', KEYS[k], ARGV[2]) end
return out
`;

// Takes back refs a step added for a group that changed before its last chunk. KEYS: running,
// shadow refs, shadow counts. ARGV: id, refs. Returns 0 when this rebuild is no longer running.
export const REBUILD_UNDO_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
for j = 2, #ARGV do
  local left = redis.call('HINCRBY', KEYS[2], ARGV[j], -1)
  if left <= 0 then redis.call('HDEL', KEYS[2], ARGV[j]) end
  if left == 0 then
    local field = string.sub(ARGV[j], string.find(ARGV[j], '|', 1, true) + 1)
    if redis.call('HINCRBY', KEYS[3], field, -1) <= 0 then redis.call('HDEL', KEYS[3], field) end
  end
end
return 1
`;

// The last step: when no group is left to read, the shadow refs and counts replace the live ones
// (the old ones are freed in the background: UNLINK). KEYS: running, shadow refs, shadow counts,
// done, todo, refs, counts. ARGV: id. Returns 1 when swapped, 0 when groups are left (todo), -1
// when this rebuild is no longer running.
export const REBUILD_FINISH_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if redis.call('SCARD', KEYS[5]) > 0 then return 0 end
redis.call('UNLINK', KEYS[6], KEYS[7])
if redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('RENAME', KEYS[2], KEYS[6])
  redis.call('PERSIST', KEYS[6])
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('RENAME', KEYS[3], KEYS[7])
  redis.call('PERSIST', KEYS[7])
end
redis.call('UNLINK', KEYS[1], KEYS[4], KEYS[5])
return 1
`;

// Claims the flush intents due by a horizon for one mover (track/flush-intents.ts). KEYS: the
// flush-due zset. ARGV: horizon (epoch ms), lease end (epoch ms), most to claim, the group key prefix.
// A member whose group still owes a flush (its meta record's pendingFlush) is leased: its score
// becomes the lease end, so other movers skip it while this one adds its job (a commit that
// schedules another flush sets the score again; a mover that dies leaves it to the next after the
// lease). One whose group is gone or owes nothing is dropped. Returns (group, meta JSON) pairs: the
// meta's numbers are read in TypeScript, exactly as written.
export const FLUSH_CLAIM_SCRIPT = `
local out = {}
for _, g in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))) do
  local json = redis.call('HGET', ARGV[4] .. g, 'm')
  local owes = false
  if json then
    local ok, m = pcall(cjson.decode, json)
    owes = ok and type(m) == 'table' and type(m.pendingFlush) == 'table'
  end
  if owes then
    redis.call('ZADD', KEYS[1], ARGV[2], g)
    out[#out + 1] = g
    out[#out + 1] = json
  else
    redis.call('ZREM', KEYS[1], g)
  end
end
return out
`;

// Gives claimed intents back when their jobs could not be added. KEYS: the flush-due zset. ARGV:
// the lease end they were claimed with, then (group, due ms) pairs. A member whose score is no
// longer that lease (a commit has recorded another flush since) is left as it is.
export const FLUSH_RELEASE_SCRIPT = `
for i = 2, #ARGV, 2 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) == tonumber(ARGV[1]) then redis.call('ZADD', KEYS[1], ARGV[i + 1], ARGV[i]) end
end
return 1
`;

export type CasRedis = Redis & {
  meshdriftCas(
    groupKey: string,
    activeKey: string,
    ownerKey: string,
    refsKey: string,
    countsKey: string,
    versionKey: string,
    knownKey: string,
    flushDueKey: string,
    expected: string,
    remove: 'd' | '',
    ttl: number,
    member: string,
    op: 'add' | 'rem',
    score: number,
    ownerOp: 'add' | 'rem' | '',
    nowSeconds: number,
    maxGroups: number,
    ownerTtl: number,
    ttlMode: 'set' | 'keep',
    flushIntent: 'set' | 'nx' | 'rem' | '',
    flushDueAt: number,
    fieldPairs: number,
    /** Then the pairs, the number of further owners, their (owner set key, op) pairs, the number of marks, their six values each, the deltas. */
    ...fieldsOwnersThenDeltas: Array<string | number>
  ): Promise<number>;
  meshdriftFlushClaim(dueKey: string, horizonMs: number, leaseUntilMs: number, most: number, groupKeyPrefix: string): Promise<string[]>;
  meshdriftFlushRelease(dueKey: string, leaseUntilMs: number, ...groupDuePairs: Array<string | number>): Promise<number>;
  meshdriftRebuildStart(
    marker: string,
    running: string,
    refs: string,
    counts: string,
    done: string,
    todo: string,
    active: string,
    everySeconds: number,
    id: string,
    ttlMs: number,
  ): Promise<number>;
  meshdriftRebuildStep(
    running: string,
    refs: string,
    counts: string,
    done: string,
    todo: string,
    id: string,
    ttlMs: number,
    groupKeyPrefix: string,
    ...entries: string[]
  ): Promise<string[]>;
  meshdriftRebuildUndo(running: string, refs: string, counts: string, id: string, ...refsToTake: string[]): Promise<number>;
  meshdriftRebuildFinish(
    running: string,
    refs: string,
    counts: string,
    done: string,
    todo: string,
    liveRefs: string,
    liveCounts: string,
    id: string,
  ): Promise<number>;
};

/** Registers the scripts on this connection (once). */
export function defineScripts(redis: Redis): void {
  if (!('meshdriftCas' in redis)) redis.defineCommand('meshdriftCas', { numberOfKeys: 8, lua: CAS_SCRIPT });
  if (!('meshdriftFlushClaim' in redis)) {
    redis.defineCommand('meshdriftFlushClaim', { numberOfKeys: 1, lua: FLUSH_CLAIM_SCRIPT });
    redis.defineCommand('meshdriftFlushRelease', { numberOfKeys: 1, lua: FLUSH_RELEASE_SCRIPT });
  }
  if (!('meshdriftRebuildStart' in redis)) {
    redis.defineCommand('meshdriftRebuildStart', { numberOfKeys: 7, lua: REBUILD_START_SCRIPT });
    redis.defineCommand('meshdriftRebuildStep', { numberOfKeys: 5, lua: REBUILD_STEP_SCRIPT });
    redis.defineCommand('meshdriftRebuildUndo', { numberOfKeys: 3, lua: REBUILD_UNDO_SCRIPT });
    redis.defineCommand('meshdriftRebuildFinish', { numberOfKeys: 7, lua: REBUILD_FINISH_SCRIPT });
  }
}
