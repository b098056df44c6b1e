import { describe, expect, it } from 'vitest';
import { createCatalog } from '../../../../src/classify/catalog.ts';
import { admissionSignalOf, type RecordContext, recordOf, skipReason, toldDetail } from '../../../../src/sources/admission/record.ts';
import { type AdmissionRequest, admissionReviewSchema } from '../../../../src/sources/admission/review.ts';
import { applyRule, keptUser } from '../../../../src/sources/admission/user-policy.ts';
import { fingerprintOf } from '../../../../src/model/fingerprint.ts';
import { toolOf } from '../../../../src/model/signal.ts';
import { paymentsVs, review, type ReviewInput } from '../../../support/admission.ts';

const T0 = Date.parse('2026-05-01T12:00:00.000Z');
const catalog = createCatalog();
const KEY = 'a-test-hmac-key-0123456789abcdef';

function ctx(over: Partial<RecordContext['users']> = {}): RecordContext {
  return {
    cluster: 'prod',
    catalog,
    users: { usernames: 'keep', groups: 'keep', details: false, gitopsUsers: new Set(['system:serviceaccount:argocd:argocd-application-controller']), ...over },
    owners: { argoCdNamespace: 'argocd', argoCdInstanceLabel: 'app.kubernetes.io/instance' },
  };
}

function req(input: ReviewInput): AdmissionRequest {
  return admissionReviewSchema.parse(review(input)).request;
}

const update = (over: Partial<ReviewInput> = {}) =>
  req({ operation: 'UPDATE', oldObject: paymentsVs(10, '41'), object: paymentsVs(50, '41'), fieldManager: 'kubectl-edit', ...over });

describe('which requests are recorded', () => {
  it('skips dry runs, subresources, CONNECT and kinds outside the mesh catalog', () => {
    expect(skipReason(update(), catalog)).toBeNull();
    expect(skipReason(update({ dryRun: true }), catalog)).toBe('dry_run');
    expect(skipReason({ ...update(), subResource: 'status' }, catalog)).toBe('subresource');
    expect(skipReason({ ...update(), operation: 'CONNECT' }, catalog)).toBe('operation');
    expect(skipReason(update({ group: 'apps', kind: 'Deployment', resource: 'deployments' }), catalog)).toBe('not_mesh');
  });
});

describe('the record of a write', () => {
  it('keeps the object, the user, the operation, the time, the tool and the changed paths', () => {
    const rec = recordOf(update(), ctx(), T0);
    expect(rec).toMatchObject({
      cluster: 'prod',
      uid: '9c1d7e0a-0000-4000-8000-00000000a11c',
      group: 'networking.istio.io',
      kind: 'VirtualService',
      namespace: 'payments',
      name: 'payments',
      operation: 'UPDATE',
      user: { username: 'alice@corp', groups: ['system:authenticated', 'mesh-admins'] },
      gitops: false,
      owner: { kind: 'Application', namespace: 'argocd', name: 'payments-mesh' },
      via: 'kubectl-edit',
      at: T0,
      fromResourceVersion: '41',
      changes: { source: 'admission' },
    });
    expect(rec?.afterDigest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('finds the owner in oldObject when the write stripped the markers', () => {
    const stripped = paymentsVs(50, '41');
    (stripped.metadata as Record<string, unknown>).annotations = {};
    expect(recordOf(update({ object: stripped }), ctx(), T0)?.owner).toEqual({ kind: 'Application', namespace: 'argocd', name: 'payments-mesh' });
  });

  it('hashes usernames and groups with a keyed HMAC, or drops them, and keeps uid and extra only when asked', () => {
    const hashed = recordOf(update(), ctx({ usernames: 'hash', groups: 'hash', hashKey: KEY, details: true }), T0);
    expect(hashed?.user.username).toBe(applyRule('alice@corp', 'hash', KEY));
    expect(hashed?.user.username).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(JSON.stringify(hashed)).not.toContain('alice');
    expect(JSON.stringify(hashed)).not.toContain('mesh-admins');
    expect(hashed?.user.uid).toMatch(/^sha256:/);
    // Another key, another hash: a dictionary of names hashed without the key finds nothing.
    expect(applyRule('alice@corp', 'hash', `${KEY}x`)).not.toBe(hashed?.user.username);
    const dropped = recordOf(update(), ctx({ usernames: 'drop', groups: 'drop' }), T0);
    expect(dropped?.user).toEqual({});
    expect(dropped && admissionSignalOf(dropped)?.resources[0]?.attribution?.[0]?.who).toBe('a person (name withheld)');
    expect(toldDetail(dropped as NonNullable<typeof dropped>)).not.toContain('alice');
    expect(keptUser(update(), ctx({ details: true }).users)).toMatchObject({ uid: 'u-42', extra: { 'scopes.example': ['a'] } });
  });

  it("keeps a GitOps controller's name whatever the policy, and marks its write", () => {
    const rec = recordOf(update({ username: 'system:serviceaccount:argocd:argocd-application-controller' }), ctx({ usernames: 'hash', hashKey: KEY }), T0);
    expect(rec).toMatchObject({ gitops: true, user: { username: 'system:serviceaccount:argocd:argocd-application-controller' } });
    expect(rec && admissionSignalOf(rec)).toBeUndefined();
  });
});

describe('the finding a change outside Git makes', () => {
  it("is partial, told, owned by the GitOps owner, and has the fingerprint of Argo CD's verdict on the same object", () => {
    const rec = recordOf(update(), ctx(), T0);
    const signal = rec && admissionSignalOf(rec);
    expect(signal).toMatchObject({
      source: 'admission',
      cluster: 'prod',
      completeness: 'partial',
      observedAt: T0,
      owner: { kind: 'Application', name: 'payments-mesh' },
    });
    const r = signal?.resources[0];
    expect(r).toMatchObject({ state: 'Modified', detail: "changed outside Git (told by the API server's admission request)" });
    expect(r?.attribution?.[0]).toMatchObject({ kind: 'person', who: 'alice@corp', via: 'kubectl-edit', operation: 'UPDATE', source: 'admission' });
    const owner = { kind: 'Application', namespace: 'argocd', name: 'payments-mesh' };
    const ref = { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'payments', name: 'payments' };
    if (!signal) throw new Error('no signal');
    expect(fingerprintOf('prod', toolOf(signal.source, signal.owner), signal.owner, ref)).toBe(
      fingerprintOf('prod', toolOf('argocd-webhook', owner), owner, ref),
    );
  });

  it('is Missing for a delete, and nothing for an unmanaged object or a write that changed nothing', () => {
    const del = recordOf(req({ operation: 'DELETE', oldObject: paymentsVs(10, '41') }), ctx(), T0);
    expect(del && admissionSignalOf(del)?.resources[0]?.state).toBe('Missing');
    const unmanaged = paymentsVs(50, '41');
    (unmanaged.metadata as Record<string, unknown>).annotations = {};
    const old = paymentsVs(10, '41');
    (old.metadata as Record<string, unknown>).annotations = {};
    const rec = recordOf(update({ object: unmanaged, oldObject: old }), ctx(), T0);
    expect(rec?.owner).toBeUndefined();
    expect(rec && admissionSignalOf(rec)).toBeUndefined();
    const same = recordOf(update({ object: paymentsVs(10, '41') }), ctx(), T0);
    expect(same && admissionSignalOf(same)).toBeUndefined();
  });
});
