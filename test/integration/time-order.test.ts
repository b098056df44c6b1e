import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { createLogger } from '../../src/log.ts';
import { createArgoCdApi } from '../../src/sources/argocd/api.ts';
import { startArgoCdPoller, type ArgoCdPoller } from '../../src/sources/argocd/poller.ts';
import { groupRedisKey } from '../../src/track/keys.ts';
import { assembleGroup } from '../../src/track/group-layout.ts';
import { startFakeArgoCd, type FakeArgoCd } from '../fakes/argocd.ts';
import { meshApp } from '../support/argocd.ts';
import { redisUrl, testPrefix } from '../support/redis.ts';
import { postArgocd, startService, stopService } from '../support/service.ts';

/**
 * Issue #12 item 1: a sender's timestamp cannot hide drift. A forged Argo CD snapshot from 2099
 * resolves at most once; the next observation (the Argo CD API poll here) fires it again, and later
 * real webhooks are applied, not stale.
 *
 * No flush runs during these tests (group_wait 1h): a group whose findings resolve before group_wait,
 * told to nobody, is deleted by its flush (track/decide.ts flush), and its owner's snapshot record
 * with it. With the usual 300 ms, a loaded machine ran that flush mid-test: the next poll then met
 * no record at all (it proved nothing about order), and the group read at the end was gone.
 */

const API_TOKEN = 'argocd-api-token-DO-NOT-LOG';
const FAR_FUTURE = '2099-01-01T00:00:00Z';
const BEFORE_2030 = Date.parse('2030-01-01T00:00:00Z');

let prefix: string;
let argo: FakeArgoCd;
let svc: (App & { url: string }) | undefined;
/** The running poller, stopped after each test. */
let polling: ArgoCdPoller | undefined;

beforeEach(async () => {
  prefix = testPrefix('timeorder');
  argo = await startFakeArgoCd({ token: API_TOKEN });
});

afterEach(async () => {
  await polling?.stop();
  polling = undefined;
  await stopService(svc, redisUrl(), prefix);
  svc = undefined;
  await argo.close();
});

/**
 * The service and a poller of the fake Argo CD, both on the service's clock (the shared one): the
 * times the tests send as "now" are on the clock the poll's observations are ordered by.
 */
async function start(log = createLogger('silent')): Promise<{ app: App & { url: string }; poller: ArgoCdPoller; now: () => number }> {
  const app = await startService({ redisUrl: redisUrl(), prefix, log, env: { MESHDRIFT_GROUP_WAIT: '1h' } });
  svc = app;
  const now = (): number => app.clock?.now() ?? Date.now();
  const poller = startArgoCdPoller({
    api: createArgoCdApi({ apiUrl: argo.url, token: API_TOKEN, timeoutMs: 5_000 }),
    cluster: 'test-cluster',
    filters: { projects: ['mesh-prod'], appNamespaces: [] },
    ingest: app.ingest,
    log: createLogger('silent'),
    intervalMs: 3_600_000,
    runAtStart: false,
    now,
  });
  polling = poller;
  return { app, poller, now };
}

/** An owner's last snapshot as a group keeps it: the record, and the bare time older replicas read. */
interface StoredRecord {
  at: number;
  observed: boolean;
  legacyAt: number | undefined;
}

/** Every alert group's record of each owner's last snapshot, read from Redis as stored. */
async function snapshotRecords(): Promise<StoredRecord[]> {
  const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  try {
    const out: StoredRecord[] = [];
    for (const key of await redis.keys(groupRedisKey(prefix, '*'))) {
      const state = assembleGroup(key.slice(groupRedisKey(prefix, '').length), await redis.hgetall(key));
      if (state === null) continue;
      for (const [owner, rec] of Object.entries(state.snapshotRecords ?? {}))
        out.push({ at: rec.at, observed: rec.observed, legacyAt: state.snapshots[owner] });
    }
    return out;
  } finally {
    redis.disconnect();
  }
}

interface AlertsView {
  groups: { groupKey: string; findings: { resource: { kind: string; name: string }; status: string }[] }[];
}
async function firing(url: string): Promise<string[]> {
  const body = (await (await fetch(`${url}/api/v1/alerts`)).json()) as AlertsView;
  return body.groups.flatMap((g) => g.findings.filter((f) => f.status === 'firing').map((f) => `${f.resource.kind}/${f.resource.name}`)).sort();
}

async function webhook(url: string, app: unknown): Promise<string> {
  const res = await postArgocd(url, { app });
  expect(res.status).toBeLessThan(300);
  return ((await res.json()) as { outcome: string }).outcome;
}

describe('a forged far-future snapshot', () => {
  it('resolves nothing past the next observation; later real webhooks are applied', async () => {
    const { app, poller, now } = await start();
    expect(await poller.pollNow()).toMatchObject({ outcome: 'ok', discovered: 1 });
    const drifted = await firing(app.url);
    expect(drifted.length).toBeGreaterThan(0);

    // The forgery: "Synced, reconciled in 2099". It is a snapshot, so it resolves (the one wrong
    // notification it can cause); its time counts as its receipt, not 2099.
    expect(await webhook(app.url, meshApp('Synced', FAR_FUTURE))).toBe('tracked');
    expect(await firing(app.url)).toEqual([]);
    // The group kept the forgery's record, the one the next observation is ordered against.
    const forged = await snapshotRecords();
    expect(forged.length).toBeGreaterThan(0);
    for (const rec of forged) {
      expect(rec.observed).toBe(false);
      expect(rec.at).toBeLessThan(BEFORE_2030);
    }

    // The next observation: Argo CD's API still says OutOfSync. It is not stale: it fires again.
    expect(await poller.pollNow()).toMatchObject({ outcome: 'ok', discovered: 1 });
    expect(await firing(app.url)).toEqual(drifted);

    // A later real webhook, with its real time, is applied (before the fix every later snapshot was
    // stale for 30 days): the same drift is unchanged, the real sync resolves.
    expect(await webhook(app.url, meshApp('OutOfSync', new Date(now()).toISOString()))).toBe('unchanged');
    expect(await webhook(app.url, meshApp('Synced', new Date(now()).toISOString()))).toBe('tracked');
    expect(await firing(app.url)).toEqual([]);

    // What the group remembers of the owner: the last webhook, as told, at its real time.
    const records = await snapshotRecords();
    expect(records.length).toBeGreaterThan(0);
    for (const rec of records) {
      expect(rec.observed).toBe(false);
      expect(rec.at).toBeLessThan(BEFORE_2030);
      expect(rec.legacyAt).toBe(rec.at);
    }
  });

  it('a forged webhook cannot make the next observed snapshot stale, even after many forgeries', async () => {
    let logs = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs += chunk.toString();
        cb();
      },
    });
    const { app, poller } = await start(createLogger('info', sink));
    expect(await poller.pollNow()).toMatchObject({ outcome: 'ok', discovered: 1 });
    const drifted = await firing(app.url);
    expect(drifted.length).toBeGreaterThan(0);
    for (let i = 0; i < 3; i++) {
      expect(await webhook(app.url, meshApp('Synced', FAR_FUTURE))).toMatch(/tracked|unchanged/);
      expect(await firing(app.url)).toEqual([]);
      expect(await poller.pollNow()).toMatchObject({ outcome: 'ok', discovered: 1 });
      expect(await firing(app.url)).toEqual(drifted);
    }
    const metrics = await (await fetch(`${app.url}/metrics`)).text();
    expect(metrics).toMatch(/meshdrift_sender_time_clamped_total\{source="argocd-webhook",direction="future"\} 3/);
    expect(logs.match(/sender timestamp after its receipt/g)).toHaveLength(3);
    expect(logs).toContain('"claimed":"2099-01-01T00:00:00.000Z"');
  });
});
