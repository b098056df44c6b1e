// node bench/silences.ts: what silences cost a flush, printed, never asserted (issue #12 item 3).
// For 1,000 silences (the default MESHDRIFT_SILENCES_MAX) of 32 regex matchers each, plus as many
// expired ones: what a flush pays to get them compiled
// - before issue #12: HGETALL of every silence (expired ones included), parse, compile, per flush;
// - now, when nothing changed since the last flush (the usual case): one small script answering
//   "same version";
// - now, after a change: the script returns the silences not yet ended, parsed and compiled once.
// Uses a redis-server of its own on a spare port.
import { Redis } from 'ioredis';
import { compileSilences, parseSilenceInput, silenceSchema, silenceState, type NewSilence } from '../src/route/silence.ts';
import { createRedisSilenceStore } from '../src/track/silence-store.ts';
import { silenceKeys } from '../src/track/keys.ts';
import { startOwnRedis } from '../test/support/redis-server.ts';

const COUNT = Number(process.env.BENCH_SILENCES ?? 1000);
const ROUNDS = 50;

function bigSilence(i: number, now: number): NewSilence {
  const matchers = Array.from({ length: 32 }, (_, m) => `label_${m}=~"(team-${i}|svc-${m}-[a-z]+|x{1,4}y)"`);
  const r = parseSilenceInput({ matchers, createdBy: `user-${i}@example.com`, comment: 'c'.repeat(1000), duration: '2h' }, now, {
    maxMatchers: 32,
    maxValueLength: 1024,
    maxCommentLength: 1024,
    maxCreatedByLength: 256,
    maxDurationMs: 86_400_000,
  });
  if (!r.ok) throw new Error(r.error);
  return r.silence;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function main(): Promise<void> {
  const own = await startOwnRedis();
  const redis = new Redis(own.url, { maxRetriesPerRequest: 1 });
  try {
    const prefix = 'bench-silences';
    const now = Date.now();
    const store = createRedisSilenceStore(redis, prefix, { maxSilences: COUNT });
    for (let i = 0; i < COUNT; i++) {
      const s = await store.create(bigSilence(i, now), now);
      await store.expire(s.id, now); // as many expired ones, kept for the listing
    }
    for (let i = 0; i < COUNT; i++) await store.create(bigSilence(i, now), now);
    const keys = silenceKeys(prefix);
    // The layout before: one hash with everything.
    const legacy = `${prefix}:legacy`;
    await redis.hset(legacy, { ...(await redis.hgetall(keys.active)), ...(await redis.hgetall(keys.expired)) });

    const before: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const t = performance.now();
      const raw = await redis.hgetall(legacy);
      const active = Object.values(raw)
        .map((json) => silenceSchema.parse(JSON.parse(json)))
        .filter((s) => silenceState(s, now + 1) !== 'expired');
      compileSilences(active);
      before.push(performance.now() - t);
    }
    const unchanged: number[] = [];
    await store.compiled(now + 1);
    for (let r = 0; r < ROUNDS; r++) {
      const t = performance.now();
      await store.compiled(now + 1);
      unchanged.push(performance.now() - t);
    }
    const changed: number[] = [];
    for (let r = 0; r < 10; r++) {
      const fresh = createRedisSilenceStore(redis, prefix, { maxSilences: COUNT });
      const t = performance.now();
      await fresh.compiled(now + 1);
      changed.push(performance.now() - t);
    }
    const bytes = Number(await redis.memory('USAGE', legacy));
    console.log(`${COUNT} active + ${COUNT} expired silences, 32 regex matchers and a 1,000-character comment each (${(bytes / 1e6).toFixed(1)} MB in Redis)`);
    console.log(`before #12, every flush (read all, parse, compile): median ${median(before).toFixed(1)} ms`);
    console.log(`now, a flush with nothing changed (one script, "same version"): median ${median(unchanged).toFixed(2)} ms`);
    console.log(`now, the first flush after a change (read the ${COUNT} not ended, parse, compile): median ${median(changed).toFixed(1)} ms`);
  } finally {
    redis.disconnect();
    await own.stop();
  }
}

await main();
