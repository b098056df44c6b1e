import { pointerSegments } from '../../model/object-diff.ts';

/**
 * Path texts (`spec.http[0].route[1].weight`, `metadata.annotations["a.io/b"]`, the form of
 * model/object-diff.ts) back to their segments, and the removal of paths from a JSON value: the
 * mesh watch's baseline is the live body without the fields only non-GitOps managers own.
 */

const TOKEN = /([A-Za-z_$][A-Za-z0-9_$-]*)|\.([A-Za-z_$][A-Za-z0-9_$-]*)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/y;

/** The segments of a path text, or null when it is not one. */
export function parsePath(text: string): (string | number)[] | null {
  const out: (string | number)[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < text.length) {
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(text);
    if (m === null || (m[1] !== undefined && at !== 0)) return null;
    if (m[1] !== undefined) out.push(m[1]);
    else if (m[2] !== undefined) out.push(m[2]);
    else if (m[3] !== undefined) out.push(Number(m[3]));
    else if (m[4] !== undefined) {
      try {
        out.push(JSON.parse(m[4]) as string);
      } catch {
        return null;
      }
    }
  }
  return out.length > 0 ? out : null;
}

/** Descending by segments (a higher index first), so removing list elements keeps the others' indexes. */
function compareDesc(a: readonly (string | number)[], b: readonly (string | number)[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (typeof x === 'number' && typeof y === 'number') return y - x;
    return String(y).localeCompare(String(x));
  }
  return b.length - a.length;
}

function removeOne(root: unknown, path: readonly (string | number)[]): void {
  let node: unknown = root;
  for (let i = 0; i < path.length - 1; i++) {
    const seg = path[i] as string | number;
    if (typeof node !== 'object' || node === null) return;
    node = (node as Record<string | number, unknown>)[seg];
  }
  const last = path[path.length - 1];
  if (Array.isArray(node) && typeof last === 'number') {
    if (last < node.length) node.splice(last, 1);
  } else if (typeof node === 'object' && node !== null && typeof last === 'string' && Object.hasOwn(node, last)) {
    delete (node as Record<string, unknown>)[last];
  }
}

/** `value` (a fresh copy, changed in place) without the fields at `paths` (path texts). */
export function removePaths(value: unknown, paths: readonly string[]): unknown {
  const parsed = paths.map(parsePath).filter((p): p is (string | number)[] => p !== null);
  parsed.sort(compareDesc);
  for (const p of parsed) removeOne(value, p);
  return value;
}

/** Whether the field at `path` (a path text) is at or under one of the JSON pointers (RFC 6901). */
export function underPointer(path: string, pointers: readonly string[]): boolean {
  if (pointers.length === 0) return false;
  const segments = parsePath(path);
  if (segments === null) return false;
  return pointers.some((pointer) => {
    const p = pointerSegments(pointer);
    return p !== null && p.length <= segments.length && p.every((s, i) => s === String(segments[i]));
  });
}
