import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { BEST_EFFORT_OPERATIONS, createMetrics } from '../../../src/metrics.ts';

/**
 * The metric table of docs/operations.md (## Metrics) cannot go stale: every metric the registry of
 * src/metrics.ts exposes on /metrics has a row, with its type and label names, and every row names a
 * metric it exposes. prom-client's default process metrics are one wildcard row
 * (`meshdrift_process_*`, `meshdrift_nodejs_*`). As test/unit/docs/reference.test.ts does for the
 * configuration.
 */

const DOC = readFileSync(new URL('../../../docs/operations.md', import.meta.url), 'utf8');

interface Row {
  names: string[];
  type: string;
  labels: string[];
}

/** The rows of the first table under `## Metrics`. */
function docRows(): Row[] {
  const section = DOC.split(/^## /m).find((s) => s.startsWith('Metrics\n'));
  if (section === undefined) throw new Error('docs/operations.md has no "## Metrics" section');
  const rows: Row[] = [];
  for (const line of section.split('\n')) {
    if (!line.startsWith('| `')) continue;
    const [first = '', type = '', labels = ''] = line.split('|').slice(1);
    rows.push({
      names: [...first.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? ''),
      type: type.trim(),
      labels: [...labels.matchAll(/`([^`]+)`/g)].map((m) => m[1] ?? ''),
    });
  }
  return rows;
}

const WILDCARD = /^(meshdrift_[a-z]+_)\*$/;
const registry = createMetrics(new Registry()).registry;
const exposed = await registry.getMetricsAsJSON();
const isDefault = (name: string, rows: Row[]): boolean => rows.some((r) => r.names.some((n) => WILDCARD.test(n) && name.startsWith(n.slice(0, -1))));

describe('docs/operations.md metric table', () => {
  const rows = docRows();
  const documented = new Map(rows.flatMap((r) => r.names.filter((n) => !WILDCARD.test(n)).map((n) => [n, r] as const)));

  it('has a row for every metric on /metrics', () => {
    expect(exposed.length).toBeGreaterThan(30);
    const missing = exposed.map((m) => m.name).filter((name) => !documented.has(name) && !isDefault(name, rows));
    expect(missing, 'add a row to the ## Metrics table of docs/operations.md').toEqual([]);
  });

  it('names no metric that /metrics does not expose, and each wildcard row matches some', () => {
    const names = new Set(exposed.map((m) => m.name));
    expect([...documented.keys()].filter((name) => !names.has(name))).toEqual([]);
    for (const row of rows) {
      for (const pattern of row.names.filter((n) => WILDCARD.test(n))) {
        expect(
          exposed.some((m) => m.name.startsWith(pattern.slice(0, -1))),
          pattern,
        ).toBe(true);
      }
    }
  });

  it('gives each metric its type and label names as the registry has them', () => {
    const wrong: string[] = [];
    for (const m of exposed) {
      const row = documented.get(m.name);
      if (row === undefined) continue;
      if (row.type !== String(m.type)) wrong.push(`${m.name}: type ${row.type || '(none)'}, registry ${m.type}`);
      const labels = [...((registry.getSingleMetric(m.name) as unknown as { labelNames?: string[] }).labelNames ?? [])].sort();
      if (JSON.stringify([...row.labels].sort()) !== JSON.stringify(labels))
        wrong.push(`${m.name}: labels ${row.labels.join(',') || '(none)'}, registry ${labels.join(',') || '(none)'}`);
    }
    expect(wrong).toEqual([]);
  });
});

describe('docs/operations.md best-effort operations', () => {
  it('lists every operation of meshdrift_best_effort_failures_total, and no other, with what it means and what to do', () => {
    const section = DOC.split(/^### /m).find((s) => s.startsWith('Best-effort failures\n'));
    if (section === undefined) throw new Error('docs/operations.md has no "### Best-effort failures" section');
    const rows = section
      .split('\n')
      .map((line) => /^\| `([a-z_]+)` \|(.+)\|(.+)\|$/.exec(line))
      .filter((m) => m !== null);
    expect(rows.map((m) => m[1]).sort()).toEqual([...BEST_EFFORT_OPERATIONS].sort());
    for (const m of rows) expect(m[2]?.trim().length && m[3]?.trim().length, m[1]).toBeGreaterThan(0);
  });
});
