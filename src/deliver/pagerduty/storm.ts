import type { Notification, RemediationEscalationSummary, StormSummary } from '../../model/alert-group.ts';
import { escalationTitle, safeEscalation } from '../escalation-render.ts';
import { safeStormSummary } from '../alertmanager/storm.ts';
import { plainLine } from '../text.ts';

// A drift storm's summary (deliver/storm.ts) as one PagerDuty event: the headline as its title,
// the storm's id, cause and counts in custom_details.storm, and the API link to every member.

const SUMMARY_MAX = 1024;

/** The parts of a PagerDuty event (render.ts PagerDutyEvent) a storm's summary sets. */
interface StormableEvent {
  links?: Array<{ href: string; text: string }>;
  payload: { summary: string; component: string; class: string; custom_details: object };
}

/** The group event of a storm's summary, made the storm's: title, component, class and custom_details.storm. */
export function withStorm<E extends StormableEvent>(e: E, n: Notification, s: StormSummary): E {
  const safe = safeStormSummary(s);
  const title = n.status === 'firing' ? `[${n.severity.toUpperCase()}] Drift storm: ${safe.headline}` : `[RESOLVED] ${safe.headline}`;
  const link = /^https?:\/\//.test(s.href) ? [{ href: s.href, text: 'Every member of the drift storm (meshdrift API)' }] : [];
  return {
    ...e,
    ...(link.length === 0 ? {} : { links: link }),
    payload: {
      ...e.payload,
      summary: plainLine(title, SUMMARY_MAX),
      component: plainLine(`drift-storm/${safe.id}`, 200),
      class: 'drift-storm',
      custom_details: { ...e.payload.custom_details, storm: safe },
    },
  };
}

/**
 * The event of a remediation escalation (auto-remediation gave up on an owner): the headline as its
 * title, class `remediation-escalation`, the escalation in custom_details.escalation. Its own dedup
 * key comes from its own group key (remediate/escalation.ts), so it never folds into the drift's.
 */
export function withEscalation<E extends StormableEvent>(e: E, n: Notification, esc: RemediationEscalationSummary): E {
  return {
    ...e,
    payload: {
      ...e.payload,
      summary: escalationTitle(n, esc),
      class: 'remediation-escalation',
      custom_details: { ...e.payload.custom_details, escalation: safeEscalation(esc) },
    },
  };
}
