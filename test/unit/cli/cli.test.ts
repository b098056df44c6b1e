import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runExplain } from '../../../src/cli/explain.ts';
import { runValidate } from '../../../src/cli/validate.ts';
import { fixturePath } from '../../support/fixtures.ts';

const EXAMPLE_POLICY = fileURLToPath(new URL('../../../config/policy.example.yaml', import.meta.url));

function capture(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { stream, text: () => text };
}

async function run(fn: typeof runExplain | typeof runValidate, args: string[]) {
  const out = capture();
  const err = capture();
  const code = await fn(args, out.stream, err.stream, {});
  return { code, out: out.text(), err: err.text() };
}

function tempFile(name: string, content: string): string {
  const dir = mkdtempSync(`${tmpdir()}/meshdrift-cli-`);
  writeFileSync(`${dir}/${name}`, content);
  return `${dir}/${name}`;
}

describe('meshdrift validate', () => {
  it('passes the example with a one-line summary', async () => {
    const r = await run(runValidate, [EXAMPLE_POLICY]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/OK \(5 rules, 5 receivers, 5 routes\)\n$/);
  });

  it('fails with every error, file:line:col, one per line', async () => {
    const file = tempFile('bad.yaml', 'receivers:\n  - name: log\n    console: {}\nroute:\n  receiver: nope\n  group_wait: later\n');
    const r = await run(runValidate, [file]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${file}:6:15: route.group_wait: "later" is not a duration`);
    // The references are checked too, though the schema failed (issue #19): both layers in one run.
    expect(r.err).toContain(`${file}:5:13: route.receiver: undefined receiver "nope" (define it under receivers)`);
    expect(r.err.trim().split('\n')).toHaveLength(3);
  });

  it('reports a route name used twice, with where it was first (route names are identities)', async () => {
    const file = tempFile(
      'names.yaml',
      `receivers:\n  - { name: log, console: {} }\nroute:\n  receiver: log\n  routes:\n    - { name: prod, matchers: ['cluster="prod"'] }\n    - matchers: ['cluster="dev"']\n      routes:\n        - { name: prod, matchers: ['team="a"'] }\n`,
    );
    const r = await run(runValidate, [file]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      `${file}:9:19: route.routes[1].routes[0].name: route name "prod" is used twice (first at route.routes[0]); route names must be unique`,
    );
  });

  it('says so for a missing file, and needs exactly one argument', async () => {
    expect((await run(runValidate, ['/nonexistent/p.yaml'])).err).toContain('/nonexistent/p.yaml:0:0: file not found');
    expect((await run(runValidate, [])).code).toBe(2);
  });
});

describe('meshdrift explain', () => {
  it('explains an Argo CD Application with the built-in defaults (JSON)', async () => {
    const r = await run(runExplain, [fixturePath('argocd/synthetic-app-outofsync-istio-gatewayapi-v3.json'), '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.out) as { findings: Array<{ resource: { kind: string }; severity: string; receivers: string[]; reasons: string[] }> };
    expect(out.findings.map((f) => `${f.resource.kind}:${f.severity}`)).toEqual([
      'ServiceEntry:medium',
      'VirtualService:high',
      'AuthorizationPolicy:critical',
      'PeerAuthentication:critical',
    ]);
    expect(out.findings[0]?.receivers).toEqual(['console']);
    expect(out.findings[2]?.reasons).toContain('default severity for security Modified is critical');
  });

  it('says a drifted Deployment is tracked but not notified, and why (issue #19)', async () => {
    const app = JSON.parse(readFileSync(fixturePath('argocd/synthetic-app-outofsync-istio-gatewayapi-v3.json'), 'utf8')) as {
      status: { resources: Array<{ kind: string; status: string }> };
    };
    app.status.resources = app.status.resources.map((r) => ({ ...r, status: r.kind === 'Deployment' ? 'OutOfSync' : 'Synced' }));
    const file = tempFile('app.json', JSON.stringify(app));
    const text = await run(runExplain, [file]);
    expect(text.out).toContain('receivers: console (tracked, not notified: non-mesh drift)');
    expect(text.out).toContain('- not notified: non-mesh drift (tracked and listed; set notify_non_mesh: true in the policy to be told)');
    const json = JSON.parse((await run(runExplain, [file, '--json'])).out) as { findings: Array<{ resource: { kind: string }; unnotified?: string }> };
    expect(json.findings.map((f) => [f.resource.kind, f.unnotified])).toEqual([['Deployment', 'non-mesh']]);
  });

  it('explains with a policy file: rules and routes in the reasons', async () => {
    const r = await run(runExplain, [fixturePath('argocd/synthetic-app-outofsync-istio-gatewayapi-v3.json'), '--policy', EXAMPLE_POLICY]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('CRITICAL AuthorizationPolicy.security.istio.io payments/payments-allow-frontend');
    expect(r.out).toContain('receivers: oncall, mesh-drift-channel');
    expect(r.out).toContain('route.routes[0] → receiver oncall');
  });

  it('explains a webhook body and a Flux HelmRelease drift event', async () => {
    const body = tempFile(
      'body.json',
      JSON.stringify({ app: JSON.parse((await import('node:fs')).readFileSync(fixturePath('argocd/app-outofsync-requirespruning-v3.json'), 'utf8')) }),
    );
    const argo = await run(runExplain, [body, '--json']);
    expect((JSON.parse(argo.out) as { findings: unknown[] }).findings).toHaveLength(2);
    const flux = await run(runExplain, [fixturePath('flux/synthetic-event-helmrelease-v2-driftdetected-mesh.json'), '--json']);
    const states = (JSON.parse(flux.out) as { findings: Array<{ state: string; resource: { kind: string } }> }).findings.map(
      (f) => `${f.resource.kind}:${f.state}`,
    );
    expect(states).toEqual(['VirtualService:Modified', 'AuthorizationPolicy:Missing', 'Gateway:Modified']);
  });

  it('says a lone Kustomization change set is read as corrected drift', async () => {
    const r = await run(runExplain, [fixturePath('flux/event-kustomization-v1beta2-created-summary.wire.json')]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('no revision history');
    expect(r.out).toContain('state Corrected');
  });

  it('reports a heartbeat as nothing to alert', async () => {
    const r = await run(runExplain, [fixturePath('flux/event-kustomization-v1beta2-reconciliation-finished-commit-status.json'), '--json']);
    expect(JSON.parse(r.out)).toEqual({ findings: [], notes: ['nothing to alert: heartbeat'] });
  });

  it.each([
    ['unreadable', ['/nonexistent.json'], /cannot read/],
    ['not JSON', [tempFile('x.json', '{oops')], /is neither JSON nor one YAML document/],
    ['not a known object', [tempFile('y.json', '{"kind":"Pod"}')], /not an Argo CD Application/],
    ['invalid Application', [tempFile('z.json', '{"app":{"metadata":{}}}')], /app.metadata.name/],
    ['no file', [], /usage/],
  ])('exits 2 for %s input', async (_what, args, message) => {
    const r = await run(runExplain, args);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });
});

describe('meshdrift explain: what changed, who, and links (issue #16)', () => {
  it('names each kind with its group, and links the app in Argo CD and the commit (ARGOCD_URL, MESHDRIFT_GIT_HOSTS)', async () => {
    const out = capture();
    const err = capture();
    const env = { ARGOCD_URL: 'https://argocd.example.com', MESHDRIFT_GIT_HOSTS: 'git.example.com=gitlab' };
    const code = await runExplain([fixturePath('argocd/synthetic-app-outofsync-istio-gatewayapi-v3.json')], out.stream, err.stream, env);
    expect(code).toBe(0);
    const text = out.text();
    expect(text).toContain('AuthorizationPolicy.security.istio.io payments/payments-allow-frontend');
    expect(text).toContain('argo cd: https://argocd.example.com/applications/argocd/payments-mesh');
    expect(text).toContain('commit: https://git.example.com/platform/payments-mesh/-/commit/3f1c2a9e8b7d6c5b4a39281706f5e4d3c2b1a098');
  });

  it('--json carries api, revision, repoURL and links; without ARGOCD_URL or a known host, no links', async () => {
    const r = await run(runExplain, [fixturePath('argocd/app-outofsync-requirespruning-v3.json'), '--json']);
    const body = JSON.parse(r.out) as { findings: Array<{ api: string; revision?: string; repoURL?: string; links?: { argocd?: string; commit?: string } }> };
    expect(body.findings.map((f) => f.api).sort()).toEqual(['Deployment.apps', 'Service']);
    expect(body.findings[0]).toMatchObject({
      revision: '0d521c6e049889134f3122eb32d7ed342f43ca0d',
      repoURL: 'https://github.com/argoproj/argocd-example-apps',
      links: { commit: 'https://github.com/argoproj/argocd-example-apps/commit/0d521c6e049889134f3122eb32d7ed342f43ca0d' },
    });
    expect(body.findings[0]?.links?.argocd).toBeUndefined();
    const unknownHost = await run(runExplain, [fixturePath('argocd/synthetic-app-outofsync-istio-gatewayapi-v3.json'), '--json']);
    expect(unknownHost.out).not.toContain('"links"');
  });
});

describe('meshdrift explain: a mesh object and why it is not in effect (issue #16)', () => {
  /** An HTTPRoute as `kubectl get -o json` prints it: Argo CD tracking, kgateway's refusal about generation 2. */
  const route = (accepted: boolean, observedGeneration = 2) => ({
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: {
      name: 'httpbin-route',
      namespace: 'httpbin',
      uid: '5f0c7a3e-1b2d-4c5e-8f90-123456789abc',
      generation: 2,
      annotations: { 'argocd.argoproj.io/tracking-id': 'httpbin:gateway.networking.k8s.io/HTTPRoute:httpbin/httpbin-route' },
    },
    spec: { parentRefs: [{ name: 'my-gateway', namespace: 'kgateway-system', sectionName: 'httpbin-https' }] },
    status: {
      parents: [
        {
          conditions: [
            accepted
              ? { type: 'Accepted', status: 'True', reason: 'Accepted', message: '', observedGeneration, lastTransitionTime: '2025-04-16T22:15:18Z' }
              : {
                  type: 'Accepted',
                  status: 'False',
                  reason: 'NotAllowedByListeners',
                  message: '',
                  observedGeneration,
                  lastTransitionTime: '2025-04-16T22:15:18Z',
                },
          ],
          controllerName: 'kgateway.dev/kgateway',
          parentRef: { group: 'gateway.networking.k8s.io', kind: 'Gateway', name: 'my-gateway', namespace: 'kgateway-system', sectionName: 'httpbin-https' },
        },
      ],
    },
  });
  const REASON = 'not accepted by Gateway kgateway-system/my-gateway (listener httpbin-https): NotAllowedByListeners';

  it('a route its Gateway refused: NotInEffect under its Argo CD app, the reason in the detail and the reasons', async () => {
    const file = tempFile('route.json', JSON.stringify(route(false)));
    const json = await run(runExplain, [file, '--json']);
    expect(json.code).toBe(0);
    const body = JSON.parse(json.out) as { findings: Array<{ state: string; severity: string; api: string; reasons: string[] }> };
    expect(body.findings).toHaveLength(1);
    expect(body.findings[0]).toMatchObject({ state: 'NotInEffect', severity: 'high', api: 'HTTPRoute.gateway.networking.k8s.io' });
    expect(body.findings[0]?.reasons).toContain(`not in effect: ${REASON}`);
    const text = await run(runExplain, [file]);
    expect(text.out).toContain('Application argocd/httpbin on in-cluster: 1 finding');
    expect(text.out).toContain(`state NotInEffect, mesh gateway-api, category traffic, ${REASON}`);
    expect(text.out).toContain('no history');
  });

  it('an accepted route, or a refusal about an older generation, is nothing to alert', async () => {
    for (const object of [route(true), route(false, 1)]) {
      const r = await run(runExplain, [tempFile('route.json', JSON.stringify(object)), '--json']);
      const body = JSON.parse(r.out) as { findings: unknown[]; notes: string[] };
      expect(body.findings).toEqual([]);
      expect(body.notes[0]).toBe('nothing to alert: HTTPRoute httpbin-route is in effect as far as its status says');
    }
  });

  it('an Istio VirtualService with an ERROR from istiod analysis, owned by Flux', async () => {
    const vs = {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: {
        name: 'ratings',
        namespace: 'default',
        uid: 'dec86702-cf39-11e9-b803-42010a8a014a',
        generation: 1,
        labels: { 'kustomize.toolkit.fluxcd.io/name': 'apps', 'kustomize.toolkit.fluxcd.io/namespace': 'flux-system' },
      },
      spec: { gateways: ['bogus-gateway'], hosts: ['ratings'], http: [{ route: [{ destination: { host: 'ratings', subset: 'v1' } }] }] },
      status: {
        observedGeneration: '1',
        validationMessages: [{ documentationUrl: 'https://istio.io/v1.24/docs/reference/config/analysis/ist0101/', level: 'ERROR', type: { code: 'IST0101' } }],
      },
    };
    const r = await run(runExplain, [tempFile('vs.json', JSON.stringify(vs))]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Kustomization flux-system/apps on in-cluster: 1 finding');
    expect(r.out).toContain('HIGH     VirtualService.networking.istio.io default/ratings');
    expect(r.out).toContain('- not in effect: istiod analysis error IST0101');
  });

  it('a mesh object without a name is refused', async () => {
    const r = await run(runExplain, [tempFile('bad.json', JSON.stringify({ ...route(false), metadata: { uid: 'u-1' } }))]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/not a mesh object: metadata/);
  });
});

describe('meshdrift explain: a bare mesh manifest, as written in Git (issue #19)', () => {
  const MANIFEST = [
    'apiVersion: networking.istio.io/v1',
    'kind: VirtualService',
    'metadata:',
    '  name: reviews',
    '  namespace: bookinfo',
    '  annotations:',
    "    argocd.argoproj.io/tracking-id: 'bookinfo:networking.istio.io/VirtualService:bookinfo/reviews'",
    'spec:',
    '  hosts: [reviews]',
    '  http:',
    '    - route:',
    '        - destination: { host: reviews, subset: v1 }',
    '',
  ].join('\n');

  it('says what a drift of it would be classified as: category, severity per drift state, receivers (YAML in, --json)', async () => {
    const r = await run(runExplain, [tempFile('vs.yaml', MANIFEST), '--json']);
    expect([r.code, r.err]).toEqual([0, '']);
    const body = JSON.parse(r.out) as {
      findings: unknown[];
      notes: string[];
      if_it_drifts: { api: string; owner: unknown; mesh: string; category: string; states: Array<{ state: string; severity: string; receivers: string[] }> };
    };
    expect(body.findings).toEqual([]);
    expect(body.notes[0]).toMatch(/^a manifest \(no uid: not read from a cluster\): nothing to alert as it is/);
    const w = body.if_it_drifts;
    expect(w).toMatchObject({
      api: 'VirtualService.networking.istio.io',
      mesh: 'istio',
      category: 'traffic',
      owner: { kind: 'Application', namespace: 'argocd', name: 'bookinfo' },
    });
    const severities = Object.fromEntries(w.states.map((s) => [s.state, s.severity]));
    // The built-in matrix for traffic (classify.ts DEFAULT_SEVERITY).
    expect(severities).toMatchObject({ Modified: 'high', Missing: 'high', Extraneous: 'medium', Corrected: 'medium', NotInEffect: 'high' });
    expect(severities).not.toHaveProperty('Unreachable');
    expect(w.states.every((s) => s.receivers.join() === 'console')).toBe(true);
  });

  it('with a policy: its severity overrides and its routes per state', async () => {
    const policy = tempFile(
      'p.yaml',
      'severity:\n  traffic: { Corrected: low }\nreceivers:\n  - { name: log, console: {} }\n  - { name: pager, console: {} }\nroute:\n  receiver: log\n  routes:\n    - { receiver: pager, matchers: [\'severity="high"\'] }\n',
    );
    const r = await run(runExplain, [tempFile('vs.yaml', MANIFEST), '--policy', policy]);
    expect(r.code).toBe(0);
    expect(r.out).toContain(
      'if it drifts: VirtualService.networking.istio.io bookinfo/reviews, owner Application argocd/bookinfo, mesh istio, category traffic\n',
    );
    expect(r.out).toMatch(/\n {2}Modified {5}HIGH {5}receivers: pager\n/);
    expect(r.out).toMatch(/\n {2}Corrected {4}LOW {6}receivers: log\n/);
  });

  it('any other Kubernetes object: non-mesh, the states Argo CD and Flux report, tracked but not notified by default', async () => {
    const deployment = 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec: { replicas: 2 }\n';
    const r = await run(runExplain, [tempFile('deploy.yaml', deployment), '--json']);
    expect([r.code, r.err]).toEqual([0, '']);
    const w = (JSON.parse(r.out) as { if_it_drifts: { category: string; mesh: string; states: Array<{ state: string; unnotified?: string }> } }).if_it_drifts;
    expect(w).toMatchObject({ category: 'non-mesh', mesh: 'none' });
    expect(w.states.map((s) => s.state)).toEqual(['Modified', 'Missing', 'Extraneous', 'Unhealthy', 'Corrected', 'ApplyFailed']);
    expect(w.states.every((s) => s.unnotified === 'non-mesh')).toBe(true);
  });

  it('refuses a file of several YAML documents, saying so', async () => {
    const r = await run(runExplain, [tempFile('two.yaml', `${MANIFEST}---\n${MANIFEST}`)]);
    expect(r.code).toBe(2);
    expect(r.err).toContain('2 YAML documents: explain one object at a time');
  });
});
