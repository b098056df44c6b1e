import { createHmac } from 'node:crypto';
import { Registry } from 'prom-client';
import { createApp, type App } from '../../src/app.ts';
import { loadEnv } from '../../src/config/env.ts';
import { createLogger, type Logger } from '../../src/log.ts';
import { deleteKeys } from './redis.ts';

export const ARGOCD_TOKEN = 'argocd-test-token-DO-NOT-LOG';
export const FLUX_KEY = 'flux-hmac-key-DO-NOT-LOG';
export const SLACK_TOKEN = 'xoxb-test-SECRET-token';

export interface ServiceOptions {
  redisUrl: string;
  prefix: string;
  slackUrl?: string;
  env?: Record<string, string>;
  /** Where the service logs (default: nowhere). */
  log?: Logger;
  /** Replaces the shared clock (AppOptions.now): a test that is about time moves it. */
  now?: () => number;
}

/** The whole service in-process on 127.0.0.1:0, with short timers and test secrets. */
export async function startService(opts: ServiceOptions): Promise<App & { url: string }> {
  // Sentinel or Cluster (issue #20) replace REDIS_URL.
  const byUrl = opts.env?.REDIS_SENTINELS === undefined && opts.env?.REDIS_CLUSTER_NODES === undefined;
  const raw: Record<string, string> = {
    PORT: '0',
    HOST: '127.0.0.1',
    ...(byUrl ? { REDIS_URL: opts.redisUrl } : {}),
    MESHDRIFT_KEY_PREFIX: opts.prefix,
    MESHDRIFT_CLUSTER: 'test-cluster',
    MESHDRIFT_ARGOCD_TOKEN: ARGOCD_TOKEN,
    MESHDRIFT_FLUX_HMAC_KEY: FLUX_KEY,
    // Tests that need the API authenticated set MESHDRIFT_API_TOKEN.
    MESHDRIFT_ALLOW_UNAUTHENTICATED: 'api',
    MESHDRIFT_GROUP_WAIT: '300ms',
    MESHDRIFT_GROUP_INTERVAL: '600ms',
    MESHDRIFT_LOG_LEVEL: 'silent',
    ...(opts.slackUrl ? { SLACK_BOT_TOKEN: SLACK_TOKEN, SLACK_CHANNEL: '#mesh-drift', SLACK_API_URL: opts.slackUrl } : {}),
    ...opts.env,
  };
  const env = loadEnv(raw);
  const app = createApp({
    env,
    processEnv: raw,
    registry: new Registry(),
    log: opts.log ?? createLogger('silent'),
    deliveryRetry: { attempts: 5, backoffMs: 100 },
    ...(opts.now === undefined ? {} : { now: opts.now }),
  });
  await app.start();
  return Object.assign(app, { url: app.address().url });
}

export async function stopService(app: App | undefined, redisUrl: string, prefix: string): Promise<void> {
  await app?.stop();
  await deleteKeys(redisUrl, prefix);
}

export function postArgocd(url: string, body: unknown, token: string | null = ARGOCD_TOKEN): Promise<Response> {
  return fetch(`${url}/webhooks/argocd`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export function signFlux(body: string, key = FLUX_KEY): string {
  return `sha256=${createHmac('sha256', key).update(body).digest('hex')}`;
}

export function postFlux(url: string, body: unknown, signature?: string): Promise<Response> {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  return fetch(`${url}/webhooks/flux`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'gotk-component': 'kustomize-controller', 'x-signature': signature ?? signFlux(raw) },
    body: raw,
  });
}
