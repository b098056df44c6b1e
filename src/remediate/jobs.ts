import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import { notifierOf, type DeliveryTakeover, type ReceiverJobDeps } from '../deliver/delivery-job.ts';
import type { Notifier } from '../deliver/notifier.ts';
import { OWNER_NOTES, ownerNoteReceivers } from '../deliver/slack/note-job.ts';
import type { Logger } from '../log.ts';
import { escalationEventSchema, escalationHeadline, escalationNotification } from './escalation.ts';
import { notificationOf, settle, type JobHandler } from '../queue/job-handlers.ts';
import { z } from 'zod';
import { remediateJobSchema, type Queues } from '../queue/queues.ts';
import { verifyTicketSchema } from './verify.ts';
import { REMEDIATION, type Remediation, type RemediationEscalations, type RemediationRun } from './capability.ts';
import { ownersOf } from './policy.ts';
import { fallbackBestEffort } from '../best-effort.ts';

/** A verify step's job: the receiver and the whole ticket (queued by queues.ts `enqueueVerify`). */
export const verifyJobSchema = z.object({ receiver: z.string(), ticket: verifyTicketSchema });

type FollowUpQueues = Pick<Queues, 'enqueueVerify' | 'enqueueNotes' | 'enqueueEscalations'>;

/** An escalation job: the receiver to tell and the whole (bounded) event (queued by queues.ts `enqueueEscalations`). */
export const escalationJobSchema = z.object({ receiver: z.string(), event: escalationEventSchema });

/** What follow-ups need besides the queues: the receivers, the default escalation receivers, a log. */
export interface FollowUpDeps {
  notifiers: () => ReadonlyMap<string, Notifier>;
  queues: FollowUpQueues;
  /** Where escalations go when the remediate receiver names none (`escalate_to`): the root route's receiver. */
  escalationDefault?: () => readonly string[];
  log?: Logger;
}

/**
 * The receivers that hear an escalation as a notification: those named (or the default) that exist,
 * never a remediate receiver, and never one that tells owner notes (Slack hears it in the alert's thread).
 */
export function escalationReceivers(named: readonly string[], notifiers: ReadonlyMap<string, Notifier>): string[] {
  return [...new Set(named)].filter((name) => {
    const n = notifiers.get(name);
    return n !== undefined && REMEDIATION.of(n) === undefined && OWNER_NOTES.of(n) === undefined;
  });
}

/** Queues the escalations' jobs (fixed ids: once per receiver, event and status), logged at warn when one opens. */
async function tellEscalations(e: RemediationEscalations | undefined, deps: FollowUpDeps): Promise<void> {
  if (e === undefined || e.events.length === 0) return;
  const notifiers = deps.notifiers();
  const to = escalationReceivers(e.to ?? deps.escalationDefault?.() ?? [], notifiers);
  await deps.queues.enqueueEscalations(to, e.events);
  for (const event of e.events) {
    const fields = {
      escalation: event.id,
      receiver: event.receiver,
      owner: event.owner.name,
      cluster: event.cluster,
      to,
      threads: ownerNoteReceivers(notifiers),
    };
    if (event.status === 'firing') deps.log?.warn(fields, escalationHeadline(event));
    else deps.log?.info(fields, escalationHeadline(event));
  }
}

/** The remediation capability of the receiver a job names; a receiver without it makes the job a dead letter. */
function remediationOf(deps: Pick<ReceiverJobDeps, 'notifiers' | 'metrics'>, receiver: string): { notifier: Notifier; remediation: Remediation } {
  const notifier = notifierOf(deps, receiver);
  const remediation = REMEDIATION.of(notifier);
  if (!remediation) throw new UnrecoverableError(`receiver "${receiver}" is not a remediation receiver any more`);
  return { notifier, remediation };
}

/**
 * Schedules what a remediation run asks for after it: its verify step, and its notes (the flap
 * breaker's escalation) to every receiver that tells owner notes. Also for the Slack "Sync now" path.
 */
export async function followUp(run: RemediationRun, deps: FollowUpDeps): Promise<void> {
  if (run.verify) await deps.queues.enqueueVerify(run.verify);
  if (run.notes.length > 0) await deps.queues.enqueueNotes(ownerNoteReceivers(deps.notifiers()), run.notes);
  await tellEscalations(run.escalations, deps);
}

/**
 * A delivery to a remediation receiver is not sent: each owner of the notification gets its own
 * remediation job, in which the latest notification wins. Resolves are queued too: a resolve that
 * arrives while an action waits replaces it.
 */
export function remediationTakeover(queues: Pick<Queues, 'enqueueRemediation'>): DeliveryTakeover {
  return async (receiver, notifier, n) => {
    if (REMEDIATION.of(notifier) === undefined) return undefined;
    const owners = ownersOf(n.status === 'firing' ? n : { ...n, firing: n.resolved });
    for (const owner of owners) await queues.enqueueRemediation(receiver, n, owner);
    return `remediation queued for ${owners.length} owner(s)`;
  };
}

type RemediationJobDeps = ReceiverJobDeps & { queues: FollowUpQueues & Pick<Queues, 'notifications'>; escalationDefault?: () => readonly string[] };

/** The `remediate` job: one owner's remediation (the latest notification for it), then its follow-ups. */
export function createRemediateHandler(deps: RemediationJobDeps): JobHandler {
  return async (job: Job, token) => {
    const data = remediateJobSchema.parse(job.data);
    const { notifier, remediation } = remediationOf(deps, data.receiver);
    const owner = { cluster: data.owner.cluster, tool: data.owner.tool, owner: data.owner.owner };
    // Latest wins: the newest notification of the group, even if this job was queued for an older
    // one. Deliveries run concurrently (and on several replicas), so an older notification's job can
    // be added after a newer one's and replace it in the owner's debounce.
    const n = await deps.queues.notifications.newest(await notificationOf(data, deps.queues.notifications));
    const started = performance.now();
    const run = await remediation.remediateOwner(n, owner, data.actor);
    deps.metrics.deliveryDuration(data.receiver, notifier.type, (performance.now() - started) / 1000);
    await followUp(run, { ...deps, log: deps.log });
    const log = deps.log.child({ group: n.groupKey, seq: n.seq, receiver: data.receiver, owner: data.owner.owner.name, attempt: job.attemptsMade + 1 });
    return settle(job, token, run.result, {
      receiver: data.receiver,
      receiverType: notifier.type,
      kind: 'remediate',
      done: 'remediated',
      metrics: deps.metrics,
      log,
    });
  };
}

/** The `verify` job: one look at an action's result: wait (without spending an attempt) or tell the verdict. */
export function createVerifyHandler(deps: RemediationJobDeps): JobHandler {
  return async (job: Job, token) => {
    const { receiver, ticket } = verifyJobSchema.parse(job.data);
    const { remediation } = remediationOf(deps, receiver);
    const step = await remediation.verify(ticket);
    if (step.state === 'pending') {
      // Bounded: verify() decides a verdict once the ticket's deadline has passed.
      await job.moveToDelayed(Date.now() + step.retryInMs, token);
      throw new DelayedError();
    }
    if (step.notes.length > 0) await deps.queues.enqueueNotes(ownerNoteReceivers(deps.notifiers()), step.notes);
    await tellEscalations(step.escalations, deps);
    deps.log.info({ group: ticket.groupKey, receiver, owner: ticket.owner.name, verdict: step.state }, step.reason);
    return step.state;
  };
}

/**
 * The `escalation` job: one remediation escalation (opened or resolved) sent to one receiver as a
 * notification of its own (escalation.ts `escalationNotification`), its findings read from the
 * stored notification it refers to (none when that expired or could not be read: the headline still
 * names the owner and why).
 */
export function createEscalationHandler(deps: ReceiverJobDeps & { queues: Pick<Queues, 'notifications'> }): JobHandler {
  return async (job: Job, token) => {
    const { receiver, event } = escalationJobSchema.parse(job.data);
    const notifier = notifierOf(deps, receiver);
    // Unreadable (Redis): the escalation is still told, without its findings; reported, never silent.
    const source = await deps.queues.notifications.load(event.groupKey, event.seq).catch((err: unknown) => {
      (deps.bestEffort ?? fallbackBestEffort()).failed('escalation_source_read', err);
      return null;
    });
    const result = await notifier.send(escalationNotification(event, source));
    const log = deps.log.child({ receiver, escalation: event.id, status: event.status, attempt: job.attemptsMade + 1 });
    return settle(job, token, result, { receiver, receiverType: notifier.type, kind: 'escalation', done: 'told', metrics: deps.metrics, log });
  };
}
