import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { severitySchema } from '../../model/severity.ts';

const slackMessageRefSchema = z.object({
  /** Channel ID as Slack returned it (chat.update needs the ID, not `#name`). */
  channel: z.string().min(1),
  ts: z.string().min(1),
  /** Seq of the notification the message currently shows. */
  seq: z.number().int().positive(),
  /**
   * Seq of the last notification the thread has told (the main post, or its thread reply). Below
   * `seq`, the reply for `seq` is still owed. Absent in values stored before threads: then nothing
   * is owed (read as `seq`).
   */
  repliedSeq: z.number().int().nonnegative().optional(),
  /** The firing findings as of `repliedSeq` (fingerprint → severity): the next reply diffs against them. */
  told: z.record(z.string(), severitySchema).optional(),
});
/**
 * A held per-group lock. Calling it releases it (once; a lock that expired meanwhile is left to
 * its new holder). `extend` keeps it for `ttlMs` from now, and answers false when it is no longer
 * held (expired, or taken by another worker): then the holder must stop writing.
 */
export interface SlackGroupLock {
  (): Promise<void>;
  extend(ttlMs: number): Promise<boolean>;
}

/**
 * Where an alert group's Slack message is, which notification it shows, and how far its thread has
 * got. Values written before threads (`{ channel, ts, seq }`) are still valid.
 */
export type SlackMessageRef = z.infer<typeof slackMessageRefSchema>;

/** Remembers each alert group's Slack message so later notifications update it in place. */
export interface SlackMessageStore {
  get(groupKey: string): Promise<SlackMessageRef | null>;
  set(groupKey: string, ref: SlackMessageRef): Promise<void>;
  /** Per-group mutual exclusion across replicas; returns the held lock (call it to release), or null when another holder has it. */
  tryLock(groupKey: string, ttlMs: number): Promise<SlackGroupLock | null>;
  /**
   * The "who did what" lines of one message (group and message ts), oldest first. Kept apart from
   * the ref, which each delivery rewrites: a click between its read and its write must not be lost.
   */
  actionLines(groupKey: string, ts: string): Promise<string[]>;
  /** Appends a line (keeps the newest {@link MAX_STORED_ACTION_LINES}). */
  addActionLine(groupKey: string, ts: string, line: string): Promise<void>;
  /** The group whose message is about this owner (model/owner.ts ownerKey), the newest posted; null if none. */
  groupOfOwner(ownerKey: string): Promise<string | null>;
  setOwnerGroup(ownerKey: string, groupKey: string): Promise<void>;
  /**
   * Records that the group's main message is about to be posted, and returns the record it replaces
   * (null if none): one round trip, so the normal first post costs one Redis command more. A record
   * whose post was answered is left to expire: the ref's seq says it was (see postMayHaveLanded).
   */
  swapPendingPost(groupKey: string, pending: SlackPendingPost, ttlMs: number): Promise<SlackPendingPost | null>;
  /** Overwrites the record (keeps a lost post's earliest time while it is looked for). */
  setPendingPost(groupKey: string, pending: SlackPendingPost, ttlMs: number): Promise<void>;
  /** Forgets the record: Slack answered that it did not post. */
  clearPendingPost(groupKey: string): Promise<void>;
  /** The ID Slack answered for a channel configured by name (`#mesh-drift`), or null if never seen. */
  channelId(channel: string): Promise<string | null>;
  setChannelId(channel: string, id: string): Promise<void>;
}

const slackPendingPostSchema = z.object({
  /** Seq of the notification whose main message was being posted (the lowest, while several were). */
  seq: z.number().int().positive(),
  /** When the earliest unanswered attempt started (epoch ms, the replica's clock). */
  at: z.number().int().nonnegative(),
  /** When the latest attempt that may have posted started (epoch ms); absent: `at`. */
  lastAt: z.number().int().nonnegative().optional(),
  /** Lookups of the lost post that failed for a passing reason (5xx, timeout, rate limit): each makes the next one wait longer; none posts. */
  failedLookups: z.number().int().nonnegative().optional(),
});
/**
 * A post of the group's main message that may have reached Slack: written just before
 * chat.postMessage, so that when its answer is lost (timeout, cut connection, replica killed) the
 * retry knows to look for the message in the channel rather than post it twice.
 */
export type SlackPendingPost = z.infer<typeof slackPendingPostSchema>;

/** Action-log lines kept per message (Slack shows 10 elements per context block). */
export const MAX_STORED_ACTION_LINES = 10;

/** 7 days: a group quiet for longer gets a fresh message rather than an edit far up the channel. */
export const DEFAULT_SLACK_MESSAGE_RETENTION_SECONDS = 7 * 24 * 60 * 60;

// GET and SET in one round trip (SET … GET needs Redis 6.2, and 7.0 with PX on a missing key).
const SWAP = `local prev = redis.call('get', KEYS[1]); redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]); return prev`;

// Delete only our own lock: after our TTL expired another worker may hold it under a new token.
const RELEASE_LOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
const EXTEND_LOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

/**
 * Redis-backed store. Keys: `${keyPrefix}:slack:message:${groupKey}` (JSON, expiring after
 * `retentionSeconds`), `${keyPrefix}:slack:lock:${groupKey}` (SET NX PX with a random token),
 * `${keyPrefix}:slack:posting:${groupKey}` (JSON, expiring after the TTL the notifier gives) and
 * `${keyPrefix}:slack:channel-id:${channel}` (expiring after `retentionSeconds`; each process writes
 * it once, from its first post's answer).
 */
export function createRedisSlackMessageStore(
  redis: Redis,
  keyPrefix: string,
  retentionSeconds: number = DEFAULT_SLACK_MESSAGE_RETENTION_SECONDS,
): SlackMessageStore {
  if (!Number.isInteger(retentionSeconds) || retentionSeconds <= 0) {
    throw new Error(`slack message retentionSeconds must be a positive integer, got ${retentionSeconds}`);
  }
  const messageKey = (groupKey: string): string => `${keyPrefix}:slack:message:${groupKey}`;
  const lockKey = (groupKey: string): string => `${keyPrefix}:slack:lock:${groupKey}`;
  const actionsKey = (groupKey: string, ts: string): string => `${keyPrefix}:slack:actions:${groupKey}:${ts}`;
  const ownerKey = (owner: string): string => `${keyPrefix}:slack:owner:${owner}`;
  const postingKey = (groupKey: string): string => `${keyPrefix}:slack:posting:${groupKey}`;
  const channelIdKey = (channel: string): string => `${keyPrefix}:slack:channel-id:${channel}`;
  const ttl = (ttlMs: number): number => Math.max(1, Math.ceil(ttlMs));

  return {
    async get(groupKey) {
      const raw = await redis.get(messageKey(groupKey));
      if (raw === null) return null;
      // A corrupt value means we lost track of the message: treat it as absent so the next send
      // posts a new message and overwrites the value.
      let json: unknown;
      try {
        json = JSON.parse(raw);
      } catch {
        return null;
      }
      const parsed = slackMessageRefSchema.safeParse(json);
      return parsed.success ? parsed.data : null;
    },

    async set(groupKey, ref) {
      const valid = slackMessageRefSchema.parse(ref);
      await redis.set(messageKey(groupKey), JSON.stringify(valid), 'EX', retentionSeconds);
    },

    async tryLock(groupKey, ttlMs) {
      const key = lockKey(groupKey);
      const token = randomUUID();
      const acquired = await redis.set(key, token, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX');
      if (acquired !== 'OK') return null;
      let released = false;
      const release = async (): Promise<void> => {
        if (released) return;
        released = true;
        await redis.eval(RELEASE_LOCK, 1, key, token);
      };
      const extend = async (ms: number): Promise<boolean> =>
        !released && (await redis.eval(EXTEND_LOCK, 1, key, token, String(Math.max(1, Math.ceil(ms))))) === 1;
      return Object.assign(release, { extend });
    },

    async actionLines(groupKey, ts) {
      return redis.lrange(actionsKey(groupKey, ts), 0, -1);
    },

    async addActionLine(groupKey, ts, line) {
      const key = actionsKey(groupKey, ts);
      await redis.multi().rpush(key, line).ltrim(key, -MAX_STORED_ACTION_LINES, -1).expire(key, retentionSeconds).exec();
    },

    async groupOfOwner(owner) {
      return redis.get(ownerKey(owner));
    },

    async setOwnerGroup(owner, groupKey) {
      await redis.set(ownerKey(owner), groupKey, 'EX', retentionSeconds);
    },

    async swapPendingPost(groupKey, pending, ttlMs) {
      const prev: unknown = await redis.eval(SWAP, 1, postingKey(groupKey), JSON.stringify(slackPendingPostSchema.parse(pending)), ttl(ttlMs));
      return typeof prev === 'string' ? parsePendingPost(prev) : null;
    },

    async setPendingPost(groupKey, pending, ttlMs) {
      await redis.set(postingKey(groupKey), JSON.stringify(slackPendingPostSchema.parse(pending)), 'PX', ttl(ttlMs));
    },

    async clearPendingPost(groupKey) {
      await redis.del(postingKey(groupKey));
    },

    async channelId(channel) {
      return redis.get(channelIdKey(channel));
    },

    async setChannelId(channel, id) {
      await redis.set(channelIdKey(channel), id, 'EX', retentionSeconds);
    },
  };
}

// A corrupt record cannot say when a post may have landed: it reads as absent, and the retry posts
// (at-least-once, as without records) rather than failing the delivery.
function parsePendingPost(raw: string): SlackPendingPost | null {
  try {
    const parsed = slackPendingPostSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** The key prefix of one Slack receiver's message store (`<p>:receiver:<name>`), built here only. */
export function slackReceiverKeyPrefix(keyPrefix: string, receiverName: string): string {
  return `${keyPrefix}:receiver:${receiverName}`;
}

/**
 * Keeps a Slack action's "who did what" line with the group's message in the store of the group's
 * Slack receiver (so the next notification's re-render shows it again); nothing when the group's
 * receiver is not a Slack receiver or its message is unknown.
 */
export function createSlackActionLineRecorder(
  redis: Redis,
  keyPrefix: string,
  receivers: () => readonly { name: string; slack?: unknown }[],
): (groupKey: string, labels: { receiver?: string | undefined }, line: string) => Promise<void> {
  return async (groupKey, labels, line) => {
    const r = receivers().find((x) => x.name === labels.receiver && x.slack !== undefined);
    if (!r) return;
    const messages = createRedisSlackMessageStore(redis, slackReceiverKeyPrefix(keyPrefix, r.name));
    const ref = await messages.get(groupKey);
    if (ref) await messages.addActionLine(groupKey, ref.ts, line);
  };
}
