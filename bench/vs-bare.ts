// npm run bench:vs-bare (issue #15): meshdrift's Flux webhook ingest beside a bare Node HTTP server,
// loaded by the same generator (bench/flapping-loadgen.ts, its own process) in the same run.
// Printed, never asserted; the target is "meshdrift at least half the bare server's rate".
//
// Servers, each in this process in turn, on 127.0.0.1:
// - bare: node:http; reads the body, checks the HMAC (X-Signature: sha256=<hex>, as Flux's
//   generic-hmac provider sends it; timing-safe compare), parses the JSON, answers 202;
// - bare + Redis: the same, plus one Redis write before the answer (SET of the body with a TTL,
//   acknowledged by Redis; the bench's own redis-server, no persistence, as for meshdrift);
// - bare + 2 round trips (the floor of meshdrift's Redis work, no logic): the same, plus what
//   meshdrift sends per new Flux event, on a client connected as meshdrift's (src/redis.ts
//   coalesceWrites: the commands of one turn in one write): MGET of two keys
//   and SMEMBERS in one turn (the revision lookup and the owner's group index), then, once they
//   answered, one EVALSHA with 8 keys and ~2.9 KB of arguments (the size of meshdrift's commit of a
//   new group, measured with INFO stats), whose script writes one hash field with a TTL;
// - bare + 1 round trip: the EVALSHA alone (what a design with one round trip per event would cost);
// - meshdrift: createApp() with workers running, MESHDRIFT_FLUX_HMAC_KEY set (so the same HMAC is
//   checked), the default policy, group_wait 1h (nothing flushes during the load), POST /webhooks/flux.
// Every request is a distinct HelmRelease DriftDetected event (its own owner: no dedup shortcut).
// The servers take turns for BENCH_BARE_ROUNDS rounds (default 2), so a slow patch of a shared
// machine falls on all of them; each figure is the best round. Env: BENCH_BARE_N (measured requests
// per server and round, default 3000), BENCH_BARE_CONCURRENCY (default 16).
// Beside the rates, the CPU each server spent per request (this process's user+system time over the
// round, warm-up included, divided by the requests of the round) and Redis's (INFO cpu of the bench's
// own redis-server): on a machine shared with other work these move less than the rates do. The
// lowest of the rounds is printed.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { createApp } from '../src/app.ts';
import { loadEnv } from '../src/config/env.ts';
import { coalesceWrites } from '../src/redis.ts';
import { createLogger } from '../src/log.ts';
import { startOwnRedis } from '../test/support/redis-server.ts';
import type { LoadResult } from './flapping-loadgen.ts';
import { runLoadgen } from './loadgen-client.ts';
import { onCleanup, runBench, table } from './processes.ts';

const N = Math.max(1, Number(process.env.BENCH_BARE_N ?? 3000));
const ROUNDS = Math.max(1, Number(process.env.BENCH_BARE_ROUNDS ?? 2));
const CONCURRENCY = Math.max(1, Number(process.env.BENCH_BARE_CONCURRENCY ?? 16));
const HMAC_KEY = 'bench-hmac-key-not-a-secret';
/** BENCH_BARE_ONLY=meshdrift (or bare, bare-redis, floor-2rt, floor-1rt) runs that server alone, e.g. under `node --cpu-prof`. */
const ONLY = process.env.BENCH_BARE_ONLY;
const MAX_BODY = 1024 * 1024;

interface Target {
  name: string;
  url: string;
  stop(): Promise<void>;
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/flux`));
  });
}

/** The bare server: body, HMAC, JSON, answer; `write` (if given) before the answer. */
async function startBare(name: string, write?: (body: Buffer, parsed: unknown) => Promise<void>): Promise<Target> {
  const key = Buffer.from(HMAC_KEY);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const header = req.headers['x-signature'];
      const given = typeof header === 'string' && header.startsWith('sha256=') ? Buffer.from(header.slice(7), 'hex') : Buffer.alloc(0);
      const want = createHmac('sha256', key).update(body).digest();
      if (given.length !== want.length || !timingSafeEqual(given, want)) {
        res.writeHead(401).end();
        return;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(body.toString('utf8'));
      } catch {
        res.writeHead(400).end();
        return;
      }
      const answer = (): void => void res.writeHead(202, { 'content-type': 'application/json' }).end('{"accepted":true}');
      if (write === undefined) answer();
      else write(body, parsed).then(answer, () => res.writeHead(503).end());
    });
  });
  server.keepAliveTimeout = 30_000;
  const url = await listen(server);
  return { name, url, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

// The floor rows' script: one hash field with a TTL (meshdrift's commit writes more, in Redis's CPU).
const FLOOR_SCRIPT = "redis.call('HSET', KEYS[1], 'v', ARGV[1]) redis.call('EXPIRE', KEYS[1], 600) return 1";
const FLOOR_ARG = 'x'.repeat(76);
type FloorRedis = Redis & { benchFloor(...args: string[]): Promise<unknown> };

/** The bare server plus meshdrift's Redis round trips for a new Flux event (without its logic). */
async function startFloor(redisUrl: string, name: string, lookupFirst: boolean): Promise<Target> {
  // Connected as meshdrift's own client is (src/redis.ts): the commands of one turn in one write.
  const client = new Redis(redisUrl, { maxRetriesPerRequest: 1 }) as FloorRedis;
  client.on('connect', () => coalesceWrites(client.stream));
  client.defineCommand('benchFloor', { numberOfKeys: 8, lua: FLOOR_SCRIPT });
  let n = 0;
  const prefix = `bench-floor-${Date.now()}`;
  const target = await startBare(name, async () => {
    const id = `${prefix}:${++n}`;
    if (lookupFirst) {
      const lookup = client.mget(`${id}:revision`, `${id}:event`);
      const owners = client.smembers(`${id}:owner`);
      await Promise.all([lookup, owners]);
    }
    const keys = [`${id}:group`, ...['a', 'b', 'c', 'd', 'e', 'f', 'g'].map((k) => `${prefix}:${k}`)];
    await client.benchFloor(...keys, ...Array.from({ length: 36 }, () => FLOOR_ARG));
  });
  return {
    ...target,
    stop: async () => {
      await target.stop();
      client.disconnect();
    },
  };
}

async function startMeshdriftInProcess(redisUrl: string, prefix: string): Promise<Target> {
  const env = loadEnv({
    PORT: '0',
    HOST: '127.0.0.1',
    REDIS_URL: redisUrl,
    MESHDRIFT_KEY_PREFIX: prefix,
    MESHDRIFT_GROUP_WAIT: '1h',
    MESHDRIFT_LOG_LEVEL: 'silent',
    MESHDRIFT_FLUX_HMAC_KEY: HMAC_KEY,
    MESHDRIFT_ALLOW_UNAUTHENTICATED: 'argocd,api',
  });
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const app = createApp({ env, log: createLogger('silent'), registry: new Registry(), consoleOut: sink });
  await app.start();
  const url = `${app.address().url}/webhooks/flux`;
  // The HMAC is checked on this configuration: an unsigned event is refused.
  const unsigned = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
  if (unsigned.status !== 401) throw new Error(`meshdrift answered an unsigned Flux event ${unsigned.status}, expected 401`);
  return { name: 'meshdrift', url, stop: () => app.stop() };
}

async function main(): Promise<void> {
  const own = await startOwnRedis();
  onCleanup(() => own.stop());
  const redis = new Redis(own.url, { maxRetriesPerRequest: 1 });
  onCleanup(async () => redis.disconnect());
  let seq = 0;
  const all: Array<[string, () => Promise<Target>]> = [
    ['bare', () => startBare('bare Node server')],
    ['bare-redis', () => startBare('bare + 1 Redis write', async (body) => void (await redis.set(`bench-bare:${++seq}`, body, 'EX', 600)))],
    ['floor-2rt', () => startFloor(own.url, 'bare + 2 round trips', true)],
    ['floor-1rt', () => startFloor(own.url, 'bare + 1 round trip', false)],
    ['meshdrift', () => startMeshdriftInProcess(own.url, `bench-vs-bare-${Date.now()}`)],
  ];
  if (ONLY !== undefined && !all.some(([key]) => key === ONLY)) throw new Error(`BENCH_BARE_ONLY: ${ONLY} is not one of ${all.map(([key]) => key).join(', ')}`);
  const makers = all.filter(([key]) => ONLY === undefined || key === ONLY).map(([, make]) => make);
  const best = new Map<string, LoadResult>();
  const cpu = new Map<string, { own: number; redis: number }>();
  const redisCpuMs = async (): Promise<number> => {
    const info = await redis.info('cpu');
    const field = (name: string): number => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info)?.[1] ?? Number.NaN);
    return (field('used_cpu_user') + field('used_cpu_sys')) * 1000;
  };
  for (let round = 0; round < ROUNDS; round++) {
    for (const make of makers) {
      const target = await make();
      try {
        const ownBefore = process.cpuUsage();
        const redisBefore = await redisCpuMs();
        const r = await runLoadgen(
          {
            target: 'meshdrift-flux',
            url: target.url,
            count: N,
            warmup: Math.min(300, N),
            concurrency: CONCURRENCY,
            runId: `vsbare-${round}-${target.name.replace(/\W+/g, '')}`,
            hmacKey: HMAC_KEY,
          },
          { timeoutMs: 300_000 },
        );
        const ownUs = process.cpuUsage(ownBefore);
        const requests = N + Math.min(300, N);
        const used = { own: (ownUs.user + ownUs.system) / 1000 / requests, redis: ((await redisCpuMs()) - redisBefore) / requests };
        const seen = cpu.get(target.name);
        cpu.set(target.name, { own: Math.min(seen?.own ?? Infinity, used.own), redis: Math.min(seen?.redis ?? Infinity, used.redis) });
        const bad = Object.entries(r.statuses).filter(([status]) => status !== '202');
        if (bad.length > 0) throw new Error(`${target.name}: answers other than 202: ${bad.map(([s, n]) => `${s}x${n}`).join(' ')}`);
        const prev = best.get(target.name);
        if (prev === undefined || r.count / r.ms > prev.count / prev.ms) best.set(target.name, r);
      } finally {
        await target.stop();
      }
    }
  }
  const rate = (r: LoadResult | undefined): number => (r === undefined ? NaN : (r.count / r.ms) * 1000);
  const bare = rate(best.get('bare Node server'));
  const bareRedis = rate(best.get('bare + 1 Redis write'));
  const mesh = rate(best.get('meshdrift'));
  const floor = rate(best.get('bare + 2 round trips'));
  process.stdout.write(
    `ingest beside a bare Node server (node ${process.version}; Flux events with HMAC, ${N} requests x ${ROUNDS} rounds, ${CONCURRENCY} concurrent, best round; load generator in its own process)\n`,
  );
  process.stdout.write(
    `${table(
      ['server', 'req/s', 'p50 ms', 'p99 ms', 'server CPU ms/req', 'Redis CPU ms/req'],
      [...best].map(([name, r]) => [
        name,
        rate(r).toFixed(0),
        r.p50.toFixed(1),
        r.p99.toFixed(1),
        (cpu.get(name)?.own ?? Number.NaN).toFixed(3),
        (cpu.get(name)?.redis ?? Number.NaN).toFixed(3),
      ]),
    )}\n`,
  );
  process.stdout.write(
    `  meshdrift / bare: ${(mesh / bare).toFixed(2)}; meshdrift / bare + Redis write: ${(mesh / bareRedis).toFixed(2)} (target: at least 0.5); ` +
      `bare + 2 round trips / bare: ${(floor / bare).toFixed(2)} (meshdrift's Redis work alone); meshdrift / bare + 2 round trips: ${(mesh / floor).toFixed(2)}\n`,
  );
}

runBench('vs-bare bench', Number(process.env.BENCH_DEADLINE_MS ?? 600_000), main);
