import { copyFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { createCatalog } from '../../src/classify/catalog.ts';
import { createAdmissionListener } from '../../src/http/admission-listener.ts';
import { createLogger } from '../../src/log.ts';
import { createMetrics } from '../../src/metrics.ts';
import { createAdmissionRecorder } from '../../src/sources/admission/recorder.ts';
import { createAdmissionStore } from '../../src/track/admission-store.ts';
import { postAdmission, paymentsVs, review, selfSignedCert } from '../support/admission.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { startService, stopService } from '../support/service.ts';

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNlY3JldC12YWx1ZQ';

/** Every answer the API server may get from the recorder: well-formed, allowed, the request's uid, no patch. */
function expectAllowed(answer: { status: number; json: unknown }, uid: string): void {
  expect(answer.status).toBe(200);
  expect(answer.json).toEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } });
}

const uidOf = (r: Record<string, unknown>) => (r.request as { uid: string }).uid;

describe('admission recorder webhook (HTTPS, whole service)', () => {
  const prefix = testPrefix('admission');
  const tls = selfSignedCert();
  let svc: (App & { url: string }) | undefined;
  let url = '';

  beforeAll(async () => {
    svc = await startService({
      redisUrl: redisUrl(),
      prefix,
      env: {
        MESHDRIFT_ADMISSION: 'true',
        MESHDRIFT_ADMISSION_PORT: '0',
        MESHDRIFT_ADMISSION_HOST: '127.0.0.1',
        MESHDRIFT_ADMISSION_TLS_CERT: tls.certFile,
        MESHDRIFT_ADMISSION_TLS_KEY: tls.keyFile,
      },
    });
    url = svc.admission?.address().url ?? '';
  });
  afterAll(() => stopService(svc, redisUrl(), prefix));

  const records = () => svc?.admissionStore.recent('test-cluster', '9c1d7e0a-0000-4000-8000-00000000a11c') ?? Promise.resolve([]);

  it('answers an UPDATE with oldObject with an allow, then records who changed which path, and tells the change to the GitOps-managed object at once', async () => {
    const body = review({ operation: 'UPDATE', oldObject: paymentsVs(10, '41'), object: paymentsVs(50, '41'), fieldManager: 'kubectl-edit' });
    expectAllowed(await postAdmission(url, body, tls.cert), uidOf(body));
    await waitFor(async () => (await records()).length === 1, 10_000, 'the record');
    const [rec] = await records();
    expect(rec).toMatchObject({
      operation: 'UPDATE',
      kind: 'VirtualService',
      namespace: 'payments',
      name: 'payments',
      user: { username: 'alice@corp', groups: ['system:authenticated', 'mesh-admins'] },
      gitops: false,
      owner: { kind: 'Application', namespace: 'argocd', name: 'payments-mesh' },
      via: 'kubectl-edit',
      fromResourceVersion: '41',
    });
    // uid and extra only when MESHDRIFT_ADMISSION_USER_DETAILS says so.
    expect(rec?.user.uid).toBeUndefined();
    expect(rec?.user.extra).toBeUndefined();
    expect(rec?.changes.changes.map((c) => c.path)).toEqual(expect.arrayContaining(['spec.http[0].route[0].weight', 'spec.http[0].route[1].weight']));
    const told = /meshdrift_admission_joined_total\{how="told"\} 1/;
    await waitFor(async () => told.test((await svc?.metrics.registry.metrics()) ?? ''), 10_000, 'the finding told');
    const metrics = await svc?.metrics.registry.metrics();
    expect(metrics).toMatch(/meshdrift_admission_requests_total\{outcome="recorded"\} 1/);
    expect(metrics).toMatch(/meshdrift_admission_records_total\{outcome="written"\} 1/);
  });

  it('records a CREATE and a DELETE, each answered with an allow', async () => {
    const created = { ...paymentsVs(0, ''), metadata: { name: 'reviews', namespace: 'shop', uid: 'c-1' } };
    const create = review({ operation: 'CREATE', object: created });
    expectAllowed(await postAdmission(url, create, tls.cert), uidOf(create));
    const del = review({ operation: 'DELETE', oldObject: { ...created, metadata: { ...created.metadata, resourceVersion: '7' } } });
    expectAllowed(await postAdmission(url, del, tls.cert), uidOf(del));
    await waitFor(async () => (await svc?.admissionStore.recent('test-cluster', 'c-1'))?.length === 2, 10_000, 'two records');
    const got = (await svc?.admissionStore.recent('test-cluster', 'c-1')) ?? [];
    expect(got.map((r) => r.operation)).toEqual(['DELETE', 'CREATE']);
    // Not GitOps-managed: recorded, never a finding of its own.
    expect(got.every((r) => r.owner === undefined)).toBe(true);
  });

  it('answers a dry run with an allow and records nothing', async () => {
    const body = review({ operation: 'UPDATE', oldObject: paymentsVs(10, '41'), object: paymentsVs(70, '41'), dryRun: true });
    expectAllowed(await postAdmission(url, body, tls.cert), uidOf(body));
    expect(await svc?.metrics.registry.metrics()).toMatch(/meshdrift_admission_requests_total\{outcome="skipped"\} 1/);
  });

  it("records a GitOps controller's write as a GitOps write, never a finding", async () => {
    const obj = paymentsVs(20, '50');
    const old = paymentsVs(50, '50');
    for (const o of [old, obj]) (o.metadata as Record<string, unknown>).uid = 'g-1';
    const body = review({ operation: 'UPDATE', oldObject: old, object: obj, username: 'system:serviceaccount:argocd:argocd-application-controller' });
    expectAllowed(await postAdmission(url, body, tls.cert), uidOf(body));
    await waitFor(async () => (await svc?.admissionStore.recent('test-cluster', 'g-1'))?.length === 1, 10_000, 'the record');
    const [rec] = (await svc?.admissionStore.recent('test-cluster', 'g-1')) ?? [];
    expect(rec).toMatchObject({ gitops: true, user: { username: 'system:serviceaccount:argocd:argocd-application-controller' } });
    expect(await svc?.metrics.registry.metrics()).toMatch(/meshdrift_admission_joined_total\{how="told"\} 1\n/);
  });

  it('answers a Secret-bearing object with an allow and keeps no secret value in the record', async () => {
    const headers = { request: { set: { authorization: `Bearer ${JWT}`, 'x-trace': JWT } } };
    const old = paymentsVs(10, '60');
    const obj = paymentsVs(10, '60', { http: [{ headers, route: [{ destination: { host: 'payments' } }] }] });
    for (const o of [old, obj]) (o.metadata as Record<string, unknown>).uid = 's-1';
    const body = review({ operation: 'UPDATE', oldObject: old, object: obj });
    expectAllowed(await postAdmission(url, body, tls.cert), uidOf(body));
    const secret = review({
      operation: 'UPDATE',
      group: '',
      kind: 'Secret',
      resource: 'secrets',
      oldObject: { kind: 'Secret', metadata: { name: 's', uid: 'k-1' }, data: { a: 'b' } },
      object: { kind: 'Secret', metadata: { name: 's', uid: 'k-1' }, data: { a: JWT } },
    });
    expectAllowed(await postAdmission(url, secret, tls.cert), uidOf(secret));
    await waitFor(async () => (await svc?.admissionStore.recent('test-cluster', 's-1'))?.length === 1, 10_000, 'the record');
    const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
    try {
      const entries = await redis.xrange(`${prefix}:admission:records`, '-', '+');
      const stored = JSON.stringify(entries);
      expect(stored).not.toContain(JWT);
      expect(stored).not.toContain('signature-secret');
      // A Secret is not a mesh kind: never recorded.
      expect(await svc?.admissionStore.recent('test-cluster', 'k-1')).toEqual([]);
    } finally {
      redis.disconnect();
    }
  });

  it('answers a body that is not a valid AdmissionReview with an allow when its uid can be read, else 400', async () => {
    expectAllowed(await postAdmission(url, { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'abc-1' } }, tls.cert), 'abc-1');
    expectAllowed(await postAdmission(url, '{"apiVersion":"admission.k8s.io/v1","request":{"uid":"abc-2","kind":{', tls.cert), 'abc-2');
    const garbage = await postAdmission(url, 'not json at all', tls.cert);
    expect(garbage.status).toBe(400);
    expect((await postAdmission(url, {}, tls.cert, '/other')).status).toBe(404);
    expect(await svc?.metrics.registry.metrics()).toMatch(/meshdrift_admission_requests_total\{outcome="malformed"\} 2/);
  });

  it("answers within its deadline a body that never ends (from the uid it read), and takes the API server's ?timeout= query", async () => {
    const started = Date.now();
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(
        `${url}/admission?timeout=2s`,
        { method: 'POST', ca: tls.cert, headers: { 'content-type': 'application/json', 'content-length': '100000' } },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        },
      );
      req.on('error', reject);
      req.write('{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"slow-1","kind":{"group":"networking.istio.io"');
    });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.text)).toEqual({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: 'slow-1', allowed: true } });
    // MESHDRIFT_ADMISSION_DEADLINE is 500 ms; the bound here only says it did not wait for the body.
    expect(Date.now() - started).toBeLessThan(10_000);
    const create = review({ operation: 'CREATE', object: { ...paymentsVs(0, ''), metadata: { name: 'q', namespace: 'shop', uid: 'q-1' } } });
    expectAllowed(await postAdmission(url, create, tls.cert, '/admission?timeout=2s'), uidOf(create));
    expect(await svc?.metrics.registry.metrics()).toMatch(/meshdrift_admission_requests_total\{outcome="timeout"\} 1/);
  });

  it('answers an oversized body from its uid and closes the connection', async () => {
    const body = review({ operation: 'UPDATE', oldObject: paymentsVs(1, '1'), object: paymentsVs(2, '1', { pad: 'x'.repeat(5 * 1024 * 1024) }) });
    const answer = await postAdmission(url, body, tls.cert).catch((err: unknown) => ({ status: -1, json: String(err) }));
    // The listener answers before the whole body is sent; depending on timing the client sees the
    // answer or a reset while it still writes: either way nothing is recorded and nothing hangs.
    if (answer.status !== -1) expectAllowed(answer, uidOf(body));
    await waitFor(
      async () => /meshdrift_admission_requests_total\{outcome="too_large"\} 1/.test((await svc?.metrics.registry.metrics()) ?? ''),
      5_000,
      'too_large',
    );
  });
});

describe('admission listener without Redis', () => {
  it('still answers every request with an allow when Redis is unreachable, and counts the records it could not write', async () => {
    const tls = selfSignedCert();
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    // A client pointed at a closed port: the shared Redis is never stopped.
    const redis = new Redis('redis://127.0.0.1:1', { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => undefined);
    const log = createLogger('silent');
    const store = createAdmissionStore({ redis, keyPrefix: testPrefix('admission-down'), ttlMs: 60_000, perObject: 5, maxRecords: 1000, now: Date.now });
    const ingest = () => Promise.reject(new Error('Redis is unavailable'));
    const recorder = createAdmissionRecorder({
      store,
      ingest,
      context: {
        cluster: 'c',
        catalog: createCatalog(),
        users: { usernames: 'keep', groups: 'keep', details: false, gitopsUsers: new Set() },
        owners: { argoCdNamespace: 'argocd', argoCdInstanceLabel: '' },
      },
      now: Date.now,
      metrics,
      log,
      maxQueue: 100,
      maxQueueBytes: 64 * 1024 * 1024,
      attempts: 2,
      stepTimeoutMs: 200,
      backoffMs: 10,
    });
    const listener = createAdmissionListener({
      host: '127.0.0.1',
      port: 0,
      certFile: tls.certFile,
      keyFile: tls.keyFile,
      reloadIntervalMs: 60_000,
      deadlineMs: 500,
      maxBodyBytes: 4 * 1024 * 1024,
      recorder,
      metrics,
      log,
    });
    await listener.listen();
    try {
      const base = listener.address().url;
      const bodies = [
        review({ operation: 'UPDATE', oldObject: paymentsVs(10, '1'), object: paymentsVs(60, '1') }),
        review({ operation: 'CREATE', object: paymentsVs(0, '') }),
        review({ operation: 'DELETE', oldObject: paymentsVs(0, '9') }),
        review({ operation: 'UPDATE', oldObject: paymentsVs(10, '1'), object: paymentsVs(60, '1'), dryRun: true }),
        review({
          operation: 'UPDATE',
          oldObject: paymentsVs(10, '1'),
          object: paymentsVs(60, '1'),
          username: 'system:serviceaccount:flux-system:kustomize-controller',
        }),
      ];
      const answers = await Promise.all(bodies.map((b) => postAdmission(base, b, tls.cert)));
      answers.forEach((a, i) => expectAllowed(a, uidOf(bodies[i] as Record<string, unknown>)));
      await waitFor(() => recorder.pending() === 0, 10_000, 'the queue to drain');
      const text = await metrics.registry.metrics();
      // Every record but the dry run's failed against the closed port (after its retries).
      expect(text).toMatch(/meshdrift_admission_records_total\{outcome="failed"\} 4/);
      expect(text).not.toMatch(/outcome="written"/);
    } finally {
      await listener.close();
      redis.disconnect();
    }
  });

  it('swaps in a rotated certificate without a restart, and keeps the one in use when the new pair does not load', async () => {
    const first = selfSignedCert(undefined, 'first');
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    const listener = createAdmissionListener({
      host: '127.0.0.1',
      port: 0,
      certFile: first.certFile,
      keyFile: first.keyFile,
      reloadIntervalMs: 60_000,
      deadlineMs: 500,
      maxBodyBytes: 1024 * 1024,
      recorder: { offer: () => 'skipped' },
      metrics,
      log: createLogger('silent'),
    });
    await listener.listen();
    try {
      const base = listener.address().url;
      const body = review({ operation: 'UPDATE', oldObject: paymentsVs(1, '1'), object: paymentsVs(2, '1') });
      const before = await postAdmission(base, body, first.cert);
      const second = selfSignedCert(undefined, 'second');
      copyFileSync(second.keyFile, first.keyFile);
      // Mid-rotation: a key that does not match the certificate is refused, the old pair stays.
      await expect(listener.reloadTls()).rejects.toThrow();
      expectAllowed(await postAdmission(base, body, first.cert), uidOf(body));
      copyFileSync(second.certFile, first.certFile);
      expect(await listener.reloadTls()).toBe(true);
      const after = await postAdmission(base, body, second.cert);
      expectAllowed(after, uidOf(body));
      expect(after.fingerprint).not.toBe(before.fingerprint);
      expect(await metrics.registry.metrics()).toMatch(/meshdrift_admission_certificate_expiry_timestamp_seconds \d{10}/);
      writeFileSync(first.certFile, 'not a certificate');
      await expect(listener.reloadTls()).rejects.toThrow(/admission|PEM|certificate|no start line/i);
    } finally {
      await listener.close();
    }
  });
});
