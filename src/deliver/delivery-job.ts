import { UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import type { Notification } from '../model/alert-group.ts';
import { notificationOf, settle, type JobHandler } from '../queue/job-handlers.ts';
import type { NotificationStore } from '../queue/notification-store.ts';
import { deliverJobSchema } from '../queue/queues.ts';
import type { Notifier } from './notifier.ts';
import type { StormSettings, StormStore } from './storm.ts';
import type { Queues } from '../queue/queues.ts';
import type { BestEffort } from '../best-effort.ts';

/** Drift storms (deliver/storm.ts): where they are decided, and how their summaries are queued. */
export interface StormGateDeps {
  store: StormStore;
  /** A receiver's storm settings (deliver/storm-settings.ts); threshold 0: off for it. */
  settingsOf: (receiver: string) => StormSettings;
  queues: Pick<Queues, 'enqueueStorm'>;
}

/** What the deliver-queue handlers of receivers need. */
export interface ReceiverJobDeps {
  /** The receivers by name; a function, because a policy reload can replace them. */
  notifiers: () => ReadonlyMap<string, Notifier>;
  metrics: Metrics;
  log: Logger;
  /** Where a handler reports a failed best-effort step (best-effort.ts); default: logged on stderr. */
  bestEffort?: BestEffort;
}

/** The receiver a job names; one the policy no longer has makes the job a dead letter. */
export function notifierOf(deps: Pick<ReceiverJobDeps, 'notifiers' | 'metrics'>, receiver: string): Notifier {
  const notifier = deps.notifiers().get(receiver);
  if (!notifier) {
    deps.metrics.notificationDelivered('unknown', 'unknown', 'dead_letter');
    throw new UnrecoverableError(`receiver "${receiver}" is not configured (removed from the policy?)`);
  }
  return notifier;
}

/**
 * A receiver that takes its deliveries as work of its own instead of `send` (remediation queues one
 * job per owner): returns what it did, or undefined when `notifier` is not one of its receivers.
 */
export type DeliveryTakeover = (receiver: string, notifier: Notifier, n: Notification) => Promise<string | undefined>;

/**
 * The `deliver` job: one delivery attempt of a stored notification to one receiver (see settle).
 * A receiver one of `takeovers` claims is not sent to (remediate/jobs.ts).
 */
export function createDeliveryHandler(
  deps: ReceiverJobDeps & { notifications: NotificationStore; takeovers?: readonly DeliveryTakeover[]; storms?: StormGateDeps },
): JobHandler {
  return async (job: Job, token) => {
    const data = deliverJobSchema.parse(job.data);
    const notifier = notifierOf(deps, data.receiver);
    const n = await notificationOf(data, deps.notifications);
    for (const takeover of deps.takeovers ?? []) {
      const took = await takeover(data.receiver, notifier, n);
      if (took !== undefined) return took;
    }
    const settings = deps.storms?.settingsOf(data.receiver);
    const storms = deps.storms !== undefined && settings !== undefined && settings.threshold > 0 ? deps.storms : undefined;
    const log = deps.log.child({ group: n.groupKey, seq: n.seq, receiver: data.receiver, attempt: job.attemptsMade + 1 });
    if (storms && settings) {
      // Part of a drift storm: its summary tells it (deliver/storm.ts), not a message of its own.
      const verdict = await storms.store.gate(data.receiver, n, settings);
      if (verdict.kind === 'member') {
        if (verdict.opened) {
          // Also on a retry of the opening delivery: the first summary's job id is fixed.
          await storms.queues.enqueueStorm({ receiver: data.receiver, stormId: verdict.stormId, n: 1, cause: verdict.cause }, 0);
          if (verdict.fresh) {
            deps.metrics.stormOpened(data.receiver);
            log.warn(
              { storm: verdict.stormId, cause: verdict.cause || 'too many at once' },
              'drift storm: one summary for this receiver instead of one message per group',
            );
          }
        }
        deps.metrics.stormAbsorbed(data.receiver);
        return `told by storm ${verdict.stormId}`;
      }
    }
    if (n.status === 'resolved' && notifier.sendResolved === false) return 'skipped: send_resolved is off';
    const started = performance.now();
    const result = await notifier.send(n);
    deps.metrics.deliveryDuration(data.receiver, notifier.type, (performance.now() - started) / 1000);
    if (storms && result.ok && n.status === 'firing') {
      // Told on its own: it stays so (a storm opening now does not take it). Sent already, so a
      // failure here is logged, not retried (a retry would send it twice).
      await storms.store
        .told(data.receiver, n.groupKey)
        .catch((err: unknown) => log.warn({ error: err instanceof Error ? err.message : String(err) }, 'drift storm: recording an individual delivery failed'));
    }
    return settle(job, token, result, {
      receiver: data.receiver,
      receiverType: notifier.type,
      kind: 'delivery',
      done: 'delivered',
      metrics: deps.metrics,
      log,
    });
  };
}
