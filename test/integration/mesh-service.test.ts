import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { utcShort } from '../../src/deliver/evidence.ts';
import { createLogger } from '../../src/log.ts';
import { APPLICATIONS } from '../../src/sources/kube/resources.ts';
import { startFakeKubeApi, type FakeKubeApi } from '../fakes/kube-api.ts';
import { startFakePagerDuty, type FakePagerDuty } from '../fakes/pagerduty.ts';
import { isThreadReply, startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { kubeconfigFor } from '../support/kubeconfig.ts';
import {
  AUTHORIZATION_POLICIES,
  entry,
  gitopsEntry,
  HEADER_SECRET,
  HOSTS_ONLY,
  HTTP_ONLY,
  handMadeAuthorizationPolicy,
  iso,
  JWT,
  type Owner,
  reviewsHttp,
  VIRTUAL_SERVICES,
  virtualService,
} from '../support/mesh.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { postFlux, SLACK_TOKEN, startService, stopService } from '../support/service.ts';

/**
 * Issue #16 through the whole service: the mesh watch, the Argo CD watch, the tracker, Slack,
 * PagerDuty, the API and the logs. A kubectl edit of a VirtualService weight is ONE alert whose
 * finding names the path, before/after and `kubectl-edit` with its time, under Argo CD (whose stale
 * "Synced" neither resolves nor re-fires it, and whose later OutOfSync is the same finding) and
 * under Flux (after Flux's apply reverted the object). The header value and the JWT in the objects
 * never appear anywhere.
 */

const EDIT = Date.parse('2026-12-04T14:03:00Z');
const T0 = EDIT - 3_600_000;
const ARGO: Owner = { tool: 'argocd', app: 'bookinfo-mesh' };
const FLUX: Owner = { tool: 'flux', kustomization: 'bookinfo', namespace: 'flux-system' };

let api: FakeKubeApi;
let slack: FakeSlack;
let pd: FakePagerDuty;
let svc: (App & { url: string }) | undefined;
let prefix: string;
let logs = '';

/** The Argo CD Application of the reviews VirtualService, as its controller writes it. */
function application(
  sync: 'Synced' | 'OutOfSync',
  reconciledAt: number,
  health = 'Healthy',
  spec: { project: string; destination: Record<string, string> } = {
    project: 'default',
    destination: { server: 'https://kubernetes.default.svc', namespace: 'bookinfo' },
  },
) {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: { name: 'bookinfo-mesh', namespace: 'argocd', uid: 'uid-app-bookinfo-mesh', labels: { team: 'payments' } },
    spec,
    status: {
      sync: { status: sync, revision: '4f1c2e9a7b' },
      health: { status: health },
      reconciledAt: iso(reconciledAt),
      resources: [
        {
          group: 'networking.istio.io',
          version: 'v1',
          kind: 'VirtualService',
          namespace: 'bookinfo',
          name: 'reviews',
          status: sync,
          health: { status: 'Healthy' },
        },
      ],
    },
  };
}

beforeEach(async () => {
  prefix = testPrefix('meshsvc');
  logs = '';
  api = await startFakeKubeApi();
  for (const r of [APPLICATIONS, VIRTUAL_SERVICES, AUTHORIZATION_POLICIES]) api.serve(r);
  slack = await startFakeSlack({ token: SLACK_TOKEN });
  pd = await startFakePagerDuty();
});

afterEach(async () => {
  await stopService(svc, redisUrl(), prefix);
  svc = undefined;
  await slack.close();
  await pd.close();
  await api.close();
});

const DEFAULT_POLICY = `receivers:\n  - { name: chat, slack: { channel: "#mesh" } }\n  - { name: pager, pagerduty: { routing_key_env: PD_KEY } }\nroute:\n  receiver: chat\n  routes:\n    - { receiver: chat, continue: true }\n    - { receiver: pager }\n`;

async function start(opts: { policy?: string; clusters?: string; env?: Record<string, string> } = {}): Promise<App & { url: string }> {
  const dir = mkdtempSync(`${tmpdir()}/meshdrift-mesh-`);
  writeFileSync(`${dir}/p.yaml`, opts.policy ?? DEFAULT_POLICY);
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs += chunk.toString();
      cb();
    },
  });
  svc = await startService({
    redisUrl: redisUrl(),
    prefix,
    slackUrl: slack.url,
    log: createLogger('debug', sink),
    env: {
      MESHDRIFT_CLUSTERS: opts.clusters ?? `prod-eu-1=${kubeconfigFor(api)}`,
      MESHDRIFT_WATCH: 'applications',
      MESHDRIFT_LEADER_ELECTION: 'false',
      MESHDRIFT_POLICY: `${dir}/p.yaml`,
      PD_KEY: 'PDKEY0123456789abcdef0123456789a',
      PAGERDUTY_EVENTS_URL: pd.eventsUrl,
      ...opts.env,
    },
  });
  await waitFor(() => api.openWatches(VIRTUAL_SERVICES) > 0, 15_000, 'the mesh watch');
  return svc;
}

const slackText = (): string => JSON.stringify([...slack.messages.values()]) + JSON.stringify(slack.calls);
const alerts = async (): Promise<string> => (await fetch(`${svc?.url}/api/v1/alerts`)).text();
const history = async (): Promise<string> => (await fetch(`${svc?.url}/api/v1/alerts/history`)).text();
const settle = (ms = 1_500): Promise<void> => new Promise((r) => setTimeout(r, ms));

function expectNoSecrets(outputs: readonly string[]): void {
  for (const secret of [HEADER_SECRET, JWT.slice(0, 24), JWT.split('.')[2] ?? JWT]) {
    expect(logs, 'logs').not.toContain(secret);
    for (const out of outputs) expect(out).not.toContain(secret);
  }
}

describe('a kubectl edit of a mesh object, through the whole service', () => {
  it('under Argo CD: one alert at once with path, before/after and kubectl-edit; a stale Synced keeps it; OutOfSync is the same finding; the sync resolves it', async () => {
    api.apply(APPLICATIONS, application('Synced', EDIT - 60_000));
    api.apply(VIRTUAL_SERVICES, virtualService({ owner: ARGO, http: reviewsHttp([90, 10]), managers: [gitopsEntry(ARGO, T0)] }));
    await start();
    api.apply(
      VIRTUAL_SERVICES,
      virtualService({
        owner: ARGO,
        http: reviewsHttp([50, 50]),
        managers: [gitopsEntry(ARGO, T0, HOSTS_ONLY), entry('kubectl-edit', 'Update', EDIT, HTTP_ONLY)],
      }),
    );
    await waitFor(() => slack.messages.size === 1, 15_000, 'the alert');
    const firing = await alerts();
    expect(firing).toContain('spec.http[0].route[0].weight');
    expect(firing).toContain('"before":"90"');
    expect(firing).toContain('"after":"50"');
    expect(firing).toContain('kubectl-edit');
    expect(firing).toContain(utcShort(EDIT));
    const message = slackText();
    for (const text of ['spec.http[0].route[0].weight', 'kubectl-edit', utcShort(EDIT), 'VirtualService']) expect(message).toContain(text);
    // Argo CD's app changes, but its comparison is still the one before the edit: no resolve.
    api.apply(APPLICATIONS, application('Synced', EDIT - 60_000, 'Progressing'));
    await settle();
    expect(slackText()).not.toContain('RESOLVED');
    expect(await alerts()).toContain('kubectl-edit');
    // Argo CD's refresh sees it: OutOfSync, the same finding (no second message), evidence kept.
    api.apply(APPLICATIONS, application('OutOfSync', EDIT + 180_000));
    await settle();
    expect(slack.messages.size).toBe(1);
    expect(await alerts()).toContain('spec.http[0].route[0].weight');
    // The sync puts the weights back; Argo CD compares again: resolved, in the same message.
    api.apply(VIRTUAL_SERVICES, virtualService({ owner: ARGO, http: reviewsHttp([90, 10]), managers: [gitopsEntry(ARGO, EDIT + 240_000)] }));
    api.apply(APPLICATIONS, application('Synced', EDIT + 250_000));
    await waitFor(() => slackText().includes('RESOLVED'), 15_000, 'the resolve');
    expect(slack.messages.size).toBe(1);
    expectNoSecrets([slackText(), JSON.stringify(pd.events), await alerts(), await history()]);
  });

  it("under Flux: one alert, still naming kubectl-edit and the change after Flux's apply reverted the object", async () => {
    api.apply(VIRTUAL_SERVICES, virtualService({ owner: FLUX, http: reviewsHttp([90, 10]), managers: [gitopsEntry(FLUX, T0)] }));
    await start();
    api.apply(
      VIRTUAL_SERVICES,
      virtualService({
        owner: FLUX,
        http: reviewsHttp([50, 50]),
        managers: [gitopsEntry(FLUX, T0, HOSTS_ONLY), entry('kubectl-edit', 'Update', EDIT, HTTP_ONLY)],
      }),
    );
    // Flux's apply (kubectl's managers stripped) follows at once: before the group's first message.
    api.apply(VIRTUAL_SERVICES, virtualService({ owner: FLUX, http: reviewsHttp([90, 10]), managers: [gitopsEntry(FLUX, EDIT + 30_000)] }));
    await waitFor(() => slack.messages.size === 1, 15_000, 'the alert');
    await settle();
    expect(slack.messages.size).toBe(1);
    const told = slackText();
    expect(told).toContain('Corrected');
    expect(told).toContain('spec.http[0].route[0].weight');
    expect(told).toContain('kubectl-edit');
    expect(told).toContain(utcShort(EDIT));
    expect(JSON.stringify(pd.events)).toContain('kubectl-edit');
    expectNoSecrets([told, JSON.stringify(pd.events), await alerts(), await history()]);
  });

  it("under Flux: an edit told drifted, then reverted by Flux's apply, is told resolved after resolve_wait, not at the next repeat", async () => {
    // group_interval 1 h: the revert must not wait for its tick (nor for repeat_interval, 4 h).
    const policy =
      'receivers:\n  - { name: chat, slack: { channel: "#mesh" } }\nroute:\n  receiver: chat\n  group_wait: 200ms\n  group_interval: 1h\n  resolve_wait: 1s\n';
    api.apply(VIRTUAL_SERVICES, virtualService({ owner: FLUX, http: reviewsHttp([90, 10]), managers: [gitopsEntry(FLUX, T0)] }));
    await start({ policy });
    api.apply(
      VIRTUAL_SERVICES,
      virtualService({
        owner: FLUX,
        http: reviewsHttp([50, 50]),
        managers: [gitopsEntry(FLUX, T0, HOSTS_ONLY), entry('kubectl-edit', 'Update', EDIT, HTTP_ONLY)],
      }),
    );
    await waitFor(() => slack.messages.size === 1, 15_000, 'the alert');
    expect(slackText()).toContain('Modified');
    expect(slackText()).not.toContain('RESOLVED');
    // Flux's apply puts the weights back: the watch reports Corrected, and the same message says resolved.
    api.apply(VIRTUAL_SERVICES, virtualService({ owner: FLUX, http: reviewsHttp([90, 10]), managers: [gitopsEntry(FLUX, EDIT + 30_000)] }));
    await waitFor(() => slackText().includes('RESOLVED'), 15_000, 'the resolve');
    expect(slack.messages.size).toBe(1);
    expect(await alerts()).not.toContain('kubectl-edit');
  });

  it("under Flux: kustomize-controller's change set for a revert the watch already told resolved is no second alert; a new edit is", async () => {
    const policy =
      'receivers:\n  - { name: chat, slack: { channel: "#mesh" } }\nroute:\n  receiver: chat\n  group_wait: 200ms\n  group_interval: 1s\n  resolve_wait: 200ms\n';
    const R1 = 'main@sha1:1111111111111111111111111111111111111111';
    const fluxEvent = (message: string, timestamp: number, reason = 'Progressing') => ({
      involvedObject: {
        kind: 'Kustomization',
        namespace: 'flux-system',
        name: 'bookinfo',
        uid: 'uid-ks-bookinfo',
        apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
      },
      severity: 'info',
      timestamp: new Date(timestamp).toISOString(),
      message,
      reason,
      metadata: { revision: R1 },
      reportingController: 'kustomize-controller',
      reportingInstance: 'kustomize-controller-abc',
    });
    api.apply(VIRTUAL_SERVICES, virtualService({ owner: FLUX, http: reviewsHttp([90, 10]), managers: [gitopsEntry(FLUX, T0)] }));
    const app = await start({ policy, env: { MESHDRIFT_CLUSTER: 'prod-eu-1' } });
    // Flux's last reconcile: the revision a change set is judged against.
    const heartbeat = await postFlux(app.url, fluxEvent('Reconciliation finished in 1s, next run in 10m0s', Date.now() - 5_000, 'ReconciliationSucceeded'));
    expect(await heartbeat.json()).toMatchObject({ outcome: 'ignored' });
    const edit = (weights: [number, number], at: number): unknown =>
      api.apply(
        VIRTUAL_SERVICES,
        virtualService({
          owner: FLUX,
          http: reviewsHttp(weights),
          managers: [gitopsEntry(FLUX, T0, HOSTS_ONLY), entry('kubectl-edit', 'Update', at, HTTP_ONLY)],
        }),
      );
    edit([50, 50], EDIT);
    await waitFor(() => slack.messages.size === 1, 15_000, 'the alert');
    // Flux's apply puts the weights back: the watch reports Corrected, and the message says resolved.
    const revertedAt = Date.now();
    api.apply(VIRTUAL_SERVICES, virtualService({ owner: FLUX, http: reviewsHttp([90, 10]), managers: [gitopsEntry(FLUX, EDIT + 30_000)] }));
    await waitFor(() => slackText().includes('RESOLVED'), 15_000, 'the resolve');
    // kustomize-controller's change set for that same revert comes after the all-clear.
    const late = await postFlux(app.url, fluxEvent('VirtualService/bookinfo/reviews configured', revertedAt));
    expect(late.status).toBe(202);
    // The same finding (one fingerprint for the watch and Flux), already accounted for: nothing changes.
    expect(await late.json()).toMatchObject({ outcome: 'unchanged' });
    await settle(2_500); // past group_wait, resolve_wait and group_interval: a new episode would post again
    expect(slack.messages.size).toBe(1);
    expect(slack.calls.filter((c) => c.method === 'chat.postMessage' && !isThreadReply(c))).toHaveLength(1);
    // A new edit, reverted again later: a new alert.
    edit([10, 90], EDIT + 60_000);
    await waitFor(() => slack.messages.size === 2, 15_000, 'the alert of the second edit');
  });

  it('a hand-made AuthorizationPolicy is an Unmanaged alert (tool meshdrift); its Bearer JWT appears nowhere', async () => {
    await start();
    api.apply(AUTHORIZATION_POLICIES, handMadeAuthorizationPolicy(EDIT));
    await waitFor(() => slack.messages.size === 1, 15_000, 'the alert');
    const firing = await alerts();
    expect(firing).toContain('Unmanaged');
    expect(firing).toContain('allow-debug');
    expect(firing).toContain('"tool":"meshdrift"');
    expectNoSecrets([slackText(), JSON.stringify(pd.events), firing]);
  });
});

describe("the watch-seen edit routed like Argo CD's verdict (the app's project and labels)", () => {
  const PAYMENTS = { project: 'payments', destination: { server: 'https://kubernetes.default.svc', namespace: 'bookinfo' } };
  const ROUTE_ON_PROJECT = `receivers:\n  - { name: chat, slack: { channel: "#mesh" } }\n  - { name: pager, pagerduty: { routing_key_env: PD_KEY } }\nroute:\n  receiver: chat\n  routes:\n    - { receiver: pager, matchers: ['project="payments"'] }\n`;
  const editReviews = (target: FakeKubeApi): unknown =>
    target.apply(
      VIRTUAL_SERVICES,
      virtualService({
        owner: ARGO,
        http: reviewsHttp([50, 50]),
        managers: [gitopsEntry(ARGO, T0, HOSTS_ONLY), entry('kubectl-edit', 'Update', EDIT, HTTP_ONLY)],
      }),
    );

  it('a route on project="payments" gets the watch-seen edit at once, before any Argo CD OutOfSync', async () => {
    api.apply(APPLICATIONS, application('Synced', EDIT - 60_000, 'Healthy', PAYMENTS));
    api.apply(VIRTUAL_SERVICES, virtualService({ owner: ARGO, http: reviewsHttp([90, 10]), managers: [gitopsEntry(ARGO, T0)] }));
    await start({ policy: ROUTE_ON_PROJECT });
    await waitFor(() => api.openWatches(APPLICATIONS) > 0, 15_000, 'the Application watch');
    editReviews(api);
    await waitFor(() => pd.events.length >= 1, 15_000, 'the page');
    const paged = JSON.stringify(pd.events);
    expect(paged).toContain('kubectl-edit');
    expect(paged).toContain('spec.http[0].route[0].weight');
    expect(paged).toContain('payments');
    await settle();
    expect(slack.messages.size).toBe(0);
    const firing = await alerts();
    expect(firing).toContain('"project":"payments"');
  });

  it('Argo CD in one cluster deploying into another (destination name = meshdrift cluster): the edit and the OutOfSync are one alert', async () => {
    const spoke = await startFakeKubeApi();
    spoke.serve(VIRTUAL_SERVICES);
    try {
      const SPOKE_APP = { project: 'payments', destination: { name: 'spoke', namespace: 'bookinfo' } };
      api.apply(APPLICATIONS, application('Synced', EDIT - 60_000, 'Healthy', SPOKE_APP));
      spoke.apply(VIRTUAL_SERVICES, virtualService({ owner: ARGO, http: reviewsHttp([90, 10]), managers: [gitopsEntry(ARGO, T0)] }));
      await start({ clusters: `hub=${kubeconfigFor(api)},spoke=${kubeconfigFor(spoke)}` });
      await waitFor(() => spoke.openWatches(VIRTUAL_SERVICES) > 0 && api.openWatches(APPLICATIONS) > 0, 15_000, 'the watches');
      editReviews(spoke);
      await waitFor(() => slack.messages.size === 1, 15_000, 'the alert');
      expect(await alerts()).toContain('"cluster":"hub"');
      api.apply(APPLICATIONS, application('OutOfSync', EDIT + 180_000, 'Healthy', SPOKE_APP));
      await settle();
      expect(slack.messages.size).toBe(1);
      const firing = await alerts();
      expect(firing).toContain('kubectl-edit');
      expect(firing).not.toContain('"cluster":"spoke"');
    } finally {
      await spoke.close();
    }
  });
});
