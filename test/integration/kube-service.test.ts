import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { APPLICATIONS } from '../../src/sources/kube/resources.ts';
import { startFakeKubeApi, type FakeKubeApi } from '../fakes/kube-api.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { meshApp } from '../support/argocd.ts';
import { kubeconfigFor } from '../support/kubeconfig.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { startService, stopService } from '../support/service.ts';

let api: FakeKubeApi;
let slack: FakeSlack;
let svc: (App & { url: string }) | undefined;
let prefix: string;

beforeEach(async () => {
  prefix = testPrefix('kubesvc');
  api = await startFakeKubeApi();
  api.serve(APPLICATIONS);
  slack = await startFakeSlack({ token: 'xoxb-test-SECRET-token' });
});

afterEach(async () => {
  await stopService(svc, redisUrl(), prefix);
  svc = undefined;
  await slack.close();
  await api.close();
});

describe('Kubernetes watches through the whole service (MESHDRIFT_CLUSTERS)', () => {
  it('an OutOfSync Application in the cluster alerts; its return to Synced resolves; no webhook involved', async () => {
    api.apply(APPLICATIONS, meshApp('OutOfSync'));
    svc = await startService({
      redisUrl: redisUrl(),
      prefix,
      slackUrl: slack.url,
      env: { MESHDRIFT_CLUSTERS: `prod-eu-1=${kubeconfigFor(api)}`, MESHDRIFT_WATCH: 'applications' },
    });
    await waitFor(() => slack.messages.size === 1, 15_000, 'the message from the watch');
    const text = JSON.stringify([...slack.messages.values()][0]?.blocks);
    expect(text).toContain('payments-allow-frontend');
    expect(text).toContain('prod-eu-1');
    api.apply(APPLICATIONS, meshApp('Synced'));
    await waitFor(() => JSON.stringify([...slack.messages.values()][0]?.blocks).includes('RESOLVED'), 15_000, 'the resolve');
    expect((await fetch(`${svc.url}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${svc.url}/metrics`)).text();
    expect(metrics).toMatch(/meshdrift_findings_total\{severity="critical",category="security"\} 2/);
    // Drift frequency per app: the four drifted resources of the one app.
    expect(metrics).toContain(
      'meshdrift_app_drift_total{app_cluster="prod-eu-1",app_tool="argocd",app_kind="Application",app_namespace="argocd",app="payments-mesh"} 4',
    );
  });
});
