// node bench/active-findings-rebuild.ts: how long the active-findings rebuild blocks Redis, before
// (one Lua script over every active group, the version before issue #15) and after (bounded steps,
// track/active-findings-rebuild.ts), at 1,000, 10,000 and 50,000 active groups of 10 firing
// findings (~500 bytes of JSON each). Printed, never asserted.
// - longest single command: Redis's own SLOWLOG (threshold 0) over the run, in ms: how long every
//   other client waited at most;
// - a PING sent every 2 ms by another client (in this process: the rebuild's JSON parsing here
//   delays it too) during the run: its worst round trip;
// - wall time of the whole rebuild, and the number of steps.
// Uses a redis-server of its own on a spare port. BENCH_GROUPS=1000,10000 to choose sizes.
import { Redis } from 'ioredis';
import { rebuildActiveFindings } from '../src/track/active-findings-rebuild.ts';
import { activeFindingsKeys, activeGroupsKey, groupRedisKey } from '../src/track/keys.ts';
import { startOwnRedis } from '../test/support/redis-server.ts';

const SIZES = (process.env.BENCH_GROUPS ?? '1000,10000,50000').split(',').map(Number);
const FINDINGS = Number(process.env.BENCH_FINDINGS ?? 10);

// The recount in one script, as it was before issue #15 (track/redis-scripts.ts RECONCILE_SCRIPT).
const ONE_SCRIPT = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return -1 end
redis.call('DEL', KEYS[3], KEYS[4])
local groups = redis.call('ZRANGE', KEYS[2], 0, -1)
for _, g in ipairs(groups) do
  local s = redis.call('HGET', ARGV[2] .. g, 's')
  if s then
    local ok, state = pcall(cjson.decode, s)
    if ok and type(state) == 'table' and type(state.findings) == 'table' then
      for fp, f in pairs(state.findings) do
        if type(f) == 'table' and f.status == 'firing' then
          local field = tostring(f.severity) .. '|' .. tostring(f.mesh) .. '|' .. tostring(f.category)
          if redis.call('HINCRBY', KEYS[3], fp .. '|' .. field, 1) == 1 then redis.call('HINCRBY', KEYS[4], field, 1) end
        end
      end
    end
  end
end
return #groups
`;

const TOP_LEVEL = new Set(['eval', 'evalsha', 'zscan', 'hmget', 'srandmember', 'get', 'unlink']);

const SEVERITIES = ['critical', 'high', 'medium', 'low'];
const CATEGORIES = ['security', 'traffic'];

function groupJson(g: number): string {
  const findings: Record<string, unknown> = {};
  for (let i = 0; i < FINDINGS; i++) {
    const fp = `${g.toString(16).padStart(8, '0')}${i.toString(16).padStart(8, '0')}aaaaaaaaaaaaaaaa`;
    findings[fp] = {
      fingerprint: fp,
      status: 'firing',
      severity: SEVERITIES[(g + i) % 4],
      mesh: i % 3 === 0 ? 'gateway-api' : 'istio',
      category: CATEGORIES[i % 2],
      cluster: 'prod-eu-1',
      tool: 'argocd',
      owner: { kind: 'Application', namespace: 'argocd', name: `app-${g}` },
      resource: { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'mesh', name: `vs-${i}` },
      drift: 'Modified',
      receivers: ['slack-platform'],
      reasons: ['rule default: VirtualService is traffic', 'modified in the cluster'],
      firstSeen: 1764800000000 + i,
      lastSeen: 1764800000000 + i,
    };
  }
  return JSON.stringify({
    v: 1,
    groupKey: `g-${g}`,
    createdAt: 1764800000000,
    findings,
    firstSeen: 1764800000000,
    flushSeq: 1,
    pendingFlush: null,
    handledFlushSeq: 1,
    lastNotification: null,
  });
}

async function populate(redis: Redis, prefix: string, groups: number): Promise<void> {
  for (let from = 0; from < groups; from += 1000) {
    const p = redis.pipeline();
    for (let g = from; g < Math.min(groups, from + 1000); g++) {
      p.hset(groupRedisKey(prefix, `g-${g}`), 'v', String(g + 1), 's', groupJson(g));
      p.zadd(activeGroupsKey(prefix), 1764800000000, `g-${g}`);
    }
    await p.exec();
  }
}

/** Runs `work` with SLOWLOG at threshold 0 and a PING every 2 ms from another client. */
async function measured(
  redis: Redis,
  probe: Redis,
  work: () => Promise<unknown>,
): Promise<{ longestMs: number; p99: number; median: number; pingMs: number; busy: number; wallMs: number; commands: number }> {
  await redis.config('SET', 'slowlog-log-slower-than', '0');
  await redis.config('SET', 'slowlog-max-len', '1000000');
  await redis.slowlog('RESET');
  let pingMs = 0;
  let busy = 0;
  let running = true;
  const pinger = (async () => {
    while (running) {
      const t = performance.now();
      // Past busy-reply-threshold (5 s) Redis answers every other client BUSY.
      await probe.ping().catch(() => busy++);
      pingMs = Math.max(pingMs, performance.now() - t);
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  const started = performance.now();
  await work();
  const wallMs = performance.now() - started;
  running = false;
  await pinger;
  await redis.config('SET', 'slowlog-log-slower-than', '-1');
  const log = (await redis.slowlog('GET', -1)) as Array<[number, number, number, string[]]>;
  await redis.slowlog('RESET');
  // The rebuild's own calls (the commands a script runs are logged too, inside its time).
  const ours = log.filter((e) => TOP_LEVEL.has(String(e[3]?.[0]).toLowerCase()));
  const durations = ours.map((e) => e[2] / 1000).sort((a, b) => a - b);
  const p99 = durations[Math.min(durations.length - 1, Math.floor(durations.length * 0.99))] ?? 0;
  const median = durations[Math.floor(durations.length / 2)] ?? 0;
  ours.sort((a, b) => b[2] - a[2]);
  if (process.env.BENCH_VERBOSE)
    for (const e of ours.slice(0, 3)) process.stdout.write(`    ${(e[2] / 1000).toFixed(2)} ms ${e[3].slice(0, 3).join(' ').slice(0, 80)}\n`);
  const longestUs = ours[0]?.[2] ?? 0;
  return { longestMs: longestUs / 1000, p99, median, pingMs, busy, wallMs, commands: ours.length };
}

async function main(): Promise<void> {
  const own = await startOwnRedis();
  const redis = new Redis(own.url, { maxRetriesPerRequest: 1 });
  const probe = new Redis(own.url, { maxRetriesPerRequest: 1 });
  const rows: string[] = [];
  try {
    for (const groups of SIZES) {
      const prefix = `bench-rebuild-${groups}`;
      await populate(redis, prefix, groups);
      const keys = activeFindingsKeys(prefix);
      const before = await measured(redis, probe, () =>
        redis.eval(ONE_SCRIPT, 4, keys.reconciled, activeGroupsKey(prefix), keys.refs, keys.counts, 3600, groupRedisKey(prefix, '')),
      );
      const countsBefore = await redis.hgetall(keys.counts);
      await redis.del(keys.reconciled, keys.refs, keys.counts);
      let steps = 0;
      const after = await measured(redis, probe, async () => {
        steps = (await rebuildActiveFindings(redis, prefix, { everySeconds: 3600 }))?.steps ?? -1;
      });
      const countsAfter = await redis.hgetall(keys.counts);
      const same = JSON.stringify(Object.entries(countsBefore).sort()) === JSON.stringify(Object.entries(countsAfter).sort());
      rows.push(
        `${String(groups).padStart(6)} groups (${groups * FINDINGS} findings)  before: longest command ${before.longestMs.toFixed(1)} ms, worst PING ${before.pingMs.toFixed(1)} ms (${before.busy} answered BUSY), wall ${before.wallMs.toFixed(0)} ms` +
          `  |  after: ${after.commands} commands (${steps} scripts and reads), longest ${after.longestMs.toFixed(2)} ms, p99 ${after.p99.toFixed(2)} ms, worst PING ${after.pingMs.toFixed(1)} ms (${after.busy} answered BUSY), wall ${after.wallMs.toFixed(0)} ms; same counts: ${same}`,
      );
      process.stdout.write(`${rows.at(-1)}\n`);
      // Free this size before the next.
      let cursor = '0';
      do {
        const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 5000);
        cursor = next;
        if (found.length > 0) await redis.unlink(...found);
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
    probe.disconnect();
    await own.stop();
  }
  process.stdout.write(`meshdrift active-findings rebuild bench (node ${process.version}, ${FINDINGS} firing findings per group, default batch)\n`);
  for (const r of rows) process.stdout.write(`  ${r}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
