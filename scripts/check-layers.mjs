#!/usr/bin/env node
// The layering fence (issue #14): src/ is built in floors, and an import may only go to the same
// floor or a lower one. An import that goes up a floor, and any circle of files, fails this check,
// unless it is on the allow-list (scripts/layers-allow.json), where each entry says why it is still
// there. The allow-list may only shrink: an entry that no longer matches an import is an error too,
// so a fix removes its entry in the same commit.
//
//   node scripts/check-layers.mjs            check (exit 1 on a new arrow, a circle or a stale entry)
//   node scripts/check-layers.mjs --list     print every upward arrow and circle, allowed or not
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Lowest first. A folder (or top-level file) may import its own floor and the floors below it.
 * The order is the pipeline's (DESIGN.md): the model and plumbing at the bottom, then the pure
 * stages, then the I/O stages, then the edges that drive them, then the composition root.
 */
export const FLOORS = [
  ['model', 'log.ts', 'clock.ts', 'redis.ts', 'shutdown.ts'],
  ['net'],
  ['metrics.ts', 'best-effort.ts'],
  ['route'],
  ['classify'],
  ['config'],
  ['track'],
  ['queue'],
  ['deliver'],
  ['remediate'],
  ['sources'],
  ['http'],
  ['cli'],
  ['app.ts', 'main.ts', 'jobs.ts'],
];

const floorOf = new Map(FLOORS.flatMap((names, i) => names.map((n) => [n, i])));

function unitOf(src, file) {
  const rel = relative(src, file).split(sep);
  return rel[0];
}

function walk(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return walk(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Relative imports of a file: static `import … from`, `export … from`, and `import('…')`. */
function importsOf(file) {
  const text = readFileSync(file, 'utf8');
  const specs = new Set();
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;'"]*?from\s*'(\.[^']+)'/g)) specs.add(m[1]);
  for (const m of text.matchAll(/(?:^|\n)\s*import\s*'(\.[^']+)'/g)) specs.add(m[1]);
  for (const m of text.matchAll(/\bimport\(\s*'(\.[^']+)'\s*\)/g)) specs.add(m[1]);
  return [...specs].map((s) => resolve(dirname(file), s));
}

function tarjan(nodes, edges) {
  let index = 0;
  const stack = [];
  const on = new Set();
  const idx = new Map();
  const low = new Map();
  const out = [];
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index);
    index++;
    stack.push(v);
    on.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) {
        low.set(v, Math.min(low.get(v), idx.get(w)));
      }
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1) out.push(scc.sort());
    }
  };
  for (const v of nodes) if (!idx.has(v)) visit(v);
  return out;
}

/** Every upward import and circle of the tree at `root` (default: this repository). */
export function analyse(root = repoRoot) {
  const src = join(root, 'src');
  const files = walk(src).sort();
  const problems = { unknown: [], upward: [], circles: [] };
  const edges = new Map();
  for (const file of files) {
    const from = relative(root, file);
    const fromUnit = unitOf(src, file);
    if (!floorOf.has(fromUnit)) problems.unknown.push(`${from}: folder "${fromUnit}" has no floor in scripts/check-layers.mjs`);
    const targets = importsOf(file).filter((t) => t.startsWith(src + sep));
    edges.set(
      from,
      targets.map((t) => relative(root, t)),
    );
    for (const target of targets) {
      const toUnit = unitOf(src, target);
      if (floorOf.has(fromUnit) && floorOf.has(toUnit) && floorOf.get(toUnit) > floorOf.get(fromUnit)) {
        problems.upward.push(`${from} -> ${relative(root, target)}`);
      }
    }
  }
  problems.circles = tarjan(
    files.map((f) => relative(root, f)),
    edges,
  ).map((scc) => scc.join(' <-> '));
  return problems;
}

function main() {
  const { unknown, upward, circles } = analyse();
  const allowPath = join(repoRoot, 'scripts', 'layers-allow.json');
  const allow = JSON.parse(readFileSync(allowPath, 'utf8'));
  const allowed = new Map(allow.entries.map((e) => [e.import, e.why]));
  if (process.argv.includes('--list')) {
    for (const a of upward) console.log(`${allowed.has(a) ? 'allowed' : 'NEW    '} ${a}`);
    for (const c of circles) console.log(`${allowed.has(c) ? 'allowed' : 'NEW    '} circle ${c}`);
    return;
  }
  const found = new Set([...upward, ...circles]);
  const errors = [
    ...unknown,
    ...upward.filter((a) => !allowed.has(a)).map((a) => `import goes up a floor: ${a}`),
    ...circles.filter((c) => !allowed.has(c)).map((c) => `files import each other: ${c}`),
    ...[...allowed.keys()].filter((k) => !found.has(k)).map((k) => `allow-list entry no longer needed (remove it from scripts/layers-allow.json): ${k}`),
    ...allow.entries.filter((e) => typeof e.why !== 'string' || e.why.trim() === '').map((e) => `allow-list entry without a reason: ${e.import}`),
  ];
  if (errors.length > 0) {
    console.error(`layering check failed (floors, lowest first: ${FLOORS.map((f) => f.join('+')).join(' < ')}):`);
    for (const e of errors) console.error(`  ${e}`);
    process.exit(1);
  }
  console.log(`layering check passed: ${found.size} allowed exception(s) left on the allow-list`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
