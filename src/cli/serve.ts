import { createServer } from 'node:net';
import type { Redis } from 'ioredis';
import type { Env } from '../config/env.ts';
import type { Logger } from '../log.ts';

/**
 * Builds the service `serve` runs: main.ts passes app.ts `createApp` (cli/ sits below the
 * composition root, so it is handed the root rather than importing it).
 */
export type CreateServeApp = (opts: { env: Env; log: Logger }) => ServeApp | Promise<ServeApp>;

export interface ServeApp {
  start(): Promise<void>;
  stop(): Promise<void>;
  reloadPolicy(): Promise<unknown>;
}

/** A failure `serve` tells in one line (exit 1), instead of a stack trace and the logs around it. */
export class StartError extends Error {
  override readonly name = 'StartError';
}

/** Why a socket could not connect or bind, in words (the Node error code is kept in brackets when unknown). */
export function socketReason(err: unknown): string {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined;
  switch (code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'host not found';
    case 'ETIMEDOUT':
      return 'no answer (timed out)';
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return 'host unreachable';
    case 'ECONNRESET':
      return 'connection reset';
    case 'EADDRINUSE':
      return 'already in use';
    case 'EACCES':
      return 'permission denied';
    case 'EADDRNOTAVAIL':
      return 'address not available on this host';
    default: {
      const message = err instanceof Error ? err.message : String(err);
      // Redis answers (NOAUTH, WRONGPASS) name no secret; anything else is cut to one short line.
      return (code === undefined ? message : `${code}: ${message}`).split('\n')[0]?.slice(0, 200) ?? 'unknown error';
    }
  }
}

/**
 * One PING with no retry: whether Redis answers at all, before anything else starts (the service's
 * own clients retry for ever and log each attempt, which is right once running, not at start).
 * `client` must be lazy and not retry (`retryStrategy: () => null`); it is closed here.
 */
export async function probeRedis(client: Redis, where: string): Promise<void> {
  let lastError: unknown;
  client.on('error', (e: unknown) => (lastError = e));
  try {
    await client.connect();
    await client.ping();
  } catch (e) {
    throw new StartError(`cannot reach Redis at ${where} (${socketReason(lastError ?? e)}); start Redis or set REDIS_URL`);
  } finally {
    client.disconnect();
  }
}

/** Whether HOST:PORT can be bound (PORT 0 always can): binds and closes at once. */
export async function probePort(port: number, host: string): Promise<void> {
  if (port === 0) return;
  const server = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host, exclusive: true }, () => resolve());
    });
  } catch (e) {
    throw new StartError(`cannot listen on ${host}:${port} (${socketReason(e)}); stop what uses it or set PORT`);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A bind error from the service's own listen (the port taken between the probe and the start). */
export function asStartError(err: unknown, env: Pick<Env, 'PORT' | 'HOST'>): unknown {
  const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
  if ((code === 'EADDRINUSE' || code === 'EACCES') && err instanceof Error && err.message.includes('listen'))
    return new StartError(`cannot listen on ${env.HOST}:${env.PORT} (${socketReason(err)}); stop what uses it or set PORT`);
  return err;
}

export interface ServeOptions {
  env: Env;
  log: Logger;
  createApp: CreateServeApp;
  /** A lazy, non-retrying client to probe Redis with, and where it points (no credentials). */
  redisProbe?: { client: () => Redis; where: string };
}

/** `meshdrift serve`: checks the port and Redis, starts, runs until SIGTERM/SIGINT, stops within the grace. */
export async function runServe(opts: ServeOptions): Promise<number> {
  const { env, log } = opts;
  await probePort(env.PORT, env.HOST);
  if (opts.redisProbe) await probeRedis(opts.redisProbe.client(), opts.redisProbe.where);
  const app = await opts.createApp({ env, log });
  try {
    await app.start();
  } catch (e) {
    throw asStartError(e, env);
  }
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string) => {
      log.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
    // SIGHUP re-reads the policy file, as Alertmanager and Prometheus do.
    process.on('SIGHUP', () => void app.reloadPolicy());
  });
  // app.stop() is bounded by MESHDRIFT_SHUTDOWN_GRACE; this only catches a stop that hangs anyway.
  const hung = setTimeout(() => {
    log.error({ graceMs: env.MESHDRIFT_SHUTDOWN_GRACE }, 'shutdown did not finish within the grace period (+5s): exiting anyway');
    process.exit(1);
  }, env.MESHDRIFT_SHUTDOWN_GRACE + 5_000);
  hung.unref();
  await app.stop();
  clearTimeout(hung);
  log.info('stopped');
  return 0;
}
