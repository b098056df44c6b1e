import { UnrecoverableError, type Job } from 'bullmq';
import type { OwnerNote } from '../../model/owner-note.ts';
import { settle, type JobHandler } from '../../queue/job-handlers.ts';
import { noteJobSchema } from '../../queue/queues.ts';
import { notifierOf, type ReceiverJobDeps } from '../delivery-job.ts';
import { Capability, type Notifier, type SendResult } from '../notifier.ts';

/** Tells notes about an owner in the thread of the receiver's message about it (the Slack receiver). */
export interface OwnerNotes {
  /** Posts the note in that thread; ok with nothing to do when there is none. Never throws. */
  tellOwner(note: OwnerNote): Promise<SendResult>;
}

/** The capability of telling {@link OwnerNotes}, declared by the Slack receiver. */
export const OWNER_NOTES = new Capability<OwnerNotes>('owner-notes');

/** The names of the receivers that tell owner notes (where remediation verdicts and escalations go). */
export function ownerNoteReceivers(notifiers: ReadonlyMap<string, Notifier>): string[] {
  return [...notifiers].filter(([, n]) => OWNER_NOTES.of(n) !== undefined).map(([name]) => name);
}

/** The `note` job: one owner note into one receiver's thread. */
export function createNoteHandler(deps: ReceiverJobDeps): JobHandler {
  return async (job: Job, token) => {
    const { receiver, note } = noteJobSchema.parse(job.data);
    const notifier = notifierOf(deps, receiver);
    const notes = OWNER_NOTES.of(notifier);
    if (!notes) throw new UnrecoverableError(`receiver "${receiver}" cannot tell notes`);
    const result = await notes.tellOwner(note);
    const log = deps.log.child({ receiver, note: note.id, attempt: job.attemptsMade + 1 });
    return settle(job, token, result, { receiver, receiverType: notifier.type, kind: 'note', done: 'told', metrics: deps.metrics, log });
  };
}
