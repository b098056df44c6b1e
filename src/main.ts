#!/usr/bin/env node
import { COMMAND_HELP, helpOrVersion, isCommand, USAGE } from './cli/help.ts';
import type { CreateServeApp } from './cli/serve.ts';
import { versionLine } from './model/build-info.ts';

// Each command loads what it needs when it runs: `--help` and `--version` load none of it (fast).

async function serve(): Promise<number> {
  const [{ createRedisClient, describeTarget }, { runServe }, { loadEnv }, { redisSettings }, { createLogger }] = await Promise.all([
    import('./redis.ts'),
    import('./cli/serve.ts'),
    import('./config/env.ts'),
    import('./config/redis-settings.ts'),
    import('./log.ts'),
  ]);
  const env = loadEnv(process.env);
  const log = createLogger(env.MESHDRIFT_LOG_LEVEL);
  const settings = redisSettings(env);
  // One server by REDIS_URL is probed once, without retry; Sentinel and Cluster clients find their
  // nodes through retries of their own, so they are left to the service's start.
  const redisProbe =
    settings.target.mode === 'url'
      ? {
          client: () => createRedisClient(settings, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0, connectTimeout: 5_000 }),
          where: describeTarget(settings.target),
        }
      : undefined;
  // The service itself is loaded once the port and Redis are known to work.
  const createApp: CreateServeApp = async (o) => (await import('./app.ts')).createApp(o);
  return runServe({ env, log, createApp, ...(redisProbe ? { redisProbe } : {}) });
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (isCommand(command)) {
    const text = helpOrVersion(command, rest);
    if (text !== null) {
      process.stdout.write(text);
      return 0;
    }
  }
  switch (command) {
    case 'validate':
      return (await import('./cli/validate.ts')).runValidate(rest, process.stdout, process.stderr);
    case 'explain':
      return (await import('./cli/explain.ts')).runExplain(rest, process.stdout, process.stderr);
    case 'serve':
      return serve();
    case 'demo': {
      const [{ runDemo }, { createApp }] = await Promise.all([import('./cli/demo.ts'), import('./app.ts')]);
      return runDemo({ createApp });
    }
    case '--version':
    case 'version':
      process.stdout.write(`${versionLine()}\n`);
      return 0;
    case 'help':
      process.stdout.write(isCommand(rest[0]) ? COMMAND_HELP[rest[0]] : USAGE);
      return 0;
    case undefined:
    case '-h':
    case '--help':
      process.stdout.write(USAGE);
      return command === undefined ? 1 : 0;
    default:
      process.stderr.write(`meshdrift: unknown command "${command}"\n${USAGE}`);
      return 1;
  }
}

/** Errors told in one line: a bad environment or policy, a port or Redis `serve` cannot use (src/track/redis-preflight.ts). */
const ONE_LINE_ERRORS = new Set(['ConfigError', 'PolicyLoadError', 'StartError', 'RedisPreflightError']);

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof Error && ONE_LINE_ERRORS.has(err.name)) process.stderr.write(`meshdrift: ${err.message}\n`);
    else process.stderr.write(`meshdrift: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
