import type { Notification, RemediationEscalationSummary } from '../model/alert-group.ts';
import { plainLine, plainLines } from './text.ts';

/**
 * A remediation escalation (model/alert-group.ts `escalation`: auto-remediation gave up on an
 * owner) as the receivers show it: one event or alert about the owner, never one per finding, so
 * it never merges with the drift alerts of the same resources. Pure; every text through the one
 * sanitiser (src/deliver/text.ts).
 */

/** The `alertname` of an escalation's alert (Alertmanager, webhook). */
export const ESCALATION_ALERTNAME = 'MeshDriftRemediationEscalated';

const MAX_VALUE = 1024;
const SUMMARY_MAX = 1024;

/** The escalation's own fields, sanitised. */
export function safeEscalation(e: RemediationEscalationSummary): RemediationEscalationSummary {
  return { kind: e.kind, receiver: plainLine(e.receiver, 300), headline: plainLine(e.headline, 1000), id: plainLine(e.id, 500) };
}

/** The one-line title: "[HIGH] Auto-remediation stopped: …", or "[RESOLVED] …" once it is over. */
export function escalationTitle(n: Notification, e: RemediationEscalationSummary): string {
  const safe = safeEscalation(e);
  return plainLine(n.status === 'firing' ? `[${n.severity.toUpperCase()}] ${safe.headline}` : `[RESOLVED] ${safe.headline}`, SUMMARY_MAX);
}

/** The escalation alert's labels: the owner it is about, the remediate receiver, the kind, the severity. */
export function escalationAlertLabels(n: Notification, e: RemediationEscalationSummary): Record<string, string> {
  const { cluster, tool, owner } = n.labels;
  const labels: Record<string, string> = {
    alertname: ESCALATION_ALERTNAME,
    escalation: e.kind,
    remediate_receiver: plainLine(e.receiver, MAX_VALUE),
    severity: n.severity,
    cluster: plainLine(cluster, MAX_VALUE),
    tool,
    owner_kind: plainLine(owner.kind, MAX_VALUE),
    owner_namespace: plainLine(owner.namespace, MAX_VALUE),
    owner: plainLine(owner.name, MAX_VALUE),
  };
  return Object.fromEntries(Object.entries(labels).filter(([, v]) => v !== ''));
}

/** The escalation alert's annotations: the headline, and the resources it gave up on. */
export function escalationAlertAnnotations(n: Notification, e: RemediationEscalationSummary): Record<string, string> {
  const resources = [...n.firing, ...n.resolved].map(
    (f) => `${f.resource.kind} ${f.resource.namespace === '' ? '' : `${f.resource.namespace}/`}${f.resource.name}`,
  );
  return {
    summary: plainLine(e.headline, MAX_VALUE),
    description: plainLines(
      [
        e.headline,
        `Owner: ${n.labels.owner.kind} ${n.labels.owner.namespace === '' ? '' : `${n.labels.owner.namespace}/`}${n.labels.owner.name} on ${n.labels.cluster}.`,
        ...(resources.length === 0 ? [] : [`Resources: ${resources.slice(0, 20).join(', ')}${resources.length > 20 ? ', …' : ''}`]),
      ],
      MAX_VALUE,
      4096,
    ),
    escalation_id: plainLine(e.id, MAX_VALUE),
  };
}
