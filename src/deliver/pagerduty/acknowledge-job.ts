import { UnrecoverableError, type Job } from 'bullmq';
import type { OwnerRef } from '../../model/signal.ts';
import { settle, type JobHandler } from '../../queue/job-handlers.ts';
import { acknowledgeJobSchema } from '../../queue/queues.ts';
import { notifierOf, type ReceiverJobDeps } from '../delivery-job.ts';
import { Capability, type SendResult } from '../notifier.ts';

/** Acknowledges the alert the receiver triggered for a group (the PagerDuty receiver, Slack "Acknowledge"). */
export interface Acknowledger {
  /** Sends `acknowledge` with the group's dedup key; the result maps as a delivery's. Never throws. */
  acknowledge(groupKey: string): Promise<SendResult>;
}

/** The capability of acknowledging, declared by the PagerDuty receiver. */
export const ACKNOWLEDGE = new Capability<Acknowledger>('acknowledge');

/** The audit record of an acknowledge (remediate/audit.ts `kind: 'pagerduty'`). */
export interface AcknowledgeAuditEntry {
  kind: 'pagerduty';
  at: number;
  actor: string;
  action: 'acknowledge';
  cluster: string;
  owner?: OwnerRef;
  outcome: 'performed' | 'failed';
  reason: string;
  groupKey: string;
}

/** The `acknowledge` job: one PagerDuty acknowledge; its result is audited once final. */
export function createAcknowledgeHandler(
  deps: ReceiverJobDeps & { now: () => number; audit?: { append(entry: AcknowledgeAuditEntry): Promise<unknown> } },
): JobHandler {
  return async (job: Job, token) => {
    const data = acknowledgeJobSchema.parse(job.data);
    const notifier = notifierOf(deps, data.receiver);
    const acknowledger = ACKNOWLEDGE.of(notifier);
    if (!acknowledger) throw new UnrecoverableError(`receiver "${data.receiver}" cannot acknowledge`);
    const result = await acknowledger.acknowledge(data.groupKey);
    const log = deps.log.child({ group: data.groupKey, receiver: data.receiver, actor: data.actor, attempt: job.attemptsMade + 1 });
    const final = result.ok || !result.retryable || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    if (final && deps.audit) {
      await deps.audit.append({
        kind: 'pagerduty',
        at: deps.now(),
        actor: data.actor,
        action: 'acknowledge',
        cluster: data.cluster,
        ...(data.owner === undefined ? {} : { owner: data.owner }),
        outcome: result.ok ? 'performed' : 'failed',
        reason: result.ok
          ? `PagerDuty alert of group ${data.groupKey} acknowledged through ${data.receiver}`
          : `PagerDuty acknowledge through ${data.receiver} failed: ${result.reason}`,
        groupKey: data.fromGroupKey,
      });
    }
    return settle(job, token, result, {
      receiver: data.receiver,
      receiverType: notifier.type,
      kind: 'acknowledge',
      done: 'acknowledged',
      metrics: deps.metrics,
      log,
    });
  };
}
