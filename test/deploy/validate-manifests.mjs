// Validates rendered Kubernetes manifests offline: every object has apiVersion/kind/metadata.name
// and a known kind, and the objects meshdrift ships are checked for structure and for what issue #7
// asks of them (security context, probes, RBAC verbs, references between objects...).
//   node test/deploy/validate-manifests.mjs <name>=<rendered.yaml> ...
// Names: base, minimal, with-remediation, admission (kustomize renders of deploy/kubernetes), prometheus
// (render of deploy/prometheus), redis (deploy/redis/redis.yaml), secret-example.
// Needs Node >= 24: it loads the policy ConfigMap with meshdrift's own loader (src/config/load.ts).
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const root = fileURLToPath(new URL('../../', import.meta.url));
const errors = [];
let checks = 0;
const NS = 'meshdrift';
/** The API groups of the mesh catalog (src/classify/catalog.ts): what the mesh watch may read. */
const MESH_GROUPS = new Set((await import(`${root}src/classify/catalog.ts`)).MESH_CATALOG.map((e) => e.group));
/** What .github/workflows/release.yml publishes for the tag v<version of package.json>. */
const IMAGE = `ghcr.io/meshdrift/meshdrift:${JSON.parse(readFileSync(`${root}package.json`, 'utf8')).version}`;
const POD_LABELS = { 'app.kubernetes.io/name': 'meshdrift', 'app.kubernetes.io/component': 'server' };
const SECRET_KEYS = ['MESHDRIFT_ARGOCD_TOKEN', 'MESHDRIFT_FLUX_HMAC_KEY', 'MESHDRIFT_API_TOKEN', 'SLACK_BOT_TOKEN', 'REDIS_URL'];
const CONFIG_KEYS = ['MESHDRIFT_CLUSTER', 'MESHDRIFT_GROUP_WAIT', 'SLACK_CHANNEL', 'MESHDRIFT_LOG_LEVEL', 'MESHDRIFT_POLICY'];

// apiVersion -> kind -> namespaced?
const KINDS = {
  v1: { Namespace: false, ServiceAccount: true, Service: true, ConfigMap: true, Secret: true },
  'apps/v1': { Deployment: true, StatefulSet: true },
  'policy/v1': { PodDisruptionBudget: true },
  'networking.k8s.io/v1': { NetworkPolicy: true },
  'rbac.authorization.k8s.io/v1': { ClusterRole: false, ClusterRoleBinding: false, Role: true, RoleBinding: true },
  'monitoring.coreos.com/v1': { ServiceMonitor: true, PrometheusRule: true },
  'admissionregistration.k8s.io/v1': { ValidatingWebhookConfiguration: false },
  'cert-manager.io/v1': { Certificate: true, Issuer: true },
};
const DNS1123_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const QUANTITY = /^[0-9]+(\.[0-9]+)?(m|k|Ki|Mi|Gi|Ti|M|G|T)?$/;
const ALLOWED_VERBS = new Set(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection']);

function check(cond, where, msg) {
  checks++;
  if (!cond) errors.push(`${where}: ${msg}`);
  return Boolean(cond);
}
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const id = (o) => `${o?.kind ?? '?'}/${o?.metadata?.name ?? '?'}`;
const subset = (small, big) => isObj(small) && isObj(big) && Object.entries(small).every(([k, v]) => big[k] === v);

function load(file) {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'));
  const out = [];
  for (const d of docs) {
    if (d.errors.length > 0) errors.push(`${file}: YAML: ${d.errors[0].message.split('\n')[0]}`);
    const v = d.toJS();
    if (v !== null && v !== undefined) out.push(v);
  }
  return out;
}

/** Generic checks every object gets. */
function checkObject(o, where, { namespace = NS } = {}) {
  const w = `${where} ${id(o)}`;
  if (!check(isObj(o), where, 'document is not a mapping')) return;
  check(typeof o.apiVersion === 'string', w, 'apiVersion missing');
  check(typeof o.kind === 'string', w, 'kind missing');
  check(isObj(o.metadata) && typeof o.metadata.name === 'string', w, 'metadata.name missing');
  const namespaced = KINDS[o.apiVersion]?.[o.kind];
  if (
    !check(
      namespaced !== undefined,
      w,
      `unknown kind ${o.kind} in ${o.apiVersion} (known: ${Object.entries(KINDS)
        .flatMap(([a, k]) => Object.keys(k).map((x) => `${a} ${x}`))
        .join(', ')})`,
    )
  )
    return;
  check(DNS1123_SUBDOMAIN.test(o.metadata.name), w, `metadata.name "${o.metadata.name}" is not a DNS-1123 name`);
  if (namespaced) check(o.metadata.namespace === namespace, w, `must be in namespace ${namespace} (has ${o.metadata.namespace})`);
  else check(o.metadata.namespace === undefined, w, 'cluster-scoped object must not set metadata.namespace');
  for (const [k, v] of Object.entries(o.metadata.labels ?? {})) {
    check(LABEL_KEY.test(k), w, `label key "${k}" is invalid`);
    check(typeof v === 'string' && LABEL_VALUE.test(v) && v.length <= 63, w, `label ${k}: value "${v}" is invalid (a string of at most 63 characters)`);
  }
  const allowedTop = new Set([
    'apiVersion',
    'kind',
    'metadata',
    'spec',
    'data',
    'stringData',
    'binaryData',
    'type',
    'rules',
    'roleRef',
    'subjects',
    'immutable',
    'aggregationRule',
    'webhooks',
  ]);
  for (const k of Object.keys(o)) check(allowedTop.has(k), w, `unexpected top-level field ${k}`);
}

function checkContainer(c, w, { requireSecurity = true } = {}) {
  const cw = `${w} container ${c?.name}`;
  check(typeof c.name === 'string' && DNS1123_LABEL.test(c.name), cw, 'name must be a DNS-1123 label');
  check(
    typeof c.image === 'string' && /:[\w][\w.-]*$|@sha256:[0-9a-f]{64}$/.test(c.image) && !c.image.endsWith(':latest'),
    cw,
    `image "${c.image}" must be pinned to a tag or digest (not latest)`,
  );
  const portNames = new Set();
  for (const p of c.ports ?? []) {
    check(Number.isInteger(p.containerPort) && p.containerPort > 0 && p.containerPort < 65536, cw, `containerPort ${p.containerPort} invalid`);
    if (p.name !== undefined) {
      check(
        /^(?=.{1,15}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(p.name) && /[a-z]/.test(p.name),
        cw,
        `port name "${p.name}" invalid (IANA_SVC_NAME, at most 15 characters)`,
      );
      portNames.add(p.name);
    }
    check(['TCP', 'UDP', 'SCTP', undefined].includes(p.protocol), cw, `protocol ${p.protocol} invalid`);
  }
  for (const probeName of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
    const probe = c[probeName];
    if (!probe) continue;
    const handlers = ['httpGet', 'tcpSocket', 'exec', 'grpc'].filter((h) => probe[h]);
    check(handlers.length === 1, cw, `${probeName} needs exactly one handler`);
    const port = probe.httpGet?.port ?? probe.tcpSocket?.port;
    if (typeof port === 'string') check(portNames.has(port), cw, `${probeName} uses port "${port}", which the container does not name`);
  }
  const r = c.resources ?? {};
  for (const kind of ['requests', 'limits']) {
    check(isObj(r[kind]) && r[kind].memory !== undefined, cw, `resources.${kind}.memory is required`);
    for (const [res, q] of Object.entries(r[kind] ?? {})) check(QUANTITY.test(String(q)), cw, `resources.${kind}.${res} "${q}" is not a quantity`);
  }
  check(r.requests?.cpu !== undefined, cw, 'resources.requests.cpu is required');
  if (requireSecurity) {
    const sc = c.securityContext ?? {};
    check(sc.allowPrivilegeEscalation === false, cw, 'securityContext.allowPrivilegeEscalation must be false');
    check(sc.readOnlyRootFilesystem === true, cw, 'securityContext.readOnlyRootFilesystem must be true');
    check(sc.privileged !== true, cw, 'must not be privileged');
    check(Array.isArray(sc.capabilities?.drop) && sc.capabilities.drop.includes('ALL'), cw, 'securityContext.capabilities.drop must include ALL');
    check(!(sc.capabilities?.add?.length > 0), cw, 'must not add capabilities');
  }
  return portNames;
}

/** Pod spec checks shared by Deployment and StatefulSet; returns the container port names. */
function checkPodSpec(spec, w, objs, { uid }) {
  const psc = spec.securityContext ?? {};
  check(psc.runAsNonRoot === true, w, 'pod securityContext.runAsNonRoot must be true');
  check(psc.runAsUser === uid, w, `pod securityContext.runAsUser must be ${uid}`);
  check(psc.seccompProfile?.type === 'RuntimeDefault', w, 'pod securityContext.seccompProfile.type must be RuntimeDefault');
  check(Array.isArray(spec.containers) && spec.containers.length > 0, w, 'no containers');
  const volumes = new Map((spec.volumes ?? []).map((v) => [v.name, v]));
  const ports = new Set();
  for (const c of spec.containers ?? []) {
    for (const p of checkContainer(c, w)) ports.add(p);
    for (const m of c.volumeMounts ?? []) check(volumes.has(m.name) || (spec.__claims ?? []).includes(m.name), w, `volumeMount ${m.name} has no volume`);
    for (const e of c.env ?? []) {
      check(typeof e.name === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(e.name), w, `env name "${e.name}" invalid`);
      const cm = e.valueFrom?.configMapKeyRef;
      if (cm)
        check(
          objs.some((o) => o.kind === 'ConfigMap' && o.metadata.name === cm.name && cm.key in (o.data ?? {})),
          w,
          `env ${e.name} refers to ConfigMap ${cm.name} key ${cm.key}, which is not rendered`,
        );
    }
    for (const ef of c.envFrom ?? []) {
      if (ef.configMapRef)
        check(
          objs.some((o) => o.kind === 'ConfigMap' && o.metadata.name === ef.configMapRef.name),
          w,
          `envFrom ConfigMap ${ef.configMapRef.name} is not rendered`,
        );
    }
  }
  for (const v of volumes.values()) {
    if (v.configMap)
      check(
        objs.some((o) => o.kind === 'ConfigMap' && o.metadata.name === v.configMap.name),
        w,
        `volume ${v.name}: ConfigMap ${v.configMap.name} is not rendered`,
      );
    for (const item of v.configMap?.items ?? []) {
      const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === v.configMap.name);
      check(cm && item.key in (cm.data ?? {}), w, `volume ${v.name}: key ${item.key} is not in the ConfigMap`);
    }
  }
  return ports;
}

/** Names of environment variables meshdrift's source mentions (src/**.ts). */
const srcText = (() => {
  const parts = [];
  const walk = (dir) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.isDirectory()) walk(`${dir}/${e.name}`);
      else if (e.name.endsWith('.ts')) parts.push(readFileSync(`${dir}/${e.name}`, 'utf8'));
    }
  };
  walk(`${root}src`);
  return parts.join('\n');
})();
const envKnown = (name) => ['PORT', 'HOST'].includes(name) || new RegExp(`\\b${name}\\b`).test(srcText);

async function checkMeshdrift(name, objs, { replicas, pdb, remediation }) {
  const where = name;
  const by = (kind, n) => objs.find((o) => o.kind === kind && (n === undefined || o.metadata?.name === n));
  const all = (kind) => objs.filter((o) => o.kind === kind);
  check(by('Namespace', NS), where, 'renders Namespace meshdrift');
  // The Secret is the user's; the kustomization must never render one.
  check(all('Secret').length === 0, where, 'must not render any Secret (meshdrift-secrets is created by the user)');

  const dep = by('Deployment', 'meshdrift');
  if (check(dep, where, 'renders Deployment meshdrift')) {
    const w = `${where} Deployment/meshdrift`;
    const spec = dep.spec ?? {};
    const tpl = spec.template ?? {};
    check(spec.replicas === replicas, w, `replicas must be ${replicas} (is ${spec.replicas})`);
    check(subset(POD_LABELS, spec.selector?.matchLabels), w, 'selector.matchLabels must select app.kubernetes.io/name=meshdrift, component=server');
    check(subset(spec.selector?.matchLabels, tpl.metadata?.labels), w, 'selector.matchLabels must match the pod template labels');
    const pod = tpl.spec ?? {};
    check(pod.serviceAccountName === 'meshdrift' && by('ServiceAccount', 'meshdrift'), w, 'runs as ServiceAccount meshdrift, which is rendered');
    const ports = checkPodSpec(pod, w, objs, { uid: 1000 });
    const c = (pod.containers ?? []).find((x) => x.name === 'meshdrift');
    if (check(c, w, 'has a container named meshdrift')) {
      check(c.image === IMAGE, w, `image must be ${IMAGE}`);
      check(JSON.stringify(c.args) === JSON.stringify(['serve']), w, 'args must be [serve]');
      check(
        (c.ports ?? []).some((p) => p.name === 'http' && p.containerPort === 8080),
        w,
        'port 8080 named http',
      );
      check(c.readinessProbe?.httpGet?.path === '/readyz', w, 'readinessProbe GET /readyz');
      check(c.livenessProbe?.httpGet?.path === '/healthz', w, 'livenessProbe GET /healthz');
      check(c.securityContext?.runAsNonRoot === true || pod.securityContext?.runAsNonRoot === true, w, 'runAsNonRoot');
      check(
        c.securityContext?.seccompProfile?.type === 'RuntimeDefault' || pod.securityContext?.seccompProfile?.type === 'RuntimeDefault',
        w,
        'seccomp RuntimeDefault',
      );
      const mount = (c.volumeMounts ?? []).find((m) => m.mountPath === '/etc/meshdrift');
      const vol = (pod.volumes ?? []).find((v) => v.name === mount?.name);
      check(
        mount && mount.readOnly === true && vol?.configMap?.name?.startsWith('meshdrift-policy'),
        w,
        'mounts the meshdrift-policy ConfigMap read-only at /etc/meshdrift',
      );
      const secretRef = (c.envFrom ?? []).find((e) => e.secretRef)?.secretRef;
      check(secretRef?.name === 'meshdrift-secrets' && secretRef.optional !== true, w, 'env from the (required) Secret meshdrift-secrets');
      const cmRef = (c.envFrom ?? []).find((e) => e.configMapRef)?.configMapRef;
      const cm = cmRef && by('ConfigMap', cmRef.name);
      if (check(cm && cmRef.name.startsWith('meshdrift-config'), w, 'env from the ConfigMap meshdrift-config')) {
        for (const k of CONFIG_KEYS) check(k in (cm.data ?? {}), w, `meshdrift-config has ${k}`);
        check(
          cm.data?.MESHDRIFT_POLICY === `/etc/meshdrift/${Object.keys(by('ConfigMap', vol?.configMap?.name)?.data ?? {})[0]}`,
          w,
          'MESHDRIFT_POLICY points at the mounted policy file',
        );
        for (const k of Object.keys(cm.data ?? {})) check(envKnown(k), w, `meshdrift-config key ${k} is not a variable meshdrift reads (not found in src/)`);
        for (const e of c.env ?? []) check(envKnown(e.name), w, `env ${e.name} is not a variable meshdrift reads`);
      }
      // The policy file must load with meshdrift's own loader.
      const policyCm = vol?.configMap?.name && by('ConfigMap', vol.configMap.name);
      if (policyCm) {
        const { loadPolicyText, formatPolicyError } = await import(`${root}src/config/load.ts`);
        for (const [file, text] of Object.entries(policyCm.data ?? {})) {
          const result = loadPolicyText(text, `meshdrift-policy/${file}`);
          check(result.ok, w, result.ok ? '' : `policy does not load: ${result.errors.map(formatPolicyError).join('; ')}`);
        }
      }
      const r = c.resources ?? {};
      check(r.limits?.cpu !== undefined && r.requests?.memory !== undefined, w, 'requests and limits for cpu and memory');
    }
    const spreads = pod.topologySpreadConstraints ?? [];
    check(
      spreads.some((t) => t.topologyKey === 'kubernetes.io/hostname' && subset(t.labelSelector?.matchLabels, tpl.metadata?.labels)) ||
        (pod.affinity?.podAntiAffinity && JSON.stringify(pod.affinity.podAntiAffinity).includes('kubernetes.io/hostname')),
      w,
      'spreads replicas across nodes (topologySpreadConstraints or podAntiAffinity on kubernetes.io/hostname)',
    );
    const svc = by('Service', 'meshdrift');
    if (check(svc, where, 'renders Service meshdrift')) {
      const sw = `${where} Service/meshdrift`;
      check(
        subset(svc.spec?.selector, tpl.metadata?.labels) && Object.keys(svc.spec?.selector ?? {}).length > 0,
        sw,
        'selector must match the Deployment pods',
      );
      const p = (svc.spec?.ports ?? []).find((x) => x.port === 8080);
      check(p && p.name === 'http', sw, 'port 8080 named http');
      for (const x of svc.spec?.ports ?? [])
        check(typeof x.targetPort === 'number' || ports.has(x.targetPort), sw, `targetPort ${x.targetPort} is not a container port name`);
    }
    // Ingress to meshdrift's port only from the namespaces that need it (issue #12).
    // (The admission overlay adds its own, meshdrift-admission: checkAdmission.)
    const nps = all('NetworkPolicy').filter((np) => np.metadata?.name !== 'meshdrift-admission');
    if (check(nps.length === 1, where, 'renders one NetworkPolicy')) {
      const np = nps[0];
      const nw = `${where} NetworkPolicy/${np.metadata.name}`;
      check(
        subset(np.spec?.podSelector?.matchLabels, tpl.metadata?.labels) && Object.keys(np.spec?.podSelector?.matchLabels ?? {}).length > 0,
        nw,
        'podSelector must select the Deployment pods',
      );
      check(JSON.stringify(np.spec?.policyTypes) === JSON.stringify(['Ingress']), nw, 'policyTypes must be [Ingress]');
      const rules = np.spec?.ingress ?? [];
      const namespaces = rules.flatMap((r) => (r.from ?? []).map((f) => f.namespaceSelector?.matchLabels?.['kubernetes.io/metadata.name']));
      check(
        JSON.stringify([...namespaces].sort()) === JSON.stringify(['argocd', 'flux-system', 'monitoring']),
        nw,
        `ingress only from namespaces argocd, flux-system, monitoring (is ${namespaces.join(', ')})`,
      );
      check(
        rules.every((r) => (r.from ?? []).length > 0 && (r.from ?? []).every((f) => f.namespaceSelector && !f.ipBlock)),
        nw,
        'every rule names its namespaces (an empty from admits everyone)',
      );
      check(
        rules.every((r) => (r.ports ?? []).length > 0 && r.ports.every((x) => x.port === 'http' || x.port === 8080)),
        nw,
        'every rule admits only port http (8080)',
      );
    }
    const pdbs = all('PodDisruptionBudget');
    if (pdb) {
      if (check(pdbs.length === 1, where, 'renders one PodDisruptionBudget')) {
        const pw = `${where} PodDisruptionBudget/${pdbs[0].metadata.name}`;
        check(pdbs[0].spec?.minAvailable === 1, pw, 'minAvailable must be 1');
        check(subset(pdbs[0].spec?.selector?.matchLabels, tpl.metadata?.labels), pw, 'selector must match the Deployment pods');
        check(pdbs[0].spec.minAvailable < replicas, pw, 'minAvailable must be below replicas, or it blocks every drain');
      }
    } else check(pdbs.length === 0, where, 'must not render a PodDisruptionBudget');
  }

  // RBAC: every binding refers to a rendered role and to the meshdrift ServiceAccount; no wildcards.
  const roles = [...all('ClusterRole'), ...all('Role')];
  for (const role of roles) {
    const w = `${where} ${id(role)}`;
    for (const rule of role.rules ?? []) {
      check(Array.isArray(rule.apiGroups) && Array.isArray(rule.resources) && Array.isArray(rule.verbs), w, 'each rule needs apiGroups, resources and verbs');
      for (const f of ['apiGroups', 'resources', 'verbs']) check(!(rule[f] ?? []).includes('*'), w, `no wildcard in ${f}`);
      for (const v of rule.verbs ?? []) check(ALLOWED_VERBS.has(v), w, `unknown verb ${v}`);
      check(!(rule.resources ?? []).some((r) => ['secrets', 'pods/exec', 'serviceaccounts/token'].includes(r)), w, 'no access to secrets, exec or tokens');
    }
  }
  for (const b of [...all('ClusterRoleBinding'), ...all('RoleBinding')]) {
    const w = `${where} ${id(b)}`;
    check(b.roleRef?.apiGroup === 'rbac.authorization.k8s.io', w, 'roleRef.apiGroup');
    check(
      roles.some((r) => r.kind === b.roleRef?.kind && r.metadata.name === b.roleRef?.name),
      w,
      `roleRef ${b.roleRef?.kind}/${b.roleRef?.name} is not rendered`,
    );
    if (b.kind === 'ClusterRoleBinding') check(b.roleRef?.kind === 'ClusterRole', w, 'a ClusterRoleBinding must refer to a ClusterRole');
    check(
      (b.subjects ?? []).length > 0 && (b.subjects ?? []).every((s) => s.kind === 'ServiceAccount' && s.name === 'meshdrift' && s.namespace === NS),
      w,
      'subjects must be exactly ServiceAccount meshdrift/meshdrift',
    );
  }
  // What the roles grant, in total, bound to meshdrift.
  const grants = new Map(); // "group/resource" -> Set(verbs), cluster-wide
  const nsGrants = new Map();
  for (const b of [...all('ClusterRoleBinding'), ...all('RoleBinding')]) {
    const role = roles.find((r) => r.kind === b.roleRef?.kind && r.metadata.name === b.roleRef?.name);
    const target = b.kind === 'ClusterRoleBinding' ? grants : nsGrants;
    for (const rule of role?.rules ?? [])
      for (const g of rule.apiGroups ?? [])
        for (const r of rule.resources ?? []) {
          const k = `${g}/${r}`;
          if (!target.has(k)) target.set(k, new Set());
          for (const v of rule.verbs ?? []) target.get(k).add(v);
        }
  }
  const read = ['get', 'list', 'watch'];
  const gitops = ['argoproj.io/applications', 'kustomize.toolkit.fluxcd.io/kustomizations', 'helm.toolkit.fluxcd.io/helmreleases'];
  // flux-reconcile's source_first annotates the owner's source: patch only.
  const sources = ['gitrepositories', 'ocirepositories', 'buckets', 'helmcharts', 'helmrepositories'].map((r) => `source.toolkit.fluxcd.io/${r}`);
  const expected = new Map([
    ...gitops.map((k) => [k, remediation ? [...read, 'patch'] : read]),
    ...(remediation ? sources.map((k) => [k, ['patch']]) : []),
    ['/events', read],
  ]);
  const show = (m) => [...m].map(([k, v]) => `${k}: ${[...v].sort().join(',')}`).join('; ');
  // The mesh watch (issue #16): read-only on the mesh API groups of the catalog, nothing else there.
  const meshGrants = new Map([...grants].filter(([k]) => MESH_GROUPS.has(k.slice(0, k.indexOf('/'))) && !expected.has(k)));
  for (const k of meshGrants.keys()) grants.delete(k);
  check(meshGrants.size > 0, `${where} RBAC`, 'the mesh watch needs get, list, watch on the mesh API groups');
  check(
    [...meshGrants.values()].every((v) => [...v].sort().join() === 'get,list,watch'),
    `${where} RBAC`,
    `mesh API groups must be read-only (get, list, watch); got ${show(meshGrants)}`,
  );
  check(
    grants.size === expected.size && [...expected].every(([k, v]) => grants.get(k) && [...grants.get(k)].sort().join() === [...v].sort().join()),
    `${where} RBAC`,
    `cluster-wide grants must be exactly ${[...expected].map(([k, v]) => `${k}: ${v.join(',')}`).join('; ')}; got ${show(grants)}`,
  );
  check(
    nsGrants.size === 1 && [...(nsGrants.get('coordination.k8s.io/leases') ?? [])].sort().join() === 'create,get,update',
    `${where} RBAC`,
    `namespace grants must be exactly coordination.k8s.io/leases: get,create,update; got ${show(nsGrants)}`,
  );
  for (const r of all('Role')) check(r.metadata.namespace === NS, `${where} ${id(r)}`, "Role lives in meshdrift's namespace");
  return { dep, svc: by('Service', 'meshdrift') };
}

function checkPrometheus(objs, svc) {
  const where = 'prometheus';
  const sm = objs.find((o) => o.kind === 'ServiceMonitor');
  if (check(sm, where, 'renders a ServiceMonitor')) {
    const w = `${where} ${id(sm)}`;
    check(sm.apiVersion === 'monitoring.coreos.com/v1', w, 'apiVersion monitoring.coreos.com/v1');
    check(svc && subset(sm.spec?.selector?.matchLabels, svc.metadata?.labels), w, 'selector must match the labels of Service meshdrift');
    check((sm.spec?.namespaceSelector?.matchNames ?? [sm.metadata.namespace]).includes(NS), w, 'must look in namespace meshdrift');
    const eps = sm.spec?.endpoints ?? [];
    check(eps.length > 0, w, 'needs endpoints');
    for (const e of eps) {
      check(svc && (svc.spec?.ports ?? []).some((p) => p.name === e.port), w, `endpoint port "${e.port}" is not a port name of Service meshdrift`);
      check((e.path ?? '/metrics') === '/metrics', w, 'scrapes /metrics');
    }
    check(
      sm.spec?.jobLabel === undefined || svc?.metadata?.labels?.[sm.spec.jobLabel] === 'meshdrift',
      w,
      'job label must come out as "meshdrift" (the rules select up{job="meshdrift"})',
    );
  }
  const pr = objs.find((o) => o.kind === 'PrometheusRule');
  if (check(pr, where, 'renders a PrometheusRule')) {
    const w = `${where} ${id(pr)}`;
    const groups = pr.spec?.groups ?? [];
    check(groups.length > 0, w, 'spec.groups is empty');
    for (const g of groups) {
      check(typeof g.name === 'string' && Array.isArray(g.rules), w, 'each group needs name and rules');
      for (const r of g.rules ?? []) check((r.alert || r.record) && typeof r.expr === 'string', w, `rule ${r.alert ?? r.record}: needs alert/record and expr`);
    }
  }
}

/**
 * The recorder webhook overlay (issue #17): the webhook can never block or break a write (Ignore,
 * timeout at most 2 s, NoneOnDryRun, v1 reviews, dry runs skipped), it calls meshdrift's Service on a
 * port that reaches the admission listener, its CA comes from the Certificate whose Secret the pod
 * mounts where MESHDRIFT_ADMISSION_TLS_* point, and a NetworkPolicy admits that port.
 */
function checkAdmission(objs) {
  const where = 'admission';
  const one = (kind, name) => objs.find((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  const vwc = one('ValidatingWebhookConfiguration');
  const svc = one('Service', 'meshdrift');
  const dep = one('Deployment', 'meshdrift');
  const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata?.name?.startsWith('meshdrift-config'));
  if (!check(vwc && svc && dep && cm, where, 'renders a ValidatingWebhookConfiguration, Service, Deployment and config')) return;
  const w = `${where} ${id(vwc)}`;
  const hooks = vwc.webhooks ?? [];
  const cfg = cm.data ?? {};
  check(hooks.length === 1, w, 'one webhook');
  const container = (dep.spec?.template?.spec?.containers ?? []).find((c) => c.name === 'meshdrift');
  const portNames = new Map((container?.ports ?? []).map((p) => [p.name, p.containerPort]));
  for (const h of hooks) {
    const hw = `${w} webhook ${h.name}`;
    check(h.failurePolicy === 'Ignore', hw, 'failurePolicy must be Ignore (never block a write)');
    check(Number.isInteger(h.timeoutSeconds) && h.timeoutSeconds >= 1 && h.timeoutSeconds <= 2, hw, 'timeoutSeconds must be 1 or 2');
    check(
      h.sideEffects === 'NoneOnDryRun',
      hw,
      'sideEffects must be NoneOnDryRun (Some/Unknown fail every dry run: Argo CD server-side diff, Flux drift checks)',
    );
    check(JSON.stringify(h.admissionReviewVersions) === '["v1"]', hw, 'admissionReviewVersions must be [v1]');
    check(
      (h.matchConditions ?? []).some((m) => /request\.dryRun/.test(m.expression ?? '')),
      hw,
      'a matchCondition must skip dry runs',
    );
    const ref = h.clientConfig?.service;
    check(
      ref?.name === svc.metadata.name && ref?.namespace === NS && ref?.path === '/admission',
      hw,
      'clientConfig.service must be meshdrift/meshdrift, path /admission',
    );
    const sp = (svc.spec?.ports ?? []).find((p) => p.port === ref?.port);
    check(sp && portNames.has(sp.targetPort), hw, `Service port ${ref?.port} must target a named container port`);
    check(sp && String(portNames.get(sp.targetPort)) === cfg.MESHDRIFT_ADMISSION_PORT, hw, 'the Service port must reach MESHDRIFT_ADMISSION_PORT');
    for (const r of h.rules ?? []) {
      check(JSON.stringify([...(r.operations ?? [])].sort()) === '["CREATE","DELETE","UPDATE"]', hw, 'rules: CREATE, UPDATE, DELETE');
      check(
        (r.resources ?? []).every((x) => !x.includes('/')),
        hw,
        'rules never name a subresource',
      );
      check(!(r.apiGroups ?? []).includes('*') && !(r.apiGroups ?? []).includes(''), hw, 'rules name mesh API groups only');
    }
  }
  const inject = vwc.metadata?.annotations?.['cert-manager.io/inject-ca-from'] ?? '';
  const [certNs, certName] = inject.split('/');
  const cert = objs.find((o) => o.kind === 'Certificate' && o.metadata?.name === certName && o.metadata?.namespace === certNs);
  if (check(cert, w, `cert-manager.io/inject-ca-from must name a rendered Certificate (is "${inject}")`)) {
    const cw = `${where} ${id(cert)}`;
    check((cert.spec?.dnsNames ?? []).includes(`${svc.metadata.name}.${NS}.svc`), cw, 'dnsNames must include the Service DNS name the API server uses');
    const issuer = objs.find((o) => o.kind === 'Issuer' && o.metadata?.name === cert.spec?.issuerRef?.name);
    check(issuer, cw, 'issuerRef must name a rendered Issuer');
    const vol = (dep.spec?.template?.spec?.volumes ?? []).find((v) => v.secret?.secretName === cert.spec?.secretName);
    const mount = vol && (container?.volumeMounts ?? []).find((m) => m.name === vol.name);
    if (check(mount, cw, "the pod must mount the Certificate's Secret")) {
      check(mount.subPath === undefined, cw, 'no subPath (a renewed certificate must reach the pod)');
      check(cfg.MESHDRIFT_ADMISSION === 'true', cw, 'MESHDRIFT_ADMISSION=true');
      for (const k of ['MESHDRIFT_ADMISSION_TLS_CERT', 'MESHDRIFT_ADMISSION_TLS_KEY'])
        check(String(cfg[k] ?? '').startsWith(`${mount.mountPath}/`), cw, `${k} must be under ${mount.mountPath}`);
    }
  }
  const np = one('NetworkPolicy', 'meshdrift-admission');
  if (check(np, where, 'renders NetworkPolicy meshdrift-admission')) {
    const rules = np.spec?.ingress ?? [];
    check(JSON.stringify(np.spec?.policyTypes) === '["Ingress"]', `${where} ${id(np)}`, 'policyTypes must be [Ingress]');
    check(
      rules.length > 0 && rules.every((r) => (r.ports ?? []).length > 0 && r.ports.every((p) => p.port === 'admission')),
      `${where} ${id(np)}`,
      'admits the admission port only',
    );
  }
}

function checkRedis(objs) {
  const where = 'redis';
  const sts = objs.find((o) => o.kind === 'StatefulSet');
  const cm = objs.find((o) => o.kind === 'ConfigMap');
  const svc = objs.find((o) => o.kind === 'Service');
  if (!check(sts && cm && svc, where, 'renders a StatefulSet, its ConfigMap and Service')) return;
  const w = `${where} ${id(sts)}`;
  const tpl = sts.spec?.template ?? {};
  check(sts.spec?.serviceName === svc.metadata.name, w, 'serviceName is the rendered Service');
  check(subset(sts.spec?.selector?.matchLabels, tpl.metadata?.labels), w, 'selector matches the pod labels');
  check(subset(svc.spec?.selector, tpl.metadata?.labels), w, 'Service selects the Redis pods');
  const pod = { ...tpl.spec, __claims: (sts.spec?.volumeClaimTemplates ?? []).map((c) => c.metadata?.name) };
  checkPodSpec(pod, w, objs, { uid: 999 });
  check((sts.spec?.volumeClaimTemplates ?? []).length > 0, w, 'data on a PersistentVolumeClaim');
  check(!(tpl.metadata?.labels?.['app.kubernetes.io/name'] === 'meshdrift'), w, 'Redis pods must not carry the meshdrift pod labels');
  const conf = Object.values(cm.data ?? {}).join('\n');
  const setting = (k) => conf.match(new RegExp(`^\\s*${k}\\s+(\\S+)`, 'm'))?.[1];
  check(setting('appendonly') === 'yes', w, 'redis.conf: appendonly yes');
  check(setting('appendfsync') === 'everysec', w, 'redis.conf: appendfsync everysec');
  check(setting('maxmemory-policy') === 'noeviction', w, 'redis.conf: maxmemory-policy noeviction (BullMQ)');
  check(setting('maxmemory') !== undefined, w, 'redis.conf: maxmemory set');
}

function checkSecretExample(objs, file) {
  const where = 'secret-example';
  check(objs.length === 1 && objs[0].kind === 'Secret' && objs[0].metadata?.name === 'meshdrift-secrets', where, 'one Secret named meshdrift-secrets');
  const s = objs[0] ?? {};
  const data = { ...(s.stringData ?? {}) };
  check(s.data === undefined, where, 'use stringData with readable placeholders, not base64 data');
  for (const k of SECRET_KEYS) check(k in data, where, `has ${k}`);
  for (const [k, v] of Object.entries(data)) {
    check(/REPLACE_ME|<[^>]+>|example/i.test(String(v)), where, `${k} must be an obvious placeholder (contain REPLACE_ME)`);
    check(envKnown(k), where, `${k} is not a variable meshdrift reads`);
  }
  // It must not be part of any kustomization.
  const kdirs = [
    'deploy/kubernetes/base',
    'deploy/kubernetes/overlays/minimal',
    'deploy/kubernetes/overlays/with-remediation',
    'deploy/kubernetes/overlays/admission',
    'deploy/kubernetes/overlays/redis-sentinel',
    'deploy/kubernetes/overlays/external-redis',
  ];
  for (const d of kdirs) {
    const k = readFileSync(`${root}${d}/kustomization.yaml`, 'utf8');
    check(
      !k.split('\n').some((l) => !l.trim().startsWith('#') && l.includes(file.split('/').pop())),
      where,
      `${d}/kustomization.yaml must not list the example Secret`,
    );
  }
}

// ---- main ---------------------------------------------------------------------------------------
const inputs = Object.fromEntries(process.argv.slice(2).map((a) => a.split(/=(.*)/s).slice(0, 2)));
const EXPECT = {
  base: { replicas: 2, pdb: true, remediation: false },
  minimal: { replicas: 1, pdb: false, remediation: false },
  'with-remediation': { replicas: 2, pdb: true, remediation: true },
  admission: { replicas: 2, pdb: true, remediation: false },
  'redis-sentinel': { replicas: 2, pdb: true, remediation: false },
  'external-redis': { replicas: 2, pdb: true, remediation: false },
};
let objects = 0;
const summary = [];
let baseSvc;
for (const [name, file] of Object.entries(inputs)) {
  const objs = load(file);
  objects += objs.length;
  for (const o of objs) checkObject(o, name);
  summary.push(`${name}: ${objs.length} (${[...new Set(objs.map((o) => o.kind))].join(', ')})`);
  if (EXPECT[name]) {
    const { svc } = await checkMeshdrift(name, objs, EXPECT[name]);
    if (name === 'base') baseSvc = svc;
    if (name === 'admission') checkAdmission(objs);
  } else if (name === 'prometheus') checkPrometheus(objs, baseSvc);
  else if (name === 'redis') checkRedis(objs);
  else if (name === 'secret-example') checkSecretExample(objs, file);
  else errors.push(`unknown input name ${name}`);
}
for (const n of ['base', 'minimal', 'with-remediation', 'admission', 'prometheus']) if (!(n in inputs)) errors.push(`missing input ${n}=<file>`);

if (errors.length > 0) {
  for (const e of errors) console.error(`FAIL ${e}`);
  console.error(`validate-manifests: ${errors.length} of ${checks} checks failed`);
  process.exit(1);
}
for (const s of summary) console.log(`ok   ${s}`);
console.log(`ok   manifests: ${objects} objects validated, ${checks} checks passed`);
