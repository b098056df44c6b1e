import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { meshAppBody } from '../support/argocd.ts';
import { readFixture } from '../support/fixtures.ts';
import { redisUrl, testPrefix } from '../support/redis.ts';
import { ARGOCD_TOKEN, signFlux, startService, stopService } from '../support/service.ts';

/**
 * Sender credentials scoped to clusters, projects and namespaces (issue #12): a token handed to a
 * staging Argo CD cannot speak for prod, and the legacy MESHDRIFT_ARGOCD_TOKEN speaks for
 * MESHDRIFT_CLUSTER alone. A body with `cluster` null, "" or absent takes the fallback (#13.4).
 */

const STAGING_TOKEN = 'staging-argocd-token-DO-NOT-LOG';
const FLUX_PROD_KEY = 'flux-prod-hmac-key-DO-NOT-LOG';
const HELM_DRIFT = 'flux/synthetic-event-helmrelease-v2-driftdetected-mesh.json';

type AlertsView = { groups: Array<{ labels: { cluster: string; owner: { name: string } }; findings: unknown[] }> };

describe('scoped sender credentials', () => {
  const prefix = testPrefix('senders');
  const dir = mkdtempSync(`${tmpdir()}/meshdrift-senders-`);
  let svc: (App & { url: string }) | undefined;

  beforeAll(async () => {
    writeFileSync(`${dir}/staging-token`, `${STAGING_TOKEN}\n`);
    writeFileSync(
      `${dir}/senders.yaml`,
      `senders:
  - name: argocd-staging
    tool: argocd
    token_file: ${dir}/staging-token
    clusters: [staging]
  - name: argocd-mesh-only
    tool: argocd
    token_env: MESH_ONLY_TOKEN
    clusters: [prod]
    projects: [payments]
  - name: flux-prod
    tool: flux
    hmac_key_env: FLUX_PROD_KEY
    clusters: [prod]
    namespaces: [flux-system]
`,
    );
    svc = await startService({
      redisUrl: redisUrl(),
      prefix,
      env: { MESHDRIFT_SENDERS_FILE: `${dir}/senders.yaml`, MESH_ONLY_TOKEN: 'mesh-only-token-DO-NOT-LOG', FLUX_PROD_KEY, MESHDRIFT_FLUX_HMAC_KEY: '' },
    });
  });
  afterAll(async () => {
    await stopService(svc, redisUrl(), prefix);
    rmSync(dir, { recursive: true, force: true });
  });

  const url = (): string => svc?.url ?? '';
  const postArgo = (body: unknown, token: string) =>
    fetch(`${url()}/webhooks/argocd`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
  const alerts = async (): Promise<AlertsView> => (await (await fetch(`${url()}/api/v1/alerts`)).json()) as AlertsView;
  const metric = async (pattern: RegExp): Promise<number> => {
    const text = await (await fetch(`${url()}/metrics`)).text();
    const line = text.split('\n').find((l) => pattern.test(l));
    return line === undefined ? 0 : Number(line.split(' ').pop());
  };

  it('a staging token posting a body for cluster prod gets 403, is counted, and nothing is ingested', async () => {
    const res = await postArgo({ ...meshAppBody(), cluster: 'prod' }, STAGING_TOKEN);
    expect(res.status).toBe(403);
    const body = (await res.json()) as { error: string };
    expect(body.error).toBe('sender argocd-staging may not speak for cluster "prod"');
    expect(JSON.stringify(body)).not.toContain(STAGING_TOKEN);
    expect(await metric(/^meshdrift_webhook_refused_total\{sender="argocd-staging",reason="cluster"\} /)).toBe(1);
    expect(await metric(/^meshdrift_signals_total\{source="argocd-webhook",outcome="forbidden"\} /)).toBe(1);
    expect((await alerts()).groups).toEqual([]);
  });

  it.each<[string, Record<string, unknown>]>([
    ['absent', {}],
    ['null (a context without clusterName)', { cluster: null }],
    ['""', { cluster: '' }],
  ])('cluster %s: the staging token speaks for its only cluster, staging', async (_what, extra) => {
    const res = await postArgo({ ...meshAppBody(), ...extra }, STAGING_TOKEN);
    expect(res.status).toBe(202);
    expect((await alerts()).groups.map((g) => g.labels.cluster)).toEqual(['staging']);
  });

  it('a sender scoped to a project cannot report an Application of another project (403, reason project)', async () => {
    // The fixture's Application is in project mesh-prod.
    const res = await postArgo({ ...meshAppBody(), cluster: 'prod' }, 'mesh-only-token-DO-NOT-LOG');
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: string }).error).toBe('sender argocd-mesh-only may not speak for project "mesh-prod"');
    expect(await metric(/^meshdrift_webhook_refused_total\{sender="argocd-mesh-only",reason="project"\} /)).toBe(1);
  });

  it('a Flux sender scoped to flux-system cannot report an object of another namespace (403, reason namespace)', async () => {
    const raw = JSON.stringify(readFixture(HELM_DRIFT));
    const post = (body: string) =>
      fetch(`${url()}/webhooks/flux`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-signature': signFlux(body, FLUX_PROD_KEY) }, body });
    const refused = await post(raw);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: string }).error).toBe('sender flux-prod may not speak for namespace "bookinfo"');
    expect(await metric(/^meshdrift_webhook_refused_total\{sender="flux-prod",reason="namespace"\} /)).toBe(1);

    const event = readFixture(HELM_DRIFT) as { involvedObject: { namespace: string } };
    event.involvedObject.namespace = 'flux-system';
    const accepted = await post(JSON.stringify(event));
    expect(accepted.status).toBe(202);
    // A Flux event names no cluster: it is the sender's.
    expect((await alerts()).groups.map((g) => g.labels.cluster).sort()).toEqual(['prod', 'staging']);
  });
});

describe('the legacy MESHDRIFT_ARGOCD_TOKEN', () => {
  const prefix = testPrefix('senders-legacy');
  let svc: (App & { url: string }) | undefined;
  afterAll(() => stopService(svc, redisUrl(), prefix));

  const post = (body: unknown) =>
    fetch(`${svc?.url ?? ''}/webhooks/argocd`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ARGOCD_TOKEN}` },
      body: JSON.stringify(body),
    });

  it('speaks for MESHDRIFT_CLUSTER alone: another cluster is a 403; null, "" and absent fall back to MESHDRIFT_CLUSTER', async () => {
    svc = await startService({ redisUrl: redisUrl(), prefix });
    const refused = await post({ ...meshAppBody(), cluster: 'prod' });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: string }).error).toBe('sender argocd-token may not speak for cluster "prod"');
    for (const extra of [{}, { cluster: null }, { cluster: '' }, { cluster: 'test-cluster' }])
      expect((await post({ ...meshAppBody(), ...extra })).status).toBe(202);
    const view = (await (await fetch(`${svc.url}/api/v1/alerts`)).json()) as AlertsView;
    expect(view.groups.map((g) => g.labels.cluster)).toEqual(['test-cluster']);
  });

  it('MESHDRIFT_LEGACY_SENDER_CLUSTERS widens it', async () => {
    await stopService(svc, redisUrl(), prefix);
    svc = await startService({ redisUrl: redisUrl(), prefix, env: { MESHDRIFT_LEGACY_SENDER_CLUSTERS: 'test-cluster,prod' } });
    expect((await post({ ...meshAppBody(), cluster: 'prod' })).status).toBe(202);
    expect((await post({ ...meshAppBody(), cluster: 'dev' })).status).toBe(403);
  });
});
