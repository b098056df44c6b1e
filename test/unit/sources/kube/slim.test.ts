import { describe, expect, it } from 'vitest';
import { applicationSchema, applicationToSignal } from '../../../../src/sources/argocd/application.ts';
import { slim, slimApplicationSchema, slimEventSchema, slimHelmReleaseSchema, slimKustomizationSchema } from '../../../../src/sources/kube/slim.ts';
import { readFixture } from '../../../support/fixtures.ts';

interface Raw {
  metadata: { managedFields?: unknown[]; uid?: string; labels?: Record<string, string> };
}
const ok = <T>(r: { ok: true; object: T } | { ok: false; error: string }): T => {
  if (!r.ok) throw new Error(r.error);
  return r.object;
};

describe('slimming watched objects', () => {
  it.each([
    'argocd/synthetic-app-outofsync-istio-gatewayapi-v3.json',
    'argocd/app-outofsync-syncfailed-missing-v2.json',
    'argocd/app-synced-healthy-appset-owned.json',
    'argocd/app-outofsync-requirespruning-v3.json',
  ])('keeps of %s only what applicationToSignal reads, and the same signal', (file) => {
    const raw = readFixture(file) as Raw;
    raw.metadata.managedFields = [{ manager: 'argocd-controller', fieldsV1: { 'f:status': {} } }];
    const app = ok(slim(slimApplicationSchema, raw));
    expect(app.metadata).not.toHaveProperty('managedFields');
    expect(app.metadata).not.toHaveProperty('annotations');
    // Of the source only its repository (for commit links, issue #16): no path, Helm values or plugin env.
    expect(Object.keys(app.spec?.source ?? {}).every((k) => k === 'repoURL' || k === 'chart')).toBe(true);
    expect(app.status ?? {}).not.toHaveProperty('history');
    expect(app.status ?? {}).not.toHaveProperty('operationState');
    expect(JSON.stringify(app).length).toBeLessThan(JSON.stringify(raw).length);
    const ctx = { cluster: 'c', source: 'argocd-watch' as const, now: 1 };
    expect(applicationToSignal(app, ctx)).toEqual(applicationToSignal(slimApplicationSchema.parse(readFixture(file)), ctx));
    // Only the InSync resources are gone: the same drift, and a snapshot resolves the rest by absence.
    const full = applicationToSignal(applicationSchema.parse(readFixture(file)), ctx);
    expect(applicationToSignal(app, ctx)).toEqual({ ...full, resources: full.resources.filter((r) => r.state !== 'InSync') });
  });

  it("keeps a Kustomization's conditions, revisions and inventory ids, not its spec", () => {
    const raw = (readFixture('flux/kustomizationlist-v1beta2-istio-inventory.json') as { items: Raw[] }).items[0]!;
    const k = ok(slim(slimKustomizationSchema, raw));
    expect(k).not.toHaveProperty('spec');
    expect(k.metadata).toEqual({
      name: 'myservice',
      namespace: 'flux-system',
      uid: raw.metadata.uid,
      resourceVersion: '1435930347',
      generation: 7,
      labels: raw.metadata.labels,
    });
    expect(k.status?.lastAppliedRevision).toBe('dev/9a049173a8d8619eb33e9a0a06dea2082729ac46');
    expect(k.status?.inventory?.entries?.[4]).toEqual({ id: 'myservice_myservice_networking.istio.io_DestinationRule' });
    expect(k.status).not.toHaveProperty('lastHandledReconcileAt');
  });

  it("keeps a HelmRelease's Drifted condition and inventory, not its history", () => {
    const hr = ok(slim(slimHelmReleaseSchema, readFixture('flux/synthetic-helmrelease-v2-drifted-warn-mesh.json')));
    expect(hr.status?.conditions?.map((c) => c.type)).toEqual(['Ready', 'Released', 'Drifted']);
    expect(hr.status).not.toHaveProperty('history');
    expect(hr.status?.inventory?.entries).toHaveLength(7);
  });

  it("keeps only Flux annotations of a core Event, and accepts the typed client's Dates", () => {
    const e = ok(
      slim(slimEventSchema, {
        metadata: {
          name: 'ks.1',
          namespace: 'flux-system',
          annotations: { 'kustomize.toolkit.fluxcd.io/revision': 'main@sha1:abc', 'kubectl.kubernetes.io/last-applied-configuration': '{}' },
          managedFields: [],
        },
        involvedObject: { kind: 'Kustomization', name: 'ks', namespace: 'flux-system' },
        reason: 'Progressing',
        message: 'x',
        lastTimestamp: new Date('2026-01-02T03:04:05Z'),
        eventTime: null,
        source: { component: 'kustomize-controller', host: 'node' },
      }),
    );
    expect(e.metadata).toEqual({ name: 'ks.1', namespace: 'flux-system', annotations: { 'kustomize.toolkit.fluxcd.io/revision': 'main@sha1:abc' } });
    expect(e.lastTimestamp).toBe('2026-01-02T03:04:05.000Z');
    expect(e.eventTime).toBeUndefined();
  });

  it('names the failing path of an object that does not parse', () => {
    expect(slim(slimKustomizationSchema, { metadata: {} })).toEqual({ ok: false, error: expect.stringContaining('metadata.name') });
  });
});
