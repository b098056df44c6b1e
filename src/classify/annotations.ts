import { z } from 'zod';
import { FINDING_LABELS } from '../model/finding.ts';

/**
 * A policy rule's `annotations` (issue #19): the team's own words on an alert (`summary`,
 * `description`, `runbook_url`, `team`, and keys of its own), with the finding's labels put in by a
 * small template syntax: `{{ .labels.NAME }}` (spaces inside the braces optional), NAME a finding
 * label (model/finding.ts FINDING_LABELS, or one a policy rule sets). Nothing else is evaluated: no
 * functions, no pipes, no conditions, no code. A template that does not parse, or names a label no
 * finding can have, is an error when the policy loads (`meshdrift validate` reports it). A label a
 * finding does not have renders as ''.
 *
 * Rendered values are raw text, bounded; each receiver escapes them for where they go
 * (src/deliver/text.ts). In `runbook_url` the label values are URL-encoded (a value cannot add a
 * path segment, a query or a scheme), and the template must start with `http://` or `https://` and
 * a literal host, so the rendered link is always http(s). Pure.
 */

/** Annotations a rule may set, and that a finding carries once rules are merged. */
export const MAX_ANNOTATIONS = 16;
/** Longest template, and longest rendered value (cut with `…`). */
export const MAX_ANNOTATION_TEMPLATE = 1_000;
export const MAX_ANNOTATION_VALUE = 2_000;
/** Placeholders in one template. */
export const MAX_ANNOTATION_PLACEHOLDERS = 20;
/** The annotations receivers know by name; any other key is shown as `key: value`. */
export const WELL_KNOWN_ANNOTATIONS = ['summary', 'description', 'runbook_url', 'team'] as const;
/** The annotation whose value is a link (http(s) only, label values URL-encoded). */
export const RUNBOOK_URL = 'runbook_url';
/** A reason line of a finding whose rendered runbook_url was left out (track/ingest.ts logs it). */
export const RUNBOOK_DROPPED = 'annotation runbook_url dropped';

const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const PLACEHOLDER = /^\s*\.labels\.([A-Za-z_][A-Za-z0-9_]*)\s*$/;
// The start of a runbook link: a literal scheme and host (with an optional port), then the end or a path, query or fragment.
const URL_HEAD = /^https?:\/\/[A-Za-z0-9.-]+(?::\d{1,5})?(?:[/?#]|$)/i;

/** One parsed template: literal text and label references, in order. */
export type AnnotationPart = { text: string } | { label: string };
export interface AnnotationTemplate {
  readonly parts: readonly AnnotationPart[];
  /** Label values URL-encoded (runbook_url). */
  readonly url: boolean;
}

/** Parses one template, or says what is wrong with it (with the 1-based column). */
export function parseAnnotationTemplate(source: string, url = false): { ok: true; template: AnnotationTemplate } | { ok: false; error: string } {
  const parts: AnnotationPart[] = [];
  let i = 0;
  let placeholders = 0;
  while (i < source.length) {
    const open = source.indexOf('{{', i);
    if (open === -1) {
      parts.push({ text: source.slice(i) });
      break;
    }
    if (open > i) parts.push({ text: source.slice(i, open) });
    const close = source.indexOf('}}', open + 2);
    if (close === -1) return { ok: false, error: `"{{" at col ${open + 1} is not closed by "}}"` };
    const inner = source.slice(open + 2, close);
    const m = PLACEHOLDER.exec(inner);
    if (m === null) return { ok: false, error: `"{{${inner}}}" at col ${open + 1}: only {{ .labels.NAME }} is allowed (a finding label)` };
    if (++placeholders > MAX_ANNOTATION_PLACEHOLDERS) return { ok: false, error: `at most ${MAX_ANNOTATION_PLACEHOLDERS} placeholders in one annotation` };
    parts.push({ label: m[1] ?? '' });
    i = close + 2;
  }
  if (url) {
    const head = parts[0] !== undefined && 'text' in parts[0] ? parts[0].text : '';
    if (!URL_HEAD.test(head)) return { ok: false, error: 'must start with http:// or https:// and a host written out (no {{ }} before the path)' };
  }
  return { ok: true, template: { parts, url } };
}

/** The labels a template reads. */
export function templateLabels(t: AnnotationTemplate): string[] {
  return t.parts.flatMap((p) => ('label' in p ? [p.label] : []));
}

/** Renders a template over a finding's labels; an absent label is ''. Bounded to MAX_ANNOTATION_VALUE. */
export function renderAnnotationTemplate(t: AnnotationTemplate, labels: Readonly<Record<string, string>>): string {
  let out = '';
  for (const p of t.parts) {
    if ('text' in p) out += p.text;
    else {
      const value = Object.hasOwn(labels, p.label) ? (labels[p.label] ?? '') : '';
      out += t.url ? encodeURIComponent(value) : value;
    }
    if (out.length > MAX_ANNOTATION_VALUE) break;
  }
  return out.length > MAX_ANNOTATION_VALUE ? `${out.slice(0, MAX_ANNOTATION_VALUE - 1)}…` : out;
}

/** A rendered runbook link, if it is an http(s) URL that parses and was not cut; else why not. */
export function checkRunbookUrl(rendered: string): { ok: true; url: string } | { ok: false; reason: string } {
  if (rendered.length >= MAX_ANNOTATION_VALUE) return { ok: false, reason: `longer than ${MAX_ANNOTATION_VALUE - 1} characters` };
  let url: URL;
  try {
    url = new URL(rendered);
  } catch {
    return { ok: false, reason: 'not a URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, reason: `scheme ${url.protocol} is not http(s)` };
  if (url.href.length > MAX_ANNOTATION_VALUE) return { ok: false, reason: `longer than ${MAX_ANNOTATION_VALUE} characters` };
  return { ok: true, url: url.href };
}

/** Compiled annotations of one rule, by key. */
export type CompiledAnnotations = Readonly<Record<string, AnnotationTemplate>>;

/** Compiles a rule's annotations (already validated by {@link annotationsSchema}; a bad one is skipped). */
export function compileAnnotations(annotations: Readonly<Record<string, string>> | undefined): CompiledAnnotations {
  const out: Record<string, AnnotationTemplate> = {};
  for (const [key, source] of Object.entries(annotations ?? {})) {
    const parsed = parseAnnotationTemplate(source, key === RUNBOOK_URL);
    if (parsed.ok) out[key] = parsed.template;
  }
  return out;
}

/** Rendered annotations, and why any was left out. */
export interface RenderedAnnotations {
  readonly annotations: Readonly<Record<string, string>>;
  readonly dropped: readonly string[];
}
const NO_RENDERED: RenderedAnnotations = Object.freeze({ annotations: Object.freeze({}), dropped: Object.freeze([]) as readonly string[] });

/**
 * Renders merged templates over a finding's labels: the annotations, and a reason for each one left
 * out (a runbook_url that is not an http(s) URL after all).
 */
export function renderAnnotations(templates: CompiledAnnotations, labels: Readonly<Record<string, string>>): RenderedAnnotations {
  // Most findings match no rule with annotations: nothing to allocate for them (classify is hot).
  if (Object.keys(templates).length === 0) return NO_RENDERED;
  const annotations: Record<string, string> = {};
  const dropped: string[] = [];
  // The policy names at most MAX_ANNOTATIONS in all (tooManyAnnotationNames); the cap is defense in depth.
  for (const [key, t] of Object.entries(templates).slice(0, MAX_ANNOTATIONS)) {
    const value = renderAnnotationTemplate(t, labels);
    if (key !== RUNBOOK_URL) {
      annotations[key] = value;
      continue;
    }
    const checked = checkRunbookUrl(value);
    if (checked.ok) annotations[key] = checked.url;
    else dropped.push(`${RUNBOOK_DROPPED}: ${checked.reason}`);
  }
  return { annotations, dropped };
}

/**
 * The `annotations` of a rule: bounded keys and templates, each template valid on its own. Every
 * check is one refinement, so one run reports every bad key and template of the map.
 */
export const annotationsSchema = z.record(z.string(), z.string()).superRefine((a, ctx) => {
  const keys = Object.keys(a);
  if (keys.length > MAX_ANNOTATIONS) ctx.addIssue({ code: 'custom', message: `at most ${MAX_ANNOTATIONS} annotations (got ${keys.length})` });
  for (const key of keys) {
    const source = a[key] ?? '';
    const parsed = source.length > MAX_ANNOTATION_TEMPLATE ? undefined : parseAnnotationTemplate(source, key === RUNBOOK_URL);
    const error = !NAME.test(key)
      ? 'annotation names are letters, digits and _ (at most 63, not starting with a digit)'
      : parsed === undefined
        ? `at most ${MAX_ANNOTATION_TEMPLATE} characters (got ${source.length})`
        : parsed.ok
          ? undefined
          : parsed.error;
    if (error !== undefined) ctx.addIssue({ code: 'custom', path: [key], message: error });
  }
});

/**
 * More annotation names across all rules than a finding may carry: several rules (with `continue`)
 * could together give a finding more, so the policy names at most MAX_ANNOTATIONS in all. A message,
 * or undefined.
 */
export function tooManyAnnotationNames(rules: ReadonlyArray<{ annotations?: Readonly<Record<string, string>> | undefined }>): string | undefined {
  const names = new Set(rules.flatMap((r) => Object.keys(r.annotations ?? {})));
  return names.size > MAX_ANNOTATIONS ? `at most ${MAX_ANNOTATIONS} annotation names in all rules together (got ${names.size})` : undefined;
}

/**
 * The labels no finding can have that the rules' annotations name: each a message with its path
 * (`[i, 'annotations', key]`). A finding's labels are FINDING_LABELS and those rules set.
 */
export function unknownAnnotationLabels(
  rules: ReadonlyArray<{
    annotations?: Readonly<Record<string, string>> | undefined;
    set?: { labels?: Readonly<Record<string, string>> | undefined } | undefined;
  }>,
): Array<{ path: [number, 'annotations', string]; message: string }> {
  const known = new Set<string>(FINDING_LABELS);
  for (const r of rules) for (const name of Object.keys(r.set?.labels ?? {})) known.add(name);
  const out: Array<{ path: [number, 'annotations', string]; message: string }> = [];
  rules.forEach((r, i) => {
    for (const [key, t] of Object.entries(compileAnnotations(r.annotations))) {
      const unknown = templateLabels(t).filter((l) => !known.has(l));
      if (unknown.length > 0)
        out.push({
          path: [i, 'annotations', key],
          message: `unknown label ${unknown.map((l) => `"${l}"`).join(', ')}: a finding has ${FINDING_LABELS.join(', ')} and the labels rules set`,
        });
    }
  });
  return out;
}
