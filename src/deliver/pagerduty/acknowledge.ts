import type { GroupLabels } from '../../model/alert-group.ts';

/**
 * Which PagerDuty alerts a Slack "Acknowledge" acknowledges. A Slack message belongs to the Slack
 * route's alert group; PagerDuty got the same drift through its own route, as another group of the
 * same owner (dedup key = hash of that group's key). So: every group of the owner whose receiver is
 * a PagerDuty receiver and whose last notification was firing (a resolved one has no open alert).
 */

/** What the finder needs to know about one alert group. */
export interface GroupSummary {
  groupKey: string;
  receiver: string | undefined;
  firing: boolean;
}

/** One acknowledge to send: through this PagerDuty receiver, for this group's dedup key. */
export interface PagerDutyAckTarget {
  receiver: string;
  groupKey: string;
}

/** Picks the targets among the owner's groups (pure). */
export function pagerDutyAckTargets(groups: readonly GroupSummary[], isPagerDuty: (receiver: string) => boolean): PagerDutyAckTarget[] {
  return groups.flatMap((g) => (g.firing && g.receiver !== undefined && isPagerDuty(g.receiver) ? [{ receiver: g.receiver, groupKey: g.groupKey }] : []));
}

export interface AckTargetSources {
  /** The Slack message's group labels. */
  labels: Pick<GroupLabels, 'cluster' | 'tool' | 'owner'>;
  /** All group keys of the owner (the tracker's owner index). */
  groupsOf: (owner: Pick<GroupLabels, 'cluster' | 'tool' | 'owner'>) => Promise<readonly string[]>;
  /** One group's receiver and whether it fires now; null when it is gone. */
  summary: (groupKey: string) => Promise<GroupSummary | null>;
  isPagerDuty: (receiver: string) => boolean;
}

/** Reads the owner's groups and picks the PagerDuty targets (I/O around {@link pagerDutyAckTargets}). */
export async function findPagerDutyAckTargets(src: AckTargetSources): Promise<PagerDutyAckTarget[]> {
  const keys = await src.groupsOf(src.labels);
  const summaries = await Promise.all(keys.map((k) => src.summary(k)));
  return pagerDutyAckTargets(summaries.filter((s): s is GroupSummary => s !== null), src.isPagerDuty);
}

/** "PagerDuty: 2 alerts acknowledging" / "no open PagerDuty alert": the tail of the Slack line. */
export function ackSummary(targets: readonly PagerDutyAckTarget[]): string {
  return targets.length === 0 ? 'no open PagerDuty alert' : `PagerDuty: acknowledging ${targets.length} alert${targets.length === 1 ? '' : 's'}`;
}
