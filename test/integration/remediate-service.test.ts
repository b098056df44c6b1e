import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { startFakeArgoCd, type FakeArgoCd } from '../fakes/argocd.ts';
import { meshApp, meshAppBody } from '../support/argocd.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { postArgocd, startService, stopService } from '../support/service.ts';

const SYNC_TOKEN = 'argocd-sync-SECRET';
const API_TOKEN = 'api-token-at-least-16-chars';

let argocd: FakeArgoCd;
let svc: (App & { url: string }) | undefined;
let prefix: string;

async function start(dryRun: boolean, matchers = `['category="traffic"', 'state="Modified"']`, top = ''): Promise<App & { url: string }> {
  const dir = mkdtempSync(`${tmpdir()}/meshdrift-remediate-`);
  writeFileSync(
    `${dir}/p.yaml`,
    `${top}receivers:
  - { name: log, console: {} }
  - name: auto-sync
    remediate:
      action: argocd-sync
      dry_run: ${dryRun}
      argocd: { url: "${argocd.url}", token_env: ARGOCD_SYNC_TOKEN }
route:
  receiver: log
  group_wait: 100ms
  routes:
    - matchers: ${matchers}
      receiver: auto-sync
`,
  );
  svc = await startService({
    redisUrl: redisUrl(),
    prefix,
    env: { MESHDRIFT_POLICY: `${dir}/p.yaml`, ARGOCD_SYNC_TOKEN: SYNC_TOKEN, MESHDRIFT_API_TOKEN: API_TOKEN },
  });
  return svc;
}

const audit = async () =>
  (
    (await (await fetch(`${svc?.url}/api/v1/audit`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).json()) as {
      records: Array<{ outcome: string; dryRun: boolean; resources: Array<{ kind: string }> }>;
    }
  ).records;

beforeEach(async () => {
  prefix = testPrefix('remsvc');
  argocd = await startFakeArgoCd({ token: SYNC_TOKEN });
});

afterEach(async () => {
  await stopService(svc, redisUrl(), prefix);
  svc = undefined;
  await argocd.close();
});

describe('a remediate receiver in the policy', () => {
  it('is dry-run unless the policy says otherwise: audited, no sync', async () => {
    await start(true);
    await postArgocd(svc?.url ?? '', meshAppBody('OutOfSync'));
    await waitFor(async () => (await audit()).length > 0, 10_000, 'an audit record');
    const [record] = await audit();
    expect(record).toMatchObject({ outcome: 'dry-run', dryRun: true });
    expect(argocd.syncs()).toHaveLength(0);
  });

  it('syncs only the drifted resources its route sent it, audits it and counts it', async () => {
    await start(false);
    await postArgocd(svc?.url ?? '', meshAppBody('OutOfSync'));
    await waitFor(() => argocd.syncs().length === 1, 10_000, 'the sync');
    const body = argocd.syncs()[0]?.body as { resources: Array<{ kind: string; name: string }>; prune: boolean; dryRun: boolean };
    // Only the traffic Modified finding (the VirtualService); the security ones page, they are not auto-reverted.
    expect(body.resources.map((r) => `${r.kind}/${r.name}`)).toEqual(['VirtualService/payments']);
    expect(body.prune).toBe(false);
    expect(argocd.syncs()[0]?.authorization).toBe(`Bearer ${SYNC_TOKEN}`);
    await waitFor(async () => (await audit()).some((r) => r.outcome === 'performed'), 10_000, 'the audit record');
    const metrics = await (await fetch(`${svc?.url}/metrics`)).text();
    expect(metrics).toContain('meshdrift_remediations_total{action="argocd-sync",outcome="performed"} 1');
    expect(JSON.stringify(await audit())).not.toContain(SYNC_TOKEN);
  });

  it('a drifted Deployment never reaches a sync by default, even on a route without a category matcher', async () => {
    // Non-mesh drift is notified at all only with notify_non_mesh; even then the receiver acts on mesh categories by default.
    await start(false, `['state="Modified"']`, 'notify_non_mesh: true\n');
    // Only the Deployment drifted (Modified): a non-mesh finding.
    const app = meshApp('Synced') as { status: { sync: { status: string }; resources: Array<{ kind: string; status: string }> } };
    app.status.sync.status = 'OutOfSync';
    for (const r of app.status.resources) if (r.kind === 'Deployment') r.status = 'OutOfSync';
    await postArgocd(svc?.url ?? '', { app });
    await waitFor(async () => (await audit()).length > 0, 10_000, 'an audit record');
    const [record] = await audit();
    expect(record).toMatchObject({ outcome: 'skipped', resources: [] });
    expect(JSON.stringify(record)).toMatch(/Deployment payments\/payments-v2: category non-mesh is not one this receiver remediates/);
    expect(argocd.syncs()).toHaveLength(0);
    expect(argocd.requests.filter((r) => r.method === 'POST')).toHaveLength(0);
  });
});
