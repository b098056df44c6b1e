import { mrkdwnCode, mrkdwnLine } from '../deliver/text.ts';
import type { TrackedFinding } from '../model/alert-group.ts';
import { ownerKey, ownerLabel } from '../model/owner.ts';
import type { OwnerNote } from '../model/owner-note.ts';
import { severityRank, type Severity } from '../model/severity.ts';
import type { RemediationOwner } from './policy.ts';
import type { VerifyTicket } from './verify.ts';

// Names and reasons in a Slack note go through the one sanitiser (src/deliver/text.ts), bounded here.
const MAX_NOTE_NAME = 300;
const MAX_NOTE_REASON = 1000;

/** What a tripped flap breaker tells the alert's thread. */
export interface EscalationNoteInput {
  /** The remediate receiver's name. */
  receiver: string;
  groupKey: string;
  seq: number;
  owner: RemediationOwner;
  /** The findings whose breaker tripped. */
  findings: readonly TrackedFinding[];
  /** The policy's flap settings. */
  flap: { max: number; withinMs: number; escalateSeverity?: Severity | undefined };
}

/** The flap breaker's escalation: broadcast to the channel (a human has to look now). Pure. */
export function escalationNote(e: EscalationNoteInput): OwnerNote {
  const { owner, findings, flap } = e;
  const resources = findings.map((f) => f.resource);
  const within = Math.round(flap.withinMs / 60_000);
  const severity = flap.escalateSeverity ?? findings.reduce<Severity>((top, f) => (severityRank(f.severity) < severityRank(top) ? f.severity : top), 'info');
  const listed = resources
    .slice(0, 5)
    .map((r) => mrkdwnCode(`${r.kind} ${r.namespace === '' ? '' : `${r.namespace}/`}${r.name}`, MAX_NOTE_NAME))
    .join(', ');
  const more = resources.length > 5 ? ` and ${resources.length - 5} more` : '';
  const text =
    `:rotating_light: *Auto-remediation stopped* for ${resources.length} resource(s) of ${mrkdwnLine(ownerLabel(owner), MAX_NOTE_NAME)} (${listed}${more}): ` +
    `they drifted back ${flap.max} times within ${within}m of being reverted by ${mrkdwnLine(e.receiver, MAX_NOTE_NAME)}. ` +
    `Escalated at *${severity.toUpperCase()}* severity: someone keeps changing them by hand, or Git is not what the mesh needs. ` +
    `meshdrift will not revert them again for ${within}m.`;
  return {
    id: `escalate:${e.receiver}:${e.groupKey}:${e.seq}:${ownerKey(owner)}`,
    cluster: owner.cluster,
    tool: owner.tool,
    owner: owner.owner,
    text,
    broadcast: true,
  };
}

/** An action's verify verdict, for the alert's thread (not broadcast). Pure. */
export function verdictNote(ticket: VerifyTicket, verdict: { state: 'verified' | 'verify-failed'; reason: string }): OwnerNote {
  return {
    id: `verify:${ticket.actionId}`,
    cluster: ticket.cluster,
    tool: ticket.tool,
    owner: ticket.owner,
    text: `${verdict.state === 'verified' ? ':white_check_mark:' : ':warning:'} ${mrkdwnLine(verdict.reason, MAX_NOTE_REASON)}`,
    broadcast: false,
  };
}
