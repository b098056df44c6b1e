import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { App } from '../../src/app.ts';
import { readFixture, readFixtureBytes } from '../support/fixtures.ts';
import { redisUrl, testPrefix } from '../support/redis.ts';
import { FLUX_KEY, postFlux, signFlux, startService, stopService } from '../support/service.ts';

// deploy/flux is what users apply. Check its shape, then post the real Flux fixtures the way its
// Provider would (generic-hmac: X-Signature over the exact body).
type Doc = { kind: string; spec?: Record<string, unknown>; stringData?: Record<string, string> };
const docs = parseAllDocuments(readFileSync(new URL('../../deploy/flux/meshdrift-alert.yaml', import.meta.url), 'utf8')).map((d) => d.toJS() as Doc);
const byKind = (kind: string) => docs.find((d) => d.kind === kind);

let svc: (App & { url: string }) | undefined;
let prefix: string;
beforeEach(async () => {
  prefix = testPrefix('fluxwire');
  svc = await startService({ redisUrl: redisUrl(), prefix });
});
afterEach(async () => stopService(svc, redisUrl(), prefix));

describe('the shipped Flux Provider and Alert', () => {
  it('sends info events of every Kustomization and HelmRelease, signed, to /webhooks/flux', () => {
    expect(byKind('Provider')?.spec).toMatchObject({ type: 'generic-hmac', secretRef: { name: 'meshdrift-webhook' } });
    expect(String(byKind('Provider')?.spec?.address)).toMatch(/\/webhooks\/flux$/);
    const alert = byKind('Alert')?.spec as { eventSeverity: string; eventSources: Array<{ kind: string; name: string }> };
    expect(alert.eventSeverity).toBe('info');
    expect(alert.eventSources.map((s) => `${s.kind}/${s.name}`).sort()).toEqual(['HelmRelease/*', 'Kustomization/*']);
    // The HMAC key is the user's own: no Secret (and so no placeholder that looks valid) ships.
    expect(byKind('Secret')).toBeUndefined();
  });

  it.each([
    // No revision known yet (no heartbeat, no watch): told as unverified, never dropped (#13 item 9).
    ['event-kustomization-v1beta2-created-summary.wire.json', 'tracked'],
    ['event-kustomization-v1beta2-reconciliation-finished-commit-status.json', 'ignored'],
    ['event-kustomization-v1-artifactfailed-error.json', 'ignored'],
    ['synthetic-event-helmrelease-v2-driftdetected-mesh.json', 'tracked'],
  ])('%s signed as the Provider signs it → 202 %s', async (file, outcome) => {
    // Wire files are byte-exact: sign and send those bytes; others as Go's compact JSON.
    const body = file.endsWith('.wire.json') ? readFixtureBytes(`flux/${file}`).toString('utf8') : JSON.stringify(readFixture(`flux/${file}`));
    const res = await postFlux(svc?.url ?? '', body, signFlux(body, FLUX_KEY));
    expect(res.status).toBe(202);
    expect(((await res.json()) as { outcome: string }).outcome).toBe(outcome);
  });
});

// The Secret comes from the user's key file through kustomize's secretGenerator (#13 item 9).
const KUBECTL = '/usr/bin/kubectl';
const kubectlMissing = !existsSync(KUBECTL);
if (kubectlMissing && process.env.CI === 'true') throw new Error(`${KUBECTL} is required under CI=true (.ci/install-packages installs kubernetes-client)`);
describe.skipIf(kubectlMissing)('deploy/flux/kustomization.yaml', () => {
  const render = (withKey: string | undefined) => {
    const dir = mkdtempSync(join(tmpdir(), 'meshdrift-flux-'));
    try {
      for (const f of ['kustomization.yaml', 'meshdrift-alert.yaml']) cpSync(new URL(`../../deploy/flux/${f}`, import.meta.url), join(dir, f));
      if (withKey !== undefined) writeFileSync(join(dir, 'hmac-key'), withKey);
      return spawnSync(KUBECTL, ['kustomize', dir], { encoding: 'utf8', timeout: 30_000 });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };

  it("refuses to render without the user's key file: nothing that looks valid is applied", () => {
    const out = render(undefined);
    expect(out.status).not.toBe(0);
    expect(out.stderr).toMatch(/hmac-key/);
  });

  it('renders the Secret from the key file; events signed with it are accepted by a meshdrift holding the same key', async () => {
    const out = render(FLUX_KEY);
    expect(out.status, out.stderr).toBe(0);
    const objects = parseAllDocuments(out.stdout).map(
      (d) => d.toJS() as Doc & { metadata: { name: string; namespace: string }; data?: Record<string, string> },
    );
    const secret = objects.find((o) => o.kind === 'Secret');
    expect(secret?.metadata).toMatchObject({ name: 'meshdrift-webhook', namespace: 'flux-system' });
    const key = Buffer.from(secret?.data?.token ?? '', 'base64').toString('utf8');
    expect(key).toBe(FLUX_KEY);
    const provider = objects.find((o) => o.kind === 'Provider');
    expect(provider?.spec).toMatchObject({ secretRef: { name: secret?.metadata.name } });
    const body = JSON.stringify(readFixture('flux/synthetic-event-helmrelease-v2-driftdetected-mesh.json'));
    expect((await postFlux(svc?.url ?? '', body, signFlux(body, key))).status).toBe(202);
    expect((await postFlux(svc?.url ?? '', body, signFlux(body, 'another-key'))).status).toBe(401);
  });
});
