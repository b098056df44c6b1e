import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../../src/config/duration.ts';
import { ConfigError, loadEnv } from '../../../src/config/env.ts';

describe('parseDuration', () => {
  it.each([
    ['10s', 10_000],
    ['500ms', 500],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['1d', 86_400_000],
    ['2', 2000],
    ['0.5', 500],
  ])('%s → %d ms', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', 'soon', '10x', '5m soon', 'm', '-1s'])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeNull();
  });
});

describe('loadEnv', () => {
  it('has the documented defaults', () => {
    expect(loadEnv({})).toMatchObject({
      PORT: 8080,
      REDIS_URL: 'redis://127.0.0.1:6379',
      MESHDRIFT_KEY_PREFIX: 'meshdrift',
      MESHDRIFT_CLUSTER: 'in-cluster',
      MESHDRIFT_GROUP_WAIT: 10_000,
      MESHDRIFT_GROUP_INTERVAL: 300_000,
      MESHDRIFT_LOG_LEVEL: 'info',
    });
    expect(loadEnv({}).SLACK_BOT_TOKEN).toBeUndefined();
  });

  it('treats empty secrets as unset', () => {
    expect(loadEnv({ MESHDRIFT_ARGOCD_TOKEN: '  ' }).MESHDRIFT_ARGOCD_TOKEN).toBeUndefined();
  });

  it('names every bad variable at once and never echoes a secret', () => {
    const bad = { PORT: '70000', MESHDRIFT_GROUP_WAIT: 'soon', MESHDRIFT_KEY_PREFIX: 'a:b', MESHDRIFT_LOG_LEVEL: 'loud', REDIS_URL: 'http://x', SLACK_BOT_TOKEN: 'xoxb-very-secret' };
    let error: unknown;
    try {
      loadEnv(bad);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    for (const name of ['PORT', 'MESHDRIFT_GROUP_WAIT', 'MESHDRIFT_KEY_PREFIX', 'MESHDRIFT_LOG_LEVEL', 'REDIS_URL', 'SLACK_CHANNEL']) {
      expect(message).toContain(`${name}:`);
    }
    expect(message).not.toContain('xoxb-very-secret');
  });
});
