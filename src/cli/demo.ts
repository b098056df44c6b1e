import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { loadEnv, type Env } from '../config/env.ts';
import { createLogger, type Logger } from '../log.ts';
import { deleteKeysByPrefix, findRedis } from './redis-finder.ts';

const DEFAULT_EXAMPLES = fileURLToPath(new URL('../../examples/demo/', import.meta.url));

/**
 * examples/demo/steps.json: the order of the example files, where each is posted and how many
 * notifications it causes. The example files themselves are the bodies Argo CD and Flux post, as
 * they are: `curl` them to a meshdrift, or `meshdrift explain` them (issue #19).
 */
const stepsSchema = z.object({
  steps: z
    .array(
      z.object({
        file: z.string().regex(/^[\w.-]+\.json$/, 'a file name in the examples folder'),
        webhook: z.enum(['argocd', 'flux']),
        description: z.string(),
        expect: z.number().int().nonnegative(),
      }),
    )
    .min(1)
    .max(100),
});

/**
 * Builds the service the demo drives: main.ts passes app.ts `createApp` (cli/ sits below the
 * composition root, so it is handed the root rather than importing it).
 */
export type CreateDemoApp = (opts: { env: Env; consoleOut: Writable; log: Logger }) => {
  start(): Promise<void>;
  stop(): Promise<void>;
  address(): { url: string };
  /** Where the demo's keys are deleted at the end. */
  readonly redis: Redis;
};

export interface DemoOptions {
  createApp: CreateDemoApp;
  examplesDir?: string;
  out?: NodeJS.WritableStream;
  err?: NodeJS.WritableStream;
  env?: NodeJS.ProcessEnv;
  /** How long to wait for a step's notifications before failing. */
  stepTimeoutMs?: number;
}

/** The steps of the demo, each file checked to be a JSON object. */
export async function readSteps(dir: string): Promise<z.infer<typeof stepsSchema>['steps']> {
  const parsed = stepsSchema.safeParse(JSON.parse(await readFile(join(dir, 'steps.json'), 'utf8')));
  if (!parsed.success) throw new Error(`steps.json: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  for (const step of parsed.data.steps) {
    const body: unknown = JSON.parse(await readFile(join(dir, step.file), 'utf8'));
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new Error(`${step.file}: not a JSON object`);
  }
  return parsed.data.steps;
}

/**
 * `meshdrift demo`: replays examples/demo/ through the real pipeline (HTTP webhooks → classify →
 * Redis → BullMQ → console receiver) with short timers, checks each step produced the expected
 * notifications, cleans up its own Redis keys and returns the exit code.
 */
export async function runDemo(opts: DemoOptions): Promise<number> {
  const out = opts.out ?? process.stdout;
  const err = opts.err ?? process.stderr;
  const say = (line: string) => err.write(`demo: ${line}\n`);
  const dir = opts.examplesDir ?? DEFAULT_EXAMPLES;
  const stepTimeout = opts.stepTimeoutMs ?? 30_000;

  let redis: Awaited<ReturnType<typeof findRedis>>;
  try {
    redis = await findRedis(opts.env ?? process.env);
  } catch (e) {
    err.write(`${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  say(`Redis at ${redis.url}${redis.started ? ' (started for this run)' : ''}`);
  const keyPrefix = `meshdrift-demo-${process.pid}-${Date.now().toString(36)}`;

  let delivered = 0;
  const consoleOut = new Writable({
    write(chunk: Buffer, _enc, cb) {
      delivered += chunk
        .toString('utf8')
        .split('\n')
        .filter((l) => l.trim() !== '').length;
      out.write(chunk, cb);
    },
  });
  const env = loadEnv({
    PORT: '0',
    HOST: '127.0.0.1',
    REDIS_URL: redis.url,
    MESHDRIFT_KEY_PREFIX: keyPrefix,
    MESHDRIFT_CLUSTER: 'demo-cluster',
    MESHDRIFT_GROUP_WAIT: '1s',
    MESHDRIFT_GROUP_INTERVAL: '2s',
    // Loopback only, and nothing but the demo posts to it.
    MESHDRIFT_ALLOW_UNAUTHENTICATED: 'true',
    MESHDRIFT_LOG_LEVEL: (opts.env ?? process.env).MESHDRIFT_LOG_LEVEL ?? 'warn',
  });
  const app = opts.createApp({ env, consoleOut, log: createLogger(env.MESHDRIFT_LOG_LEVEL) });
  let code = 0;
  try {
    await app.start();
    const base = app.address().url;
    say(`meshdrift listening on ${base}; group_wait 1s, group_interval 2s, receiver: console (JSON lines on stdout)`);
    const steps = await readSteps(dir);
    let expected = 0;
    for (const step of steps) {
      const file = step.file;
      say(`${file}: ${step.description}`);
      const res = await fetch(`${base}/webhooks/${step.webhook}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: await readFile(join(dir, file)),
      });
      const answer = await res.text();
      say(`  → HTTP ${res.status} ${answer}`);
      if (res.status !== 202) throw new Error(`${file}: expected 202, got ${res.status}`);
      expected += step.expect;
      const deadline = Date.now() + stepTimeout;
      while (delivered < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      if (delivered < expected) throw new Error(`${file}: expected ${expected} notifications by now, saw ${delivered}`);
      // Give a step that should notify nobody the chance to prove it: wait one group_wait.
      if (step.expect === 0) await new Promise((r) => setTimeout(r, 1200));
      if (delivered > expected) throw new Error(`${file}: expected ${expected} notifications by now, saw ${delivered}`);
    }
    say(`done: ${steps.length} signals in, ${delivered} notifications out, each sent once.`);
  } catch (e) {
    say(`FAILED: ${e instanceof Error ? e.message : String(e)}`);
    code = 1;
  } finally {
    await deleteKeysByPrefix(app.redis, keyPrefix).catch(() => undefined);
    await app.stop();
    await redis.stop();
  }
  return code;
}
