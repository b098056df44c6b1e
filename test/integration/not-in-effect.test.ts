import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { APPLICATIONS } from '../../src/sources/kube/resources.ts';
import { startFakeKubeApi, type FakeKubeApi } from '../fakes/kube-api.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { kubeconfigFor } from '../support/kubeconfig.ts';
import { gitopsEntry, HTTP_ROUTES, iso, type Owner, rejectedHttpRoute, reviewsHttp, VIRTUAL_SERVICES, virtualService } from '../support/mesh.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { SLACK_TOKEN, startService, stopService } from '../support/service.ts';

/**
 * Issue #16 part 5 through the whole service: the fake Kubernetes API serves the mesh objects with
 * the status their controllers write, the mesh watch calls notInEffect, the tracker, Slack and the
 * API do the rest. An HTTPRoute its Gateway refused (Accepted=False about the current generation)
 * under a Synced Argo CD app is one NotInEffect finding and one alert, not resolved by Argo CD's
 * Synced snapshots, resolved in the same message when the condition turns True. An Istio
 * VirtualService istiod's analysis flags with an ERROR (level ERROR, observedGeneration as a
 * string) under Flux likewise, resolved when the message goes.
 */

const T0 = Date.parse('2026-12-04T14:00:00Z');
const ARGO: Owner = { tool: 'argocd', app: 'bookinfo-gateway' };
const FLUX: Owner = { tool: 'flux', kustomization: 'bookinfo', namespace: 'flux-system' };
const ROUTE_REASON = 'not accepted by Gateway public (listener https): NotAllowedByListeners: hostname does not match any listener';

let api: FakeKubeApi;
let slack: FakeSlack;
let svc: (App & { url: string }) | undefined;
let prefix: string;

/** The Argo CD Application owning the route: Synced and Healthy, as Argo CD sees it (Git = live). */
function syncedApplication(reconciledAt: number) {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: { name: 'bookinfo-gateway', namespace: 'argocd', uid: 'uid-app-bookinfo-gateway' },
    spec: { project: 'default', destination: { server: 'https://kubernetes.default.svc', namespace: 'bookinfo' } },
    status: {
      sync: { status: 'Synced', revision: '4f1c2e9a7b' },
      health: { status: 'Healthy' },
      reconciledAt: iso(reconciledAt),
      resources: [
        {
          group: 'gateway.networking.k8s.io',
          version: 'v1',
          kind: 'HTTPRoute',
          namespace: 'bookinfo',
          name: 'reviews-route',
          status: 'Synced',
          health: { status: 'Healthy' },
        },
      ],
    },
  };
}

/** The route with its one parent's Accepted condition set to `accepted`, about generation 2. */
function routeAccepted(accepted: boolean) {
  const route = rejectedHttpRoute(ARGO, T0);
  const [parent] = route.status.parents;
  if (!parent) throw new Error('the route fixture has a parent');
  const condition = accepted
    ? { type: 'Accepted', status: 'True', reason: 'Accepted', message: 'Route was valid', observedGeneration: 2, lastTransitionTime: iso(T0 + 60_000) }
    : parent.conditions[0];
  return { ...route, status: { parents: [{ ...parent, conditions: [condition] }] } };
}

/** The reviews VirtualService under Flux, with the status istiod writes when analysis is on. */
function analysedVirtualService(validationMessages: unknown[]) {
  const vs = virtualService({ owner: FLUX, http: reviewsHttp([90, 10]), managers: [gitopsEntry(FLUX, T0)] });
  return {
    ...vs,
    spec: { ...vs.spec, gateways: ['bogus-gateway'] },
    status: { observedGeneration: '1', validationMessages },
  };
}

const IST0101 = { documentationUrl: 'https://istio.io/v1.24/docs/reference/config/analysis/ist0101/', level: 'ERROR', type: { code: 'IST0101' } };

beforeEach(async () => {
  prefix = testPrefix('notinfx');
  api = await startFakeKubeApi();
  for (const r of [APPLICATIONS, HTTP_ROUTES, VIRTUAL_SERVICES]) api.serve(r);
  slack = await startFakeSlack({ token: SLACK_TOKEN });
});

afterEach(async () => {
  await stopService(svc, redisUrl(), prefix);
  svc = undefined;
  await slack.close();
  await api.close();
});

async function start(): Promise<App & { url: string }> {
  svc = await startService({
    redisUrl: redisUrl(),
    prefix,
    slackUrl: slack.url,
    env: {
      MESHDRIFT_CLUSTERS: `prod-eu-1=${kubeconfigFor(api)}`,
      MESHDRIFT_WATCH: 'applications',
      MESHDRIFT_LEADER_ELECTION: 'false',
    },
  });
  await waitFor(() => api.openWatches(HTTP_ROUTES) > 0 && api.openWatches(VIRTUAL_SERVICES) > 0, 15_000, 'the mesh watch');
  return svc;
}

interface AlertsView {
  groups: Array<{ findings: Array<{ state: string; severity: string; resource: { kind: string; name: string }; detail?: string }> }>;
}

const slackText = (): string => JSON.stringify([...slack.messages.values()]);
const alerts = async (): Promise<AlertsView> => (await (await fetch(`${svc?.url}/api/v1/alerts`)).json()) as AlertsView;
const findingsOf = async (kind: string) => (await alerts()).groups.flatMap((g) => g.findings).filter((f) => f.resource.kind === kind);
const settle = (ms = 1_500): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('not in effect, through the whole service', () => {
  it('an HTTPRoute its Gateway refused under a Synced Argo CD app: one NotInEffect alert, kept by Synced snapshots, resolved when Accepted turns True', async () => {
    api.apply(APPLICATIONS, syncedApplication(T0));
    api.apply(HTTP_ROUTES, routeAccepted(false));
    await start();

    await waitFor(() => slack.messages.size === 1, 15_000, 'the not-in-effect alert');
    const [finding, ...others] = await findingsOf('HTTPRoute');
    expect(others).toEqual([]);
    expect(finding).toMatchObject({ state: 'NotInEffect', severity: 'high', resource: { name: 'reviews-route' }, detail: ROUTE_REASON });
    const told = slackText();
    expect(told).toContain('reviews-route');
    expect(told).toContain('NotAllowedByListeners');

    // Argo CD compares again and still calls the app Synced (Git = live): the finding stands.
    api.apply(APPLICATIONS, syncedApplication(T0 + 180_000));
    await settle();
    expect(slackText()).not.toContain('RESOLVED');
    expect((await findingsOf('HTTPRoute')).map((f) => f.state)).toEqual(['NotInEffect']);

    // The Gateway's controller accepts the route (a listener was added): resolved, in the same message.
    api.apply(HTTP_ROUTES, routeAccepted(true));
    await waitFor(() => slackText().includes('RESOLVED'), 15_000, 'the resolve');
    expect(slack.messages.size).toBe(1);
  });

  it('an Istio VirtualService with an ERROR validation message under Flux: one NotInEffect alert, resolved when istiod clears it', async () => {
    api.apply(VIRTUAL_SERVICES, analysedVirtualService([IST0101]));
    await start();

    await waitFor(() => slack.messages.size === 1, 15_000, 'the not-in-effect alert');
    const [finding, ...others] = await findingsOf('VirtualService');
    expect(others).toEqual([]);
    expect(finding).toMatchObject({ state: 'NotInEffect', severity: 'high', resource: { name: 'reviews' }, detail: 'istiod analysis error IST0101' });
    expect(slackText()).toContain('IST0101');

    // A warning left alone is no finding: istiod's next analysis finds only that, and it resolves.
    api.apply(VIRTUAL_SERVICES, analysedVirtualService([{ level: 'WARNING', type: { code: 'IST0102' } }]));
    await waitFor(() => slackText().includes('RESOLVED'), 15_000, 'the resolve');
    expect(slack.messages.size).toBe(1);
  });
});
