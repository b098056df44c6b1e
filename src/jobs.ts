import { createDeliveryHandler, type ReceiverJobDeps } from './deliver/delivery-job.ts';
import { createAcknowledgeHandler, type AcknowledgeAuditEntry } from './deliver/pagerduty/acknowledge-job.ts';
import { createNoteHandler } from './deliver/slack/note-job.ts';
import { createStormHandler } from './deliver/storm-job.ts';
import type { StormSettings, StormStore } from './deliver/storm.ts';
import { DELIVER_JOB_NAME, type JobHandler, type JobHandlers } from './queue/job-handlers.ts';
import { ACTION_JOB_NAMES, type Queues } from './queue/queues.ts';
import { createEscalationHandler, createRemediateHandler, createVerifyHandler, remediationTakeover } from './remediate/jobs.ts';

/** What the deliver queue's handlers need, all together. */
export interface JobHandlerDeps extends ReceiverJobDeps {
  queues: Pick<Queues, 'enqueueRemediation' | 'enqueueVerify' | 'enqueueNotes' | 'enqueueEscalations' | 'enqueueStorm' | 'notifications'>;
  /** Where remediation escalations go when a remediate receiver names none (`escalate_to`): the root route's receiver. */
  escalationDefault?: () => readonly string[];
  /** Drift storms (deliver/storm.ts); absent: every group is told on its own. */
  storms?: {
    store: StormStore;
    /** A receiver's storm settings (deliver/storm-settings.ts). */
    settingsOf: (receiver: string) => StormSettings;
    /** MESHDRIFT_PUBLIC_URL: storm links are absolute with it. */
    publicUrl?: string;
    /** ARGOCD_URL: a storm's detail links each Argo CD app. */
    argocdUrl?: string;
  };
  now: () => number;
  /** Where PagerDuty acknowledges are recorded (remediations audit themselves). */
  audit?: { append(entry: AcknowledgeAuditEntry): Promise<unknown> };
}

/**
 * The deliver queue's table of handlers, by job name (composition: each handler lives in the
 * feature folder that owns its work). Deliveries, then the follow-up jobs: one owner's
 * remediation, a verify step, an owner note, a PagerDuty acknowledge.
 */
export function createJobHandlers(deps: JobHandlerDeps): JobHandlers {
  const { storms: stormDeps, ...rest } = deps;
  const storms = stormDeps ? { store: stormDeps.store, settingsOf: stormDeps.settingsOf, queues: deps.queues } : undefined;
  const table: [string, JobHandler][] = [
    [
      DELIVER_JOB_NAME,
      createDeliveryHandler({
        ...rest,
        notifications: deps.queues.notifications,
        takeovers: [remediationTakeover(deps.queues)],
        ...(storms ? { storms } : {}),
      }),
    ],
    [ACTION_JOB_NAMES.remediate, createRemediateHandler(deps)],
    [ACTION_JOB_NAMES.verify, createVerifyHandler(deps)],
    [ACTION_JOB_NAMES.note, createNoteHandler(deps)],
    [ACTION_JOB_NAMES.escalation, createEscalationHandler(deps)],
    [ACTION_JOB_NAMES.acknowledge, createAcknowledgeHandler(deps)],
    ...(stormDeps ? [[ACTION_JOB_NAMES.storm, createStormHandler({ ...rest, ...stormDeps, storms: stormDeps.store })] satisfies [string, JobHandler]] : []),
  ];
  return new Map(table);
}
