import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { settle, type JobHandler } from '../queue/job-handlers.ts';
import { stormJobSchema, type Queues, type StormJob } from '../queue/queues.ts';
import type { Notifier, SendResult } from './notifier.ts';
import { STORM_DETAIL, stormDetailParts } from './storm-detail.ts';
import { stormHref, stormNotification } from './storm-summary.ts';
import type { StormRecord, StormSettings, StormStore } from './storm.ts';

export interface StormJobDeps {
  /** The receivers by name (a policy reload can replace them). */
  notifiers: () => ReadonlyMap<string, Notifier>;
  metrics: Metrics;
  log: Logger;
  storms: StormStore;
  /** The storm settings of a receiver (its policy's `storm`, else the environment's). */
  settingsOf: (receiver: string) => StormSettings;
  queues: Pick<Queues, 'enqueueStorm'>;
  now: () => number;
  /** meshdrift's own URL (MESHDRIFT_PUBLIC_URL): the storm's API link is absolute with it. */
  publicUrl?: string;
  /** Argo CD's UI (ARGOCD_URL): a storm's detail links each Argo CD app. */
  argocdUrl?: string;
}

/**
 * When the next look at a storm comes after look `n`: 5 s, 10 s, 15 s… after the one before, then
 * once a window. A storm's burst usually lasts seconds: its summary counts it all within
 * seconds, then the refreshes slow down to the window.
 */
export const STORM_RAMP_MS = 5_000;
export function nextLookDelay(n: number, windowMs: number): number {
  return Math.min(windowMs, STORM_RAMP_MS * n);
}

type Step = { done: true } | { done: false; result: SendResult };

/**
 * The storm's detail under its summary (Slack thread replies), once the storm took its last member
 * (a window without a new one): one reply per job attempt and rate-limit slot, each recorded
 * before the next, so a deferred or retried job resumes where it stopped. A reply refused for good
 * is logged and skipped: the summary and the API still tell the storm.
 */
async function tellDetail(deps: StormJobDeps, data: StormJob, notifier: Notifier, r: StormRecord, at: number, log: Logger): Promise<Step> {
  const teller = STORM_DETAIL.of(notifier);
  if (teller === undefined || at - r.lastJoinAt <= deps.settingsOf(data.receiver).windowMs) return { done: true };
  const parts = stormDetailParts(r, stormHref(r.id, deps.publicUrl), deps.argocdUrl);
  for (const part of parts.slice(r.detailParts)) {
    const result = await teller.tellStormDetail(part);
    if (!result.ok && result.retryable) return { done: false, result };
    if (!result.ok) log.warn({ reason: result.reason, part: part.part }, 'drift storm: a detail reply was refused; skipped');
    await deps.storms.markDetail(data.receiver, data.cause ?? '', data.stormId, part.part);
  }
  return { done: true };
}

/**
 * The `storm` job: the n-th look at a receiver's storm of one cause. Sends the summary if members
 * changed since the last one (or the resolve once the storm is over), its detail once it took its
 * last member, then queues job n+1 (nextLookDelay) while the storm lasts. Fixed ids (receiver,
 * storm, n): a chain never forks across replicas.
 */
export function createStormHandler(deps: StormJobDeps): JobHandler {
  return async (job: Job, token) => {
    const data: StormJob = stormJobSchema.parse(job.data);
    const cause = data.cause ?? '';
    const notifier = deps.notifiers().get(data.receiver);
    if (!notifier) throw new UnrecoverableError(`receiver "${data.receiver}" is not configured (removed from the policy?)`);
    const { windowMs } = deps.settingsOf(data.receiver);
    const at = deps.now();
    const ended = await deps.storms.end(data.receiver, cause, data.stormId, at, windowMs);
    if (ended === -1) return 'storm no longer recorded';
    const record = await deps.storms.read(data.receiver, cause);
    if (!record || record.id !== data.stormId) return 'storm no longer recorded';
    const log = deps.log.child({ storm: data.stormId, receiver: data.receiver, n: data.n, attempt: job.attemptsMade + 1 });
    const outcome = { receiver: data.receiver, receiverType: notifier.type, kind: 'delivery' as const, metrics: deps.metrics, log };
    if (ended === 1) {
      if (record.sentVersion === Number.MAX_SAFE_INTEGER) return 'resolve already sent';
      if (notifier.sendResolved === false) return 'skipped: send_resolved is off';
      const result = await notifier.send(stormNotification(record, data.n, at, true, deps.publicUrl));
      if (result.ok) {
        await deps.storms.markSent(data.receiver, cause, data.stormId, Number.MAX_SAFE_INTEGER);
        deps.metrics.stormSummary('resolved');
        log.info({ joined: record.joined }, 'storm resolved');
      }
      return settle(job, token, result, { ...outcome, done: 'storm resolved' });
    }
    let done = 'unchanged';
    if (record.version > record.sentVersion) {
      const result = await notifier.send(stormNotification(record, data.n, at, false, deps.publicUrl));
      if (!result.ok) return settle(job, token, result, { ...outcome, done: 'storm summary' });
      await deps.storms.markSent(data.receiver, cause, data.stormId, record.version);
      deps.metrics.stormSummary('firing');
      log.info({ members: record.memberCount, joined: record.joined }, 'storm summary sent');
      done = 'storm summary';
    }
    const detail = await tellDetail(deps, data, notifier, record, at, log);
    if (!detail.done) return settle(job, token, detail.result, { ...outcome, done });
    await deps.queues.enqueueStorm({ ...data, n: data.n + 1 }, nextLookDelay(data.n, windowMs));
    return done === 'unchanged' ? done : settle(job, token, { ok: true }, { ...outcome, done });
  };
}
