import type { Notification, TrackedFinding } from '../../model/alert-group.ts';
import { severityRank, type Severity } from '../../model/severity.ts';
import { attributionText, changesLeftOut, changeValues, kindWithGroup, moreChanges } from '../evidence.ts';
import { groupAnnotations, ownAnnotations, runbookOf } from '../annotations-view.ts';
import { argocdAppUrl, commitUrl, type LinkContext, shortRevision, silenceUrl } from '../links.ts';
import { mrkdwnCode, mrkdwnLine, plainLine } from '../text.ts';
import { ACTION_LOG_RESERVE_CHARS, type SlackActionKind, slackActionsBlock } from './actions.ts';
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
// The kind is shown with its API group (`AuthorizationPolicy.security.istio.io`).
const MAX_KIND = 120;
const MAX_NAMESPACE = 63;
const MAX_NAME = 100;
const MAX_DETAIL = 160;
const MAX_LABEL = 200;
/** The most severe firing findings shown with their evidence (changes, who); the rest on one line. */
export const SLACK_DETAILED_FINDINGS = 5;
/** Changes listed per detailed finding (then "and N more changes"). */
export const SLACK_CHANGES_PER_FINDING = 5;
/** Writers listed per detailed finding. */
const ATTRIBUTIONS_PER_FINDING = 3;
/** Characters one finding with its evidence may take: always fits one section with its heading. */
const FINDING_BUDGET = 2_400;
const MAX_PATH = 120;
const MAX_VALUE = 80;
const MAX_ATTRIBUTION = 300;

export const SEVERITY_EMOJI: Record<Severity, string> = {
  critical: ':red_circle:',
  high: ':large_orange_circle:',
  medium: ':large_yellow_circle:',
  low: ':large_blue_circle:',
  info: ':white_circle:',
};

/** No button: where a click cannot work (deliver/slack/buttons.ts), none is drawn. */
const NO_BUTTONS: ReadonlySet<SlackActionKind> = new Set();

const TOOL_LABEL: Record<Notification['labels']['tool'], string> = { argocd: 'Argo CD', flux: 'Flux', meshdrift: 'meshdrift' };

/**
 * Renders one notification of an alert group as one Slack message (posted once, then updated in
 * place). Findings are listed most severe first; when they do not fit Slack's limits the most
 * severe are shown and a final "…and N more" line counts the rest. `buttons`: those a click can
 * work for (deliver/slack/buttons.ts); none by default.
 */
export function renderSlackMessage(n: Notification, links?: LinkContext, buttons: ReadonlySet<SlackActionKind> = NO_BUTTONS): SlackMessage {
  const firing = [...n.firing].sort(bySeverityThenIdentity);
  const resolved = [...n.resolved].sort(bySeverityThenIdentity);
  const lines: FindingLine[] = [
    ...firing.map((f, i): FindingLine => ({ list: 'firing', text: i < SLACK_DETAILED_FINDINGS ? detailedLine(f) : firingLine(f) })),
    ...resolved.map((f): FindingLine => ({ list: 'resolved', text: resolvedLine(f) })),
  ];
  const text = fallbackText(n);
  // A firing message carries the buttons (src/deliver/slack/actions.ts) where the divider would be,
  // and keeps room for the action log ("Silenced for 1h by @…") that a click adds later.
  const actions = slackActionsBlock(n, buttons);
  const notes = annotationsBlock(n, links);
  const head: SlackBlock[] = [headerBlock(n), labelsBlock(n, links), ...(notes === null ? [] : [notes]), actions ?? { type: 'divider' }];
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
  const fits = (blocks: SlackBlock[]): boolean => blocks.length <= maxBlocks && JSON.stringify(blocks).length + text.length < maxChars;

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

export function bySeverityThenIdentity(a: TrackedFinding, b: TrackedFinding): number {
  return (
    severityRank(a.severity) - severityRank(b.severity) ||
    compareText(a.resource.kind, b.resource.kind) ||
    compareText(a.resource.namespace, b.resource.namespace) ||
    compareText(a.resource.name, b.resource.name)
  );
}

// `namespace/name` as inline code, each part cut in the middle (cluster-scoped: the name alone).
export function resourcePathCode(f: TrackedFinding): string {
  const name = plainLine(f.resource.name, MAX_NAME, 'middle');
  const path = f.resource.namespace === '' ? name : `${plainLine(f.resource.namespace, MAX_NAMESPACE, 'middle')}/${name}`;
  return mrkdwnCode(path, MAX_NAMESPACE + 1 + MAX_NAME);
}

/** The kind with its API group (`AuthorizationPolicy.security.istio.io`), so meshes' kinds never look alike. */
export function kindText(r: Pick<TrackedFinding['resource'], 'kind' | 'group'>): string {
  return mrkdwnLine(kindWithGroup(r), MAX_KIND, 'middle');
}

function firingLine(f: TrackedFinding): string {
  const parts = [
    `${SEVERITY_EMOJI[f.severity]} *${f.severity.toUpperCase()}*`,
    `${kindText(f.resource)} ${resourcePathCode(f)}`,
    `*${f.state}* _(${f.category})_`,
  ];
  const detail = f.detail === undefined || f.detail.trim() === '' ? '' : ` — ${oneLine(f.detail, MAX_DETAIL)}`;
  return `${parts.join(' · ')}${detail}`;
}

function resolvedLine(f: TrackedFinding): string {
  const name = plainLine(f.resource.name, MAX_NAME, 'middle');
  const path = f.resource.namespace === '' ? name : `${plainLine(f.resource.namespace, MAX_NAMESPACE, 'middle')}/${name}`;
  const what = `${kindText(f.resource)} ${mrkdwnLine(path, MAX_NAMESPACE + 1 + MAX_NAME)}`;
  return `:white_check_mark: ~${what}~ resolved _(was ${f.severity}, ${f.state})_`;
}

export function ownerText(n: Notification): string {
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

// The most recently observed finding with a revision: the revision the drift was seen against.
function latestRevision(n: Notification): TrackedFinding | undefined {
  let best: TrackedFinding | undefined;
  for (const f of [...n.firing, ...n.resolved]) {
    if (f.revision !== undefined && (best === undefined || f.observedAt > best.observedAt)) best = f;
  }
  return best;
}

/**
 * A Slack link. The URL is one meshdrift built (src/deliver/links.ts: checked segments, encoded
 * names); what could still end or split a link (`|`, `<`, `>`, spaces) is percent-encoded and `&`
 * is an entity. The label is escaped text.
 */
export function slackLink(url: string, label: string): string {
  const safe = url.replace(/[|<>\s"]/g, (c) => encodeURIComponent(c)).replaceAll('&', '&amp;');
  return `<${safe}|${label}>`;
}

function labelsBlock(n: Notification, links: LinkContext | undefined): SlackBlock {
  const { cluster, tool, owner, project } = n.labels;
  const ownerPath = owner.namespace === '' ? owner.name : `${owner.namespace}/${owner.name}`;
  const latest = latestRevision(n);
  const field = (title: string, value: string): SlackMrkdwn => ({
    type: 'mrkdwn',
    text: `*${title}*\n${value}`,
    verbatim: true,
  });
  const app = tool === 'argocd' ? argocdAppUrl(links?.argocdUrl, owner) : undefined;
  const commit = latest === undefined ? undefined : commitUrl(latest.repoURL, latest.revision, links?.gitHosts);
  const revision =
    latest?.revision === undefined
      ? '—'
      : commit === undefined
        ? mrkdwnCode(latest.revision, 80)
        : `${slackLink(commit, mrkdwnLine(shortRevision(latest.revision), 40))} (commit)`;
  return {
    type: 'section',
    fields: [
      field('Cluster', mrkdwnLine(cluster, MAX_LABEL)),
      field('Tool', TOOL_LABEL[tool]),
      field(
        'Owner',
        `${mrkdwnLine(owner.kind, MAX_KIND)} ${mrkdwnCode(ownerPath, MAX_LABEL)}${app === undefined ? '' : ` · ${slackLink(app, 'open in Argo CD')}`}`,
      ),
      field('Project', project === '' ? '—' : mrkdwnLine(project, MAX_LABEL)),
      field('Revision', revision),
    ],
  };
}

/** Caps of the team's annotations in a message (before escaping; the block stays under a section's 3,000). */
const MAX_SUMMARY = 200;
const MAX_DESCRIPTION = 600;
const MAX_ANNOTATION_NAME = 40;
const MAX_ANNOTATION_TEXT = 150;
const NOTES_BUDGET = 2_900;

/**
 * What the team wrote on the rule (`annotations` of the group's lead finding: summary,
 * description, team and its own keys) and where to go from here: the runbook, and a silence of the
 * group in meshdrift's web UI (firing only; with MESHDRIFT_PUBLIC_URL). Null when there is nothing.
 * Every value is the policy's text with the cluster's labels put in: escaped as any cluster text.
 */
function annotationsBlock(n: Notification, links: LinkContext | undefined): SlackBlock | null {
  const a = groupAnnotations(n);
  const lines: string[] = [];
  let used = 0;
  const add = (line: string): void => {
    if (used + line.length + 1 > NOTES_BUDGET) return;
    lines.push(line);
    used += line.length + 1;
  };
  if (a.summary !== undefined && a.summary.trim() !== '') add(`*${oneLine(a.summary, MAX_SUMMARY)}*`);
  if (a.description !== undefined && a.description.trim() !== '') add(oneLine(a.description, MAX_DESCRIPTION));
  const runbook = runbookOf(a);
  const silence = n.status === 'firing' ? silenceUrl(links?.publicUrl, n.labels) : undefined;
  const go = [
    ...(runbook === undefined ? [] : [`:book: ${slackLink(runbook, 'Runbook')}`]),
    ...(a.team === undefined || a.team.trim() === '' ? [] : [`:busts_in_silhouette: Team: ${oneLine(a.team, MAX_ANNOTATION_TEXT)}`]),
    ...(silence === undefined ? [] : [`:no_bell: ${slackLink(silence, 'Silence this group')}`]),
  ];
  if (go.length > 0) add(go.join(' · '));
  for (const [key, value] of ownAnnotations(a)) add(`*${mrkdwnLine(key, MAX_ANNOTATION_NAME)}*: ${oneLine(value, MAX_ANNOTATION_TEXT)}`);
  return lines.length === 0 ? null : { type: 'section', text: { type: 'mrkdwn', text: lines.join('\n'), verbatim: true } };
}

// A firing finding with its evidence under it: the changes (`path`: `before` → `after`), then who
// changed it, each on its own line, within FINDING_BUDGET characters (what does not fit is counted).
function detailedLine(f: TrackedFinding): string {
  const lines = [firingLine(f)];
  let used = lines[0]?.length ?? 0;
  const add = (line: string): boolean => {
    if (used + 1 + line.length > FINDING_BUDGET) return false;
    lines.push(line);
    used += 1 + line.length;
    return true;
  };
  const attributions = (f.attribution ?? []).slice(0, ATTRIBUTIONS_PER_FINDING).map(attributionLine);
  // Room is kept for who changed it: it matters more than the fifth changed field.
  const reserve = attributions.reduce((sum, l) => sum + 1 + l.length, 0) + 60;
  if (f.changes !== undefined) {
    let shown = 0;
    for (const c of f.changes.changes.slice(0, SLACK_CHANGES_PER_FINDING)) {
      const line = `      ◦ ${mrkdwnCode(c.path, MAX_PATH)}: ${changeValuesText(c)}`;
      if (used + 1 + line.length + reserve > FINDING_BUDGET) break;
      add(line);
      shown++;
    }
    const more = changesLeftOut(f.changes, shown);
    if (more > 0) add(`      ◦ _${moreChanges(more)}_`);
  }
  for (const line of attributions) if (!add(line)) break;
  return lines.join('\n');
}

function changeValuesText(c: NonNullable<TrackedFinding['changes']>['changes'][number]): string {
  if (c.masked === true) return `_${changeValues(c)}_`;
  const side = (v: string | undefined, absent: string): string => (v === undefined ? `_${absent}_` : mrkdwnCode(v, MAX_VALUE, 'end'));
  return `${side(c.before, '(unset)')} → ${side(c.after, '(removed)')}`;
}

function attributionLine(a: NonNullable<TrackedFinding['attribution']>[number]): string {
  const icon = a.kind === 'person' ? ':bust_in_silhouette:' : ':wrench:';
  return `      ${icon} ${mrkdwnLine(attributionText(a), MAX_ATTRIBUTION)}`;
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
  const what = firing > 0 && resolved > 0 ? ` (${firing} drifted, ${resolved} resolved)` : firing > 0 ? ' drifted resources' : ' resolved';
  return { type: 'section', text: { type: 'mrkdwn', text: `_…and ${hidden.length} more${what}_` } };
}

function footerBlock(n: Notification): SlackBlock {
  const since = Math.floor(n.firstSeen / 1000);
  // Slack renders <!date^…> in the reader's time zone; the text after | is the fallback.
  const sinceText = `<!date^${since}^{date_short_pretty} {time}|${new Date(n.firstSeen).toISOString()}>`;
  const parts = [`Reason: *${n.reason}*`, `notification #${n.seq}`, `first seen ${sinceText}`, `group ${mrkdwnCode(n.groupKey, 80)}`];
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
