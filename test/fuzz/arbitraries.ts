import fc from 'fast-check';
import { z } from 'zod';

/**
 * fast-check arbitraries shared by the fuzz tests: JSON values mutated from real seeds (fields
 * removed, retyped, swapped for huge or odd strings), and byte-level damage to serialized seeds.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Path = ReadonlyArray<string | number>;

/**
 * How many generated inputs a fuzz file runs: FUZZ_RUNS raises it for a long run (e.g. 1000000);
 * the default is what CI runs.
 */
export function fuzzRuns(defaultRuns: number, env: NodeJS.ProcessEnv = process.env): number {
  const parsed = z.coerce
    .number()
    .int()
    .positive()
    .optional()
    .safeParse(env.FUZZ_RUNS === '' ? undefined : env.FUZZ_RUNS);
  if (!parsed.success) throw new Error(`FUZZ_RUNS must be a positive integer, got ${JSON.stringify(env.FUZZ_RUNS)}`);
  return parsed.data ?? defaultRuns;
}

/** Every path in a JSON value (the root included), in document order. */
export function pathsOf(value: Json, prefix: Path = []): Path[] {
  const out: Path[] = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...pathsOf(v, [...prefix, i])));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push(...pathsOf(v, [...prefix, k]));
  return out;
}

/** One change to a JSON document at the path with index `at` (modulo the number of paths). */
export type Mutation = { op: 'remove'; at: number } | { op: 'replace'; at: number; value: Json } | { op: 'add'; at: number; key: string; value: Json };

function parentAndKey(root: Json, path: Path): { parent: Json[] | { [key: string]: Json }; key: string | number } | undefined {
  if (path.length === 0) return undefined;
  let node: Json = root;
  for (const step of path.slice(0, -1)) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (Array.isArray(node) ? node[step as number] : node[step as string]) ?? null;
  }
  const key = path[path.length - 1];
  if (node === null || typeof node !== 'object' || key === undefined) return undefined;
  return { parent: node, key };
}

// The seeds' paths, listed once: later mutations pick among them too, and skip one that an earlier
// mutation removed (listing the paths of every mutated copy cost more than the HTTP round trip).
const seedPaths = new WeakMap<object, Path[]>();
function pathsOfSeed(seed: Json): Path[] {
  if (seed === null || typeof seed !== 'object') return [[]];
  let paths = seedPaths.get(seed);
  if (!paths) seedPaths.set(seed, (paths = pathsOf(seed)));
  return paths;
}

/** Applies mutations in order to a copy of `seed`; a mutation of the root replaces the document. */
export function mutate(seed: Json, mutations: readonly Mutation[]): Json {
  let doc: Json = structuredClone(seed);
  const paths = pathsOfSeed(seed);
  for (const m of mutations) {
    const path = paths[m.at % paths.length] ?? [];
    const target = parentAndKey(doc, path);
    if (path.length > 0 && !target) continue;
    switch (m.op) {
      case 'remove':
        if (!target) break;
        if (Array.isArray(target.parent)) target.parent.splice(target.key as number, 1);
        else delete target.parent[target.key as string];
        break;
      case 'replace':
        if (!target) doc = m.value;
        else if (Array.isArray(target.parent)) target.parent[target.key as number] = m.value;
        else target.parent[target.key as string] = m.value;
        break;
      case 'add': {
        // Added to the node at the path when it is an object; else next to it.
        let node: Json = doc;
        for (const step of path)
          node = node !== null && typeof node === 'object' ? ((Array.isArray(node) ? node[step as number] : node[step as string]) ?? null) : null;
        const host = node !== null && typeof node === 'object' && !Array.isArray(node) ? node : target?.parent;
        if (host && !Array.isArray(host)) Object.defineProperty(host, m.key, { value: m.value, enumerable: true, writable: true, configurable: true });
        else if (Array.isArray(host)) host.push(m.value);
        break;
      }
    }
  }
  return doc;
}

/** Keys that have tripped JS code before: prototype names, empty, dotted, odd unicode. */
const trickyKey = fc.constantFrom(
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '',
  ' ',
  'a.b',
  'kustomize.toolkit.fluxcd.io/revision',
  '\u0000',
  '\ud800',
  'ǅ',
  '🙂',
);

/** Strings that look like what goes in a Kubernetes field, and strings that do not. */
export const oddString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.string({ maxLength: 40 }), weight: 4 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 3 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }), weight: 2 },
  {
    arbitrary: fc.constantFrom(
      'OutOfSync',
      'Synced',
      'Missing',
      'Degraded',
      'Unknown',
      'DriftDetected',
      'Progressing',
      'error',
      'info',
      'Kustomization',
      'HelmRelease',
      'AuthorizationPolicy',
      'VirtualService',
      'networking.istio.io',
      '2026-11-24T10:00:00Z',
      'not-a-date',
      'main@sha1:0000',
      'VirtualService/ns/name configured',
    ),
    weight: 3,
  },
);

/** A huge string (up to the webhooks' 1 MiB limit and past it once escaped): rare, or the run spends its time copying. */
export const hugeString: fc.Arbitrary<string> = fc
  .tuple(fc.constantFrom('a', '-', 'é', '\u2028', '🙂', '\\', '"'), fc.integer({ min: 1_000, max: 300_000 }))
  .map(([c, n]) => c.repeat(n));

/** A replacement value: retyped (number where a string goes, object where an array goes...). */
export const oddValue: fc.Arbitrary<Json> = fc.oneof(
  { arbitrary: oddString, weight: 40 },
  { arbitrary: hugeString, weight: 1 },
  { arbitrary: fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -0, 1e308, -1, 2 ** 53 + 1)), weight: 16 },
  { arbitrary: fc.boolean(), weight: 8 },
  { arbitrary: fc.constant(null), weight: 8 },
  { arbitrary: fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>, weight: 16 },
  { arbitrary: fc.array(oddString, { maxLength: 5 }), weight: 8 },
  { arbitrary: fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), trickyKey), oddString, { maxKeys: 4 }), weight: 8 },
);

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('remove' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('replace' as const), at: fc.nat(), value: oddValue }),
  fc.record({ op: fc.constant('add' as const), at: fc.nat(), key: fc.oneof(fc.string({ maxLength: 12 }), trickyKey), value: oddValue }),
);

/** A seed changed by 1 to 4 mutations. */
export function mutated(seeds: readonly Json[]): fc.Arbitrary<Json> {
  return fc.tuple(fc.constantFrom(...seeds), fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([seed, ms]) => mutate(seed, ms));
}

/** Deep nesting of arrays or objects, as text: JSON.parse copes, a recursive walk may not. */
export const deeplyNested: fc.Arbitrary<string> = fc
  .tuple(fc.boolean(), fc.integer({ min: 1_000, max: 100_000 }))
  .map(([arrays, depth]) => (arrays ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`));

/** Byte sequences that are not UTF-8: stray continuation, overlong, surrogate, truncated, 0xFF. */
const invalidUtf8 = fc.constantFrom([0x80], [0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80]);

type ByteEdit =
  | { at: number; kind: 'flip'; bit: number }
  | { at: number; kind: 'delete' }
  | { at: number; kind: 'insert'; bytes: number[] }
  | { at: number; kind: 'truncate' };

const byteEdit: fc.Arbitrary<ByteEdit> = fc.oneof(
  fc.record({ at: fc.nat(), kind: fc.constant('flip' as const), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ at: fc.nat(), kind: fc.constant('delete' as const) }),
  fc.record({
    at: fc.nat(),
    kind: fc.constant('insert' as const),
    bytes: fc
      .oneof(invalidUtf8, fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 4 }), fc.constantFrom([0x22], [0x7b], [0x5d], [0x2c], [0x5c]))
      .map((b) => [...b]),
  }),
  fc.record({ at: fc.nat(), kind: fc.constant('truncate' as const) }),
);

function editBytes(bytes: Buffer, edits: readonly ByteEdit[]): Buffer {
  let out = Buffer.from(bytes);
  for (const e of edits) {
    const at = out.length === 0 ? 0 : e.at % out.length;
    if (e.kind === 'flip' && out.length > 0) out[at] = (out[at] ?? 0) ^ (1 << e.bit);
    else if (e.kind === 'delete') out = Buffer.concat([out.subarray(0, at), out.subarray(at + 1)]);
    else if (e.kind === 'insert') out = Buffer.concat([out.subarray(0, at), Buffer.from(e.bytes), out.subarray(at)]);
    else if (e.kind === 'truncate') out = out.subarray(0, at);
  }
  return out;
}

/** A serialized seed with 1 to 3 byte edits: broken syntax, invalid UTF-8, cut short. */
export function damagedBytes(seeds: readonly Buffer[]): fc.Arbitrary<Buffer> {
  return fc.tuple(fc.constantFrom(...seeds), fc.array(byteEdit, { minLength: 1, maxLength: 3 })).map(([seed, edits]) => editBytes(seed, edits));
}

/** Any bytes at all. */
export const anyBytes: fc.Arbitrary<Buffer> = fc.uint8Array({ maxLength: 2048 }).map((a) => Buffer.from(a));
