import { plainLine } from '../../deliver/text.ts';

/**
 * HTML for the web page (issue #21), built on the server. Every interpolated value is text unless it
 * is already {@link Html} (made by {@link html} itself): `<`, `>`, `&`, `"` and `'` become entities,
 * and text from the cluster goes through the one sanitiser first (deliver/text.ts: no control, bidi
 * or invisible character, bounded). A resource named `<script>` is shown as those characters.
 */
export class Html {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

/** Longest value one interpolation shows; longer ones end in `…`. */
export const MAX_TEXT = 4000;

const ENTITIES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** `s` as HTML text (safe in element content and in a quoted attribute). */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ENTITIES[c] ?? c);
}

/** A value a template may hold: text, a number, markup made here, nothing, or a list of these. */
export type HtmlValue = string | number | Html | null | undefined | false | readonly HtmlValue[];

function render(v: HtmlValue): string {
  if (v === null || v === undefined || v === false) return '';
  if (v instanceof Html) return v.value;
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') return escapeHtml(plainLine(v, MAX_TEXT));
  return v.map(render).join('');
}

/** The tagged template: `html\`<td>${name}</td>\`` escapes `name`. */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i] ?? null) + (strings[i + 1] ?? '');
  return new Html(out);
}

/** A URL for an href: only http(s) and paths of this site; anything else (javascript:, data:) becomes `#`. */
export function safeHref(url: string): string {
  if (url.startsWith('/') && !url.startsWith('//')) return url;
  try {
    const u = new URL(url);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.toString() : '#';
  } catch {
    return '#';
  }
}

/** A query string from pairs (repeated names kept), for links between views. */
export function query(pairs: ReadonlyArray<readonly [string, string]>): string {
  const p = new URLSearchParams();
  for (const [k, v] of pairs) p.append(k, v);
  const s = p.toString();
  return s === '' ? '' : `?${s}`;
}

/** Lines of text, each escaped (and sanitised) alone, joined by newlines: a textarea's content. */
export function lines(values: readonly string[]): Html {
  return new Html(values.map((v) => escapeHtml(plainLine(v, MAX_TEXT))).join('\n'));
}
