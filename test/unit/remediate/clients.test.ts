import { describe, expect, it } from 'vitest';
import { redact } from '../../../src/remediate/action.ts';
import { transportFailure } from '../../../src/net/http.ts';
import { operationInProgress, syncBody } from '../../../src/remediate/argocd-sync.ts';
import { fluxObjectPath, reconcilePatch, rfc3339Nano } from '../../../src/remediate/flux-reconcile.ts';

const VS = { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'payments', name: 'payments' };

describe('argocd sync body', () => {
  it.each([
    ['argocd', undefined],
    ['', undefined],
    ['team-a', 'team-a'],
  ])('owner namespace %j → appNamespace %j', (namespace, want) => {
    const body = syncBody({ owner: { kind: 'Application', namespace, name: 'x' }, resources: [VS], prune: false, reason: 'r' }, 'argocd');
    expect(body.appNamespace).toBe(want);
    expect(body).toMatchObject({ resources: [VS], prune: false, dryRun: false, infos: [{ name: 'meshdrift', value: 'r' }] });
  });

  it('bounds the operation info', () => {
    expect(
      syncBody({ owner: { kind: 'Application', namespace: 'argocd', name: 'x' }, resources: [VS], prune: true, reason: 'x'.repeat(1000) }, 'argocd').infos[0]
        ?.value,
    ).toHaveLength(250);
  });
});

describe('operationInProgress', () => {
  it.each([
    [{ metadata: { name: 'a' } }, false],
    [{ metadata: { name: 'a' }, operation: { sync: {} } }, true],
    [{ metadata: { name: 'a' }, operation: null }, false],
    [{ metadata: { name: 'a' }, status: { operationState: { phase: 'Running' } } }, true],
    [{ metadata: { name: 'a' }, status: { operationState: { phase: 'Terminating' } } }, true],
    [{ metadata: { name: 'a' }, status: { operationState: { phase: 'Succeeded' } } }, false],
    [{ metadata: { name: 'a' }, status: { operationState: { phase: 'Failed' } } }, false],
  ])('%j → %s', (app, want) => {
    expect(operationInProgress(app)).toBe(want);
  });
});

describe('flux reconcile request', () => {
  it.each([
    [Date.UTC(2026, 10, 24, 10, 0, 0), '2026-11-24T10:00:00Z'],
    [Date.UTC(2026, 10, 24, 10, 0, 0) + 120, '2026-11-24T10:00:00.12Z'],
    [Date.UTC(2026, 10, 24, 10, 0, 0) + 7, '2026-11-24T10:00:00.007Z'],
    [Date.UTC(2026, 10, 24, 10, 0, 0) + 100, '2026-11-24T10:00:00.1Z'],
  ])('rfc3339Nano(%i) = %s (Go trims trailing zeros)', (ms, want) => {
    expect(rfc3339Nano(ms)).toBe(want);
  });

  it.each([
    [{ kind: 'Kustomization', namespace: 'flux-system', name: 'apps' }, '/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/apps'],
    [{ kind: 'HelmRelease', namespace: 'istio-system', name: 'istiod' }, '/apis/helm.toolkit.fluxcd.io/v2/namespaces/istio-system/helmreleases/istiod'],
    [{ kind: 'GitRepository', namespace: 'flux-system', name: 'x' }, null],
    [{ kind: 'Kustomization', namespace: '', name: 'x' }, null],
  ])('%j → %s', (owner, want) => {
    expect(fluxObjectPath(owner)).toBe(want);
  });

  it('patches only the annotation', () => {
    expect(JSON.parse(reconcilePatch('t'))).toEqual({ metadata: { annotations: { 'reconcile.fluxcd.io/requestedAt': 't' } } });
  });
});

describe('redact and transportFailure', () => {
  it('removes every occurrence of the secret and bounds the text', () => {
    expect(redact('a s3cret b s3cret', 's3cret')).toBe('a [redacted] b [redacted]');
    expect(redact('x'.repeat(600), 'nope')).toHaveLength(500);
    expect(redact('keep', '')).toBe('keep');
  });

  it.each([
    [{ code: 'ECONNABORTED', message: 'timeout of 10ms exceeded for http://h?token=1' }, 'request timed out'],
    [{ name: 'TimeoutError' }, 'request timed out'],
    [{ code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' }, 'request failed: ECONNREFUSED'],
    ['boom', 'request failed'],
  ])('%j → %s', (error, want) => {
    expect(transportFailure(error)).toBe(want);
  });
});
