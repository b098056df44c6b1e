import { type ChangeList, type FieldChange, MAX_CHANGE_VALUE, MAX_CHANGES } from './forensics.ts';
import { isSecretValue, type KindRef, MAX_REDACT_DEPTH, MAX_REDACT_NODES, type Path, redactAt, TRUNCATED, treatmentOf } from './redact.ts';

/**
 * Field-level difference of two versions of a Kubernetes object (issue #16, "What changed"):
 * `before` is what the GitOps tool wants (or the object as its manager last wrote it), `after` what
 * is live. The result is redacted (model/redact.ts): a masked field that differs is listed as
 * changed with no values. Pure and bounded: each side is copied under the redaction module's depth
 * and node budgets, at most `maxChanges` changes are kept (the rest counted in `omitted`), each
 * value rendered as JSON text of at most MAX_CHANGE_VALUE characters. docs/mesh.md, "What changed".
 */

export interface DiffOptions {
  /** The object's API group (`''` for core) and kind: redaction rules depend on them. */
  ref: KindRef;
  /** JSON pointers (RFC 6901) left out of the comparison: Argo CD ignoreDifferences `jsonPointers`, Flux ignore paths. */
  ignore?: readonly string[];
  /** Most changes kept (at most MAX_CHANGES). */
  maxChanges?: number;
}

/** Metadata that changes on every write or is owned by the API server: never a drift. */
const METADATA_NOISE = new Set([
  'resourceVersion',
  'generation',
  'managedFields',
  'uid',
  'creationTimestamp',
  'selfLink',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
]);
/** Most ignore pointers honoured, and the longest. */
export const MAX_IGNORE_POINTERS = 100;
const MAX_POINTER_LENGTH = 1024;
const MAX_PATH_TEXT = 512;

type Trie = Map<string, Trie | true>;

/** RFC 6901 pointer → segments (`~1` is `/`, `~0` is `~`); null for text that is not a pointer. */
export function pointerSegments(pointer: string): string[] | null {
  if (pointer.length > MAX_POINTER_LENGTH || !pointer.startsWith('/')) return null;
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function addPointer(root: Trie, segments: readonly string[]): void {
  let node = root;
  for (const [i, segment] of segments.entries()) {
    const next = node.get(segment);
    if (next === true) return; // a shorter pointer already ignores all of it
    if (i === segments.length - 1) return void node.set(segment, true);
    const child: Trie = next ?? new Map();
    node.set(segment, child);
    node = child;
  }
}

function ignoreTrie(pointers: readonly string[]): Trie {
  const root: Trie = new Map();
  for (const pointer of pointers.slice(0, MAX_IGNORE_POINTERS)) {
    const segments = pointerSegments(pointer);
    if (segments !== null) addPointer(root, segments);
  }
  return root;
}

interface Copy {
  budget: number;
  truncated: boolean;
  ref: KindRef;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNoise(path: Path, key: string): boolean {
  if (path.length === 0) return key === 'status';
  return path.length === 1 && path[0] === 'metadata' && METADATA_NOISE.has(key);
}

/** One side, copied within the budgets, without noise, dropped fields and ignored pointers (values not yet masked). */
function prepare(value: unknown, path: (string | number)[], ignore: Trie | undefined, copy: Copy): unknown {
  if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value !== 'object') return undefined;
  if (path.length >= MAX_REDACT_DEPTH || --copy.budget < 0) return ((copy.truncated = true), TRUNCATED);
  const child = (key: string | number, v: unknown): unknown => {
    const sub = ignore?.get(String(key));
    if (sub === true) return undefined;
    path.push(key);
    const out = prepare(v, path, sub, copy);
    path.pop();
    return out;
  };
  if (Array.isArray(value)) return value.map((v, i) => child(i, v) ?? null);
  const entries: [string, unknown][] = [];
  for (const key of Object.keys(value)) {
    const obj = value as Record<string, unknown>;
    if (isNoise(path, key) || treatmentOf(path, obj, key, copy.ref) === 'drop') continue;
    const out = child(key, obj[key]);
    if (out !== undefined) entries.push([key, out]);
  }
  return Object.fromEntries(entries);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  const ka = Object.keys(a);
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(rb, k) && deepEqual(ra[k], rb[k]));
}

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** `spec.http[0].route[1].weight`; keys that are not identifiers are quoted: `metadata.annotations["a.io/b"]`. */
export function pathText(path: Path): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (IDENTIFIER.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
    if (out.length > MAX_PATH_TEXT) break;
  }
  if (out === '') return '(root)';
  return out.length > MAX_PATH_TEXT ? `${clip(out, MAX_PATH_TEXT - 1)}…` : out;
}

/** At most `n` UTF-16 units of `s`, not splitting a surrogate pair. */
function clip(s: string, n: number): string {
  const cut = s.slice(0, n);
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}

/** JSON text of `value`, written only as far as `limit` characters (a huge subtree costs no more than a small one). */
function boundedJson(value: unknown, limit: number): string {
  const parts: string[] = [];
  let length = 0;
  const put = (s: string): boolean => (parts.push(s), (length += s.length) <= limit);
  const write = (v: unknown): boolean => {
    if (!isPlainObject(v) && !Array.isArray(v)) return put(JSON.stringify(v) ?? 'null');
    const array = Array.isArray(v);
    if (!put(array ? '[' : '{')) return false;
    const keys = array ? v.map((_, i) => i) : Object.keys(v);
    for (const [n, k] of keys.entries()) {
      if (n > 0 && !put(',')) return false;
      if (!array && !put(`${JSON.stringify(k)}:`)) return false;
      if (!write((v as Record<string | number, unknown>)[k])) return false;
    }
    return put(array ? ']' : '}');
  };
  write(value);
  const text = parts.join('');
  return text.length > limit ? `${clip(text, limit - 1)}…` : text;
}

/** A rendered side of a change: redacted by where it sits, JSON, truncated. */
function render(value: unknown, path: Path, ref: KindRef): string {
  return boundedJson(redactAt(value, path, ref), MAX_CHANGE_VALUE);
}

interface Walk {
  ref: KindRef;
  max: number;
  changes: FieldChange[];
  omitted: number;
}

/** False (and one more omitted) when the budget is spent: the change is then not rendered at all. */
function room(w: Walk): boolean {
  if (w.changes.length < w.max) return true;
  w.omitted++;
  return false;
}

function masked(w: Walk, path: Path): void {
  if (room(w)) w.changes.push({ path: pathText(path), masked: true });
}

function leafChange(w: Walk, path: Path, before: unknown, after: unknown): void {
  if (!room(w)) return;
  if ((typeof before === 'string' && isSecretValue(before)) || (typeof after === 'string' && isSecretValue(after))) {
    return void w.changes.push({ path: pathText(path), masked: true });
  }
  const change: FieldChange = { path: pathText(path) };
  if (before !== undefined) change.before = render(before, path, w.ref);
  if (after !== undefined) change.after = render(after, path, w.ref);
  w.changes.push(change);
}

function walkObjects(w: Walk, path: (string | number)[], before: Record<string, unknown>, after: Record<string, unknown>): void {
  const keys = [...Object.keys(before), ...Object.keys(after).filter((k) => !Object.hasOwn(before, k))];
  for (const key of keys) {
    const b = Object.hasOwn(before, key) ? before[key] : undefined;
    const a = Object.hasOwn(after, key) ? after[key] : undefined;
    if (b === a) continue;
    const mask =
      (b !== undefined && treatmentOf(path, before, key, w.ref, after) === 'mask') ||
      (a !== undefined && treatmentOf(path, after, key, w.ref, before) === 'mask');
    path.push(key);
    if (mask) {
      if (!deepEqual(b, a)) masked(w, path);
    } else walk(w, path, b, a);
    path.pop();
  }
}

/** Elements keyed by a unique string `name` on both sides (Istio http routes, Gateway listeners), else null. */
function namedElements(list: readonly unknown[]): Map<string, number> | null {
  const names = new Map<string, number>();
  for (const [i, item] of list.entries()) {
    const name = isPlainObject(item) ? item['name'] : undefined;
    if (typeof name !== 'string' || names.has(name)) return null;
    names.set(name, i);
  }
  return names;
}

function walkArrays(w: Walk, path: (string | number)[], before: readonly unknown[], after: readonly unknown[]): void {
  const bNames = before.length > 0 ? namedElements(before) : null;
  const aNames = bNames && after.length > 0 ? namedElements(after) : null;
  if (bNames === null || aNames === null) {
    for (let i = 0; i < Math.max(before.length, after.length); i++) {
      path.push(i);
      walk(w, path, before[i], after[i]);
      path.pop();
    }
    return;
  }
  // Matched by name; a change is named by the live (after) index, a removed element by its index before.
  const bOrder = [...bNames.keys()].filter((n) => aNames.has(n));
  const aOrder = [...aNames.keys()].filter((n) => bNames.has(n));
  if (bOrder.some((n, i) => aOrder[i] !== n)) leafChange(w, path, bOrder, aOrder);
  for (const [name, ai] of aNames) {
    const bi = bNames.get(name);
    path.push(ai);
    walk(w, path, bi === undefined ? undefined : before[bi], after[ai]);
    path.pop();
  }
  for (const [name, bi] of bNames) {
    if (aNames.has(name)) continue;
    path.push(bi);
    walk(w, path, before[bi], undefined);
    path.pop();
  }
}

function walk(w: Walk, path: (string | number)[], before: unknown, after: unknown): void {
  if (isPlainObject(before) && isPlainObject(after)) return walkObjects(w, path, before, after);
  if (Array.isArray(before) && Array.isArray(after)) return walkArrays(w, path, before, after);
  if (!deepEqual(before, after)) leafChange(w, path, before, after);
}

/**
 * The fields that differ from `before` (what the GitOps tool wants) to `after` (live), redacted and
 * bounded: metadata noise and `status` ignored, `ignore` pointers left out, list elements matched by
 * index, or by `name` when every element on both sides has a unique one. An `undefined` side is an
 * absent object (every field added or removed).
 */
export function diffObjects(source: ChangeList['source'], before: unknown, after: unknown, opts: DiffOptions): ChangeList {
  const ignore = ignoreTrie(opts.ignore ?? []);
  const bCopy: Copy = { budget: MAX_REDACT_NODES, truncated: false, ref: opts.ref };
  const aCopy: Copy = { budget: MAX_REDACT_NODES, truncated: false, ref: opts.ref };
  const b = prepare(before, [], ignore, bCopy);
  const a = prepare(after, [], ignore, aCopy);
  const max = Math.max(0, Math.min(opts.maxChanges ?? MAX_CHANGES, MAX_CHANGES));
  const w: Walk = { ref: opts.ref, max, changes: [], omitted: 0 };
  walk(w, [], b, a);
  // A side cut by the budget may hide changes beyond it: say so as one more left out.
  if (bCopy.truncated || aCopy.truncated) w.omitted++;
  return w.omitted > 0 ? { source, changes: w.changes, omitted: w.omitted } : { source, changes: w.changes };
}
