import { describe, expect, it } from 'vitest';
import { parseDuration } from '../../../src/model/duration.ts';
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
      MESHDRIFT_RESOLVE_WAIT: 30_000,
      MESHDRIFT_LOG_LEVEL: 'info',
    });
    expect(loadEnv({}).SLACK_BOT_TOKEN).toBeUndefined();
  });

  it('reads webhook body limits and the Flux revision settings (#13, #12.8)', () => {
    expect(loadEnv({})).toMatchObject({
      MESHDRIFT_ARGOCD_MAX_BODY: 2 * 1024 * 1024,
      MESHDRIFT_FLUX_MAX_BODY: 1024 * 1024,
      MESHDRIFT_FLUX_REVISION_TTL: 7 * 86_400_000,
      MESHDRIFT_FLUX_MAX_SKEW: 60_000,
    });
    expect(loadEnv({ MESHDRIFT_ARGOCD_MAX_BODY: '4MiB', MESHDRIFT_FLUX_MAX_BODY: '512KiB' })).toMatchObject({
      MESHDRIFT_ARGOCD_MAX_BODY: 4 * 1024 * 1024,
      MESHDRIFT_FLUX_MAX_BODY: 512 * 1024,
    });
    expect(loadEnv({ MESHDRIFT_ARGOCD_MAX_BODY: '70000' }).MESHDRIFT_ARGOCD_MAX_BODY).toBe(70_000);
    expect(() => loadEnv({ MESHDRIFT_ARGOCD_MAX_BODY: 'big' })).toThrow(/MESHDRIFT_ARGOCD_MAX_BODY: "big" is not a size/);
    expect(() => loadEnv({ MESHDRIFT_FLUX_MAX_BODY: '1KiB' })).toThrow(/MESHDRIFT_FLUX_MAX_BODY: must be between 64KiB and 64MiB/);
    expect(() => loadEnv({ MESHDRIFT_FLUX_REVISION_TTL: '10m' })).toThrow(/MESHDRIFT_FLUX_REVISION_TTL: must be at least 1h/);
    expect(() => loadEnv({ MESHDRIFT_FLUX_MAX_SKEW: '2h' })).toThrow(/MESHDRIFT_FLUX_MAX_SKEW: must be at most 1h/);
  });

  it('treats empty secrets as unset', () => {
    expect(loadEnv({ MESHDRIFT_ARGOCD_TOKEN: '  ' }).MESHDRIFT_ARGOCD_TOKEN).toBeUndefined();
  });

  it('names every bad variable at once and never echoes a secret', () => {
    const bad = {
      PORT: '70000',
      MESHDRIFT_GROUP_WAIT: 'soon',
      MESHDRIFT_KEY_PREFIX: 'a:b',
      MESHDRIFT_LOG_LEVEL: 'loud',
      REDIS_URL: 'http://x',
      SLACK_BOT_TOKEN: 'xoxb-very-secret',
    };
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

  it('needs SLACK_CHANNEL with SLACK_BOT_TOKEN only for the built-in policy: a policy file names its channels (issue #19)', () => {
    expect(() => loadEnv({ SLACK_BOT_TOKEN: 'xoxb-t' })).toThrow(/SLACK_CHANNEL: is required when SLACK_BOT_TOKEN is set without MESHDRIFT_POLICY/);
    expect(loadEnv({ SLACK_BOT_TOKEN: 'xoxb-t', MESHDRIFT_POLICY: '/etc/meshdrift/policy.yaml' }).SLACK_CHANNEL).toBeUndefined();
  });
});

describe('the limits of issue #12', () => {
  it('have safe defaults', () => {
    expect(loadEnv({})).toMatchObject({
      MESHDRIFT_SILENCES_MAX: 1000,
      MESHDRIFT_SILENCE_MAX_MATCHERS: 32,
      MESHDRIFT_SILENCE_MAX_VALUE_LENGTH: 1024,
      MESHDRIFT_SILENCE_MAX_COMMENT_LENGTH: 1024,
      MESHDRIFT_SILENCE_MAX_CREATED_BY_LENGTH: 256,
      MESHDRIFT_SILENCE_MAX_DURATION: 90 * 86_400_000,
      MESHDRIFT_MAX_ALERT_GROUPS: 50_000,
      MESHDRIFT_FIRING_GROUP_TTL: 30 * 86_400_000,
      MESHDRIFT_APP_METRICS: { mode: 'top', n: 50 },
      MESHDRIFT_HISTORY_MAX: 1000,
      MESHDRIFT_AUDIT_MAX: 100_000,
    });
  });

  it('parse MESHDRIFT_APP_METRICS modes', () => {
    expect(loadEnv({ MESHDRIFT_APP_METRICS: 'all' }).MESHDRIFT_APP_METRICS).toEqual({ mode: 'all' });
    expect(loadEnv({ MESHDRIFT_APP_METRICS: 'off' }).MESHDRIFT_APP_METRICS).toEqual({ mode: 'off' });
    expect(loadEnv({ MESHDRIFT_APP_METRICS: 'top:7' }).MESHDRIFT_APP_METRICS).toEqual({ mode: 'top', n: 7 });
  });

  it.each([
    ['MESHDRIFT_SILENCES_MAX', '0', /whole number from 1/],
    ['MESHDRIFT_SILENCE_MAX_MATCHERS', '65', /from 1 to 64/],
    ['MESHDRIFT_SILENCE_MAX_VALUE_LENGTH', 'long', /whole number/],
    ['MESHDRIFT_MAX_ALERT_GROUPS', '-3', /whole number/],
    ['MESHDRIFT_FIRING_GROUP_TTL', '1h', /at least 1d/],
    ['MESHDRIFT_SILENCE_MAX_DURATION', '10s', /at least 1m/],
    ['MESHDRIFT_APP_METRICS', 'top:0', /top:N/],
    ['MESHDRIFT_APP_METRICS', 'some', /top:N/],
  ])('refuses %s=%s', (name, value, message) => {
    expect(() => loadEnv({ [name]: value })).toThrow(message);
  });
});
