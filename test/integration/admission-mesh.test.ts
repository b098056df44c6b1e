import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { APPLICATIONS } from '../../src/sources/kube/resources.ts';
import { type FakeKubeApi, startFakeKubeApi } from '../fakes/kube-api.ts';
import { type FakeSlack, startFakeSlack } from '../fakes/slack.ts';
import { postAdmission, review, selfSignedCert } from '../support/admission.ts';
import { kubeconfigFor } from '../support/kubeconfig.ts';
import { entry, gitopsEntry, HOSTS_ONLY, HTTP_ONLY, iso, type Owner, reviewsHttp, VIRTUAL_SERVICES, virtualService } from '../support/mesh.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { SLACK_TOKEN, startService, stopService } from '../support/service.ts';

/**
 * Issue #17's "done when", through the whole service with the mesh watch (issue #16) on a fake
 * Kubernetes API: alice's UPDATE is told by the API server's AdmissionReview, the watch event that
 * follows confirms it (the record is persisted), and Argo CD's OutOfSync that comes after is the same
 * incident: one Slack message naming alice, the path and the values before and after.
 */

const EDIT = Date.parse('2026-12-04T14:03:00Z');
const T0 = EDIT - 3_600_000;
const ARGO: Owner = { tool: 'argocd', app: 'bookinfo-mesh' };
const CLUSTER = 'prod-eu-1';

let api: FakeKubeApi;
let slack: FakeSlack;
let svc: (App & { url: string }) | undefined;
let prefix: string;

function application(sync: 'Synced' | 'OutOfSync', reconciledAt: number) {
  return {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Application',
    metadata: { name: 'bookinfo-mesh', namespace: 'argocd', uid: 'uid-app-bookinfo-mesh' },
    spec: { project: 'default', destination: { server: 'https://kubernetes.default.svc', namespace: 'bookinfo' } },
    status: {
      sync: { status: sync, revision: '4f1c2e9a7b' },
      health: { status: 'Healthy' },
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
  prefix = testPrefix('admission-mesh');
  api = await startFakeKubeApi();
  for (const r of [APPLICATIONS, VIRTUAL_SERVICES]) api.serve(r);
  slack = await startFakeSlack({ token: SLACK_TOKEN });
});

afterEach(async () => {
  await stopService(svc, redisUrl(), prefix);
  svc = undefined;
  await slack.close();
  await api.close();
});

const metrics = async (): Promise<string> => (await svc?.metrics.registry.metrics()) ?? '';
const slackText = (): string => JSON.stringify([...slack.messages.values()]);

describe('alice edits an Argo CD-managed VirtualService: told, confirmed by the watch, then Argo CD', () => {
  it('is one Slack message naming alice, the path and before/after; the record is confirmed', async () => {
    const tls = selfSignedCert();
    const dir = mkdtempSync(`${tmpdir()}/meshdrift-admission-mesh-`);
    writeFileSync(`${dir}/p.yaml`, 'receivers:\n  - { name: chat, slack: { channel: "#mesh" } }\nroute:\n  receiver: chat\n');
    const before = virtualService({ owner: ARGO, http: reviewsHttp([90, 10]), managers: [gitopsEntry(ARGO, T0)] });
    const edited = virtualService({
      owner: ARGO,
      http: reviewsHttp([50, 50]),
      managers: [gitopsEntry(ARGO, T0, HOSTS_ONLY), entry('kubectl-edit', 'Update', EDIT, HTTP_ONLY)],
    });
    api.apply(APPLICATIONS, application('Synced', EDIT - 60_000));
    api.apply(VIRTUAL_SERVICES, before);
    svc = await startService({
      redisUrl: redisUrl(),
      prefix,
      slackUrl: slack.url,
      env: {
        MESHDRIFT_CLUSTERS: `${CLUSTER}=${kubeconfigFor(api)}`,
        MESHDRIFT_WATCH: 'applications',
        MESHDRIFT_LEADER_ELECTION: 'false',
        MESHDRIFT_POLICY: `${dir}/p.yaml`,
        MESHDRIFT_ADMISSION: 'true',
        MESHDRIFT_ADMISSION_PORT: '0',
        MESHDRIFT_ADMISSION_HOST: '127.0.0.1',
        MESHDRIFT_ADMISSION_TLS_CERT: tls.certFile,
        MESHDRIFT_ADMISSION_TLS_KEY: tls.keyFile,
        MESHDRIFT_ADMISSION_CLUSTER: CLUSTER,
      },
    });
    await waitFor(() => api.openWatches(VIRTUAL_SERVICES) > 0, 15_000, 'the mesh watch');

    // 1. The API server admits alice's kubectl edit and tells the recorder (the object's old version is the one the watch has).
    const oldObject = { ...before, metadata: { ...before.metadata, resourceVersion: 'rv-before-edit' } };
    const body = review({
      operation: 'UPDATE',
      username: 'alice@corp',
      oldObject,
      object: { ...edited, metadata: { ...edited.metadata, resourceVersion: 'rv-before-edit' } },
      fieldManager: 'kubectl-edit',
    });
    expect((await postAdmission(svc.admission?.address().url ?? '', body, tls.cert)).json).toMatchObject({ response: { allowed: true } });
    await waitFor(async () => /meshdrift_admission_joined_total\{how="told"\} 1/.test(await metrics()), 10_000, 'the told finding');

    // 2. The write is persisted: the watch event confirms the record.
    api.apply(VIRTUAL_SERVICES, edited);
    await waitFor(async () => /meshdrift_admission_joined_total\{how="confirmed"\} 1/.test(await metrics()), 15_000, 'the confirmation');
    const [rec] = (await svc.admissionStore.recent(CLUSTER, 'uid-vs-bookinfo-reviews')) ?? [];
    expect(rec?.confirmedAt).toBeGreaterThan(0);

    // 3. Argo CD's refresh sees it: OutOfSync, the same finding, the same message.
    api.apply(APPLICATIONS, application('OutOfSync', EDIT + 180_000));
    await waitFor(() => slack.messages.size >= 1, 15_000, 'the alert');
    await new Promise((r) => setTimeout(r, 2_000));
    expect(slack.messages.size).toBe(1);
    const text = slackText();
    expect(text).toContain('alice@corp');
    expect(text).toContain('spec.http[0].route[0].weight');
    expect(text).toMatch(/90[^0-9]+50/);
  });
});
