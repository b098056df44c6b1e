import type { Redis } from 'ioredis';

/**
 * The Lua scripts behind the track store (track/redis-store.ts): the compare-and-set commit of a
 * group and the rebuild of the active-findings counts. Their text is pinned byte for byte by
 * test/unit/track/redis-scripts.test.ts (a replica of another version must run the same script).
 */

// KEYS: group hash, active-groups zset, owner→groups set ('' key unused), active-findings refs
// hash, active-findings counts hash, version counter, known-groups zset. Versions come from one
// counter per prefix, so they never repeat: a group deleted and re-created cannot reach the version
// a stale reader saw before the delete (an ABA that a per-group count restarting at 1 would let
// through). ARGV: expected version, new JSON ('' = delete), ttl s, group key, 'add'|'rem' for the
// zset, zset score, 'add'|'rem'|'' for the owner set, now (s), most groups, owner set ttl s,
// 'set'|'keep' (keep: a key that already expires keeps its deadline), then (fingerprint,
// severity|mesh|category, +1|-1) per changed firing finding (active-findings.ts). The owner index and
// the counts are committed with the state they describe: one round trip, and never out of step with
// it. A reference that goes below zero was never counted (a group written before the counts existed,
// until the reconcile below): it is dropped.
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
  end
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[7], ARGV[4])
else
  if cur == '0' and redis.call('ZSCORE', KEYS[7], ARGV[4]) == false and redis.call('ZCARD', KEYS[7]) >= tonumber(ARGV[9]) then
    -- Full: make room by dropping the resolved group closest to its end (of the 100 closest), if
    -- any: one that is not firing and owes no notification (no pending flush).
    local room = false
    for _, g in ipairs(redis.call('ZRANGE', KEYS[7], 0, 99)) do
      if redis.call('ZSCORE', KEYS[2], g) == false then
        local json = redis.call('HGET', groupPrefix .. g, 's')
        local idle = not json
        if json then
          local ok, st = pcall(cjson.decode, json)
          idle = ok and type(st) == 'table' and (st.pendingFlush == nil or st.pendingFlush == cjson.null)
        end
        if idle then
          redis.call('DEL', groupPrefix .. g)
          redis.call('ZREM', KEYS[7], g)
          room = true
          break
        end
      end
    end
    if not room then return -1 end
    result = 2
  end
  redis.call('HSET', KEYS[1], 'v', tostring(redis.call('INCR', KEYS[6])), 's', ARGV[2])
  local left = redis.call('TTL', KEYS[1])
  if ARGV[11] == 'keep' and left > 0 then
    redis.call('ZADD', KEYS[7], now + left, ARGV[4])
  else
    redis.call('EXPIRE', KEYS[1], ARGV[3])
    redis.call('ZADD', KEYS[7], now + tonumber(ARGV[3]), ARGV[4])
  end
end
if ARGV[5] == 'add' then redis.call('ZADD', KEYS[2], ARGV[6], ARGV[4]) else redis.call('ZREM', KEYS[2], ARGV[4]) end
if ARGV[7] == 'add' then redis.call('SADD', KEYS[3], ARGV[4]) elseif ARGV[7] == 'rem' then redis.call('SREM', KEYS[3], ARGV[4]) end
if ARGV[7] ~= '' then redis.call('EXPIRE', KEYS[3], ARGV[10]) end
for i = 12, #ARGV, 3 do
  local field = ARGV[i + 1]
  local ref = ARGV[i] .. '|' .. field
  if ARGV[i + 2] == '1' then
    if redis.call('HINCRBY', KEYS[4], ref, 1) == 1 then redis.call('HINCRBY', KEYS[5], field, 1) end
  else
    local left = redis.call('HINCRBY', KEYS[4], ref, -1)
    if left <= 0 then redis.call('HDEL', KEYS[4], ref) end
    if left == 0 and redis.call('HINCRBY', KEYS[5], field, -1) <= 0 then redis.call('HDEL', KEYS[5], field) end
  end
end
return result
`;

// Rebuilds the active-findings refs and counts from the active groups' states, atomically (no
// commit can interleave), at most once per `every` seconds across all replicas (the marker key).
// KEYS: marker, active-groups zset, refs hash, counts hash. ARGV: every s, group key prefix.
// Returns the number of groups read, or -1 when another run was recent. The group hashes are
// not in KEYS: every key shares the prefix (and, on a hash-tagged prefix, the slot).
export const RECONCILE_SCRIPT = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return -1 end
redis.call('DEL', KEYS[3], KEYS[4])
local groups = redis.call('ZRANGE', KEYS[2], 0, -1)
for _, g in ipairs(groups) do
  local s = redis.call('HGET', ARGV[2] .. g, 's')
  if s then
    local ok, state = pcall(cjson.decode, s)
    if ok and type(state) == 'table' and type(state.findings) == 'table' then
      for fp, f in pairs(state.findings) do
        if type(f) == 'table' and f.status == 'firing' then
          local field = tostring(f.severity) .. '|' .. tostring(f.mesh) .. '|' .. tostring(f.category)
          if redis.call('HINCRBY', KEYS[3], fp .. '|' .. field, 1) == 1 then redis.call('HINCRBY', KEYS[4], field, 1) end
        end
      end
    end
  end
end
return #groups
`;

export type CasRedis = Redis & {
  meshdriftCas(
    groupKey: string, activeKey: string, ownerKey: string, refsKey: string, countsKey: string, versionKey: string, knownKey: string,
    expected: string, json: string, ttl: number, member: string, op: 'add' | 'rem', score: number, ownerOp: 'add' | 'rem' | '',
    nowSeconds: number, maxGroups: number, ownerTtl: number, ttlMode: 'set' | 'keep',
    ...deltas: string[]
  ): Promise<number>;
  meshdriftReconcileActiveFindings(markerKey: string, activeKey: string, refsKey: string, countsKey: string, everySeconds: number, groupKeyPrefix: string): Promise<number>;
};

/** Registers both scripts on this connection (once). */
export function defineScripts(redis: Redis): void {
  if (!('meshdriftCas' in redis)) redis.defineCommand('meshdriftCas', { numberOfKeys: 7, lua: CAS_SCRIPT });
  if (!('meshdriftReconcileActiveFindings' in redis)) redis.defineCommand('meshdriftReconcileActiveFindings', { numberOfKeys: 4, lua: RECONCILE_SCRIPT });
}
