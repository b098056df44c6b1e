#!/usr/bin/env node
import { createApp } from './app.ts';
import { runDemo } from './cli/demo.ts';
import { runExplain } from './cli/explain.ts';
import { runValidate } from './cli/validate.ts';
import { ConfigError, loadEnv } from './config/env.ts';
import { RedisPreflightError } from './track/redis-preflight.ts';
import { PolicyLoadError } from './config/policy-holder.ts';
import { createLogger } from './log.ts';

const USAGE = `usage: meshdrift <command>

commands:
  serve                      run the service (configuration from the environment; see README)
  demo                       replay examples/demo through the real pipeline into the console receiver
  validate <policy.yaml>     check a policy file; exit 1 with every error (file:line:col)
  explain <file.json> [--policy <policy.yaml>] [--json]
                             what an Argo CD Application / webhook body / Flux event would alert, and why
`;

async function serve(): Promise<number> {
  const env = loadEnv(process.env);
  const log = createLogger(env.MESHDRIFT_LOG_LEVEL);
  const app = createApp({ env, log });
  await app.start();
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

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'validate':
      return runValidate(rest, process.stdout, process.stderr);
    case 'explain':
      return runExplain(rest, process.stdout, process.stderr);
    case 'serve':
      return serve();
    case 'demo':
      return runDemo({ createApp });
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(USAGE);
      return command === undefined ? 1 : 0;
    default:
      process.stderr.write(`meshdrift: unknown command "${command}"\n${USAGE}`);
      return 1;
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    if (err instanceof ConfigError || err instanceof PolicyLoadError || err instanceof RedisPreflightError) process.stderr.write(`meshdrift: ${err.message}\n`);
    else process.stderr.write(`meshdrift: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
