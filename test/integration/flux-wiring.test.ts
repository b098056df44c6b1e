import { readFileSync } from 'node:fs';
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
    expect(byKind('Secret')?.stringData?.token).toMatch(/^</); // a placeholder, never a real key
  });

  it.each([
    ['event-kustomization-v1beta2-created-summary.wire.json', 'rollout'],
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
