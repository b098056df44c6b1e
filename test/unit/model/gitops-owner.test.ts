import { describe, expect, it } from 'vitest';
import { gitOpsOwnerOf } from '../../../src/model/gitops-owner.ts';

const vs = { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'shop', name: 'reviews' };
const opts = { argoCdNamespace: 'argocd', argoCdInstanceLabel: 'app.kubernetes.io/instance' };

describe('gitOpsOwnerOf', () => {
  it('reads Argo CD annotation tracking, with and without the app namespace', () => {
    const annotations = { 'argocd.argoproj.io/tracking-id': 'shop-mesh:networking.istio.io/VirtualService:shop/reviews' };
    expect(gitOpsOwnerOf(vs, { annotations }, opts)).toEqual({ kind: 'Application', namespace: 'argocd', name: 'shop-mesh' });
    const anyNs = { 'argocd.argoproj.io/tracking-id': 'team-a_shop-mesh:networking.istio.io/VirtualService:shop/reviews' };
    expect(gitOpsOwnerOf(vs, { annotations: anyNs }, opts)).toEqual({ kind: 'Application', namespace: 'team-a', name: 'shop-mesh' });
  });

  it('ignores a tracking id that names another object (a copied manifest), as Argo CD does', () => {
    const annotations = { 'argocd.argoproj.io/tracking-id': 'shop-mesh:networking.istio.io/VirtualService:shop/ratings' };
    expect(gitOpsOwnerOf(vs, { annotations }, { ...opts, argoCdInstanceLabel: '' })).toBeUndefined();
  });

  it('reads Flux helm-controller labels before kustomize-controller ones', () => {
    const kustomize = { 'kustomize.toolkit.fluxcd.io/name': 'mesh', 'kustomize.toolkit.fluxcd.io/namespace': 'flux-system' };
    expect(gitOpsOwnerOf(vs, { labels: kustomize }, opts)).toEqual({ kind: 'Kustomization', namespace: 'flux-system', name: 'mesh' });
    const both = { ...kustomize, 'helm.toolkit.fluxcd.io/name': 'gw', 'helm.toolkit.fluxcd.io/namespace': 'edge', 'app.kubernetes.io/instance': 'gw' };
    expect(gitOpsOwnerOf(vs, { labels: both }, opts)).toEqual({ kind: 'HelmRelease', namespace: 'edge', name: 'gw' });
  });

  it('reads Argo CD label tracking last, and only when the label is configured', () => {
    const labels = { 'app.kubernetes.io/instance': 'shop-mesh' };
    expect(gitOpsOwnerOf(vs, { labels }, opts)).toEqual({ kind: 'Application', namespace: 'argocd', name: 'shop-mesh' });
    expect(gitOpsOwnerOf(vs, { labels }, { ...opts, argoCdInstanceLabel: '' })).toBeUndefined();
  });

  it('refuses marker values that are not Kubernetes names', () => {
    expect(
      gitOpsOwnerOf(vs, { labels: { 'kustomize.toolkit.fluxcd.io/name': 'Bad Name', 'kustomize.toolkit.fluxcd.io/namespace': 'x' } }, opts),
    ).toBeUndefined();
    expect(gitOpsOwnerOf(vs, { labels: { 'app.kubernetes.io/instance': 'a\u202eb' } }, opts)).toBeUndefined();
    expect(gitOpsOwnerOf(vs, {}, opts)).toBeUndefined();
  });
});
