import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BEST_EFFORT_WARN_EVERY_MS, createBestEffort } from '../../src/best-effort.ts';
import { createLogger } from '../../src/log.ts';
import { createMetrics, type Metrics } from '../../src/metrics.ts';
import type { Signal } from '../../src/model/signal.ts';
import { connected, createRedisConnections, type RedisConnections } from '../../src/redis.ts';
import type { Ingest } from '../../src/track/ingest.ts';
import { createLastSignals, LAST_SIGNAL_EVERY_MS, type LastSignals } from '../../src/track/last-signal.ts';
import { bestEffortFailures } from '../support/best-effort.ts';
import { testPrefix, waitFor } from '../support/redis.ts';
import { startOwnRedis, type OwnRedis } from '../support/redis-server.ts';

// Its own redis-server (the test stops it), reached through meshdrift's own client: no offline
// queue, one retry, so a write while Redis is down fails as it would in the service.
let own: OwnRedis;
let conns: RedisConnections;
let metrics: Metrics;
let lastSignals: LastSignals;
let ingest: Ingest;
let clock = 1_000_000;
const ingested: Signal[] = [];
const logLines: Array<Record<string, unknown>> = [];

const signal = (source: Signal['source'], cluster: string): Signal => ({
  source,
  cluster,
  owner: { kind: 'Application', namespace: 'argocd', name: 'shop' },
  project: 'default',
  destination: {},
  observedAt: 1,
  completeness: 'snapshot',
  resources: [],
});

const failures = (): Promise<number> => bestEffortFailures(metrics, 'last_signal_write');
const warnings = () => logLines.filter((l) => l.operation === 'last_signal_write');
const commandCalls = async (command: string): Promise<number> => {
  const stats = await conns.client.info('commandstats');
  return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(stats)?.[1] ?? 0);
};

beforeAll(async () => {
  own = await startOwnRedis();
  const log = createLogger('warn', { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) });
  // The connections' own error lines (which name the server) go elsewhere: these lines are last-signal's.
  conns = createRedisConnections(own.url, createLogger('silent'));
  await connected(conns.client);
  metrics = createMetrics(new Registry(), { defaultMetrics: false });
  lastSignals = createLastSignals(conns.client, testPrefix('last-signal'), () => clock, { bestEffort: createBestEffort({ metrics, log, now: () => clock }) });
  ingest = lastSignals.wrap(async (s) => {
    ingested.push(s);
    return { outcome: 'unchanged', groups: [], findings: 0 };
  });
}, 30_000);

afterAll(async () => {
  for (const c of [conns?.client, conns?.queue, conns?.worker]) c?.disconnect();
  await own?.stop();
});

describe('last signal per source and cluster', () => {
  it('sends its script by hash: EVAL at most once per connection (ioredis loads it so), EVALSHA after', async () => {
    const evalBefore = await commandCalls('eval');
    const shaBefore = await commandCalls('evalsha');
    for (const cluster of ['a', 'b', 'c', 'd']) await ingest(signal('argocd-webhook', cluster));
    await waitFor(async () => (await lastSignals.list()).length === 4, 10_000, 'the four pairs');
    const evals = (await commandCalls('eval')) - evalBefore;
    expect(evals).toBeLessThanOrEqual(1);
    expect((await commandCalls('evalsha')) - shaBefore + evals).toBe(4);
    expect(await failures()).toBe(0);
    expect(warnings()).toEqual([]);
  });

  it('counts and logs (once a minute) a write that fails, never failing the ingest; the next signal writes the pair', async () => {
    await own.stop();
    await waitFor(() => conns.client.status !== 'ready', 10_000, 'the client to see Redis gone');

    clock += LAST_SIGNAL_EVERY_MS;
    const outcome = await ingest(signal('flux-webhook', 'prod'));
    expect(outcome.outcome).toBe('unchanged');
    await waitFor(async () => (await failures()) === 1, 10_000, 'the failed write counted');
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({ level: 40, failed: 1 });
    expect(typeof warnings()[0]?.error).toBe('string');
    expect(JSON.stringify(logLines)).not.toContain(String(own.port));

    // Within the minute: counted, not logged again (the same pair too: a failed write is not remembered as written).
    await ingest(signal('flux-webhook', 'prod'));
    await ingest(signal('flux-webhook', 'staging'));
    await waitFor(async () => (await failures()) === 3, 10_000, 'three failed writes counted');
    expect(warnings()).toHaveLength(1);

    // A minute later: one line, saying how many failed since the last one (these two and this one).
    clock += BEST_EFFORT_WARN_EVERY_MS;
    await ingest(signal('flux-webhook', 'dev'));
    await waitFor(async () => (await failures()) === 4, 10_000, 'the fourth failed write counted');
    expect(warnings()).toHaveLength(2);
    expect(warnings()[1]).toMatchObject({ failed: 3 });
    expect(ingested.filter((s) => s.source === 'flux-webhook')).toHaveLength(4);

    // Redis back (empty: the test's server keeps nothing): the pair's next signal, within
    // LAST_SIGNAL_EVERY_MS of the failed attempt, writes it (the script sent again on the new connection).
    await own.start();
    await waitFor(() => conns.client.status === 'ready', 15_000, 'the client to reconnect');
    clock += 1;
    await ingest(signal('flux-webhook', 'prod'));
    await waitFor(async () => (await lastSignals.list()).some((p) => p.source === 'flux-webhook' && p.cluster === 'prod'), 10_000, 'the pair written');
    expect(await lastSignals.list()).toEqual([{ source: 'flux-webhook', cluster: 'prod', at: clock }]);
    expect(await failures()).toBe(4);
    expect(warnings()).toHaveLength(2);
  }, 60_000);
});
