import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { envSchema } from '../../../src/config/env.ts';
import { policySchema } from '../../../src/config/policy.ts';
import { sendersFileSchema } from '../../../src/http/senders.ts';

/**
 * docs/reference.md cannot go stale: every key of the zod schemas (the environment and the policy
 * file, at every depth) must be a row of the reference, and every row must be a key of a schema.
 *
 * The reference marks each table with `<!-- keys: <path> -->`, the path of the object whose keys it
 * lists (`env`, `policy`, `receivers[]`, `receivers[].remediate.flap`, `severity.<category>`, …).
 * The first column of each row holds the key in backticks. The full key is `<path>.<key>`.
 */

const DOC = new URL('../../../docs/reference.md', import.meta.url);

type AnySchema = z.ZodType;
interface Def {
  type: string;
  innerType?: AnySchema;
  in?: AnySchema;
  out?: AnySchema;
  element?: AnySchema;
  options?: readonly AnySchema[];
  shape?: Record<string, AnySchema>;
  keyType?: AnySchema;
  valueType?: AnySchema;
  entries?: Record<string, string>;
}
const defOf = (s: AnySchema): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Strips optional, default, prefault, nullable, readonly, catch, lazy and pipes (transforms). */
function unwrap(schema: AnySchema): AnySchema {
  let s = schema;
  for (let i = 0; i < 50; i++) {
    const def = defOf(s);
    if (def.innerType && ['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch', 'nonoptional'].includes(def.type)) s = def.innerType;
    else if (def.type === 'lazy')
      s = (s as unknown as { _zod: { innerType: AnySchema } })._zod.innerType; // cached: same object each time
    else if (def.type === 'pipe' && def.in && def.out) s = defOf(def.in).type === 'transform' ? def.out : def.in;
    else return s;
  }
  throw new Error('schema nests too deep to unwrap');
}

/** The object schemas reachable from `schema` (through arrays and unions), with their path. */
function collect(schema: AnySchema, path: string, out: Map<string, Set<string>>, seen: Set<AnySchema>): void {
  const s = unwrap(schema);
  const def = defOf(s);
  if (def.type === 'array' && def.element) return collect(def.element, `${path}[]`, out, seen);
  if (def.type === 'union' && def.options) {
    for (const option of def.options) collect(option, path, out, seen);
    return;
  }
  if (def.type === 'record' && def.keyType && def.valueType) {
    // A record with a closed set of keys (an enum) documents its keys; an open one (labels) is a leaf.
    const key = defOf(unwrap(def.keyType));
    if (key.type !== 'enum' || !key.entries) return;
    const keys = out.get(path) ?? new Set<string>();
    for (const k of Object.values(key.entries)) keys.add(k);
    out.set(path, keys);
    const placeholder = `<${path.split('.').at(-1)?.replace(/\[\]$/, '') === 'severity' ? 'category' : 'key'}>`;
    return collect(def.valueType, `${path}.${placeholder}`, out, seen);
  }
  if (def.type !== 'object' || !def.shape) return;
  if (seen.has(s)) return; // the route tree is recursive: `routes[]` are routes
  seen.add(s);
  const keys = out.get(path) ?? new Set<string>();
  for (const [key, value] of Object.entries(def.shape)) {
    keys.add(key);
    collect(value, path === '' ? key : `${path}.${key}`, out, seen);
  }
  out.set(path, keys);
  seen.delete(s);
}

function schemaKeys(): Set<string> {
  const tables = new Map<string, Set<string>>();
  collect(envSchema, 'env', tables, new Set());
  collect(policySchema, 'policy', tables, new Set());
  collect(sendersFileSchema, 'senders_file', tables, new Set());
  return flatten(tables);
}

function flatten(tables: Map<string, Set<string>>): Set<string> {
  const all = new Set<string>();
  for (const [path, keys] of tables) for (const key of keys) all.add(`${path}.${key}`);
  return all;
}

/** `<!-- keys: path -->` then a Markdown table: path → the keys in its first column. */
function docKeys(text: string): { keys: Set<string>; duplicates: string[] } {
  const tables = new Map<string, Set<string>>();
  const duplicates: string[] = [];
  let current: string | null = null;
  let inTable = false;
  let rowIndex = 0;
  for (const line of text.split('\n')) {
    const marker = /^<!--\s*keys:\s*(\S+)\s*-->\s*$/.exec(line.trim());
    if (marker?.[1] !== undefined) {
      current = marker[1];
      if (tables.has(current)) duplicates.push(`table ${current} appears twice`);
      tables.set(current, new Set());
      inTable = false;
      rowIndex = 0;
      continue;
    }
    if (current === null) continue;
    if (!line.trim().startsWith('|')) {
      if (inTable) current = null; // the table ended
      continue;
    }
    const row = rowIndex++;
    inTable = true;
    if (row < 2) continue; // the header and the |---| line
    const first = line.trim().slice(1).split('|')[0]?.trim() ?? '';
    const name = /^`([^`]+)`/.exec(first)?.[1];
    if (name === undefined) {
      duplicates.push(`row "${first}" in table ${current} has no \`key\` in its first column`);
      continue;
    }
    const keys = tables.get(current) ?? new Set<string>();
    if (keys.has(name)) duplicates.push(`${current}.${name} is listed twice`);
    keys.add(name);
    tables.set(current, keys);
  }
  return { keys: flatten(tables), duplicates };
}

describe('docs/reference.md', () => {
  const text = readFileSync(DOC, 'utf8');
  const fromSchemas = schemaKeys();
  const { keys: fromDoc, duplicates } = docKeys(text);

  it('finds the keys in the schemas and in the doc (the walkers work)', () => {
    expect(fromSchemas.has('env.REDIS_URL')).toBe(true);
    expect(fromSchemas.has('policy.receivers[].remediate.flap.within')).toBe(true);
    expect(fromSchemas.has('policy.route.routes')).toBe(true);
    expect(fromSchemas.has('senders_file.senders[].clusters')).toBe(true);
    expect(fromSchemas.has('policy.time_intervals[].time_intervals[].times[].start_time')).toBe(true);
    expect(fromSchemas.size).toBeGreaterThan(80);
    expect(fromDoc.size).toBeGreaterThan(80);
  });

  it('documents every environment variable and policy key', () => {
    const missing = [...fromSchemas].filter((k) => !fromDoc.has(k)).sort();
    expect(missing, `in a schema but not in docs/reference.md (add a row under the table marked <!-- keys: ... -->)`).toEqual([]);
  });

  it('documents no key the schemas do not have', () => {
    const extra = [...fromDoc].filter((k) => !fromSchemas.has(k)).sort();
    expect(extra, 'in docs/reference.md but in no schema (removed or misspelt?)').toEqual([]);
  });

  it('lists each key once, each row with a `key`', () => {
    expect(duplicates).toEqual([]);
  });

  it('gives each row a default and a meaning', () => {
    const bad = text
      .split('\n')
      .filter((l) => /^\|\s*`/.test(l.trim()))
      .filter(
        (l) =>
          l
            .trim()
            .split('|')
            .slice(1, -1)
            .filter((c) => c.trim() !== '').length < 3,
      );
    expect(bad, 'rows need three cells: name, default, meaning').toEqual([]);
  });
});
