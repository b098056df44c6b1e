import { describe, expect, it } from 'vitest';
import { createHelmIgnoreIndex, driftDetectionSchema, helmIgnoredPointers, MAX_PATHS, MAX_RULES } from '../../../../src/sources/flux/drift-ignore.ts';
import { fluxOptOutOf } from '../../../../src/sources/mesh/slim.ts';

const VS = { group: 'networking.istio.io', version: 'v1', kind: 'VirtualService', namespace: 'bookinfo', name: 'reviews' };

describe("a HelmRelease's driftDetection.ignore", () => {
  it('applies rules without a target to every object, targets as anchored regular expressions; selectors and invalid expressions never apply', () => {
    const dd = driftDetectionSchema.parse({
      mode: 'enabled',
      ignore: [
        { paths: ['/spec/a'] },
        { paths: ['/spec/b'], target: { kind: 'Virtual.*', namespace: 'book' } },
        { paths: ['/spec/c'], target: { kind: 'VirtualService', version: 'v1|v1beta1' } },
        { paths: ['/spec/d'], target: { kind: 'VirtualService', annotationSelector: 'x=y' } },
        { paths: ['/spec/e'], target: { name: '(' } },
        { paths: ['not-a-pointer', 7] },
      ],
    });
    expect(helmIgnoredPointers(dd?.ignore ?? [], VS)).toEqual(['/spec/a', '/spec/c']);
  });

  it('is bounded; a malformed rule or block is dropped, never the release', () => {
    const many = Array.from({ length: MAX_RULES + 5 }, () => ({ paths: Array.from({ length: MAX_PATHS + 5 }, (_, i) => `/p/${i}`) }));
    const dd = driftDetectionSchema.parse({ ignore: [42, { paths: 'x' }, ...many] });
    expect(dd?.ignore).toHaveLength(MAX_RULES);
    expect(dd?.ignore[2]?.paths).toHaveLength(MAX_PATHS);
    expect(driftDetectionSchema.parse('nonsense')).toBeUndefined();
  });

  it('the index: per cluster and release, removed with it', () => {
    const index = createHelmIgnoreIndex();
    const hr = {
      metadata: { namespace: 'flux-system', name: 'mesh' },
      spec: { driftDetection: driftDetectionSchema.parse({ ignore: [{ paths: ['/spec/a'] }] }) },
    };
    index.put('prod', hr);
    const owner = { kind: 'HelmRelease', namespace: 'flux-system', name: 'mesh' };
    expect(index.lookup('prod', owner)).toHaveLength(1);
    expect(index.lookup('other', owner)).toEqual([]);
    expect(index.lookup('prod', { ...owner, kind: 'Kustomization' })).toEqual([]);
    index.remove('prod', hr);
    expect(index.size()).toBe(0);
  });
});

describe("Flux's per-object opt-outs", () => {
  it('reads the label or the annotation of its own owner kind only', () => {
    expect(fluxOptOutOf('Kustomization', { annotations: { 'kustomize.toolkit.fluxcd.io/ssa': 'IfNotPresent' } })).toContain('IfNotPresent');
    expect(fluxOptOutOf('Kustomization', { labels: { 'kustomize.toolkit.fluxcd.io/reconcile': 'disabled' } })).toContain('reconcile');
    expect(fluxOptOutOf('Kustomization', { annotations: { 'kustomize.toolkit.fluxcd.io/ssa': 'Merge' } })).toBeUndefined();
    expect(fluxOptOutOf('HelmRelease', { labels: { 'helm.toolkit.fluxcd.io/driftDetection': 'disabled' } })).toContain('driftDetection');
    expect(fluxOptOutOf('Application', { annotations: { 'kustomize.toolkit.fluxcd.io/ssa': 'Ignore' } })).toBeUndefined();
  });
});
