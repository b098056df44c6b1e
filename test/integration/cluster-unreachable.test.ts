import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { APPLICATIONS } from '../../src/sources/kube/resources.ts';
import { startFakeKubeApi, type FakeKubeApi } from '../fakes/kube-api.ts';
import { startFakeSlack, type FakeSlack, type FakeSlackMessage } from '../fakes/slack.ts';
import { meshApp } from '../support/argocd.ts';
import { kubeconfigFor } from '../support/kubeconfig.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { postArgocd, startService, stopService } from '../support/service.ts';

/**
 * "One unreachable cluster never stalls the others, and raises its own 'cluster unreachable'
 * alert that inhibits that cluster's per-resource alerts" (issue #5), through the whole service:
 * two clusters watched by MESHDRIFT_CLUSTERS, one of which stops answering.
 */

const API_TOKEN = 'api-token-SECRET';
let east: FakeKubeApi;
let west: FakeKubeApi;
let slack: FakeSlack;
let svc: (App & { url: string }) | undefined;
let prefix: string;

const text = (m: FakeSlackMessage | undefined): string => `${m?.text ?? ''} ${JSON.stringify(m?.blocks ?? [])}`;
const channel = (): FakeSlackMessage[] => [...slack.messages.values()];
const about = (needle: string): FakeSlackMessage[] => channel().filter((m) => text(m).includes(needle));

/** The mesh fixture app, renamed: another Application with the same drift. */
function renamed(name: string): { app: unknown } {
  const app = meshApp('OutOfSync') as { metadata: { name: string } };
  app.metadata.name = name;
  return { app };
}

interface AlertsView {
  groups: Array<{ labels: { cluster: string; owner: { name: string } }; findings: Array<{ state: string; inhibitedBy?: { rule: string; source: string } }> }>;
}

beforeEach(async () => {
  prefix = testPrefix('unreach');
  east = await startFakeKubeApi();
  west = await startFakeKubeApi();
  for (const api of [east, west]) {
    api.serve(APPLICATIONS);
    api.apply(APPLICATIONS, meshApp('OutOfSync'));
  }
  slack = await startFakeSlack({ token: 'xoxb-test-SECRET-token' });
});

afterEach(async () => {
  await stopService(svc, redisUrl(), prefix);
  svc = undefined;
  await slack.close();
  await Promise.all([east.close(), west.close()]);
});

describe('a cluster that stops answering', () => {
  it('raises one "cluster unreachable" alert that holds back that cluster\'s alerts, not the other cluster\'s; both resolve when it is back', async () => {
    svc = await startService({
      redisUrl: redisUrl(),
      prefix,
      slackUrl: slack.url,
      env: {
        MESHDRIFT_CLUSTERS: `east=${kubeconfigFor(east)},west=${kubeconfigFor(west)}`,
        MESHDRIFT_WATCH: 'applications',
        MESHDRIFT_LEADER_ELECTION: 'false',
        MESHDRIFT_SOURCE_DOWN_AFTER: '1s',
        // Webhooks are labelled with this cluster: they stand for drift seen in west by other means.
        MESHDRIFT_CLUSTER: 'west',
        MESHDRIFT_API_TOKEN: API_TOKEN,
      },
    });
    const url = svc.url;
    const alerts = async (): Promise<AlertsView> =>
      (await (await fetch(`${url}/api/v1/alerts`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).json()) as AlertsView;

    await waitFor(() => about('east').length === 1 && about('west').length === 1, 15_000, 'the drift of both clusters');
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    await west.goUnreachable();
    await waitFor(() => about('Unreachable').length === 1, 15_000, 'the cluster unreachable alert');
    const alert = about('Unreachable')[0];
    expect(text(alert)).toContain('west');
    expect(text(alert)).not.toContain('payments-allow-frontend');
    expect((await fetch(`${url}/readyz`)).status).toBe(503);

    // New drift in west (by webhook) is tracked but held back while west cannot be read.
    expect((await postArgocd(url, renamed('checkout-mesh'))).status).toBe(202);
    await waitFor(async () => (await alerts()).groups.some((g) => g.labels.owner.name === 'checkout-mesh'), 10_000, 'checkout-mesh tracked');
    const held = (await alerts()).groups.find((g) => g.labels.owner.name === 'checkout-mesh');
    expect(held?.findings.length).toBeGreaterThan(0);
    expect(held?.findings.every((f) => f.inhibitedBy?.rule === 'meshdrift:cluster-unreachable')).toBe(true);

    // East is not held back: its resolve goes out while west is down.
    east.apply(APPLICATIONS, meshApp('Synced', '2026-11-24T10:30:00Z'));
    await waitFor(() => text(about('east')[0]).includes('RESOLVED'), 15_000, 'east resolves');
    // Several group intervals (600 ms) later, checkout-mesh has still not been sent.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(about('checkout-mesh')).toEqual([]);

    // West answers again: the cluster alert resolves, and what it held back and still stands is sent.
    await west.comeBack();
    await waitFor(() => text(about('Unreachable')[0]).includes('RESOLVED'), 15_000, 'the cluster alert resolves');
    await waitFor(() => about('checkout-mesh').length === 1, 15_000, 'checkout-mesh sent after the outage');
    expect(about('Unreachable')).toHaveLength(1);
    await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, 10_000, 'ready again');
  });
});
