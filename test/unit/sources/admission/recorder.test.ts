import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createCatalog } from '../../../../src/classify/catalog.ts';
import { createLogger } from '../../../../src/log.ts';
import { createMetrics } from '../../../../src/metrics.ts';
import type { OwnerRef, Signal } from '../../../../src/model/signal.ts';
import { createAdmissionRecorder } from '../../../../src/sources/admission/recorder.ts';
import { type AppIndex, createAppIndex } from '../../../../src/sources/argocd/app-index.ts';
import { admissionReviewSchema } from '../../../../src/sources/admission/review.ts';
import type { AdmissionRecord, AdmissionStore } from '../../../../src/track/admission-store.ts';
import type { Ingest } from '../../../../src/track/ingest.ts';
import { paymentsVs, review } from '../../../support/admission.ts';
import { waitFor } from '../../../support/redis.ts';

const update = () => admissionReviewSchema.parse(review({ operation: 'UPDATE', oldObject: paymentsVs(10, '1'), object: paymentsVs(60, '1') })).request;

function setup(store: Partial<AdmissionStore>, ingest: Ingest, maxQueue = 2, maxQueueBytes = 1024 * 1024, apps?: AppIndex) {
  const metrics = createMetrics(new Registry(), { defaultMetrics: false });
  const recorder = createAdmissionRecorder({
    store: { record: () => Promise.resolve('1-0'), recent: () => Promise.resolve([]), confirm: () => Promise.resolve(), ...store },
    ingest,
    context: {
      cluster: 'c',
      catalog: createCatalog(),
      users: { usernames: 'keep', groups: 'keep', details: false, gitopsUsers: new Set() },
      owners: { argoCdNamespace: 'argocd', argoCdInstanceLabel: '' },
    },
    now: () => 1,
    metrics,
    log: createLogger('silent'),
    maxQueue,
    maxQueueBytes,
    concurrency: 1,
    attempts: 1,
    stepTimeoutMs: 10_000,
    ...(apps ? { apps: (seenIn: string, owner: OwnerRef) => apps.lookup(seenIn, owner) } : {}),
  });
  return { recorder, metrics };
}

describe('admission recorder queue', () => {
  it('never waits on Redis: past its bound it drops and counts, and records the rest when Redis answers', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const written: AdmissionRecord[] = [];
    const ingested: unknown[] = [];
    const { recorder, metrics } = setup(
      {
        record: async (rec) => {
          await gate;
          written.push(rec);
          return '1-0';
        },
      },
      async (s) => {
        ingested.push(s);
        return { outcome: 'tracked', groups: ['g'], findings: 1 };
      },
    );
    // One taken by the worker (stuck on Redis), two queued, the rest dropped: offer returns at once.
    const outcomes = Array.from({ length: 6 }, () => recorder.offer(update(), 1000));
    expect(outcomes).toEqual(['recorded', 'recorded', 'recorded', 'dropped', 'dropped', 'dropped']);
    expect(await metrics.registry.metrics()).toMatch(/meshdrift_admission_records_total\{outcome="dropped"\} 3/);
    release();
    await waitFor(() => recorder.pending() === 0, 5_000, 'drain');
    expect(written).toHaveLength(3);
    expect(ingested).toHaveLength(3);
    expect(await metrics.registry.metrics()).toMatch(/meshdrift_admission_joined_total\{how="told"\} 3/);
  });

  it('bounds the bytes waiting too', () => {
    const { recorder } = setup({ record: () => new Promise(() => undefined) }, () => new Promise(() => undefined), 100, 2500);
    expect([1000, 1000, 1000].map((n) => recorder.offer(update(), n))).toEqual(['recorded', 'recorded', 'dropped']);
  });

  it('skips what is not to be recorded without queueing it', () => {
    const { recorder } = setup({}, () => Promise.reject(new Error('unused')), 0);
    const dry = admissionReviewSchema.parse(review({ operation: 'UPDATE', oldObject: paymentsVs(1, '1'), object: paymentsVs(2, '1'), dryRun: true })).request;
    expect(recorder.offer(dry, 10)).toBe('skipped');
  });

  it('stops taking requests on stop, and counts what the grace left unrecorded', async () => {
    const { recorder, metrics } = setup({ record: () => new Promise(() => undefined) }, () => new Promise(() => undefined), 10);
    recorder.offer(update(), 10);
    recorder.offer(update(), 10);
    await recorder.stop(50);
    expect(recorder.offer(update(), 10)).toBe('dropped');
    expect(await metrics.registry.metrics()).toMatch(/meshdrift_admission_records_total\{outcome="dropped"\} 2/);
  });
});

describe("the told finding and the owning Application (the Argo CD watch's cache)", () => {
  it('carries its project, labels and destination, and the cluster Argo CD files its verdict under', async () => {
    const index = createAppIndex();
    index.put('hub', {
      metadata: { namespace: 'argocd', name: 'payments-mesh', labels: { team: 'payments' } },
      spec: { project: 'payments', destination: { name: 'c', namespace: 'payments' } },
    });
    const ingested: Signal[] = [];
    const { recorder } = setup(
      {},
      async (s) => {
        ingested.push(s);
        return { outcome: 'tracked', groups: ['g'], findings: 1 };
      },
      2,
      1024 * 1024,
      index,
    );
    recorder.offer(update(), 1000);
    await waitFor(() => ingested.length === 1, 5_000, 'the told finding');
    expect(ingested[0]).toMatchObject({
      source: 'admission',
      cluster: 'hub',
      project: 'payments',
      labels: { team: 'payments' },
      destination: { name: 'c', namespace: 'payments' },
      owner: { kind: 'Application', namespace: 'argocd', name: 'payments-mesh' },
    });
    await recorder.stop(1_000);
  });

  it('without the app in the cache: project empty and its own cluster, as before', async () => {
    const ingested: Signal[] = [];
    const { recorder } = setup(
      {},
      async (s) => {
        ingested.push(s);
        return { outcome: 'tracked', groups: ['g'], findings: 1 };
      },
      2,
      1024 * 1024,
      createAppIndex(),
    );
    recorder.offer(update(), 1000);
    await waitFor(() => ingested.length === 1, 5_000, 'the told finding');
    expect(ingested[0]).toMatchObject({ cluster: 'c', project: '' });
    await recorder.stop(1_000);
  });
});
