import type { Notification, TrackedFinding } from '../../model/alert-group.ts';
import { severityRank, type Severity } from '../../model/severity.ts';
import { mrkdwnCode, mrkdwnLine, plainLine } from '../text.ts';
import { ACTION_LOG_RESERVE_CHARS, slackActionsBlock } from './actions.ts';
import type { SlackBlock, SlackMessage, SlackMrkdwn } from './blocks.ts';

/**
 * Limits the renderer keeps to. Block count, section and header sizes are Slack's documented
 * limits; the message total is ours: Slack answered `msg_blocks_too_long` at ~13.2k characters,
 * below its documented limits (bolt-js#2509), so we stay well under that.
 */
export const SLACK_LIMITS = {
  blocks: 50,
  sectionText: 3000,
  field: 2000,
  header: 150,
  /** JSON of the blocks plus the fallback text, in UTF-16 code units. */
  message: 11_000,
  fallbackText: 300,
} as const;

// Per-piece caps keep any single finding line (even fully `&`-escaped, 5×) well under one section.
const MAX_KIND = 63;
const MAX_NAMESPACE = 63;
const MAX_NAME = 100;
const MAX_DETAIL = 160;
const MAX_LABEL = 200;

const SEVERITY_EMOJI: Record<Severity, string> = {
  critical: ':red_circle:',
  high: ':large_orange_circle:',
  medium: ':large_yellow_circle:',
  low: ':large_blue_circle:',
  info: ':white_circle:',
};

const TOOL_LABEL: Record<Notification['labels']['tool'], string> = { argocd: 'Argo CD', flux: 'Flux', meshdrift: 'meshdrift' };

/**
 * Renders one notification of an alert group as one Slack message (posted once, then updated in
 * place). Findings are listed most severe first; when they do not fit Slack's limits the most
 * severe are shown and a final "…and N more" line counts the rest.
 */
export function renderSlackMessage(n: Notification): SlackMessage {
  const firing = [...n.firing].sort(bySeverityThenIdentity);
  const resolved = [...n.resolved].sort(bySeverityThenIdentity);
  const lines: FindingLine[] = [
    ...firing.map((f): FindingLine => ({ list: 'firing', text: firingLine(f) })),
    ...resolved.map((f): FindingLine => ({ list: 'resolved', text: resolvedLine(f) })),
  ];
  const text = fallbackText(n);
  // A firing message carries the buttons (src/deliver/slack/actions.ts) where the divider would be,
  // and keeps room for the action log ("Silenced for 1h by @…") that a click adds later.
  const actions = slackActionsBlock(n);
  const head: SlackBlock[] = [headerBlock(n), labelsBlock(n), actions ?? { type: 'divider' }];
  const footer = footerBlock(n);
  const totals = { firing: firing.length, resolved: resolved.length };
  const maxBlocks = actions === null ? SLACK_LIMITS.blocks : SLACK_LIMITS.blocks - 1;
  const maxChars = actions === null ? SLACK_LIMITS.message : SLACK_LIMITS.message - ACTION_LOG_RESERVE_CHARS;

  const build = (shown: number): SlackBlock[] => [
    ...head,
    ...findingSections(lines.slice(0, shown), totals),
    ...(shown < lines.length ? [moreBlock(lines.slice(shown))] : []),
    footer,
  ];
  const fits = (blocks: SlackBlock[]): boolean =>
    blocks.length <= maxBlocks && JSON.stringify(blocks).length + text.length < maxChars;

  const all = build(lines.length);
  if (fits(all)) return { text, blocks: all };
  // Size grows strictly with the number of lines shown, so the largest prefix that fits can be
  // found by bisection. Zero lines always fits: every fixed part is capped.
  let lo = 0;
  let hi = lines.length - 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(build(mid))) lo = mid;
    else hi = mid - 1;
  }
  return { text, blocks: build(lo) };
}

interface FindingLine {
  list: 'firing' | 'resolved';
  text: string;
}

// Every piece of text from the cluster (names, details, revision) goes through the one sanitiser,
// src/deliver/text.ts: mrkdwnLine for text, mrkdwnCode for names shown as inline code, plainLine
// for the plain_text header. None of it can format, mention, link, break a line or hide a character.

// One line of free text (a finding's detail), whitespace runs as one space.
function oneLine(s: string, max: number): string {
  return mrkdwnLine(s.replace(/\s+/g, ' ').trim(), max);
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function bySeverityThenIdentity(a: TrackedFinding, b: TrackedFinding): number {
  return (
    severityRank(a.severity) - severityRank(b.severity) ||
    compareText(a.resource.kind, b.resource.kind) ||
    compareText(a.resource.namespace, b.resource.namespace) ||
    compareText(a.resource.name, b.resource.name)
  );
}

// `namespace/name` as inline code, each part cut in the middle (cluster-scoped: the name alone).
function resourcePathCode(f: TrackedFinding): string {
  const name = plainLine(f.resource.name, MAX_NAME, 'middle');
  const path = f.resource.namespace === '' ? name : `${plainLine(f.resource.namespace, MAX_NAMESPACE, 'middle')}/${name}`;
  return mrkdwnCode(path, MAX_NAMESPACE + 1 + MAX_NAME);
}

function kindText(kind: string): string {
  return mrkdwnLine(kind, MAX_KIND);
}

function firingLine(f: TrackedFinding): string {
  const parts = [
    `${SEVERITY_EMOJI[f.severity]} *${f.severity.toUpperCase()}*`,
    `${kindText(f.resource.kind)} ${resourcePathCode(f)}`,
    `*${f.state}* _(${f.category})_`,
  ];
  const detail = f.detail === undefined || f.detail.trim() === '' ? '' : ` — ${oneLine(f.detail, MAX_DETAIL)}`;
  return `${parts.join(' · ')}${detail}`;
}

function resolvedLine(f: TrackedFinding): string {
  const name = plainLine(f.resource.name, MAX_NAME, 'middle');
  const path = f.resource.namespace === '' ? name : `${plainLine(f.resource.namespace, MAX_NAMESPACE, 'middle')}/${name}`;
  const what = `${kindText(f.resource.kind)} ${mrkdwnLine(path, MAX_NAMESPACE + 1 + MAX_NAME)}`;
  return `:white_check_mark: ~${what}~ resolved _(was ${f.severity}, ${f.state})_`;
}

function ownerText(n: Notification): string {
  const { kind, namespace, name } = n.labels.owner;
  const path = namespace === '' ? name : `${namespace}/${name}`;
  return `${kind} ${path}`;
}

function headerBlock(n: Notification): SlackBlock {
  const status = n.status === 'firing' ? ':rotating_light: FIRING' : ':white_check_mark: RESOLVED';
  const severity = n.status === 'firing' ? n.severity.toUpperCase() : `was ${n.severity.toUpperCase()}`;
  // plain_text is shown literally: no mrkdwn escaping, but still one line with nothing hidden.
  const text = plainLine(`${status} · ${severity} · ${ownerText(n)}`, SLACK_LIMITS.header);
  return { type: 'header', text: { type: 'plain_text', text, emoji: true } };
}

// The most recently observed revision among the findings: the one the drift was seen against.
function latestRevision(n: Notification): string | undefined {
  let best: TrackedFinding | undefined;
  for (const f of [...n.firing, ...n.resolved]) {
    if (f.revision !== undefined && (best === undefined || f.observedAt > best.observedAt)) best = f;
  }
  return best?.revision;
}

function labelsBlock(n: Notification): SlackBlock {
  const { cluster, tool, owner, project } = n.labels;
  const ownerPath = owner.namespace === '' ? owner.name : `${owner.namespace}/${owner.name}`;
  const revision = latestRevision(n);
  const field = (title: string, value: string): SlackMrkdwn => ({
    type: 'mrkdwn',
    text: `*${title}*\n${value}`,
    verbatim: true,
  });
  return {
    type: 'section',
    fields: [
      field('Cluster', mrkdwnLine(cluster, MAX_LABEL)),
      field('Tool', TOOL_LABEL[tool]),
      field('Owner', `${kindText(owner.kind)} ${mrkdwnCode(ownerPath, MAX_LABEL)}`),
      field('Project', project === '' ? '—' : mrkdwnLine(project, MAX_LABEL)),
      field('Revision', revision === undefined ? '—' : mrkdwnCode(revision, 80)),
    ],
  };
}

// Packs lines into as few sections as the 3,000-character section limit allows.
function findingSections(lines: FindingLine[], totals: { firing: number; resolved: number }): SlackBlock[] {
  const sections: string[] = [];
  let current = '';
  let list: FindingLine['list'] | undefined;
  const push = (line: string): void => {
    if (current !== '' && current.length + 1 + line.length > SLACK_LIMITS.sectionText) {
      sections.push(current);
      current = '';
    }
    current = current === '' ? line : `${current}\n${line}`;
  };
  for (const line of lines) {
    if (line.list !== list) {
      // Each list starts in its own section, under a heading with its full count.
      if (current !== '') sections.push(current);
      current = '';
      list = line.list;
      push(list === 'firing' ? `*Drifted resources (${totals.firing})*` : `*Resolved (${totals.resolved})*`);
    }
    push(line.text);
  }
  if (current !== '') sections.push(current);
  return sections.map((text) => ({ type: 'section', text: { type: 'mrkdwn', text, verbatim: true } }));
}

function moreBlock(hidden: FindingLine[]): SlackBlock {
  const firing = hidden.filter((l) => l.list === 'firing').length;
  const resolved = hidden.length - firing;
  const what =
    firing > 0 && resolved > 0
      ? ` (${firing} drifted, ${resolved} resolved)`
      : firing > 0
        ? ' drifted resources'
        : ' resolved';
  return { type: 'section', text: { type: 'mrkdwn', text: `_…and ${hidden.length} more${what}_` } };
}

function footerBlock(n: Notification): SlackBlock {
  const since = Math.floor(n.firstSeen / 1000);
  // Slack renders <!date^…> in the reader's time zone; the text after | is the fallback.
  const sinceText = `<!date^${since}^{date_short_pretty} {time}|${new Date(n.firstSeen).toISOString()}>`;
  const parts = [
    `Reason: *${n.reason}*`,
    `notification #${n.seq}`,
    `first seen ${sinceText}`,
    `group ${mrkdwnCode(n.groupKey, 80)}`,
  ];
  return { type: 'context', elements: [{ type: 'mrkdwn', text: parts.join(' · ') }] };
}

function fallbackText(n: Notification): string {
  const where = `${ownerText(n)} on ${n.labels.cluster}`;
  const text =
    n.status === 'firing'
      ? `FIRING [${n.severity}] ${n.firing.length} drifted ${n.firing.length === 1 ? 'resource' : 'resources'} in ${where}`
      : `RESOLVED [was ${n.severity}] ${where}: back in sync`;
  // The fallback text is mrkdwn too (bounded before escaping: an entity is never cut in half).
  return mrkdwnLine(text, SLACK_LIMITS.fallbackText);
}

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

/** "45m", "4h", "4h 5m", "2d 3h": at most two units, rounded down. */
export function formatDuration(ms: number): string {
  const minutes = Math.max(0, Math.floor(ms / 60_000));
  if (minutes < 1) return 'less than a minute';
  const d = Math.floor(minutes / 1440);
  const h = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  if (d > 0) return h > 0 ? `${d}d ${h}h` : `${d}d`;
  if (h > 0) return m > 0 ? `${h}h ${m}m` : `${h}h`;
  return `${m}m`;
}

// The reply's first line (mrkdwn) and the same in plain words for the notification preview.
function replyHeadline(
  n: Notification,
  counts: { firing: number; added: number | undefined; resolved: number },
): { mrkdwn: string; plain: string } {
  const drifted = plural(counts.firing, 'drifted resource', 'drifted resources');
  const since = formatDuration(n.at - n.firstSeen);
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
  return `${kindText(f.resource.kind)} ${resourcePathCode(f)}`;
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
