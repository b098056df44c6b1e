import { describe, expect, it } from 'vitest';
import { ConfigError, loadEnv } from '../../../src/config/env.ts';
import { redisSettings } from '../../../src/config/redis-settings.ts';
import { describeTarget, reconnectOnReadonly } from '../../../src/redis.ts';

const problemsOf = (env: NodeJS.ProcessEnv): string => {
  try {
    loadEnv(env);
    return '';
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
};

describe('how meshdrift reaches Redis (issue #20)', () => {
  it('REDIS_URL by default', () => {
    expect(redisSettings(loadEnv({})).target).toEqual({ mode: 'url', url: 'redis://127.0.0.1:6379' });
  });

  it('Sentinel: the sentinels, the primary name and the passwords', () => {
    const s = redisSettings(
      loadEnv({
        REDIS_SENTINELS: 'a.svc:26379, b.svc:26380',
        REDIS_SENTINEL_NAME: 'mymaster',
        REDIS_SENTINEL_PASSWORD: 'sentinel-secret-1',
        REDIS_PASSWORD: 'data-secret-1',
      }),
    );
    expect(s.target).toEqual({
      mode: 'sentinel',
      name: 'mymaster',
      sentinelPassword: 'sentinel-secret-1',
      sentinels: [
        { host: 'a.svc', port: 26379 },
        { host: 'b.svc', port: 26380 },
      ],
    });
    expect(s.password).toBe('data-secret-1');
    expect(describeTarget(s.target)).toBe('sentinel primary "mymaster" via a.svc:26379,b.svc:26380');
  });

  it('Cluster needs a hash-tagged prefix', () => {
    expect(problemsOf({ REDIS_CLUSTER_NODES: '10.0.0.1:6379' })).toMatch(/MESHDRIFT_KEY_PREFIX: with REDIS_CLUSTER_NODES it must hold a hash tag/);
    const s = redisSettings(loadEnv({ REDIS_CLUSTER_NODES: '10.0.0.1:6379,10.0.0.2:6379', MESHDRIFT_KEY_PREFIX: '{meshdrift}' }));
    expect(s.target).toEqual({
      mode: 'cluster',
      nodes: [
        { host: '10.0.0.1', port: 6379 },
        { host: '10.0.0.2', port: 6379 },
      ],
    });
  });

  it('refuses mixed or half-given modes, and bad entries', () => {
    expect(problemsOf({ REDIS_SENTINELS: 'a:26379' })).toMatch(/REDIS_SENTINELS and REDIS_SENTINEL_NAME go together/);
    expect(problemsOf({ REDIS_SENTINELS: 'a:26379', REDIS_SENTINEL_NAME: 'm', REDIS_CLUSTER_NODES: 'b:6379', MESHDRIFT_KEY_PREFIX: '{m}' })).toMatch(
      /not both/,
    );
    expect(problemsOf({ REDIS_SENTINELS: 'a:26379', REDIS_SENTINEL_NAME: 'm', REDIS_URL: 'redis://x:6379' })).toMatch(/REDIS_URL: leave it unset/);
    expect(problemsOf({ REDIS_SENTINELS: 'a', REDIS_SENTINEL_NAME: 'm' })).toMatch(/REDIS_SENTINELS: must be host:port entries/);
    expect(problemsOf({ REDIS_TLS_CERT_FILE: '/x.pem' })).toMatch(/REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together/);
    expect(problemsOf({ REDIS_PASSWORD: 'changeme' })).toMatch(/REDIS_PASSWORD: looks like a placeholder/);
  });

  it('the prefix takes at most one hash tag', () => {
    for (const ok of ['meshdrift', '{meshdrift}', 'team-{md}', '{md}.prod']) expect(loadEnv({ MESHDRIFT_KEY_PREFIX: ok }).MESHDRIFT_KEY_PREFIX).toBe(ok);
    for (const bad of ['{a}{b}', '{}', 'a}', '{a', 'a b', 'a:b']) expect(problemsOf({ MESHDRIFT_KEY_PREFIX: bad })).toMatch(/MESHDRIFT_KEY_PREFIX/);
  });

  it('a TLS file that cannot be read is a config error naming the variable', () => {
    expect(() => redisSettings(loadEnv({ REDIS_URL: 'rediss://r:6380', REDIS_TLS_CA_FILE: '/nonexistent/ca.pem' }))).toThrow(/REDIS_TLS_CA_FILE: cannot read/);
  });

  it('reconnects and resends on READONLY only', () => {
    expect(reconnectOnReadonly(new Error("READONLY You can't write against a read only replica."))).toBe(2);
    expect(reconnectOnReadonly(new Error('ERR something else'))).toBe(false);
  });
});
