import type { Logger } from '../../log.ts';
import type { Metrics } from '../../metrics.ts';
import { firstLineOf } from '../../model/error-message.ts';
import { withTimeout } from '../../net/with-timeout.ts';
import type { AdmissionRecord, AdmissionStore } from '../../track/admission-store.ts';
import type { Ingest } from '../../track/ingest.ts';
import { admissionSignalOf, type RecordContext, recordOf, skipReason } from './record.ts';
import type { AdmissionRequest } from './review.ts';
import type { AppFacts } from '../argocd/app-index.ts';
import type { OwnerRef } from '../../model/signal.ts';

/**
 * The recording, off the answer path (issue #17). The listener answers the API server first, then
 * offers the request here; a bounded in-process queue (a count and a byte budget) takes it, or
 * drops it and counts the drop: the answer never waits on Redis, and a slow or absent Redis costs
 * records, never admission latency. A few workers drain the queue: record (store.record), then,
 * for a change outside Git to a GitOps-managed object, ingest the finding at once.
 */
export interface AdmissionRecorder {
  /** Takes a request to record: `recorded` (queued), `skipped` (nothing to record) or `dropped` (queue full). */
  offer(req: AdmissionRequest, bytes: number): 'recorded' | 'skipped' | 'dropped';
  /** Requests waiting or being recorded. */
  pending(): number;
  /** Takes no more; resolves when what was queued is recorded, or at `graceMs`. */
  stop(graceMs: number): Promise<void>;
}

export interface AdmissionRecorderDeps {
  store: AdmissionStore;
  ingest: Ingest;
  context: RecordContext;
  now: () => number;
  metrics: Metrics;
  log: Logger;
  maxQueue: number;
  maxQueueBytes: number;
  /** The owning Application as the Argo CD watch holds it (sources/argocd/app-index.ts); optional. */
  apps?: (seenIn: string, owner: OwnerRef) => AppFacts | undefined;
  /** Workers draining the queue. */
  concurrency?: number;
  /** Attempts per Redis step (record, ingest) and the bound of each. */
  attempts?: number;
  stepTimeoutMs?: number;
  backoffMs?: number;
}

interface Item {
  req: AdmissionRequest;
  bytes: number;
  at: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function retried<T>(what: string, attempts: number, timeoutMs: number, backoffMs: number, step: () => Promise<T>): Promise<T> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await withTimeout(step(), timeoutMs, what);
    } catch (err) {
      last = err;
      if (i + 1 < attempts) await sleep(backoffMs * 2 ** i);
    }
  }
  throw last;
}

/** Where a record is logged: the object, never the user. */
const objectOf = (rec: AdmissionRecord) => ({ kind: rec.kind, namespace: rec.namespace, name: rec.name, operation: rec.operation });

export function createAdmissionRecorder(deps: AdmissionRecorderDeps): AdmissionRecorder {
  const { store, ingest, context, metrics, log } = deps;
  const attempts = deps.attempts ?? 3;
  const stepTimeoutMs = deps.stepTimeoutMs ?? 2_000;
  const backoffMs = deps.backoffMs ?? 200;
  const queue: Item[] = [];
  let bytes = 0;
  let active = 0;
  let stopped = false;

  async function recordOne(item: Item): Promise<void> {
    const rec = recordOf(item.req, context, item.at);
    if (rec === undefined) return;
    try {
      await retried('admission record', attempts, stepTimeoutMs, backoffMs, () => store.record(rec));
      metrics.admissionRecord('written');
    } catch (err) {
      metrics.admissionRecord('failed');
      log.warn({ ...objectOf(rec), error: firstLineOf(err, 200) }, 'admission record not written (Redis)');
    }
    const signal = admissionSignalOf(rec, rec.owner === undefined ? undefined : deps.apps?.(rec.cluster, rec.owner));
    if (signal === undefined) return;
    try {
      const out = await retried('admission finding', attempts, stepTimeoutMs * 5, backoffMs, () => ingest(signal));
      if (out.outcome === 'refused') log.warn({ ...objectOf(rec), field: out.field }, 'admission finding refused');
      else metrics.admissionJoined('told');
    } catch (err) {
      log.warn({ ...objectOf(rec), error: firstLineOf(err, 200) }, 'admission finding not ingested');
    }
  }

  async function work(): Promise<void> {
    active++;
    try {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
        try {
          await recordOne(item);
        } catch (err) {
          log.error({ error: firstLineOf(err, 200) }, 'admission recording failed');
        } finally {
          bytes -= item.bytes;
        }
      }
    } finally {
      active--;
    }
  }

  return {
    offer(req, size) {
      if (skipReason(req, context.catalog) !== null) return 'skipped';
      if (stopped || queue.length >= deps.maxQueue || bytes + size > deps.maxQueueBytes) {
        metrics.admissionRecord('dropped');
        return 'dropped';
      }
      queue.push({ req, bytes: size, at: deps.now() });
      bytes += size;
      if (active < (deps.concurrency ?? 4)) void work();
      return 'recorded';
    },
    pending: () => queue.length + active,
    async stop(graceMs) {
      stopped = true;
      const deadline = Date.now() + graceMs;
      while (queue.length + active > 0 && Date.now() < deadline) await sleep(20);
      if (queue.length > 0) {
        log.warn({ dropped: queue.length }, 'shutdown: admission requests not recorded');
        for (const _ of queue) metrics.admissionRecord('dropped');
        queue.length = 0;
        bytes = 0;
      }
    },
  };
}
