import type { Attribution, ChangeList, FieldChange } from '../model/forensics.ts';
import type { ResourceRef } from '../model/signal.ts';

/**
 * The words every receiver uses for a finding's evidence (issue #16): the kind with its API group,
 * what changed (`path: before → after`), who changed it and when. Plain text, not yet escaped: each
 * receiver passes it through its own sanitiser (src/deliver/text.ts). The values are already
 * redacted and bounded by whoever produced them (model/forensics.ts); nothing here adds to them.
 */

/**
 * The kind with its API group, as kubectl names a resource type (`AuthorizationPolicy.security.istio.io`,
 * `AuthorizationPolicy.policy.linkerd.io`), so two meshes' kinds of one name never look alike; the
 * core group's kinds alone (`Service`).
 */
export function kindWithGroup(r: Pick<ResourceRef, 'kind' | 'group'>): string {
  return r.group === '' ? r.kind : `${r.kind}.${r.group}`;
}

/** `2026-12-04T14:03:07Z`: UTC, to the second (ISO 8601 without milliseconds). */
export function utcShort(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 19)}Z`;
}

/** What an absent side of a change means. */
const UNSET = '(unset)';
const REMOVED = '(removed)';
const MASKED = 'changed (value masked)';

/** One change as `path: before → after`; a masked one as `path: changed (value masked)`. */
export function changeText(c: FieldChange): string {
  return `${c.path}: ${changeValues(c)}`;
}

/** The `before → after` part of a change (or the masked note). */
export function changeValues(c: FieldChange): string {
  if (c.masked === true) return MASKED;
  return `${c.before ?? UNSET} → ${c.after ?? REMOVED}`;
}

/** Where a change list came from, in words. */
export function changeSourceText(source: ChangeList['source']): string {
  switch (source) {
    case 'argocd-managed-resources':
      return "Argo CD's diff (Git vs live)";
    case 'snapshot':
      return 'as its GitOps tool last wrote it vs live';
    case 'admission':
      return 'the API request (old vs new)';
  }
}

/** How many changes a list leaves out: those not shown here plus those the producer dropped. */
export function changesLeftOut(list: ChangeList, shown: number): number {
  return Math.max(0, list.changes.length - shown) + (list.omitted ?? 0);
}

/** `and 3 more changes`. */
export function moreChanges(n: number): string {
  return `and ${n} more ${n === 1 ? 'change' : 'changes'}`;
}

/**
 * Who changed it, stated as what meshdrift knows: a person only from an admission record
 * (`changed by alice@corp via kubectl-edit (UPDATE) at 2026-12-04T14:03:07Z`); a field manager is a
 * name any client can claim, so it is a tool (`changed via kubectl-edit (Update) at … (field manager:
 * a tool, not a person)`).
 */
export function attributionText(a: Attribution): string {
  const op = a.operation === undefined || a.operation === '' ? '' : ` (${a.operation})`;
  const at = a.at === undefined ? '' : ` at ${utcShort(a.at)}`;
  if (a.kind === 'person') {
    const via = a.via === undefined || a.via === '' ? '' : ` via ${a.via}`;
    return `changed by ${a.who}${via}${op}${at}`;
  }
  return `changed via ${a.who}${op}${at} (field manager: a tool, not a person)`;
}

/** An attribution as structured data for JSON receivers (PagerDuty, webhook, API, console). */
export interface AttributionView {
  kind: Attribution['kind'];
  who: string;
  via?: string;
  operation?: string;
  at?: string;
  source: Attribution['source'];
  paths?: string[];
  /** {@link attributionText}: the sentence a person reads. */
  text: string;
}

/** `a` with its time as {@link utcShort} and its sentence; `text` maps every string (a sanitiser). */
export function attributionView(a: Attribution, text: (s: string) => string): AttributionView {
  return {
    kind: a.kind,
    who: text(a.who),
    ...(a.via === undefined ? {} : { via: text(a.via) }),
    ...(a.operation === undefined ? {} : { operation: text(a.operation) }),
    ...(a.at === undefined ? {} : { at: utcShort(a.at) }),
    source: a.source,
    ...(a.paths === undefined ? {} : { paths: a.paths.map(text) }),
    text: text(attributionText(a)),
  };
}

/** A change as structured data for JSON receivers, each string through `text`. */
export interface ChangeView {
  path: string;
  before?: string;
  after?: string;
  masked?: true;
}

/** `c` with each string mapped by `text` (a sanitiser); a masked change never carries a value. */
export function changeView(c: FieldChange, text: (s: string) => string): ChangeView {
  if (c.masked === true) return { path: text(c.path), masked: true };
  return {
    path: text(c.path),
    ...(c.before === undefined ? {} : { before: text(c.before) }),
    ...(c.after === undefined ? {} : { after: text(c.after) }),
  };
}

/** A change list as structured data: at most `max` changes, `omitted` counting the rest. */
export interface ChangeListView {
  source: ChangeList['source'];
  changes: ChangeView[];
  omitted: number;
}

export function changeListView(list: ChangeList, text: (s: string) => string, max = list.changes.length): ChangeListView {
  const shown = list.changes.slice(0, Math.max(0, max));
  return { source: list.source, changes: shown.map((c) => changeView(c, text)), omitted: changesLeftOut(list, shown.length) };
}
