import type { Notification, StormSummary } from '../../model/alert-group.ts';
import { plainLine, plainLines } from '../text.ts';

// A drift storm's summary (deliver/storm.ts) as one alert, for Alertmanager and the webhook
// receiver: its counts and id in the annotations, never one alert per sampled finding.

/** The `alertname` of a storm summary's alert. */
export const STORM_ALERTNAME = 'MeshDriftStorm';

const MAX_VALUE = 1024;

/** The storm alert's labels: what identifies the storm (its id, cause, and the one revision or cluster). */
export function stormAlertLabels(n: Notification, s: StormSummary): Record<string, string> {
  return {
    alertname: STORM_ALERTNAME,
    storm_id: plainLine(s.id, MAX_VALUE),
    storm_cause: s.cause,
    severity: n.severity,
    ...(n.labels.receiver === undefined ? {} : { receiver: plainLine(n.labels.receiver, MAX_VALUE) }),
    ...(s.cluster === undefined ? {} : { cluster: plainLine(s.cluster, MAX_VALUE) }),
    ...(s.revision === undefined ? {} : { revision: plainLine(s.revision, MAX_VALUE) }),
  };
}

/** The storm alert's annotations: the headline, the counts, and where every member is listed. */
export function stormAlertAnnotations(s: StormSummary): Record<string, string> {
  const cause =
    s.cause === 'revision' ? `one revision (${s.revision ?? ''})` : s.cause === 'cluster' ? `one cluster (${s.cluster ?? ''})` : 'too many groups at once';
  return {
    summary: plainLine(s.headline, MAX_VALUE),
    description: plainLines(
      [
        `Drift storm ${s.id}: ${s.headline}.`,
        `Cause: ${cause}. ${s.groups} groups firing, ${s.joined} joined, in ${s.clusters} clusters.`,
        `Every member: ${s.href}`,
      ],
      MAX_VALUE,
      4096,
    ),
    storm_id: plainLine(s.id, MAX_VALUE),
    storm_cause: s.cause,
    groups: String(s.groups),
    joined: String(s.joined),
    apps: String(s.apps),
    resources: String(s.resources),
    critical: String(s.critical),
    clusters: String(s.clusters),
    members_url: plainLine(s.href, MAX_VALUE),
  };
}

/** The storm summary with every text from the cluster made safe (one line, nothing hidden, bounded). */
export function safeStormSummary(s: StormSummary): StormSummary {
  return {
    ...s,
    id: plainLine(s.id, MAX_VALUE),
    headline: plainLine(s.headline, MAX_VALUE),
    href: plainLine(s.href, MAX_VALUE),
    ...(s.cluster === undefined ? {} : { cluster: plainLine(s.cluster, MAX_VALUE) }),
    ...(s.revision === undefined ? {} : { revision: plainLine(s.revision, MAX_VALUE) }),
  };
}
