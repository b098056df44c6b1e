import { afterEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { APPLICATIONS } from '../../src/sources/kube/resources.ts';
import { startFakeKubeApi, type FakeKubeApi } from '../fakes/kube-api.ts';
import { kubeconfigFor } from '../support/kubeconfig.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { startService, stopService } from '../support/service.ts';

/**
 * The gauges behind the leadership alerts (MeshdriftNoLeader, MeshdriftSeveralLeaders in
 * deploy/prometheus/rules.yaml, issue #7): `meshdrift_leader_election_enabled` says a replica
 * competes for the watch Lease, so "no replica leads" can be told from "no watches configured";
 * `meshdrift_leader` says which one holds it.
 */

let api: FakeKubeApi | undefined;
let svc: (App & { url: string }) | undefined;
let prefix = '';

afterEach(async () => {
  await stopService(svc, redisUrl(), prefix);
  svc = undefined;
  await api?.close();
  api = undefined;
});

const gauge = (text: string, name: string): number | undefined => {
  const m = text.match(new RegExp(`^${name} (\\S+)$`, 'm'));
  return m?.[1] === undefined ? undefined : Number(m[1]);
};
const scrape = async (): Promise<string> => (await fetch(`${svc?.url ?? ''}/metrics`)).text();

async function startWith(env: Record<string, string>): Promise<void> {
  prefix = testPrefix('leadermetrics');
  svc = await startService({ redisUrl: redisUrl(), prefix, env });
}

describe('leadership metrics on /metrics', () => {
  it('watches with leader election: election enabled, and leader once the Lease is held', async () => {
    api = await startFakeKubeApi();
    api.serve(APPLICATIONS);
    await startWith({ MESHDRIFT_CLUSTERS: `prod-eu-1=${kubeconfigFor(api)}`, MESHDRIFT_WATCH: 'applications' });
    expect(gauge(await scrape(), 'meshdrift_leader_election_enabled')).toBe(1);
    await waitFor(async () => gauge(await scrape(), 'meshdrift_leader') === 1, 15_000, 'meshdrift_leader 1');
  });

  it('watches without leader election: not competing, not leader (no Lease to hold)', async () => {
    api = await startFakeKubeApi();
    api.serve(APPLICATIONS);
    await startWith({ MESHDRIFT_CLUSTERS: `prod-eu-1=${kubeconfigFor(api)}`, MESHDRIFT_WATCH: 'applications', MESHDRIFT_LEADER_ELECTION: 'false' });
    const text = await scrape();
    expect(gauge(text, 'meshdrift_leader_election_enabled')).toBe(0);
    expect(gauge(text, 'meshdrift_leader')).toBe(0);
  });

  it('webhooks only (no MESHDRIFT_CLUSTERS): both gauges exported, at 0', async () => {
    await startWith({});
    const text = await scrape();
    expect(gauge(text, 'meshdrift_leader_election_enabled')).toBe(0);
    expect(gauge(text, 'meshdrift_leader')).toBe(0);
  });
});
