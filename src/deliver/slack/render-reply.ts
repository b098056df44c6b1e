import type { Notification, TrackedFinding } from '../../model/alert-group.ts';
import { severityRank, type Severity } from '../../model/severity.ts';
import { mrkdwnLine } from '../text.ts';
import type { SlackMessage } from './blocks.ts';
import { bySeverityThenIdentity, kindText, ownerText, resourcePathCode, SEVERITY_EMOJI } from './render.ts';

// The thread reply of a later notification: what changed since the thread last told (render.ts renders the main message).

/**
 * What the alert group's thread has told so far: the firing findings of the last notification the
 * channel saw (main message or thread reply), fingerprint → severity. A reply says what changed
 * since then.
 */
export type SlackToldFindings = Readonly<Record<string, Severity>>;

/** The firing findings of a notification, as a later reply compares against them. */
export function toldFindingsOf(n: Notification): Record<string, Severity> {
  return Object.fromEntries(n.firing.map((f) => [f.fingerprint, f.severity]));
}

/**
 * Budgets for a thread reply: one short section, far below the 3,000-character section limit, and
 * at most a few findings per list; the main message (updated in place) has the full list.
 */
export const SLACK_REPLY_LIMITS = {
  sectionText: 2_000,
  itemsPerList: 8,
  fallbackText: 200,
} as const;

// Room kept for the "…and N more" line of each list; the longest is well under this.
const MORE_LINE_RESERVE = 40;

/**
 * Renders the thread reply for a later notification of an alert group: one short line saying what
 * changed (by reason), then the findings that changed, most severe first, each list cut to a budget
 * with "…and N more". `told` is what the thread had told before (see {@link SlackToldFindings});
 * without it (a message stored by an older meshdrift) new and raised findings cannot be told apart
 * and the reply says less.
 */
export function renderSlackThreadReply(n: Notification, told?: SlackToldFindings): SlackMessage {
  const firing = [...n.firing].sort(bySeverityThenIdentity);
  const resolved = [...n.resolved].sort(bySeverityThenIdentity);
  const added = told === undefined ? [] : firing.filter((f) => told[f.fingerprint] === undefined);
  const raised =
    told === undefined
      ? []
      : firing.flatMap((f) => {
          const before = told[f.fingerprint];
          return before !== undefined && severityRank(f.severity) < severityRank(before) ? [{ f, before }] : [];
        });

  const headline = replyHeadline(n, { firing: firing.length, added: told === undefined ? undefined : added.length, resolved: resolved.length });
  const lists: ReplyList[] = [
    { title: 'New', lines: added.map(addedLine) },
    { title: 'Severity raised', lines: raised.map(({ f, before }) => raisedLine(f, before)) },
    { title: 'Resolved', lines: resolved.map(replyResolvedLine) },
  ].filter((l) => l.lines.length > 0);
  // Without `told`, a reply about new or raised findings can at least show the most severe ones.
  if (told === undefined && (n.reason === 'new-findings' || n.reason === 'severity-raised') && firing.length > 0) {
    lists.unshift({ title: 'Drifted now', lines: firing.map(addedLine) });
  }

  const body = [headline.mrkdwn, ...budgetLists(lists, SLACK_REPLY_LIMITS.sectionText - headline.mrkdwn.length - 1)].join('\n');
  const text = mrkdwnLine(`${headline.plain} · ${ownerText(n)} on ${n.labels.cluster}`, SLACK_REPLY_LIMITS.fallbackText);
  return { text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text: body, verbatim: true } }] };
}

interface ReplyList {
  title: string;
  lines: string[];
}

function plural(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** "45s", "5m 50s", "45m", "4h", "4h 5m", "2d 3h": at most two units, rounded down. */
export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 1) return 'less than a second';
  if (seconds < 3600) {
    const m = Math.floor(seconds / 60);
    const s = seconds % 60;
    return m === 0 ? `${s}s` : s > 0 ? `${m}m ${s}s` : `${m}m`;
  }
  const minutes = Math.floor(seconds / 60);
  const d = Math.floor(minutes / 1440);
  const h = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  if (d > 0) return h > 0 ? `${d}d ${h}h` : `${d}d`;
  if (h > 0) return m > 0 ? `${h}h ${m}m` : `${h}h`;
  return `${m}m`;
}

// The reply's first line (mrkdwn) and the same in plain words for the notification preview.
function replyHeadline(n: Notification, counts: { firing: number; added: number | undefined; resolved: number }): { mrkdwn: string; plain: string } {
  const drifted = plural(counts.firing, 'drifted resource', 'drifted resources');
  // A resolve says how long the drift lasted (to its last finding's resolve), not how long until this reply.
  const since = formatDuration((n.status === 'resolved' ? (n.resolvedAt ?? n.at) : n.at) - n.firstSeen);
  const severity = n.severity.toUpperCase();
  switch (n.reason) {
    case 'new-findings': {
      const what = counts.added === undefined ? 'New drifted resources' : plural(counts.added, 'new drifted resource', 'new drifted resources');
      return { mrkdwn: `:new: *${what}* · ${drifted} now, up to ${severity}`, plain: `${what}, ${drifted} now` };
    }
    case 'severity-raised':
      return { mrkdwn: `:arrow_up: *Severity raised to ${severity}* · ${drifted}`, plain: `Severity raised to ${severity}` };
    case 'some-resolved': {
      const what = `${counts.resolved} resolved`;
      return { mrkdwn: `:white_check_mark: *${what}* · ${counts.firing} still drifted`, plain: `${what}, ${counts.firing} still drifted` };
    }
    case 'resolved':
      return { mrkdwn: `:white_check_mark: *All resolved* · back in sync after ${since}`, plain: `All resolved after ${since}` };
    case 'repeat':
      return {
        mrkdwn: `:repeat: *Still drifted after ${since}*: ${plural(counts.firing, 'finding', 'findings')}, up to ${severity}`,
        plain: `Still drifted after ${since}: ${plural(counts.firing, 'finding', 'findings')}`,
      };
    case 'first':
      // The first notification starts the thread (the main message); a reply is never sent for it.
      return { mrkdwn: `:rotating_light: *Drift detected* · ${drifted}, up to ${severity}`, plain: `Drift detected: ${drifted}` };
  }
}

function replyWhat(f: TrackedFinding): string {
  return `${kindText(f.resource)} ${resourcePathCode(f)}`;
}

function addedLine(f: TrackedFinding): string {
  return `• ${SEVERITY_EMOJI[f.severity]} *${f.severity.toUpperCase()}* ${replyWhat(f)} _(${f.state})_`;
}

function raisedLine(f: TrackedFinding, before: Severity): string {
  return `• ${SEVERITY_EMOJI[f.severity]} ${replyWhat(f)} ${before} → *${f.severity.toUpperCase()}*`;
}

function replyResolvedLine(f: TrackedFinding): string {
  return `• :white_check_mark: ${replyWhat(f)} _(was ${f.severity})_`;
}

// Each list: a title, then its first lines (most severe first) while they fit its share of the
// budget and the per-list cap, then "…and N more". A list gets an equal share of what is left, so a
// long first list cannot crowd out the others; what a short list leaves goes to the next ones.
function budgetLists(lists: ReplyList[], budget: number): string[] {
  const out: string[] = [];
  let left = budget - lists.length * MORE_LINE_RESERVE;
  lists.forEach((list, i) => {
    let share = Math.floor(left / (lists.length - i));
    const title = `*${list.title} (${list.lines.length}):*`;
    if (title.length + 1 > share) {
      out.push(`_…and ${list.lines.length} more ${list.title.toLowerCase()}_`);
      return;
    }
    out.push(title);
    share -= title.length + 1;
    left -= title.length + 1;
    let shown = 0;
    for (const line of list.lines) {
      if (shown >= SLACK_REPLY_LIMITS.itemsPerList || line.length + 1 > share) break;
      out.push(line);
      share -= line.length + 1;
      left -= line.length + 1;
      shown++;
    }
    if (shown < list.lines.length) out.push(`_…and ${list.lines.length - shown} more_`);
  });
  return out;
}
