import { describe, expect, it } from 'vitest';
import { destinationCluster, outOfScope } from '../../../src/remediate/scope.ts';

const VS = { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'payments', name: 'payments' };
const map = new Map([
  ['prod-eu-1', 'prod'],
  ['https://10.0.0.1:6443', 'staging'],
  ['in-cluster', 'mgmt'],
]);

describe('destinationCluster: an Argo CD destination as a meshdrift cluster', () => {
  it.each([
    [{ name: 'prod-eu-1' }, undefined, 'prod'],
    [{ name: 'edge' }, undefined, 'edge'],
    [{ server: 'https://10.0.0.1:6443' }, undefined, 'staging'],
    [{ server: 'https://10.0.0.1:6443/' }, undefined, 'staging'],
    [{ server: 'https://10.9.9.9' }, undefined, 'https://10.9.9.9'],
    // in-cluster: the cluster whose API the receiver writes through, else a mapping, else the name.
    [{ server: 'https://kubernetes.default.svc' }, 'prod', 'prod'],
    [{ name: 'in-cluster' }, undefined, 'mgmt'],
    [{}, undefined, undefined],
  ])('%j (home %s) → %s', (d, home, want) => {
    expect(destinationCluster(d, map, home)).toBe(want);
  });
  it('in-cluster with no mapping and no home stays in-cluster', () => {
    expect(destinationCluster({ server: 'https://kubernetes.default.svc' }, new Map(), undefined)).toBe('in-cluster');
  });
});

describe('outOfScope', () => {
  const target = { cluster: 'prod', project: 'mesh-prod', namespace: 'payments', resources: [VS] };
  it('allows everything with no lists, and what every list names', () => {
    expect(outOfScope({}, target)).toBeNull();
    expect(outOfScope({ clusters: ['prod'], projects: ['mesh-prod'], namespaces: ['payments'] }, target)).toBeNull();
  });
  it('refuses, saying which list, the first that does not hold the target', () => {
    expect(outOfScope({ clusters: ['staging'] }, target)).toBe("its destination cluster is prod, not one of the receiver's clusters (staging)");
    expect(outOfScope({ clusters: ['prod'] }, { ...target, cluster: undefined })).toMatch(/^its destination cluster is unknown/);
    expect(outOfScope({ projects: ['default'] }, target)).toBe("its project is mesh-prod, not one of the receiver's projects (default)");
    expect(outOfScope({ namespaces: ['checkout'] }, target)).toBe("its namespace is payments, not one of the receiver's namespaces (checkout)");
    expect(outOfScope({ namespaces: ['payments'] }, { ...target, namespace: undefined })).toMatch(/its namespace is unset/);
    expect(outOfScope({ namespaces: ['payments'] }, { ...target, resources: [VS, { ...VS, namespace: 'istio-system' }] })).toBe(
      "it would name 1 resource(s) in namespaces outside the receiver's (istio-system)",
    );
  });
  it('a cluster-scoped resource (no namespace) is judged by the destination namespace alone', () => {
    expect(outOfScope({ namespaces: ['payments'] }, { ...target, resources: [{ ...VS, namespace: '' }] })).toBeNull();
  });
});
