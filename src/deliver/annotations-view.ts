import { RUNBOOK_URL, WELL_KNOWN_ANNOTATIONS } from '../classify/annotations.ts';
import type { Notification, TrackedFinding } from '../model/alert-group.ts';
import { severityRank } from '../model/severity.ts';

/**
 * What receivers show of the policy rules' `annotations` (classify/annotations.ts) for a whole
 * alert group: those of its lead finding, the most severe firing one (for a resolve, the most
 * severe resolved one). Receivers with one alert per finding (Alertmanager, webhook) and the
 * finding lists of PagerDuty and the console carry each finding's own. Pure; values are raw text,
 * escaped by each receiver.
 */

const text = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The group's lead finding: most severe first, then by kind, namespace and name. */
export function leadFinding(n: Pick<Notification, 'status' | 'firing' | 'resolved'>): TrackedFinding | undefined {
  const list = n.status === 'firing' || n.resolved.length === 0 ? n.firing : n.resolved;
  let lead: TrackedFinding | undefined;
  for (const f of list) if (lead === undefined || isBefore(f, lead)) lead = f;
  return lead;
}

function isBefore(a: TrackedFinding, b: TrackedFinding): boolean {
  return (
    (severityRank(a.severity) - severityRank(b.severity) ||
      text(a.resource.kind, b.resource.kind) ||
      text(a.resource.namespace, b.resource.namespace) ||
      text(a.resource.name, b.resource.name)) < 0
  );
}

/** The annotations of the group's lead finding ({} when it has none). */
export function groupAnnotations(n: Pick<Notification, 'status' | 'firing' | 'resolved'>): Readonly<Record<string, string>> {
  return leadFinding(n)?.annotations ?? {};
}

/** The runbook link of annotations, when there is one (always http(s): classify/annotations.ts). */
export function runbookOf(a: Readonly<Record<string, string>>): string | undefined {
  const url = a[RUNBOOK_URL];
  return url === undefined || !/^https?:\/\//i.test(url) ? undefined : url;
}

/** The team's own keys (not summary, description, runbook_url or team), in their order. */
export function ownAnnotations(a: Readonly<Record<string, string>>): Array<[string, string]> {
  return Object.entries(a).filter(([k]) => !(WELL_KNOWN_ANNOTATIONS as readonly string[]).includes(k));
}
