import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';

/**
 * The alert tables of deploy/kubernetes/README.md and docs/operations.md (## Alerts) list exactly the
 * alerts of deploy/prometheus/rules.yaml, each with the severity its rule gives it.
 */

const read = (path: string): string => readFileSync(new URL(`../../../${path}`, import.meta.url), 'utf8');

const rulesSchema = z.object({
  groups: z.array(z.object({ rules: z.array(z.object({ alert: z.string().optional(), labels: z.record(z.string(), z.string()).optional() })) })),
});
const rules = new Map(
  rulesSchema
    .parse(parse(read('deploy/prometheus/rules.yaml')))
    .groups.flatMap((g) => g.rules)
    .flatMap((r) => (r.alert === undefined ? [] : [[r.alert, r.labels?.severity ?? ''] as const])),
);

/** `alert -> severity` from the table rows `| \`Meshdrift…\` | <severity> | …` of one doc. */
function documented(path: string): Map<string, string> {
  const rows = read(path)
    .split('\n')
    .flatMap((line) => {
      const m = /^\| `(Meshdrift[A-Za-z]+)` \| ([a-z]+) \|/.exec(line);
      return m?.[1] === undefined ? [] : [[m[1], m[2] ?? ''] as const];
    });
  expect(new Set(rows.map(([name]) => name)).size, `${path} lists an alert twice`).toBe(rows.length);
  return new Map(rows);
}

describe.each(['deploy/kubernetes/README.md', 'docs/operations.md'])('the alert table of %s', (path) => {
  it('lists every alert of deploy/prometheus/rules.yaml and no other, with its severity', () => {
    expect(rules.size).toBeGreaterThan(10);
    expect(Object.fromEntries([...documented(path)].sort())).toEqual(Object.fromEntries([...rules].sort()));
  });
});
