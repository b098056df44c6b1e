import type { Redis } from 'ioredis';

/** How far a Slack request timestamp may be from now, either way (the signature check's window). */
export const SLACK_MAX_SKEW_SECONDS = 300;

/**
 * Replay guard on Redis: SET NX PX keyed by the request's replay key (http/verify-signature.ts
 * `slackReplayKey`), kept for twice the timestamp window. True the first time a key is seen.
 */
export function createRedisSlackReplayGuard(
  redis: Redis,
  keyPrefix: string,
  ttlMs = 2 * SLACK_MAX_SKEW_SECONDS * 1000,
): (replayKey: string) => Promise<boolean> {
  return async (replayKey) => (await redis.set(`${keyPrefix}:slack:seen:${replayKey}`, '1', 'PX', ttlMs, 'NX')) === 'OK';
}
