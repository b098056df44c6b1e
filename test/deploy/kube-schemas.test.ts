import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { fieldPath, modelModule, validateManifestText, validateObject } from './kube-schemas.ts';

/**
 * The Kubernetes schema check of .ci/deploy-checks (issue #7) must reject what
 * `kubectl apply --validate=strict` rejects, naming the object and the field: these tests break the
 * manifests meshdrift ships, one way at a time, and read the message. .ci/deploy-checks runs the
 * same check on the kustomize renders.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (file: string): string => readFileSync(`${ROOT}${file}`, 'utf8');

/** Every file of deploy/ that holds Kubernetes objects (the kustomize resources one by one). */
const SHIPPED = [
  'deploy/kubernetes/base/namespace.yaml',
  'deploy/kubernetes/base/serviceaccount.yaml',
  'deploy/kubernetes/base/rbac.yaml',
  'deploy/kubernetes/base/deployment.yaml',
  'deploy/kubernetes/base/service.yaml',
  'deploy/kubernetes/base/pdb.yaml',
  'deploy/kubernetes/base/networkpolicy.yaml',
  'deploy/kubernetes/base/secret.example.yaml',
  'deploy/kubernetes/overlays/with-remediation/remediation-rbac.yaml',
  'deploy/kubernetes/overlays/admission/certificate.yaml',
  'deploy/kubernetes/overlays/admission/validatingwebhook.yaml',
  'deploy/kubernetes/overlays/admission/networkpolicy.yaml',
  'deploy/prometheus/servicemonitor.yaml',
  'deploy/prometheus/prometheusrule.yaml',
  'deploy/redis/redis.yaml',
  'deploy/argocd/argocd-notifications-cm.yaml',
  'deploy/flux/meshdrift-alert.yaml',
];

type Obj = Record<string, unknown>;
/** The first document of a shipped file, to break. */
const shipped = (file: string, kind: string): Obj => {
  const text = read(file);
  const docs = text.split(/^---$/m).map((d) => parse(d) as Obj | null);
  const doc = docs.find((d) => d?.['kind'] === kind);
  if (!doc) throw new Error(`${file} has no ${kind}`);
  return doc;
};
/** Follows a path of keys and indexes, for the mutations below. */
const at = (obj: unknown, ...path: (string | number)[]): Obj => {
  let node = obj;
  for (const k of path) node = (node as Record<string | number, unknown>)[k];
  return node as Obj;
};

describe('the Kubernetes schema check', () => {
  it.each(SHIPPED)('accepts %s', async (file) => {
    const result = await validateManifestText(read(file), file);
    expect(result.errors).toEqual([]);
    expect(result.objects.length).toBeGreaterThan(0);
  });

  const deployment = () => shipped('deploy/kubernetes/base/deployment.yaml', 'Deployment');
  const container = (d: Obj) => at(d, 'spec', 'template', 'spec', 'containers', 0);
  it.each<[string, () => Obj, string]>([
    [
      'a wrong field type',
      () => {
        const d = deployment();
        at(d, 'spec')['replicas'] = 'two';
        return d;
      },
      'spec.replicas: must be integer',
    ],
    [
      'an unknown field (a typo)',
      () => {
        const d = deployment();
        container(d)['imagePullPolcy'] = 'IfNotPresent';
        return d;
      },
      'spec.template.spec.containers[0].imagePullPolcy: unknown field "imagePullPolcy"',
    ],
    [
      'an unknown field deep in the pod spec',
      () => {
        const d = deployment();
        at(container(d), 'securityContext')['readOnlyRootFileSystem'] = true;
        return d;
      },
      'spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem: unknown field "readOnlyRootFileSystem"',
    ],
    [
      'a missing required field',
      () => {
        const d = deployment();
        delete at(d, 'spec')['selector'];
        return d;
      },
      'spec.selector: required field is missing',
    ],
    [
      'a container without a name',
      () => {
        const d = deployment();
        delete container(d)['name'];
        return d;
      },
      'spec.template.spec.containers[0].name: required field is missing',
    ],
    [
      'a value outside an enum',
      () => {
        const d = deployment();
        container(d)['imagePullPolicy'] = 'Sometimes';
        return d;
      },
      'spec.template.spec.containers[0].imagePullPolicy: must be equal to one of the allowed values ("Always", "IfNotPresent", "Never")',
    ],
    ['an unknown top-level field', () => ({ ...deployment(), status2: {} }), 'status2: unknown field "status2"'],
  ])('rejects a Deployment with %s, naming the object and the field', async (_what, make, problem) => {
    const yaml = JSON.stringify(make());
    const result = await validateManifestText(yaml, 'deployment.yaml');
    expect(result.errors).toContain(`deployment.yaml Deployment meshdrift (apps/v1): ${problem}`);
  });

  it.each<[string, string, string, (o: Obj) => void, string]>([
    ['RBAC verbs as a string', 'deploy/kubernetes/base/rbac.yaml', 'ClusterRole', (o) => (at(o, 'rules', 0)['verbs'] = 'get'), 'rules[0].verbs: must be array'],
    [
      'a Service port as a string',
      'deploy/kubernetes/base/service.yaml',
      'Service',
      (o) => (at(o, 'spec', 'ports', 0)['port'] = '8080'),
      'spec.ports[0].port: must be integer',
    ],
    [
      'a NetworkPolicy peer with a typo',
      'deploy/kubernetes/base/networkpolicy.yaml',
      'NetworkPolicy',
      (o) => (at(o, 'spec', 'ingress', 0, 'from', 0)['namespaceSelecter'] = {}),
      'spec.ingress[0].from[0].namespaceSelecter: unknown field "namespaceSelecter"',
    ],
    [
      'NetworkPolicy policyTypes as a string',
      'deploy/kubernetes/base/networkpolicy.yaml',
      'NetworkPolicy',
      (o) => (at(o, 'spec')['policyTypes'] = 'Ingress'),
      'spec.policyTypes: must be array',
    ],
    [
      'a PDB with an unknown field',
      'deploy/kubernetes/base/pdb.yaml',
      'PodDisruptionBudget',
      (o) => (at(o, 'spec')['minAvailible'] = 1),
      'spec.minAvailible: unknown field "minAvailible"',
    ],
    [
      'a ServiceMonitor endpoint typo',
      'deploy/prometheus/servicemonitor.yaml',
      'ServiceMonitor',
      (o) => (at(o, 'spec', 'endpoints', 0)['intervall'] = '30s'),
      'spec.endpoints[0].intervall: unknown field "intervall"',
    ],
    [
      'a PrometheusRule rule without expr',
      'deploy/prometheus/prometheusrule.yaml',
      'PrometheusRule',
      (o) => delete at(o, 'spec', 'groups', 0, 'rules', 0)['expr'],
      'spec.groups[0].rules[0].expr: required field is missing',
    ],
    [
      'a Flux Alert with eventSeverity debug',
      'deploy/flux/meshdrift-alert.yaml',
      'Alert',
      (o) => (at(o, 'spec')['eventSeverity'] = 'debug'),
      'spec.eventSeverity: must be equal to one of the allowed values ("info", "error")',
    ],
    [
      'a Flux Provider with an unknown field',
      'deploy/flux/meshdrift-alert.yaml',
      'Provider',
      (o) => (at(o, 'spec')['hmacKey'] = 'x'),
      'spec.hmacKey: unknown field "hmacKey"',
    ],
    [
      'a StatefulSet volume claim without a spec field type',
      'deploy/redis/redis.yaml',
      'StatefulSet',
      (o) => (at(o, 'spec', 'volumeClaimTemplates', 0, 'spec')['accessModes'] = 'ReadWriteOnce'),
      'spec.volumeClaimTemplates[0].spec.accessModes: must be array',
    ],
    [
      'a ConfigMap value that is not a string',
      'deploy/argocd/argocd-notifications-cm.yaml',
      'ConfigMap',
      (o) => (at(o, 'data')['retries'] = 3),
      'data.retries: must be string',
    ],
  ])('rejects %s', async (_what, file, kind, mutate, problem) => {
    const obj = shipped(file, kind);
    mutate(obj);
    const problems = await validateObject(obj);
    expect(problems).toContain(problem);
  });

  it('accepts any keys in maps (labels, annotations, ConfigMap data, resource quantities)', async () => {
    const d = shipped('deploy/kubernetes/base/deployment.yaml', 'Deployment');
    at(d, 'metadata', 'labels')['example.com/team'] = 'platform';
    at(d, 'spec', 'template', 'metadata')['annotations'] = { 'prometheus.io/scrape': 'true' };
    at(d, 'spec', 'template', 'spec', 'containers', 0, 'resources', 'limits')['ephemeral-storage'] = '1Gi';
    expect(await validateObject(d)).toEqual([]);
  });

  it('rejects objects it has no schema for, and documents that are not objects', async () => {
    const app = { apiVersion: 'argoproj.io/v1alpha1', kind: 'Application', metadata: { name: 'a' } };
    expect((await validateObject(app))[0]).toMatch(/^no schema for apiVersion argoproj\.io\/v1alpha1/);
    expect(await validateObject({ apiVersion: 'apps/v1', kind: 'Deploymnt', metadata: { name: 'a' } })).toEqual([
      'no schema for kind Deploymnt in apps/v1 (no module kubernetes-models/apps/v1/Deploymnt)',
    ]);
    expect(await validateObject({ apiVersion: 'apps/v1', kind: '../v1/Pod', metadata: { name: 'a' } })).toEqual([
      'kind "../v1/Pod" is not a Kubernetes kind name',
    ]);
    expect((await validateObject({ apiVersion: 'apps/v2', kind: 'Deployment', metadata: { name: 'a' } }))[0]).toMatch(
      /^no schema for kind Deployment in apps\/v2/,
    );
    expect(await validateObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: {} })).toEqual(['metadata.name: required field is missing']);
    expect((await validateManifestText('# nothing here\n', 'empty.yaml')).errors).toEqual(['empty.yaml: no Kubernetes object in it']);
  });

  it('rejects duplicate keys, as strict decoding does', async () => {
    const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n';
    const result = await validateManifestText(text, 'dup.yaml');
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]).toMatch(/^dup\.yaml: YAML: Map keys must be unique/);
  });

  it('finds the models of built-in groups and of the custom resources meshdrift ships', () => {
    expect(modelModule('v1', 'Service')).toBe('kubernetes-models/v1/Service');
    expect(modelModule('apps/v1', 'Deployment')).toBe('kubernetes-models/apps/v1/Deployment');
    expect(modelModule('coordination.k8s.io/v1', 'Lease')).toBe('kubernetes-models/coordination.k8s.io/v1/Lease');
    expect(modelModule('monitoring.coreos.com/v1', 'ServiceMonitor')).toBe('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor');
    expect(modelModule('notification.toolkit.fluxcd.io/v1beta3', 'Alert')).toBe('@kubernetes-models/flux-cd/notification.toolkit.fluxcd.io/v1beta3/Alert');
    expect(modelModule('argoproj.io/v1alpha1', 'Application')).toBeUndefined();
    expect(modelModule('v2', 'Pod')).toBeUndefined();
  });

  it('prints field paths as kubectl does', () => {
    const data = { spec: { containers: [{ env: [{ name: 'A' }] }], 'a/b': { 'c~d': 1 } } };
    expect(fieldPath(data, '/spec/containers/0/env/0/name')).toBe('spec.containers[0].env[0].name');
    expect(fieldPath(data, '/spec/a~1b/c~0d')).toBe('spec.a/b.c~d');
    expect(fieldPath(data, '')).toBe('');
  });
});
