import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCatalog } from '../../src/classify/catalog.ts';
import { createLogger } from '../../src/log.ts';
import type { Signal } from '../../src/model/signal.ts';
import { sleep } from '../../src/sources/kube/backoff.ts';
import { APPLICATIONS } from '../../src/sources/kube/resources.ts';
import { startKubeSources, type KubeSources, type KubeSourcesOptions } from '../../src/sources/kube/sources.ts';
import type { Ingest } from '../../src/track/ingest.ts';
import type { FakeKubeApi } from '../fakes/kube-api.ts';
import { meshApp } from '../support/argocd.ts';
import { memoryRevisions } from '../support/flux.ts';
import { fakeKubeApis, recordingIngest as recordingIngestOf } from '../support/kube.ts';
import { waitFor } from '../support/redis.ts';

// Issue #8 faults of the Kubernetes sources, against the fake API server, with a recording ingest
// so that every Signal can be counted (Redis dedup would hide a duplicate):
// (a) a watch stream cut in the middle of an event: the event is neither lost nor doubled;
// (b) of two clusters, one stops answering: the other flows on, the dead one is reported, and it
//     recovers. "Stops answering" comes in two forms: connections refused, and connections
//     accepted but never answered (a black hole: a partition, a hung apiserver or proxy).
// Backoff delays are cut short; the client's own timeouts (30 s) are not, where they matter.

const DOWN_AFTER_MS = 1_000;

interface Recorded {
  ingest: Ingest;
  signals: Signal[];
  /** Signals about Applications (not meshdrift's own reachability findings). */
  apps(): Signal[];
  /** meshdrift's "cluster unreachable" snapshots for `cluster`: true = unreachable, false = resolved. */
  unreachable(cluster: string): boolean[];
}

function recordingIngest(): Recorded {
  const { signals, ingest } = recordingIngestOf();
  return {
    signals,
    ingest,
    apps: () => signals.filter((s) => s.owner.kind === 'Application'),
    unreachable: (cluster) =>
      signals.filter((s) => s.owner.kind === 'Cluster' && s.cluster === cluster).map((s) => s.resources.some((r) => r.state === 'Unreachable')),
  };
}

const apis = fakeKubeApis();
const running: KubeSources[] = [];
async function stopAll(): Promise<void> {
  await Promise.all(running.splice(0).map((s) => s.stop()));
  await apis.closeAll();
}

const fake = (): Promise<FakeKubeApi> => apis.start(APPLICATIONS);

function start(apis: Record<string, FakeKubeApi>, rec: Recorded, extra: Partial<KubeSourcesOptions> = {}): KubeSources {
  const s = startKubeSources({
    clusters: Object.keys(apis).map((name) => ({ name, access: { kind: 'in-cluster' } })),
    kinds: ['applications'],
    ingest: rec.ingest,
    fluxRevisions: memoryRevisions(),
    catalog: createCatalog(),
    log: createLogger('silent'),
    kubeConfig: (c) => {
      const api = apis[c.name];
      if (!api) throw new Error(`no fake for ${c.name}`);
      return api.kubeConfig();
    },
    delay: (ms, signal) => sleep(Math.min(ms, 50), signal),
    backoff: { baseMs: 20, maxMs: 100 },
    listTimeoutMs: 2_000,
    downAfterMs: DOWN_AFTER_MS,
    reachability: { everyMs: 100 },
    ...extra,
  });
  running.push(s);
  return s;
}

/** An Application named `name`, OutOfSync or Synced (reconciled later, so it is a newer snapshot). */
function app(name: string, sync: 'OutOfSync' | 'Synced'): object {
  const a = (sync === 'Synced' ? meshApp('Synced', '2026-11-24T10:30:00Z') : meshApp('OutOfSync')) as { metadata: { name: string } };
  a.metadata.name = name;
  return a;
}

const label = (s: Signal): string => `${s.cluster}/${s.owner.name}:${s.sync}`;
const watchesOf = (api: FakeKubeApi) => api.requests.filter((r) => r.watch && r.path.endsWith('/applications'));
const listsOf = (api: FakeKubeApi) => api.requests.filter((r) => !r.watch && r.path.endsWith('/applications')).length;

describe('a watch stream cut in the middle of an event', () => {
  afterEach(stopAll);

  it('resumes from the last whole event and gets the cut one once', async () => {
    const api = await fake();
    const rec = recordingIngest();
    api.apply(APPLICATIONS, app('alpha', 'OutOfSync'));
    start({ east: api }, rec);
    await waitFor(() => rec.apps().length === 1 && api.openWatches(APPLICATIONS) === 1, 10_000, 'first list and watch');
    api.apply(APPLICATIONS, app('beta', 'OutOfSync'));
    await waitFor(() => rec.apps().length === 2, 10_000, 'beta over the watch');
    const lastWhole = String(api.resourceVersion());

    api.cutNextEvent(APPLICATIONS);
    api.apply(APPLICATIONS, app('alpha', 'Synced'));
    await waitFor(() => rec.apps().length >= 3, 10_000, 'the cut event, redelivered');
    await sleep(500); // a duplicate would follow at once

    expect(rec.apps().map(label)).toEqual(['east/alpha:OutOfSync', 'east/beta:OutOfSync', 'east/alpha:Synced']);
    // Resumed from beta's resourceVersion (the half line moved nothing), not relisted.
    const watches = watchesOf(api);
    expect(watches).toHaveLength(2);
    expect(watches[1]?.query.resourceVersion).toBe(lastWhole);
    expect(listsOf(api)).toBe(1);
  });

  it('relists when the history was compacted meanwhile, and still gets the cut event once', async () => {
    const api = await fake();
    const rec = recordingIngest();
    api.apply(APPLICATIONS, app('alpha', 'OutOfSync'));
    api.apply(APPLICATIONS, app('beta', 'OutOfSync'));
    start({ east: api }, rec);
    await waitFor(() => rec.apps().length === 2 && api.openWatches(APPLICATIONS) === 1, 10_000, 'first list and watch');

    // The resume will find its resourceVersion gone (410) and list again: the history is compacted
    // once, just before the first request that follows the cut.
    let compacted = false;
    api.intercept(() => {
      if (!compacted && api.openWatches(APPLICATIONS) === 0) {
        compacted = true;
        api.compact();
      }
      return undefined;
    });
    api.cutNextEvent(APPLICATIONS);
    api.apply(APPLICATIONS, app('alpha', 'Synced'));
    await waitFor(() => rec.apps().length >= 3, 10_000, 'the cut event, through a relist');
    await sleep(500);
    api.intercept(undefined);

    expect(compacted).toBe(true);
    expect(listsOf(api)).toBe(2);
    // The relist hands out only what changed (beta's resourceVersion is the one cached).
    expect(rec.apps().map(label)).toEqual(['east/alpha:OutOfSync', 'east/beta:OutOfSync', 'east/alpha:Synced']);
  });
});

describe('two clusters, one refusing connections', () => {
  afterEach(stopAll);

  it('the other flows on; the dead one is reported (not ready, Unreachable once) and recovers', async () => {
    const east = await fake();
    const west = await fake();
    const rec = recordingIngest();
    east.apply(APPLICATIONS, app('east-app', 'OutOfSync'));
    west.apply(APPLICATIONS, app('west-app', 'OutOfSync'));
    const s = start({ east, west }, rec);
    await waitFor(() => rec.apps().length === 2 && s.health().ready, 10_000, 'both clusters up');

    const baseline = await latency(rec, () => east.apply(APPLICATIONS, app('east-app', 'Synced')), 'east/east-app:Synced');
    const downAt = Date.now(); // before: the watches cannot fail earlier than this
    await west.goUnreachable();
    await waitFor(() => s.health().clusters.find((c) => c.name === 'west')?.state === 'down', 10_000, 'west down');
    // While west is dead, east's drift flows and resolves as before.
    const during = [
      await latency(rec, () => east.apply(APPLICATIONS, app('east-app', 'OutOfSync')), 'east/east-app:OutOfSync'),
      await latency(rec, () => east.apply(APPLICATIONS, app('east-app', 'Synced')), 'east/east-app:Synced'),
    ];
    await waitFor(() => !s.health().ready, 10_000, 'not ready after the threshold');
    const notReadyAfter = Date.now() - downAt;
    expect(notReadyAfter).toBeGreaterThanOrEqual(DOWN_AFTER_MS);
    expect(s.health().clusters).toEqual([{ name: 'east', state: 'up' }, expect.objectContaining({ name: 'west', state: 'down' })]);
    await waitFor(() => rec.unreachable('west').includes(true), 10_000, 'the west Unreachable finding');

    // Changed while it was down: seen once it answers again.
    west.apply(APPLICATIONS, app('west-app', 'Synced'));
    await west.comeBack();
    await waitFor(() => rec.apps().some((x) => label(x) === 'west/west-app:Synced'), 15_000, 'west recovers');
    await waitFor(() => s.health().ready && rec.unreachable('west').at(-1) === false, 10_000, 'ready again, Unreachable resolved');
    await sleep(300);

    expect(
      rec
        .apps()
        .filter((x) => x.cluster === 'west')
        .map(label),
    ).toEqual(['west/west-app:OutOfSync', 'west/west-app:Synced']);
    // Fired once, resolved once (after the snapshot at start that said reachable).
    expect(rec.unreachable('west').filter((u) => u)).toHaveLength(1);
    expect(rec.unreachable('west').at(-1)).toBe(false);
    expect(rec.unreachable('east')).not.toContain(true);
    console.log(
      `[watch-faults] refused: east latency ${baseline} ms before, ${during.join('/')} ms while west was down; not ready ${notReadyAfter} ms after (threshold ${DOWN_AFTER_MS} ms)`,
    );
  }, 60_000);
});

/** Runs `change` and resolves with the ms until one more signal labelled `expected` arrives. */
async function latency(rec: Recorded, change: () => void, expected: string): Promise<number> {
  const count = () => rec.apps().filter((x) => label(x) === expected).length;
  const before = count();
  const started = Date.now();
  change();
  await waitFor(() => count() > before, 10_000, expected);
  return Date.now() - started;
}

// A black-holed cluster: connections are accepted and nothing is ever answered. The client's watch
// has a 30 s inactivity timeout; the open watch hits it and its reconnection hangs in turn.
describe('two clusters, one accepting connections and never answering', () => {
  // The watch request timeout (30 s by default), shortened so the test takes seconds.
  const CLIENT_TIMEOUT_MS = 2_000;
  const rec = recordingIngest();
  let east: FakeKubeApi;
  let west: FakeKubeApi;
  let s: KubeSources;
  let silentAt = 0;
  // What the sources said about west while it was silent.
  const westStates = new Set<string>();
  let everNotReady = false;

  beforeAll(async () => {
    east = await fake();
    west = await fake();
    east.apply(APPLICATIONS, app('east-app', 'OutOfSync'));
    west.apply(APPLICATIONS, app('west-app', 'OutOfSync'));
    s = start({ east, west }, rec, { watchTimeoutMs: CLIENT_TIMEOUT_MS });
    await waitFor(() => rec.apps().length === 2 && s.health().ready, 10_000, 'both clusters up');
    west.goSilent();
    silentAt = Date.now();
  }, 30_000);
  afterAll(stopAll);

  it('the other cluster flows on meanwhile', async () => {
    const latencies: number[] = [];
    west.apply(APPLICATIONS, app('west-app', 'Synced'));
    // Past the open watch's silence timeout, the reconnect's timeout and the readiness threshold,
    // changing east all along.
    for (let i = 0; Date.now() - silentAt < 2 * CLIENT_TIMEOUT_MS + 3 * DOWN_AFTER_MS + 1_000; i++) {
      const sync = i % 2 === 0 ? 'Synced' : 'OutOfSync';
      latencies.push(await latency(rec, () => east.apply(APPLICATIONS, app('east-app', sync)), `east/east-app:${sync}`));
      const h = s.health();
      westStates.add(h.clusters.find((c) => c.name === 'west')?.state ?? 'missing');
      if (!h.ready) everNotReady = true;
      await sleep(1_000);
    }
    expect(rec.apps().filter((x) => x.cluster === 'east')).toHaveLength(latencies.length + 1);
    console.log(
      `[watch-faults] black hole: east latency max ${Math.max(...latencies)} ms over ${latencies.length} changes; west seen as ${[...westStates].join(', ')}; ready dropped: ${everNotReady}`,
    );
  }, 60_000);

  // The client's ListWatch retries a TimeoutError by itself without telling the informer; the
  // watch notices a reconnect that got no answer and counts itself down (src/sources/kube/watch.ts).
  it('reports the silent cluster down, not ready and Unreachable', () => {
    expect(westStates.has('down')).toBe(true);
    expect(everNotReady).toBe(true);
    expect(rec.unreachable('west')).toContain(true);
  });

  it('recovers when it answers again, and the change made meanwhile arrives once', async () => {
    west.answerAgain();
    await waitFor(() => rec.apps().some((x) => label(x) === 'west/west-app:Synced'), 15_000, 'west recovers');
    await waitFor(() => s.health().ready, 10_000, 'ready');
    await sleep(300);
    expect(
      rec
        .apps()
        .filter((x) => x.cluster === 'west')
        .map(label),
    ).toEqual(['west/west-app:OutOfSync', 'west/west-app:Synced']);
  }, 30_000);
});
