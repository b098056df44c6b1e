import { z } from 'zod';

/**
 * `metadata.managedFields`, summarized for the mesh watch (issue #16, reference/forensics.md §1.1):
 * per entry the manager, its operation (`Update`/`Apply`), its time (per entry, not per field: best
 * effort), its subresource, and the leaf paths it owns in the object's body, written as
 * model/object-diff.ts writes changed paths (`spec.http[0].route[1].weight`), so the two can be
 * intersected. The `fieldsV1` trie (`f:<field>`, `k:<keys>`, `v:<value>`, `i:<index>`) is resolved
 * against the object itself: a `k:` or `v:` entry becomes the index of the list element it names.
 * Bounded: at most MAX_MANAGERS entries and MAX_PATHS_PER_MANAGER paths each are kept (the rest is
 * counted), so a hostile object cannot grow the cache.
 */

export const MAX_MANAGERS = 16;
export const MAX_PATHS_PER_MANAGER = 64;
const MAX_MANAGER_NAME = 128;
const MAX_DEPTH = 32;

export interface ManagerSummary {
  manager: string;
  operation: string;
  /** Epoch ms of the entry's `time`, when it has one. */
  time?: number;
  /** `status`, `scale`…; absent for the main resource. */
  subresource?: string;
  /** Owned leaf paths in the body (everything but apiVersion, kind, metadata and status). */
  paths: string[];
  /** Owned paths left out past MAX_PATHS_PER_MANAGER. */
  omitted?: number;
}

const entrySchema = z.object({
  manager: z.string().max(MAX_MANAGER_NAME).optional(),
  operation: z.string().max(32).optional(),
  time: z.string().max(64).nullish(),
  subresource: z.string().max(64).optional(),
  fieldsV1: z.unknown().optional(),
});

/** Top-level fields that are not part of what a GitOps tool writes as the object's configuration. */
export const NOT_BODY = new Set(['apiVersion', 'kind', 'metadata', 'status']);

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** The path text of model/object-diff.ts pathText: dotted identifiers, `[i]` indexes, quoted other keys. */
export function pathText(path: readonly (string | number)[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (IDENTIFIER.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out === '' ? '(root)' : out;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Whether `item` has every key/value of `keys` (a `k:{...}` entry). */
function matchesKeys(item: unknown, keys: Record<string, unknown>): boolean {
  if (!isRecord(item)) return false;
  return Object.entries(keys).every(([k, v]) => JSON.stringify(item[k]) === JSON.stringify(v));
}

/** The list index a `k:`, `v:` or `i:` segment names in `list`, or -1 when it names none. */
function indexOf(list: readonly unknown[], segment: string): number {
  try {
    if (segment.startsWith('i:')) {
      const i = Number(segment.slice(2));
      return Number.isInteger(i) && i >= 0 && i < list.length ? i : -1;
    }
    if (segment.startsWith('k:')) {
      const keys: unknown = JSON.parse(segment.slice(2));
      return isRecord(keys) ? list.findIndex((item) => matchesKeys(item, keys)) : -1;
    }
    if (segment.startsWith('v:')) {
      const value = JSON.stringify(JSON.parse(segment.slice(2)));
      return list.findIndex((item) => JSON.stringify(item) === value);
    }
  } catch {
    return -1;
  }
  return -1;
}

interface Collect {
  paths: string[];
  omitted: number;
}

function add(c: Collect, path: readonly (string | number)[]): void {
  if (c.paths.length < MAX_PATHS_PER_MANAGER) c.paths.push(pathText(path));
  else c.omitted++;
}

/** Walks one fieldsV1 node at `path`, whose live value is `value`. */
function walk(c: Collect, node: Record<string, unknown>, value: unknown, path: (string | number)[]): void {
  const children = Object.entries(node).filter(([k]) => k !== '.');
  if (children.length === 0 || path.length >= MAX_DEPTH) return add(c, path);
  for (const [segment, child] of children) {
    let next: unknown;
    let seg: string | number;
    if (segment.startsWith('f:')) {
      seg = segment.slice(2);
      next = isRecord(value) ? value[seg] : undefined;
    } else if (Array.isArray(value)) {
      seg = indexOf(value, segment);
      if (seg === -1) continue; // an element no longer there
      next = value[seg];
    } else continue;
    path.push(seg);
    walk(c, isRecord(child) ? child : {}, next, path);
    path.pop();
  }
}

/** The body leaf paths one `fieldsV1` trie owns in `obj`. */
export function ownedPaths(fieldsV1: unknown, obj: Record<string, unknown>): Collect {
  const c: Collect = { paths: [], omitted: 0 };
  if (!isRecord(fieldsV1)) return c;
  for (const [segment, child] of Object.entries(fieldsV1)) {
    if (!segment.startsWith('f:')) continue;
    const field = segment.slice(2);
    if (NOT_BODY.has(field)) continue;
    walk(c, isRecord(child) ? child : {}, obj[field], [field]);
  }
  return c;
}

/** The summary of an object's managedFields (bounded), resolved against the object. */
export function summarizeManagedFields(managedFields: unknown, obj: Record<string, unknown>): ManagerSummary[] {
  if (!Array.isArray(managedFields)) return [];
  const out: ManagerSummary[] = [];
  for (const raw of managedFields.slice(0, MAX_MANAGERS)) {
    const e = entrySchema.safeParse(raw);
    if (!e.success) continue;
    const time = e.data.time ? Date.parse(e.data.time) : Number.NaN;
    const subresource = e.data.subresource ?? '';
    const owned = subresource === '' ? ownedPaths(e.data.fieldsV1, obj) : { paths: [], omitted: 0 };
    out.push({
      manager: e.data.manager || '(unknown)',
      operation: e.data.operation ?? 'Update',
      ...(Number.isFinite(time) ? { time } : {}),
      ...(subresource !== '' ? { subresource } : {}),
      paths: owned.paths,
      ...(owned.omitted > 0 ? { omitted: owned.omitted } : {}),
    });
  }
  return out;
}

/** Whether a changed path and an owned path overlap: one is the other or lies inside it. */
export function pathsOverlap(a: string, b: string): boolean {
  if (a === b) return true;
  const inside = (inner: string, outer: string): boolean => inner.startsWith(outer) && (inner[outer.length] === '.' || inner[outer.length] === '[');
  return inside(a, b) || inside(b, a);
}
