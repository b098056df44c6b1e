import { describe, expect, it } from 'vitest';
import { applicationSchema, applicationToSignal, resourceStateOf } from '../../../../src/sources/argocd/application.ts';
import { argocdWebhookSchema } from '../../../../src/sources/argocd/webhook.ts';
import { readFixture } from '../../../support/fixtures.ts';

const ctx = { cluster: 'prod', source: 'argocd-webhook' as const, now: 1_700_000_000_000 };
const app = (file: string) => applicationSchema.parse(readFixture(`argocd/${file}`));

describe('Argo CD Application → Signal', () => {
  it('reads the synthetic Istio/Gateway API app: drifted mesh resources, with states', () => {
    const signal = applicationToSignal(app('synthetic-app-outofsync-istio-gatewayapi-v3.json'), ctx);
    expect(signal.completeness).toBe('snapshot');
    expect(signal.owner).toEqual({ kind: 'Application', namespace: 'argocd', name: 'payments-mesh' });
    expect(signal.project).toBe('mesh-prod');
    expect(signal.destination).toEqual({ name: 'prod-eu-1', namespace: 'payments' });
    expect(signal.revision).toBe('3f1c2a9e8b7d6c5b4a39281706f5e4d3c2b1a098');
    expect(signal.observedAt).toBe(Date.parse('2026-11-24T10:03:11Z'));
    const drifted = signal.resources.filter((r) => r.state !== 'InSync').map((r) => `${r.kind}/${r.name}=${r.state}`);
    expect(drifted).toEqual([
      'ServiceEntry/legacy-psp-api=Extraneous',
      'VirtualService/payments=Modified',
      'AuthorizationPolicy/payments-allow-frontend=Modified',
      'PeerAuthentication/default=Modified',
    ]);
    expect(signal.resources.filter((r) => r.state === 'InSync')).toHaveLength(5);
  });

  it('reads the 3.x requiresPruning recording: Extraneous, core group as empty string', () => {
    const signal = applicationToSignal(app('app-outofsync-requirespruning-v3.json'), ctx);
    const drifted = signal.resources.filter((r) => r.state !== 'InSync');
    expect(drifted.length).toBe(2);
    expect(drifted.every((r) => r.state === 'Extraneous')).toBe(true);
    expect(drifted.every((r) => r.name.startsWith('zarniwoop--'))).toBe(true);
  });

  it('reads the 2.x app with inline health: OutOfSync + health Missing is Missing', () => {
    const signal = applicationToSignal(app('app-outofsync-syncfailed-missing-v2.json'), ctx);
    const drifted = signal.resources.filter((r) => r.state !== 'InSync');
    expect(drifted).toEqual([expect.objectContaining({ kind: 'ServiceAccount', group: '', state: 'Missing', detail: 'health Missing' })]);
  });

  it.each(['app-synced-healthy-appset-owned.json', 'app-synced-progressing-v3.json'])('%s has nothing drifted', (file) => {
    const signal = applicationToSignal(app(file), ctx);
    expect(signal.completeness).toBe('snapshot');
    expect(signal.resources.filter((r) => r.state !== 'InSync')).toEqual([]);
  });

  it("an app whose sync status is Unknown resolves nothing (partial) and is itself Unreachable, with Argo CD's reason", () => {
    const parsed = app('synthetic-app-outofsync-istio-gatewayapi-v3.json');
    const conditions = [
      { type: 'SharedResourceWarning', message: 'not this one' },
      { type: 'ComparisonError', message: 'Failed to load target state: rpc error: code = Unknown desc = dial tcp 10.0.0.7:8081: connect: connection refused' },
    ];
    const unknown = { ...parsed, status: { ...parsed.status, sync: { status: 'Unknown' }, conditions, resources: [] } };
    const signal = applicationToSignal(unknown, ctx);
    expect(signal.completeness).toBe('partial');
    expect(signal.resources).toEqual([
      {
        group: 'argoproj.io',
        kind: 'Application',
        namespace: 'argocd',
        name: 'payments-mesh',
        state: 'Unreachable',
        detail: 'ComparisonError: Failed to load target state: rpc error: code = Unknown desc = dial tcp 10.0.0.7:8081: connect: connection refused',
      },
    ]);
    const bare = applicationToSignal({ ...parsed, status: { sync: { status: 'Unknown' } } }, ctx);
    expect(bare.resources).toEqual([
      expect.objectContaining({ kind: 'Application', state: 'Unreachable', detail: 'Argo CD could not compare the app with Git (sync Unknown)' }),
    ]);
  });

  it('a long comparison error is cut to 300 characters', () => {
    const parsed = app('app-synced-healthy-appset-owned.json');
    const signal = applicationToSignal(
      { ...parsed, status: { sync: { status: 'Unknown' }, conditions: [{ type: 'ComparisonError', message: 'x'.repeat(5000) }] } },
      ctx,
    );
    expect(signal.resources[0]?.detail).toHaveLength(300);
    expect(signal.resources[0]?.detail?.endsWith('…')).toBe(true);
  });

  it.each([
    [{ kind: 'X', name: 'a', status: 'OutOfSync' }, 'Modified'],
    [{ kind: 'X', name: 'a', status: 'OutOfSync', requiresPruning: true }, 'Extraneous'],
    [{ kind: 'X', name: 'a', status: 'OutOfSync', health: { status: 'Missing' } }, 'Missing'],
    [{ kind: 'X', name: 'a', status: 'Synced', health: { status: 'Degraded' } }, 'Unhealthy'],
    [{ kind: 'X', name: 'a', status: 'Synced', health: { status: 'Healthy' } }, 'InSync'],
    [{ kind: 'X', name: 'a', status: 'Synced' }, 'InSync'],
    [{ kind: 'X', name: 'a', status: 'OutOfSync', hook: true }, null],
    [{ kind: 'X', name: 'a' }, null],
    [{ kind: 'X', name: 'a', status: 'Unknown' }, null],
  ])('resource %j → %s', (resource, state) => {
    expect(resourceStateOf(resource)).toBe(state);
  });

  it('validates the webhook envelope and names the missing field', () => {
    const result = argocdWebhookSchema.safeParse({ app: { metadata: {} } });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path.join('.'))).toContain('app.metadata.name');
  });
});

describe('Argo CD Application → repoURL (for commit links, issue #16)', () => {
  const SHA = '0123456789abcdef0123456789abcdef01234567';
  const withSpec = (spec: Record<string, unknown>, revisions?: string[]) =>
    applicationSchema.parse({
      metadata: { name: 'a', namespace: 'argocd' },
      spec: { project: 'p', ...spec },
      status: { sync: { status: 'OutOfSync', ...(revisions ? { revisions } : { revision: SHA }) } },
    });

  it('is spec.source.repoURL of the real recordings, credentials-free', () => {
    expect(applicationToSignal(app('app-outofsync-requirespruning-v3.json'), ctx).repoURL).toBe('https://github.com/argoproj/argocd-example-apps');
    expect(applicationToSignal(app('app-synced-healthy-appset-owned.json'), ctx).repoURL).toBe('https://github.com/foo/manifests-velero');
    expect(applicationToSignal(app('synthetic-app-outofsync-istio-gatewayapi-v3.json'), ctx).repoURL).toBe('https://git.example.com/platform/payments-mesh');
  });

  it('is none for a Helm chart repository source (its revision is a chart version, not a commit)', () => {
    expect(applicationToSignal(app('app-outofsync-syncfailed-missing-v2.json'), ctx).repoURL).toBeUndefined();
  });

  it('multi-source: the Git source whose revision is a commit (sources win over source, as in Argo CD)', () => {
    const sources = [
      { repoURL: 'https://charts.example.com', chart: 'mesh' },
      { repoURL: 'https://github.com/org/values.git' },
      { repoURL: 'git@gitlab.com:org/sub/mesh.git' },
    ];
    const signal = applicationToSignal(withSpec({ source: { repoURL: 'https://github.com/org/ignored' }, sources }, ['1.2.3', 'main', SHA]), ctx);
    expect(signal.repoURL).toBe('ssh://gitlab.com/org/sub/mesh');
    // No revision is a commit: the first Git source.
    expect(applicationToSignal(withSpec({ sources }, ['1.2.3', 'main', 'v2']), ctx).repoURL).toBe('https://github.com/org/values');
  });

  it('drops credentials and refuses what is not http(s)/ssh; a malformed source never fails the app', () => {
    expect(applicationToSignal(withSpec({ source: { repoURL: 'https://user:SECRET@github.com/org/r.git' } }), ctx).repoURL).toBe('https://github.com/org/r');
    expect(applicationToSignal(withSpec({ source: { repoURL: 'file:///etc/passwd' } }), ctx).repoURL).toBeUndefined();
    expect(applicationToSignal(withSpec({ source: { repoURL: `https://github.com/${'x'.repeat(3000)}` } }), ctx).repoURL).toBeUndefined();
    const odd = applicationSchema.safeParse({ metadata: { name: 'a' }, spec: { source: { repoURL: 42 }, sources: 'nope' } });
    expect(odd.success).toBe(true);
  });
});
