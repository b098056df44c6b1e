import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Notification, TrackedFinding } from '../../src/model/alert-group.ts';
import type { OwnerRef } from '../../src/model/signal.ts';
import { createRedisAuditTrail, type AuditTrail } from '../../src/remediate/audit.ts';
import { rfc3339Nano } from '../../src/remediate/flux-reconcile.ts';
import type { RemediationConfigInput } from '../../src/remediate/policy.ts';
import { createRemediator } from '../../src/remediate/remediator.ts';
import { deleteKeys, redisUrl, testPrefix } from '../support/redis.ts';
import { remediate } from '../support/remediate.ts';

const TOKEN = 'kube-SECRET-sa-token-abcdef';
const T0 = Date.UTC(2026, 10, 24, 10, 0, 0) + 123;
const KS: OwnerRef = { kind: 'Kustomization', namespace: 'flux-system', name: 'mesh' };
const HR: OwnerRef = { kind: 'HelmRelease', namespace: 'istio-system', name: 'istiod' };
const KS_PATH = '/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/mesh';
const HR_PATH = '/apis/helm.toolkit.fluxcd.io/v2/namespaces/istio-system/helmreleases/istiod';

interface Seen {
  method: string;
  path: string;
  contentType: string | undefined;
  authorization: string | undefined;
  body: string;
}

// A tiny Kubernetes API: GET and merge-PATCH of two Flux objects, answering as the API server does.
let server: Server;
let apiUrl: string;
let seen: Seen[];
let objects: Map<
  string,
  { apiVersion: string; kind: string; metadata: { name: string; namespace: string; annotations?: Record<string, string> }; spec: Record<string, unknown> }
>;
let answerNext: { status: number; body: unknown } | undefined;

let redis: Redis;
let prefix: string;
let audit: AuditTrail;
let now: number;

beforeEach(async () => {
  seen = [];
  answerNext = undefined;
  objects = new Map([
    [
      KS_PATH,
      {
        apiVersion: 'kustomize.toolkit.fluxcd.io/v1',
        kind: 'Kustomization',
        metadata: { name: 'mesh', namespace: 'flux-system' },
        spec: { interval: '10m', path: './mesh', prune: true },
      },
    ],
    [
      HR_PATH,
      { apiVersion: 'helm.toolkit.fluxcd.io/v2', kind: 'HelmRelease', metadata: { name: 'istiod', namespace: 'istio-system' }, spec: { interval: '5m' } },
    ],
  ]);
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      seen.push({ method: req.method ?? '', path, contentType: req.headers['content-type'], authorization: req.headers.authorization, body });
      const send = (status: number, payload: unknown): void => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(payload));
      };
      const status = (code: number, reason: string, message: string): void =>
        send(code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason, code });
      if (answerNext) {
        const a = answerNext;
        answerNext = undefined;
        return send(a.status, a.body);
      }
      if (req.headers.authorization !== `Bearer ${TOKEN}`) return status(401, 'Unauthorized', 'Unauthorized');
      const obj = objects.get(path);
      if (!obj) return status(404, 'NotFound', `"${path.split('/').at(-1) ?? ''}" not found`);
      if (req.method === 'GET') return send(200, obj);
      if (req.method !== 'PATCH') return status(405, 'MethodNotAllowed', 'method not allowed');
      if (req.headers['content-type'] !== 'application/merge-patch+json')
        return status(
          415,
          'UnsupportedMediaType',
          `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml`,
        );
      const patch = JSON.parse(body) as { metadata?: { annotations?: Record<string, string> } };
      obj.metadata.annotations = { ...obj.metadata.annotations, ...patch.metadata?.annotations };
      return send(200, obj);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  apiUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  prefix = testPrefix('remediate-flux');
  now = T0;
  audit = createRedisAuditTrail(redis, prefix, { now: () => now });
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await deleteKeys(redisUrl(), prefix);
  redis.disconnect();
});

let seq = 0;
function notification(owner: OwnerRef, state: TrackedFinding['state'] = 'ApplyFailed'): Notification {
  seq += 1;
  const f: TrackedFinding = {
    fingerprint: `fp-${owner.name}-${seq}`,
    groupKey: `g-${owner.name}`,
    cluster: 'prod',
    tool: 'flux',
    owner,
    project: '',
    resource: { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'payments', name: 'payments' },
    state,
    category: 'traffic',
    mesh: 'istio',
    severity: 'high',
    receivers: ['reconcile'],
    reasons: [],
    observedAt: now,
    firstSeen: now,
    lastSeen: now,
    status: 'firing',
  };
  return {
    groupKey: f.groupKey,
    seq,
    reason: 'first',
    status: 'firing',
    labels: { cluster: 'prod', tool: 'flux', owner, project: '' },
    severity: 'high',
    firing: [f],
    resolved: [],
    at: now,
    firstSeen: now,
  };
}

function remediator(config: Partial<RemediationConfigInput> = {}) {
  return createRemediator({
    name: 'reconcile',
    config: { action: 'flux-reconcile', ...config },
    flux: { apiUrl, token: TOKEN, timeoutMs: 2_000 },
    redis,
    keyPrefix: prefix,
    now: () => now,
    audit,
  });
}

describe('remediate receiver (flux-reconcile) against a local Kubernetes API', () => {
  it('requests a reconcile with a JSON merge patch of reconcile.fluxcd.io/requestedAt', async () => {
    await expect(remediate(remediator({ dryRun: false }), notification(KS))).resolves.toEqual({ ok: true });
    expect(seen.map((s) => `${s.method} ${s.path}`)).toEqual([`GET ${KS_PATH}`, `GET ${KS_PATH}`, `PATCH ${KS_PATH}`]);
    const patch = seen[2];
    expect(patch?.contentType).toBe('application/merge-patch+json');
    expect(patch?.authorization).toBe(`Bearer ${TOKEN}`);
    expect(patch?.body).toBe('{"metadata":{"annotations":{"reconcile.fluxcd.io/requestedAt":"2026-11-24T10:00:00.123Z"}}}');
    expect(objects.get(KS_PATH)?.metadata.annotations).toEqual({ 'reconcile.fluxcd.io/requestedAt': rfc3339Nano(T0) });
    const [rec] = await audit.list({ limit: 10 });
    expect(rec).toMatchObject({ action: 'flux-reconcile', outcome: 'performed', owner: KS, dryRun: false });
    expect(rec?.reason).toMatch(/^reconcile 1 drifted resource of Kustomization flux-system\/mesh .*: flux reconcile requested at 2026-11-24T10:00:00\.123Z$/);
  });

  it('HelmReleases are patched at helm.toolkit.fluxcd.io/v2', async () => {
    now = Date.UTC(2026, 10, 24, 10, 0, 0);
    await expect(remediate(remediator({ dryRun: false }), notification(HR))).resolves.toEqual({ ok: true });
    expect(seen.at(-1)).toMatchObject({
      method: 'PATCH',
      path: HR_PATH,
      body: '{"metadata":{"annotations":{"reconcile.fluxcd.io/requestedAt":"2026-11-24T10:00:00Z"}}}',
    });
  });

  it('dry run: reads, never patches', async () => {
    await expect(remediate(remediator(), notification(KS))).resolves.toEqual({ ok: true });
    expect(seen.map((s) => s.method)).toEqual(['GET']);
    expect((await audit.list({ limit: 10 }))[0]).toMatchObject({ outcome: 'dry-run', dryRun: true });
  });

  it('refuses a suspended object: no patch, audited as skipped', async () => {
    const ks = objects.get(KS_PATH);
    if (ks) ks.spec.suspend = true;
    await expect(remediate(remediator({ dryRun: false }), notification(KS))).resolves.toEqual({ ok: true });
    expect(seen.filter((s) => s.method === 'PATCH')).toHaveLength(0);
    const [rec] = await audit.list({ limit: 10 });
    expect(rec).toMatchObject({ outcome: 'skipped' });
    expect(rec?.reason).toMatch(/Kustomization flux-system\/mesh is suspended \(spec\.suspend: true\)/);
  });

  it('a Corrected finding needs no reconcile (Flux already reverted it)', async () => {
    await expect(remediate(remediator({ dryRun: false }), notification(KS, 'Corrected'))).resolves.toEqual({ ok: true });
    expect(seen).toHaveLength(0);
    expect((await audit.list({ limit: 10 }))[0]).toMatchObject({ outcome: 'skipped', reason: expect.stringMatching(/Flux already reverted it/) as unknown });
  });

  it('maps API errors: 403 is permanent, 500 retries; the token is never in a reason', async () => {
    answerNext = {
      status: 403,
      body: { kind: 'Status', status: 'Failure', reason: 'Forbidden', code: 403, message: `kustomizations "mesh" is forbidden: token ${TOKEN} cannot get` },
    };
    const forbidden = await remediate(remediator({ dryRun: false }), notification(KS));
    expect(forbidden).toMatchObject({
      ok: false,
      retryable: false,
      reason: expect.stringMatching(/HTTP 403, forbidden .*token \[redacted\] cannot get/) as unknown,
    });
    answerNext = { status: 503, body: { kind: 'Status', message: 'etcdserver: request timed out', code: 503 } };
    const busy = await remediate(remediator({ dryRun: false }), notification(KS));
    expect(busy).toMatchObject({ ok: false, retryable: true, reason: expect.stringMatching(/HTTP 503: etcdserver/) as unknown });
    const dump = JSON.stringify({ forbidden, busy, audit: await audit.list({ limit: 10 }) });
    expect(dump).not.toContain(TOKEN);
  });
});
