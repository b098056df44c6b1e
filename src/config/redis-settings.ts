import { readFileSync } from 'node:fs';
import type { RedisSettings } from '../redis.ts';
import { type Env, ConfigError } from './env.ts';

type RedisEnv = Pick<
  Env,
  | 'REDIS_URL'
  | 'REDIS_SENTINELS'
  | 'REDIS_SENTINEL_NAME'
  | 'REDIS_SENTINEL_PASSWORD'
  | 'REDIS_CLUSTER_NODES'
  | 'REDIS_USERNAME'
  | 'REDIS_PASSWORD'
  | 'REDIS_TLS_CA_FILE'
  | 'REDIS_TLS_CERT_FILE'
  | 'REDIS_TLS_KEY_FILE'
>;

function pem(name: string, path: string | undefined): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`invalid environment:\n  ${name}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

/**
 * How to reach Redis (issue #20), from the validated environment: Sentinel when REDIS_SENTINELS is
 * set, Cluster when REDIS_CLUSTER_NODES is, else REDIS_URL. The TLS files are read here, once.
 */
export function redisSettings(env: RedisEnv): RedisSettings {
  const tls = {
    ca: pem('REDIS_TLS_CA_FILE', env.REDIS_TLS_CA_FILE),
    cert: pem('REDIS_TLS_CERT_FILE', env.REDIS_TLS_CERT_FILE),
    key: pem('REDIS_TLS_KEY_FILE', env.REDIS_TLS_KEY_FILE),
  };
  const auth = { username: env.REDIS_USERNAME, password: env.REDIS_PASSWORD, tls };
  if (env.REDIS_SENTINELS.length > 0 && env.REDIS_SENTINEL_NAME !== undefined) {
    return {
      ...auth,
      target: { mode: 'sentinel', sentinels: env.REDIS_SENTINELS, name: env.REDIS_SENTINEL_NAME, sentinelPassword: env.REDIS_SENTINEL_PASSWORD },
    };
  }
  if (env.REDIS_CLUSTER_NODES.length > 0) return { ...auth, target: { mode: 'cluster', nodes: env.REDIS_CLUSTER_NODES } };
  return { tls, target: { mode: 'url', url: env.REDIS_URL } };
}
