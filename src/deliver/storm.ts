import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { trackedFindingSchema, type Notification, type TrackedFinding } from '../model/alert-group.ts';
import { highestSeverity, severitySchema } from '../model/severity.ts';
import { settle, type JobHandler } from '../queue/job-handlers.ts';
import { stormJobSchema, type Queues, type StormJob } from '../queue/queues.ts';
import { stormIndexKey, stormKeys } from '../track/keys.ts';
import type { Notifier } from './notifier.ts';

/**
 * Drift storms (issue #15): when many groups of one receiver fire for the first time within a
 * short window (one bad revision, one cluster, or just too many at once), the receiver is told
 * once, by a summary ("1,412 resources in 387 apps drifted in prod-eu after revision abc123, 12
 * critical"), instead of one message per group that a paced channel would take hours to post.
 *
 * - Every decision is one Lua script over the receiver's storm keys (track/keys.ts stormKeys), so
 *   replicas agree: one opens the storm, each group is a member or told individually, never both.
 * - A group let through individually but not yet sent (a Slack delivery waiting on the channel's
 *   pacing) joins the storm when it opens; once a group was told individually, it stays so.
 * - Members' notifications (first, updates, resolve) are not sent one by one: they update the
 *   storm's record, which a chain of `storm` jobs (one per window, fixed ids) sends as the summary,
 *   through the receiver's own `send`: a Slack message updated in place, one PagerDuty incident,
 *   one webhook/Alertmanager/console notification. The groups themselves are tracked as before
 *   (GET /api/v1/groups), and GET /api/v1/storms lists each storm's members.
 * - The storm stops taking members once no new group joined for a window; new groups are then told
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
/** Members listed per storm by the API. */
export const STORM_API_MEMBERS = 1000;

const memberSchema = z.object({
  firing: z.number().int().nonnegative(),
  critical: z.number().int().nonnegative(),
  severity: severitySchema,
  cluster: z.string(),
  owner: z.string(),
  tool: z.string(),
  revision: z.string().optional(),
});
/** What a storm keeps of one member group: enough for the summary's counts. */
export type StormMember = z.infer<typeof memberSchema>;

export function memberOf(n: Notification): StormMember {
  const revisions = n.firing.map((f) => f.revision).filter((r): r is string => r !== undefined);
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

/** `opened`: this delivery opened the storm (`fresh`: just now, not on a retry): queue its first summary. */
export type GateVerdict = { kind: 'individual' } | { kind: 'member'; stormId: string; opened: boolean; fresh: boolean };

// KEYS: state, recent, pending, members, sample, index
// ARGV: groupKey, reason, status, now, windowMs, threshold, ttlS, member JSON, receiver, sampleMax, sample JSON...
// Returns {verdict, stormId, opened}
const GATE = `
local state, recent, pending, members, sample, index = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local gk, reason, status = ARGV[1], ARGV[2], ARGV[3]
local now, window, threshold, ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local member, receiver, sampleMax = ARGV[8], ARGV[9], tonumber(ARGV[10])
local function touch()
  for _, k in ipairs({state, recent, pending, members, sample}) do redis.call('EXPIRE', k, ttl) end
end
local function keepSample()
  for i = 11, #ARGV do
    if redis.call('LLEN', sample) >= sampleMax then break end
    redis.call('RPUSH', sample, ARGV[i])
  end
end
local id = redis.call('HGET', state, 'id')
if id and redis.call('HGET', state, 'ended') == '1' then id = false end
if id and redis.call('HEXISTS', members, gk) == 1 then
  if status == 'resolved' then redis.call('HDEL', members, gk) else redis.call('HSET', members, gk, member) end
  redis.call('HINCRBY', state, 'version', 1)
  touch()
  -- A retry of the delivery that opened the storm makes sure its first summary is queued.
  return {'member', id, (reason == 'first' and redis.call('HGET', state, 'opener') == gk) and '1' or '0'}
end
if reason ~= 'first' or status ~= 'firing' then
  redis.call('HDEL', pending, gk)
  return {'individual', '', '0'}
end
redis.call('ZADD', recent, now, gk)
redis.call('ZREMRANGEBYSCORE', recent, '-inf', now - window)
local join = false
local opened = '0'
if id and now - tonumber(redis.call('HGET', state, 'lastJoin')) <= window then join = true end
if not join and redis.call('ZCARD', recent) >= threshold then
  join = true
  if not id then
    id = tostring(now) .. '-' .. redis.call('INCR', state .. ':seq')
    redis.call('EXPIRE', state .. ':seq', ttl)
    redis.call('DEL', state, members, sample)
    redis.call('HSET', state, 'id', id, 'receiver', receiver, 'started', now, 'opener', gk, 'version', 0, 'sent', 0, 'joined', 0)
    opened = '2'
    redis.call('SADD', index, state)
    redis.call('EXPIRE', index, ttl)
  end
  -- Groups let through individually but not sent yet join too.
  local waiting = redis.call('HGETALL', pending)
  for i = 1, #waiting, 2 do
    redis.call('HSET', members, waiting[i], waiting[i + 1])
    redis.call('HINCRBY', state, 'joined', 1)
  end
  redis.call('DEL', pending)
end
if join then
  redis.call('HSET', members, gk, member)
  redis.call('HSET', state, 'lastJoin', now)
  redis.call('HINCRBY', state, 'joined', 1)
  redis.call('HINCRBY', state, 'version', 1)
  keepSample()
  touch()
  return {'member', id, opened}
end
redis.call('HSET', pending, gk, member)
touch()
return {'individual', '', '0'}
`;

// A group told individually: no longer waiting, and never a member (it was told on its own).
// KEYS: state, pending, members. ARGV: groupKey
const TOLD = `
redis.call('HDEL', KEYS[2], ARGV[1])
if redis.call('HDEL', KEYS[3], ARGV[1]) == 1 then redis.call('HINCRBY', KEYS[1], 'version', 1) end
return 1
`;

// Ends a storm whose members have all resolved and which took none for a window.
// KEYS: state, members. ARGV: stormId, now, windowMs. Returns 1 when ended (now or before).
const END = `
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return -1 end
if redis.call('HGET', KEYS[1], 'ended') == '1' then return 1 end
if redis.call('HLEN', KEYS[2]) > 0 then return 0 end
if tonumber(ARGV[2]) - tonumber(redis.call('HGET', KEYS[1], 'lastJoin') or '0') <= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], 'ended', '1', 'endedAt', ARGV[2])
return 1
`;

export interface StormRecord {
  receiver: string;
  id: string;
  startedAt: number;
  lastJoinAt: number;
  ended: boolean;
  /** Notifications of members recorded (a change makes the next summary worth sending). */
  version: number;
  /** The version the last summary sent said. */
  sentVersion: number;
  /** Groups that joined over the storm's life. */
  joined: number;
  members: Map<string, StormMember>;
  sample: TrackedFinding[];
}

export interface StormStore {
  /** Decides one notification of `receiver`'s group: told individually, or part of a storm. */
  gate(receiver: string, n: Notification): Promise<GateVerdict>;
  /** `groupKey` was told to `receiver` individually. */
  told(receiver: string, groupKey: string): Promise<void>;
  read(receiver: string): Promise<StormRecord | null>;
  /** Ends the storm if it is over (1), else 0; -1 when `stormId` is not the receiver's storm. */
  end(receiver: string, stormId: string, now: number): Promise<-1 | 0 | 1>;
  markSent(receiver: string, stormId: string, version: number): Promise<void>;
  /** Every storm still recorded (active or ended, until its keys expire), with up to STORM_API_MEMBERS members each. */
  list(): Promise<StormRecord[]>;
}

function parseJson<T>(schema: z.ZodType<T>, text: string): T | undefined {
  try {
    const r = schema.safeParse(JSON.parse(text));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** A receiver's storm as recorded under `stateKey`, with at most `memberLimit` members; null when none is. */
async function readStormAt(redis: Redis, keyPrefix: string, receiver: string, stateKey: string, memberLimit: number): Promise<StormRecord | null> {
  const k = stormKeys(keyPrefix, receiver);
  const [state, sample] = await Promise.all([redis.hgetall(stateKey), redis.lrange(k.sample, 0, STORM_SAMPLE - 1)]);
  if (state.id === undefined) return null;
  const members = new Map<string, StormMember>();
  let cursor = '0';
  do {
    const [next, flat] = await redis.hscan(k.members, cursor, 'COUNT', 500);
    cursor = next;
    for (let i = 0; i + 1 < flat.length && members.size < memberLimit; i += 2) {
      const m = parseJson(memberSchema, flat[i + 1] ?? '');
      if (m) members.set(flat[i] ?? '', m);
    }
  } while (cursor !== '0' && members.size < memberLimit);
  return {
    receiver,
    id: state.id,
    startedAt: Number(state.started ?? 0),
    lastJoinAt: Number(state.lastJoin ?? 0),
    ended: state.ended === '1',
    version: Number(state.version ?? 0),
    sentVersion: Number(state.sent ?? 0),
    joined: Number(state.joined ?? 0),
    members,
    sample: sample.map((s) => parseJson(trackedFindingSchema, s)).filter((f): f is TrackedFinding => f !== undefined),
  };
}

export function createRedisStormStore(redis: Redis, keyPrefix: string, settings: StormSettings, now: () => number): StormStore {
  const readAt = (receiver: string, stateKey: string, memberLimit: number): Promise<StormRecord | null> =>
    readStormAt(redis, keyPrefix, receiver, stateKey, memberLimit);
  return {
    async gate(receiver, n) {
      const k = stormKeys(keyPrefix, receiver);
      // Each member shows its most severe finding (a notification lists them most severe first),
      // saying whose it is: the summary's sample then spans up to STORM_SAMPLE apps.
      const lead = n.firing[0];
      const { kind, namespace, name } = n.labels.owner;
      const whose = `${kind} ${namespace === '' ? name : `${namespace}/${name}`} on ${n.labels.cluster}${n.firing.length > 1 ? ` (+${n.firing.length - 1} more)` : ''}`;
      const sample =
        lead === undefined ? [] : [JSON.stringify({ ...lead, detail: lead.detail === undefined || lead.detail === '' ? whose : `${whose}: ${lead.detail}` })];
      const out = (await redis.eval(
        GATE,
        6,
        k.state,
        k.recent,
        k.pending,
        k.members,
        k.sample,
        k.index,
        n.groupKey,
        n.reason,
        n.status,
        now(),
        settings.windowMs,
        settings.threshold,
        STORM_TTL_SECONDS,
        JSON.stringify(memberOf(n)),
        receiver,
        STORM_SAMPLE,
        ...sample,
      )) as [string, string, string];
      return out[0] === 'member' ? { kind: 'member', stormId: out[1], opened: out[2] !== '0', fresh: out[2] === '2' } : { kind: 'individual' };
    },
    async told(receiver, groupKey) {
      const k = stormKeys(keyPrefix, receiver);
      await redis.eval(TOLD, 3, k.state, k.pending, k.members, groupKey);
    },
    read(receiver) {
      return readAt(receiver, stormKeys(keyPrefix, receiver).state, Number.POSITIVE_INFINITY);
    },
    async end(receiver, stormId, at) {
      const k = stormKeys(keyPrefix, receiver);
      return (await redis.eval(END, 2, k.state, k.members, stormId, at, settings.windowMs)) as -1 | 0 | 1;
    },
    async markSent(receiver, stormId, version) {
      const k = stormKeys(keyPrefix, receiver);
      // Only forward, and only for this storm (a script: read, compare, write as one).
      await redis.eval(
        "if redis.call('HGET', KEYS[1], 'id') == ARGV[1] and tonumber(redis.call('HGET', KEYS[1], 'sent') or '0') < tonumber(ARGV[2]) then redis.call('HSET', KEYS[1], 'sent', ARGV[2]) end return 1",
        1,
        k.state,
        stormId,
        version,
      );
    },
    async list() {
      const stateKeys = await redis.smembers(stormIndexKey(keyPrefix));
      const out: StormRecord[] = [];
      for (const key of stateKeys) {
        const receiver = await redis.hget(key, 'receiver');
        if (receiver === null) {
          await redis.srem(stormIndexKey(keyPrefix), key); // expired: forget it
          continue;
        }
        const r = await readAt(receiver, key, STORM_API_MEMBERS);
        if (r) out.push(r);
      }
      return out;
    },
  };
}

const count = (n: number): string => n.toLocaleString('en-US');

/** The one most common value, when one value is all there is; else undefined. */
function only(values: Iterable<string | undefined>): string | undefined {
  const set = new Set(values);
  if (set.size !== 1) return undefined;
  const [v] = set;
  return v;
}

/** "1,412 resources in 387 apps drifted in prod-eu after revision abc123, 12 critical". */
export function stormHeadline(r: StormRecord, resolved: boolean): string {
  const ms = [...r.members.values()];
  const resources = ms.reduce((a, m) => a + m.firing, 0);
  const critical = ms.reduce((a, m) => a + m.critical, 0);
  const apps = new Set(ms.map((m) => m.owner)).size;
  const clusters = new Set(ms.map((m) => m.cluster));
  const cluster = only(clusters);
  const revision = only(ms.map((m) => m.revision));
  if (resolved) return `Drift storm over: all ${count(r.joined)} groups resolved`;
  const where = cluster !== undefined ? `in ${cluster}` : `in ${count(clusters.size)} clusters`;
  const after = revision !== undefined ? ` after revision ${revision.slice(0, 12)}` : '';
  return `${count(resources)} resources in ${count(apps)} apps drifted ${where}${after}, ${count(critical)} critical`;
}

/** The summary notification of a storm: sent through the receiver's own `send` (one message, updated in place). */
export function stormNotification(r: StormRecord, seq: number, at: number, resolved: boolean): Notification {
  const ms = [...r.members.values()];
  const clusters = new Set(ms.map((m) => m.cluster));
  const sample = r.sample.map((f) => (resolved ? { ...f, status: 'resolved' as const, resolvedAt: at } : f));
  const tool = only(ms.map((m) => m.tool));
  return {
    groupKey: `storm/${r.receiver}/${r.id}`,
    seq,
    reason: resolved ? 'resolved' : seq === 1 ? 'first' : 'new-findings',
    status: resolved ? 'resolved' : 'firing',
    labels: {
      cluster: only(clusters) ?? `${clusters.size} clusters`,
      tool: tool === 'flux' || tool === 'meshdrift' ? tool : 'argocd',
      owner: { kind: STORM_OWNER_KIND, namespace: '', name: stormHeadline(r, resolved) },
      project: '',
      receiver: r.receiver,
      groupBy: { storm: r.id, groups: String(ms.length) },
    },
    severity: highestSeverity(resolved ? r.sample.map((f) => f.severity) : ms.map((m) => m.severity)),
    firing: resolved ? [] : sample,
    resolved: resolved ? sample : [],
    at,
    firstSeen: r.startedAt,
  };
}

export interface StormJobDeps {
  /** The receivers by name (a policy reload can replace them). */
  notifiers: () => ReadonlyMap<string, Notifier>;
  metrics: Metrics;
  log: Logger;
  storms: StormStore;
  settings: StormSettings;
  queues: Pick<Queues, 'enqueueStorm'>;
  now: () => number;
}

/**
 * The `storm` job: the n-th summary of a receiver's storm. Sends the summary if members changed
 * since the last one (or the resolve once the storm is over), then queues job n+1 a window later
 * while the storm lasts. Fixed ids (receiver, storm, n): a chain never forks across replicas.
 */
export function createStormHandler(deps: StormJobDeps): JobHandler {
  return async (job: Job, token) => {
    const data: StormJob = stormJobSchema.parse(job.data);
    const notifier = deps.notifiers().get(data.receiver);
    if (!notifier) throw new UnrecoverableError(`receiver "${data.receiver}" is not configured (removed from the policy?)`);
    const at = deps.now();
    const ended = await deps.storms.end(data.receiver, data.stormId, at);
    if (ended === -1) return 'storm no longer recorded';
    const record = await deps.storms.read(data.receiver);
    if (!record || record.id !== data.stormId) return 'storm no longer recorded';
    const log = deps.log.child({ storm: data.stormId, receiver: data.receiver, n: data.n, attempt: job.attemptsMade + 1 });
    const resolved = ended === 1;
    const next = async (): Promise<void> => {
      if (!resolved) await deps.queues.enqueueStorm({ ...data, n: data.n + 1 }, deps.settings.windowMs);
    };
    // Nothing new since the last summary: no message, only the next look.
    if (!resolved && record.version <= record.sentVersion) {
      await next();
      return 'unchanged';
    }
    if (resolved && record.sentVersion === Number.MAX_SAFE_INTEGER) return 'resolve already sent';
    const n = stormNotification(record, data.n, at, resolved);
    if (resolved && notifier.sendResolved === false) return 'skipped: send_resolved is off';
    const result = await notifier.send(n);
    if (result.ok) {
      await deps.storms.markSent(data.receiver, data.stormId, resolved ? Number.MAX_SAFE_INTEGER : record.version);
      deps.metrics.stormSummary(resolved ? 'resolved' : 'firing');
      log.info({ members: record.members.size, joined: record.joined, resolved }, 'storm summary sent');
      await next();
    }
    return settle(job, token, result, {
      receiverType: notifier.type,
      kind: 'delivery',
      done: resolved ? 'storm resolved' : 'storm summary',
      metrics: deps.metrics,
      log,
    });
  };
}
