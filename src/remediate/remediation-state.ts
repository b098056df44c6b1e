import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { BestEffort } from '../best-effort.ts';
import type { RemediationKeys } from './keys.ts';
import { RATE_WINDOW_MS, type FindingRemediationHistory } from './policy.ts';

/** How long a decision (done), the latest seq and a verdict are remembered. */
export const DONE_TTL_MS = 24 * 3_600_000;
/** How long an owner's deferral count lives without a new deferral. */
const DEFER_TTL_MS = 6 * 3_600_000;

// The newest notification seq seen per (receiver, group, owner): an older job arriving late loses.
const LATEST = `local cur = tonumber(redis.call('GET', KEYS[1]) or '0') if cur > tonumber(ARGV[1]) then return 0 end redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1`;
// Deletes the lock only if this holder still owns it.
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** What the remediator remembers in Redis (keys.ts), one I/O step per method. */
export interface RemediationState {
  /** The owner's recent actions (rate limit) and each finding's history within `historyMs` (flap breaker, verify). */
  loadHistory(
    ownerKey: string,
    fingerprints: readonly string[],
    now: number,
    historyMs: number,
  ): Promise<{ recent: number[]; history: Record<string, FindingRemediationHistory> }>;
  /** Whether `seq` is the newest notification seen for (receiver, group, owner); remembers it if so. */
  claimLatest(receiver: string, groupKey: string, ownerKey: string, seq: number): Promise<boolean>;
  isDone(doneKey: string): Promise<boolean>;
  markDone(doneKey: string): Promise<void>;
  /** Takes the owner's lock: its release, or null while another holder has it. */
  lock(ownerKey: string, ttlMs: number): Promise<(() => Promise<void>) | null>;
  /** Counts a deferral of the owner: how many in a row, and when the first was. */
  countDeferral(ownerKey: string, now: number): Promise<{ count: number; first: number }>;
  clearDeferrals(ownerKey: string): Promise<void>;
  /** Remembers the findings' tripped breakers for the flap window. */
  markEscalated(fingerprints: readonly string[], now: number, withinMs: number): Promise<void>;
  /** Records a performed action (rate window, findings' history), clears deferrals, marks it done. Its member id. */
  recordAction(a: { ownerKey: string; fingerprints: readonly string[]; at: number; historyMs: number; doneKey: string }): Promise<string>;
  /** Records a verify verdict once: false when one was recorded already. */
  claimVerdict(actionId: string, verdict: string): Promise<boolean>;
}

/** A failed release of an owner's lock never fails the remediation: the lock expires; `bestEffort` counts and logs it. */
export function createRemediationState(redis: Redis, keys: RemediationKeys, bestEffort: BestEffort): RemediationState {
  return {
    async loadHistory(ownerKey, fingerprints, now, historyMs) {
      const p = redis.pipeline();
      p.zrangebyscore(keys.actions(ownerKey), `(${now - RATE_WINDOW_MS}`, '+inf', 'WITHSCORES');
      for (const fp of fingerprints) {
        p.zrangebyscore(keys.history(fp), `(${now - historyMs}`, '+inf', 'WITHSCORES');
        p.get(keys.escalated(fp));
      }
      const res = (await p.exec()) ?? [];
      const value = (i: number): unknown => {
        const r = res[i];
        if (!r || r[0]) throw new Error(`redis read failed: ${r?.[0]?.message ?? 'no answer'}`);
        return r[1];
      };
      const history: Record<string, FindingRemediationHistory> = {};
      fingerprints.forEach((fp, i) => {
        const escalated = value(2 + 2 * i);
        history[fp] = {
          remediatedAt: scores(value(1 + 2 * i)),
          ...(typeof escalated === 'string' && Number.isFinite(Number(escalated)) ? { escalatedAt: Number(escalated) } : {}),
        };
      });
      return { recent: scores(value(0)), history };
    },
    async claimLatest(receiver, groupKey, ownerKey, seq) {
      return Number(await redis.eval(LATEST, 1, keys.latest(receiver, groupKey, ownerKey), String(seq), String(DONE_TTL_MS))) === 1;
    },
    async isDone(doneKey) {
      return (await redis.exists(doneKey)) === 1;
    },
    async markDone(doneKey) {
      await redis.set(doneKey, '1', 'PX', DONE_TTL_MS);
    },
    async lock(ownerKey, ttlMs) {
      const key = keys.lock(ownerKey);
      const token = randomUUID();
      if ((await redis.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') return null;
      return async () => {
        await bestEffort.attempt('remediation_lock_release', () => redis.eval(RELEASE, 1, key, token));
      };
    },
    async countDeferral(ownerKey, now) {
      const key = keys.defer(ownerKey);
      const res = await redis.multi().hsetnx(key, 'first', String(now)).hincrby(key, 'n', 1).hget(key, 'first').pexpire(key, DEFER_TTL_MS).exec();
      return { count: Number(res?.[1]?.[1] ?? 1), first: Number(res?.[2]?.[1] ?? now) };
    },
    async clearDeferrals(ownerKey) {
      await redis.del(keys.defer(ownerKey));
    },
    async markEscalated(fingerprints, now, withinMs) {
      const p = redis.multi();
      for (const fp of fingerprints) p.set(keys.escalated(fp), String(now), 'PX', withinMs);
      await p.exec();
    },
    async recordAction({ ownerKey, fingerprints, at, historyMs, doneKey }) {
      const member = `${at}:${randomUUID().slice(0, 8)}`;
      const actions = keys.actions(ownerKey);
      const p = redis.multi();
      p.zadd(actions, at, member)
        .zremrangebyscore(actions, '-inf', at - RATE_WINDOW_MS)
        .pexpire(actions, RATE_WINDOW_MS);
      for (const fp of fingerprints) {
        const history = keys.history(fp);
        p.zadd(history, at, member)
          .zremrangebyscore(history, '-inf', at - historyMs)
          .pexpire(history, historyMs);
      }
      p.del(keys.defer(ownerKey)).set(doneKey, '1', 'PX', DONE_TTL_MS);
      await p.exec();
      return member;
    },
    async claimVerdict(actionId, verdict) {
      return (await redis.set(keys.verdict(actionId), verdict, 'PX', DONE_TTL_MS, 'NX')) === 'OK';
    },
  };
}

// ZRANGEBYSCORE … WITHSCORES answers [member, score, member, score, …].
function scores(raw: unknown): number[] {
  if (!Array.isArray(raw)) return [];
  const out: number[] = [];
  for (let i = 1; i < raw.length; i += 2) {
    const v = Number(raw[i]);
    if (Number.isFinite(v)) out.push(v);
  }
  return out;
}
