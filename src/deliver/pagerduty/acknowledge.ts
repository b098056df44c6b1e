import type { ReceiverConfig } from '../../config/policy.ts';
import type { GroupLabels } from '../../model/alert-group.ts';
import { ownerPath } from '../../model/owner.ts';
import type { Queues } from '../../queue/queues.ts';
import type { OwnerGroupIndex } from '../../track/ingest.ts';
import type { GroupMetaReader } from '../../track/group-meta.ts';

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
  return pagerDutyAckTargets(
    summaries.filter((s): s is GroupSummary => s !== null),
    src.isPagerDuty,
  );
}

/** "PagerDuty: 2 alerts acknowledging" / "no open PagerDuty alert": the tail of the Slack line. */
export function ackSummary(targets: readonly PagerDutyAckTarget[]): string {
  return targets.length === 0 ? 'no open PagerDuty alert' : `PagerDuty: acknowledging ${targets.length} alert${targets.length === 1 ? '' : 's'}`;
}

export interface SlackAcknowledgeDeps {
  /** Groups' labels and last notifications (their meta records: no findings are read). */
  groups: GroupMetaReader;
  owners: Pick<OwnerGroupIndex, 'groupsOf'>;
  queues: Pick<Queues, 'enqueueAcknowledge'>;
  /** The receivers of the policy in force. */
  receivers: () => readonly ReceiverConfig[];
  now: () => number;
}

/**
 * Slack "Acknowledge": PagerDuty acknowledges are jobs (retried like deliveries), one for every
 * PagerDuty receiver the owner's drift went to ({@link findPagerDutyAckTargets}).
 */
export function createSlackAcknowledge(deps: SlackAcknowledgeDeps): (groupKey: string, actor: string) => Promise<{ summary: string }> {
  const { groups, owners, queues, now } = deps;
  return async (groupKey, actor) => {
    const labels = (await groups.meta(groupKey))?.labels;
    if (!labels) throw new Error('this alert group no longer exists');
    const receivers = deps.receivers();
    const targets = await findPagerDutyAckTargets({
      labels,
      groupsOf: (o) => owners.groupsOf(ownerPath(o)),
      summary: async (key) => {
        const g = await groups.meta(key);
        return g ? { groupKey: key, receiver: g.labels.receiver, firing: g.last?.status === 'firing' } : null;
      },
      isPagerDuty: (name) => receivers.some((r) => r.name === name && r.pagerduty !== undefined),
    });
    const at = now();
    for (const t of targets) await queues.enqueueAcknowledge({ ...t, actor, fromGroupKey: groupKey, cluster: labels.cluster, owner: labels.owner, at });
    return { summary: ackSummary(targets) };
  };
}
