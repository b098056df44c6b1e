import { BIDI_CHARS, CONTROL_CHARS, INVISIBLE_CHARS } from '../model/text-chars.ts';

/**
 * The one sanitiser of text from the cluster (names, details, reasons) for every receiver: Slack
 * mrkdwn and plain_text, PagerDuty, Alertmanager, the webhook and the console. Names and details
 * come from objects anyone with write access to a namespace can create, so in an alert they must
 * not format, mention, link, fake a line or hide a character. Pure.
 *
 * - Line breaks and tabs (CR, LF, NEL, U+2028/9) become one space: one value, one line.
 * - Other control (C0, DEL, C1), bidi and invisible characters become a visible U+FFFD (�): not
 *   removed, so that `a\u200Bb` and `ab` still look different.
 * - Every value is bounded, cut with `…` and never inside a surrogate pair.
 * - For Slack mrkdwn, also: `&`, `<`, `>` as entities (no `<!here>`, no `<url|link>`, no quote at
 *   line start), and the formatting characters `*`, `_`, `~` and the backtick as look-alikes that
 *   do not format (∗ ＿ ∼ ˋ). Slack has no escape for them.
 */

/** What replaces a control, bidi or invisible character: visible, and never mistaken for a letter. */
export const REPLACEMENT_CHAR = '\uFFFD';

const LINE_BREAKS = /[\r\n\t\v\f\u0085\u2028\u2029]+/gu;
const HIDDEN = new RegExp(`[${CONTROL_CHARS}${BIDI_CHARS}${INVISIBLE_CHARS}]`, 'gu');

const MRKDWN_FORMATTING: Readonly<Record<string, string>> = {
  '*': '\u2217', // ∗ ASTERISK OPERATOR
  _: '\uFF3F', // ＿ FULLWIDTH LOW LINE
  '~': '\u223C', // ∼ TILDE OPERATOR
  '`': '\u02CB', // ˋ MODIFIER LETTER GRAVE ACCENT
};

/** Cuts to at most `max` UTF-16 units with a trailing `…`, never splitting a surrogate pair. */
export function truncateEnd(s: string, max: number): string {
  if (s.length <= max) return s;
  if (max <= 0) return '';
  return `${sliceSafe(s, 0, max - 1)}…`;
}

/** Keeps both ends of a long name (generated names usually differ at the end); `…` in the middle. */
export function truncateMiddle(s: string, max: number): string {
  if (s.length <= max) return s;
  if (max <= 1) return truncateEnd(s, max);
  const keep = max - 1;
  const headLen = Math.ceil(keep / 2);
  const tailLen = keep - headLen;
  const tail = s.slice(s.length - tailLen);
  // A tail starting with a lone low surrogate would orphan half a character.
  const safeTail = /^[\uDC00-\uDFFF]/.test(tail) ? tail.slice(1) : tail;
  return `${sliceSafe(s, 0, headLen)}…${safeTail}`;
}

function sliceSafe(s: string, start: number, end: number): string {
  const cut = s.slice(start, end);
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
}

/** How a value is cut to its bound: at the end (text), or in the middle (names). */
export type Cut = 'end' | 'middle';

/**
 * One line of plain text, safe anywhere text is shown literally (Slack plain_text, PagerDuty
 * summary and details, Alertmanager labels and annotations, webhook JSON, console): line breaks as
 * one space, other control, bidi and invisible characters as U+FFFD, at most `max` UTF-16 units.
 */
export function plainLine(s: string, max: number, cut: Cut = 'end'): string {
  const clean = s.replace(LINE_BREAKS, ' ').replace(HIDDEN, REPLACEMENT_CHAR);
  return cut === 'middle' ? truncateMiddle(clean, max) : truncateEnd(clean, max);
}

/** Slack's three control characters as entities; also stops `<!channel>`, `<url|text>` and `>` quotes. */
export function escapeMrkdwnEntities(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/**
 * One line of Slack mrkdwn from untrusted text: {@link plainLine}, then entities, then the
 * formatting characters as look-alikes. Bounded before escaping (an entity is never cut in half);
 * the result is at most 5 × `max` (every character `&`).
 */
export function mrkdwnLine(s: string, max: number, cut: Cut = 'end'): string {
  return escapeMrkdwnEntities(plainLine(s, max, cut)).replace(/[*_~`]/g, (c) => MRKDWN_FORMATTING[c] ?? c);
}

/**
 * Untrusted text as Slack inline code: {@link plainLine} and entities; inside the backticks `*`,
 * `_` and `~` do not format, and a backtick (which would end the span) becomes `'`.
 */
export function mrkdwnCode(s: string, max: number, cut: Cut = 'middle'): string {
  return `\`${escapeMrkdwnEntities(plainLine(s, max, cut)).replaceAll('`', "'")}\``;
}

/**
 * Several lines of plain text (an Alertmanager description): each line made safe by
 * {@link plainLine}, joined by `\n`, the whole at most `max` UTF-16 units.
 */
export function plainLines(lines: readonly string[], maxPerLine: number, max: number): string {
  return truncateEnd(lines.map((l) => plainLine(l, maxPerLine)).join('\n'), max);
}
