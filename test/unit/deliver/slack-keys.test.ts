import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { slackReceiverKeyPrefix } from '../../../src/deliver/slack/message-store.ts';
import { createRedisSlackReplayGuard, SLACK_MAX_SKEW_SECONDS } from '../../../src/deliver/slack/replay-guard.ts';

// Persisted forms (issue #14: byte-identical wherever they moved). The message store of a Slack
// receiver and the replay guard were built inline in app.ts, receivers.ts and slack-actions.ts.
describe('Slack Redis keys, golden', () => {
  it("a Slack receiver's message store lives under <prefix>:receiver:<name>", () => {
    expect(slackReceiverKeyPrefix('meshdrift', 'slack-platform')).toBe('meshdrift:receiver:slack-platform');
    expect(slackReceiverKeyPrefix('md:test', 'a b')).toBe('md:test:receiver:a b');
  });

  it('the replay guard sets <prefix>:slack:seen:<replay key> NX for twice the timestamp window', async () => {
    const calls: unknown[][] = [];
    const answers = ['OK', null];
    const redis = { set: async (...args: unknown[]) => (calls.push(args), answers.shift()) } as unknown as Redis;
    const firstSeen = createRedisSlackReplayGuard(redis, 'meshdrift');
    expect(await firstSeen('abc123')).toBe(true);
    expect(await firstSeen('abc123')).toBe(false);
    expect(calls[0]).toEqual(['meshdrift:slack:seen:abc123', '1', 'PX', 2 * SLACK_MAX_SKEW_SECONDS * 1000, 'NX']);
    expect(SLACK_MAX_SKEW_SECONDS).toBe(300);
  });
});
