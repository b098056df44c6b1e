import { Capability, type SendResult } from '../deliver/notifier.ts';
import type { Notification } from '../model/alert-group.ts';
import type { OwnerNote } from '../model/owner-note.ts';
import type { RemediationOwner } from './policy.ts';
import type { VerifyTicket } from './verify.ts';
import type { EscalationEvent } from './escalation.ts';

/** What one owner's remediation did, and what must follow it. */
export interface RemediationRun {
  result: SendResult;
  /** After a real action: the verify step to schedule (a delayed job carries it). */
  verify?: VerifyTicket;
  /** Messages for the alert's Slack thread (the flap breaker's escalation). */
  notes: OwnerNote[];
  /** Escalations opened or resolved, to tell as notifications of their own (remediate/escalation.ts). */
  escalations?: RemediationEscalations;
}

/** Escalation events and whom to tell: the receiver's `escalate_to`, or (undefined) the default, the root route's receiver. */
export interface RemediationEscalations {
  to: readonly string[] | undefined;
  events: EscalationEvent[];
}

/** One observation of a verify step: wait and look again, or the verdict (audited and counted). */
export type VerifyStep =
  | { state: 'pending'; retryInMs: number }
  | { state: 'verified' | 'verify-failed'; reason: string; notes: OwnerNote[]; escalations?: RemediationEscalations };

/**
 * A remediation receiver as the queue drives it (remediate/jobs.ts): a delivery to it becomes one
 * job per owner (latest wins), each running {@link remediateOwner}, then the verify step in
 * delayed jobs. Slack's "Sync now" runs `remediateOwner` inline.
 */
export interface Remediation {
  /** The policy's receiver name. */
  readonly receiver: string;
  /** Remediates one owner of a notification; `actor` overrides who asked (a Slack user). Never throws. */
  remediateOwner(n: Notification, owner: RemediationOwner, actor?: string): Promise<RemediationRun>;
  /** Observes an action's result once. Rejects only when Redis or the audit trail does. */
  verify(ticket: VerifyTicket): Promise<VerifyStep>;
  /**
   * Ends the owner's open escalation because a human acted (a Slack "Silence" or "Acknowledge"):
   * the resolve to tell, or undefined when none was open. Rejects only when Redis does.
   */
  resolveEscalation?(owner: RemediationOwner, why: string): Promise<RemediationEscalations | undefined>;
}

/** The capability of remediating per owner, declared by the remediate receiver. */
export const REMEDIATION = new Capability<Remediation>('remediation');
