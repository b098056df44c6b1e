import type { Notification, StormSummary } from '../../model/alert-group.ts';
import { isPlatformError, SKIP_REPLY_ERRORS } from './client.ts';
import type { SlackChannel } from './channel.ts';
import type { SlackBlock, SlackMessage } from './blocks.ts';
import { bySeverityThenIdentity, kindText, renderSlackMessage, resourcePathCode, SEVERITY_EMOJI, SLACK_LIMITS } from './render.ts';
import { renderSlackThreadReply, type SlackToldFindings } from './render-reply.ts';
import { mrkdwnCode, mrkdwnLine, plainLine } from '../text.ts';
import type { SendResult } from '../notifier.ts';
import type { LinkContext } from '../links.ts';
import type { SlackButtonsOf } from './buttons.ts';
import type { StormDetail, StormDetailLine } from '../storm-detail.ts';

// A drift storm's summary in Slack (deliver/storm.ts): one message, updated in place, its thread
// telling what changed and, once the storm took its last member, which groups it holds.

const MAX_DETAIL = 200;
const MAX_NAME = 120;

/** A notification's main message: a storm's summary, or an alert group's. */
export function renderMainMessage(n: Notification, links?: LinkContext, buttons?: SlackButtonsOf): SlackMessage {
  return n.storm === undefined ? renderSlackMessage(n, links, buttons?.(n)) : renderStormMessage(n, n.storm);
}

/** A later notification's thread reply: a storm's headline now, or what changed in an alert group. */
export function renderThreadReply(n: Notification, told?: SlackToldFindings): SlackMessage {
  return n.storm === undefined ? renderSlackThreadReply(n, told) : renderStormReply(n.storm);
}

/** The cause in words: "one revision `abc123`", "one cluster `prod-eu`", "too many groups at once". */
function causeText(s: StormSummary): string {
  if (s.cause === 'revision') return `one revision ${mrkdwnCode(s.revision ?? '', 80)}`;
  if (s.cause === 'cluster') return `one cluster ${mrkdwnCode(s.cluster ?? '', 120)}`;
  return 'too many groups at once (no one revision or cluster)';
}

/** The API link: a Slack link when absolute, else the path as code. */
function hrefText(href: string, text: string): string {
  return /^https?:\/\//.test(href) ? `<${href.replaceAll('|', '%7C').replaceAll('>', '%3E')}|${text}>` : `${text}: ${mrkdwnCode(`GET ${href}`, 200)}`;
}

/** A storm summary as one message: headline, cause and counts, a sample of members' findings, the link to every member. No buttons. */
export function renderStormMessage(n: Notification, s: StormSummary): SlackMessage {
  const firing = n.status === 'firing';
  const status = firing ? `:cyclone: FIRING · ${n.severity.toUpperCase()} · DRIFT STORM` : ':white_check_mark: RESOLVED · DRIFT STORM OVER';
  const header: SlackBlock = { type: 'header', text: { type: 'plain_text', text: plainLine(status, SLACK_LIMITS.header), emoji: true } };
  const counts = firing
    ? `Cause: ${causeText(s)} · ${s.groups.toLocaleString('en-US')} groups firing, ${s.joined.toLocaleString('en-US')} joined · clusters: ${s.clusters}`
    : `Cause: ${causeText(s)} · ${s.joined.toLocaleString('en-US')} groups over the storm's life`;
  const sample = [...(firing ? n.firing : n.resolved)].sort(bySeverityThenIdentity).map((f) => {
    const detail = f.detail === undefined || f.detail.trim() === '' ? '' : ` — ${mrkdwnLine(f.detail, MAX_DETAIL)}`;
    return `${SEVERITY_EMOJI[f.severity]} ${kindText(f.resource)} ${resourcePathCode(f)} *${f.state}*${detail}`;
  });
  const blocks: SlackBlock[] = [
    header,
    { type: 'section', text: { type: 'mrkdwn', text: `*${mrkdwnLine(s.headline, 500)}*\n${counts}`, verbatim: true } },
    { type: 'divider' },
  ];
  // One finding per member, most severe first, in sections under Slack's section limit.
  if (sample.length > 0)
    blocks.push(...packSections([firing ? `*A sample: the most severe finding of ${sample.length} members*` : '*Resolved, among them*', ...sample]));
  blocks.push({
    type: 'context',
    elements: [{ type: 'mrkdwn', text: `${hrefText(s.href, 'Every member')} · storm ${mrkdwnCode(s.id, 60)} · summary #${n.seq}` }],
  });
  const text = mrkdwnLine(firing ? `DRIFT STORM [${n.severity}] ${s.headline}` : s.headline, SLACK_LIMITS.fallbackText);
  return { text, blocks };
}

/** The thread reply of a later summary: the headline now. */
export function renderStormReply(s: StormSummary): SlackMessage {
  const text = `Now: ${mrkdwnLine(s.headline, 500)}`;
  return { text: mrkdwnLine(`Now: ${s.headline}`, 200), blocks: [{ type: 'section', text: { type: 'mrkdwn', text, verbatim: true } }] };
}

function detailLine(l: StormDetailLine): string {
  const path = l.namespace === '' ? l.name : `${l.namespace}/${l.name}`;
  const owner = `${mrkdwnLine(l.kind, 63)} ${mrkdwnCode(path, MAX_NAME)}`;
  const shown = l.link === undefined ? owner : `${owner} (<${l.link.replaceAll('|', '%7C').replaceAll('>', '%3E')}|Argo CD>)`;
  const resources = `${l.firing} ${l.firing === 1 ? 'resource' : 'resources'}${l.critical > 0 ? `, ${l.critical} critical` : ''}`;
  return `${SEVERITY_EMOJI[l.severity]} ${shown} on ${mrkdwnLine(l.cluster, 80)}: ${resources}`;
}

/** Lines packed into as few mrkdwn sections as Slack's section limit allows. */
function packSections(lines: readonly string[]): SlackBlock[] {
  const sections: string[] = [];
  let current = '';
  for (const line of lines) {
    if (current !== '' && current.length + 1 + line.length > SLACK_LIMITS.sectionText) {
      sections.push(current);
      current = '';
    }
    current = current === '' ? line : `${current}\n${line}`;
  }
  if (current !== '') sections.push(current);
  return sections.map((text) => ({ type: 'section', text: { type: 'mrkdwn', text, verbatim: true } }));
}

/** One reply of a storm's detail: its members, the last with "…and N more" and the link to them all. */
export function renderStormDetail(d: StormDetail): SlackMessage {
  const head = `*Members ${d.part === 1 ? '' : '(continued) '}— ${d.part} of ${d.parts}*`;
  const tail =
    d.part === d.parts
      ? [d.more > 0 ? `_…and ${d.more.toLocaleString('en-US')} more._ ${hrefText(d.href, 'Every member')}` : hrefText(d.href, 'Every member')]
      : [];
  return {
    text: mrkdwnLine(`Drift storm ${d.stormId}: members ${d.part} of ${d.parts} (${d.total} firing)`, 200),
    blocks: packSections([head, ...d.lines.map(detailLine), ...tail]),
  };
}

/** Posts one detail reply under the storm's summary message (paced as every call to the channel). */
export async function tellStormDetail(ch: SlackChannel, d: StormDetail): Promise<SendResult> {
  const ref = await ch.store.get(d.summaryGroupKey);
  // No summary message here (never posted, or forgotten): nothing to reply under.
  if (ref === null) return { ok: true };
  const deferred = await ch.reserve(1);
  if (deferred !== null) return deferred;
  const { text, blocks } = renderStormDetail(d);
  try {
    await ch.client().chat.postMessage({ channel: ref.channel, thread_ts: ref.ts, text, blocks, unfurl_links: false, unfurl_media: false });
  } catch (error) {
    if (isPlatformError(error, SKIP_REPLY_ERRORS)) return { ok: true };
    return ch.failure('chat.postMessage (storm detail)', error);
  }
  return { ok: true };
}
