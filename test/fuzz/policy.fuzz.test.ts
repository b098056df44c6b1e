import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { loadPolicyText, type LoadResult } from '../../src/config/load.ts';
import type { Signal } from '../../src/model/signal.ts';
import { damagedBytes, fuzzRuns, mutated, type Json } from './arbitraries.ts';
import type { ClassifyJob, ClassifyOutcome } from './classify-worker.ts';

/**
 * The policy loader (YAML text → validated, compiled policy) under generated documents: it never
 * throws, and every error it returns has a position and a message naming the path of the problem.
 * Then the inputs the loader cannot judge alone: alias bombs, duplicate keys, and regexes and globs
 * that backtrack on long names (run in a worker, so a hang can be stopped and reported).
 */

/** One policy document per this many webhook bodies (FUZZ_RUNS scales both). */
const RUNS = Math.ceil(fuzzRuns(100_000) / 20);

const root = new URL('../../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, root), 'utf8');

const MINIMAL = 'receivers:\n  - name: log\n    console: {}\nroute:\n  receiver: log\n';
/** Every section of the schema, so mutations reach each of them. */
const FULL = `${MINIMAL}  group_by: [cluster, owner]
  group_wait: 30s
  routes:
    - matchers: ['severity=~"critical|high"', 'cluster!=lab']
      receiver: log
      continue: true
      mute_time_intervals: [nights]
    - matchers: [category=security]
      receiver: fix
      repeat_interval: 4h
rules:
  - name: sandbox
    match: { namespace: ["sandbox-*", "*-tmp"], labels: { team: "pay*" } }
    ignore: true
  - match: { kind: VirtualService, state: [Modified] }
    set: { severity: high, labels: { paged: "yes" } }
    annotations: { summary: "{{ .labels.kind }} {{ .labels.paged }}", runbook_url: "https://rb.example/{{ .labels.name }}", team: mesh }
    continue: true
severity:
  traffic: { Modified: medium }
inhibit_rules:
  - source_matchers: [state=Unreachable]
    target_matchers: [severity!=critical]
    equal: [cluster]
time_intervals:
  - name: nights
    time_intervals: [{ times: [{ start_time: "22:00", end_time: "24:00" }], weekdays: ["monday:friday"] }]
`.replace(
  'receivers:\n  - name: log\n    console: {}\n',
  'receivers:\n  - name: log\n    console: {}\n  - name: fix\n    remediate: { action: argocd-sync, argocd: { url: "http://argocd:8080", token_env: ARGOCD_TOKEN } }\n',
);

const SEED_TEXTS = [
  read('config/policy.example.yaml'),
  read('deploy/kubernetes/base/policy.yaml'),
  read('deploy/compose/policy-alertmanager.yaml'),
  MINIMAL,
  FULL,
];
const SEEDS = SEED_TEXTS.map((t) => parse(t) as Json);

/** Pieces of YAML syntax: anchors, aliases, tags, flow and block collections, scalars, directives. */
const YAML_TOKENS = [
  'receivers:',
  'route:',
  'rules:',
  'receiver: log',
  '- ',
  '  ',
  '\n',
  ': ',
  '{',
  '}',
  '[',
  ']',
  ',',
  '&a ',
  '*a',
  '&b ',
  '*b',
  '<<: *a',
  '!!str ',
  '!!binary ',
  '!!js/function ',
  '!custom ',
  '? ',
  '|',
  '>-',
  '"',
  "'",
  '#',
  '---\n',
  '...\n',
  '%YAML 1.1\n',
  'name: x',
  'console: {}',
  'matchers: ["a=~(a+)+"]',
  '\t',
  '\u0000',
  '\ufeff',
  '~',
  'null',
  '1e999',
  '0x1F',
  '.inf',
  'yes',
  '2026-01-01',
  '__proto__: {}',
];

const policyText: fc.Arbitrary<string> = fc.oneof(
  // A seed, changed structurally, written back as YAML or as JSON (YAML is a superset).
  { arbitrary: fc.tuple(mutated(SEEDS), fc.boolean()).map(([doc, asJson]) => (asJson ? JSON.stringify(doc) : stringify(doc))), weight: 5 },
  // A seed's text with byte damage (broken indentation, quotes, invalid UTF-8 read as U+FFFD).
  { arbitrary: damagedBytes(SEED_TEXTS.map((t) => Buffer.from(t))).map((b) => b.toString('utf8')), weight: 3 },
  // YAML syntax soup.
  { arbitrary: fc.array(fc.constantFrom(...YAML_TOKENS), { maxLength: 60 }).map((t) => t.join('')), weight: 2 },
  // A seed with a fragment of soup spliced in at a line.
  {
    arbitrary: fc.tuple(fc.constantFrom(...SEED_TEXTS), fc.nat(), fc.array(fc.constantFrom(...YAML_TOKENS), { maxLength: 8 })).map(([text, at, tokens]) => {
      const lines = text.split('\n');
      lines.splice(at % (lines.length + 1), 0, tokens.join(''));
      return lines.join('\n');
    }),
    weight: 2,
  },
);

/**
 * What a loader error message looks like: `YAML: ...` for syntax, or `<path>: <problem>` (e.g.
 * `rules[0].match.state: ...`; keys may hold any character), or, for a document whose root is not
 * a mapping, zod's message. One more: an empty key at the root is reported as a bare "unknown key"
 * (its path is the empty string; reported as a wording fix for config/load.ts).
 */
const NAMES_THE_PROBLEM = [
  /^YAML: \S/,
  /^the policy file is empty/,
  /^.+?: \S/s,
  /^Invalid input: expected object, received \w+$/,
  /^unknown key \(check the spelling/,
];

/** Why a load result breaks the property, or undefined when it holds. */
function violation(result: LoadResult): string | undefined {
  if (result.ok) return Number.isInteger(result.policy.summary.routes) ? undefined : 'a loaded policy without a summary';
  if (result.errors.length === 0) return 'not ok, but no errors';
  for (const e of result.errors) {
    if (e.file !== 'fuzz.yaml' || !Number.isInteger(e.line) || e.line < 1 || !Number.isInteger(e.col) || e.col < 1)
      return `error without a position: ${JSON.stringify(e)}`;
    if (!NAMES_THE_PROBLEM.some((r) => r.test(e.message))) return `error that names no path: ${JSON.stringify(e.message)}`;
  }
  return undefined;
}

describe('policy loader fuzzing', () => {
  it(`${RUNS} generated documents: never a throw; every error has a position and names the path`, () => {
    let ok = 0;
    let invalid = 0;
    const started = performance.now();
    fc.assert(
      fc.property(policyText, (text) => {
        const result: LoadResult = loadPolicyText(text, 'fuzz.yaml');
        const why = violation(result);
        if (why !== undefined) throw new Error(why);
        if (result.ok) ok++;
        else invalid++;
      }),
      { numRuns: RUNS },
    );
    const seconds = (performance.now() - started) / 1000;
    console.log(`policy fuzz: ${RUNS} documents in ${seconds.toFixed(1)} s (${Math.round(RUNS / seconds)}/s): ${ok} valid, ${invalid} with errors`);
    expect(ok + invalid).toBe(RUNS);
    // The generators reach both sides: documents that load, and documents that do not.
    expect(ok).toBeGreaterThan(0);
    expect(invalid).toBeGreaterThan(0);
    // 5,000 documents take ~10 s alone and 17-18 s on a loaded 2-core machine: the default 20 s
    // timeout is too close. The rate is printed above; speed is not what this test checks.
  }, 120_000);
});

describe('duplicate keys (yaml uniqueKeys: true)', () => {
  it.each([
    ['a duplicate top-level key', `${MINIMAL}route:\n  receiver: log\n`, 6],
    ['a duplicate key in a nested mapping', `${MINIMAL}  receiver: other\n`, 6],
    ['a duplicate key in a flow mapping', `${MINIMAL}rules: [{ ignore: true, ignore: false }]\n`, 6],
    ['the same key once quoted, once plain', `${MINIMAL}"route": { receiver: log }\n`, 6],
  ])('%s is an error at the second key, not "the last one wins"', (_what, text, line) => {
    const result = loadPolicyText(text, 'p.yaml');
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toContainEqual(expect.objectContaining({ line, message: 'YAML: Map keys must be unique' }));
  });
});

/** A "billion laughs": `depth` levels of anchors, each aliasing the previous one `width` times. */
function aliasBomb(depth: number, width: number): string {
  const lines = [MINIMAL, `x0: &a0 [${Array(width).fill('lol').join(', ')}]`];
  for (let i = 1; i <= depth; i++)
    lines.push(
      `x${i}: &a${i} [${Array(width)
        .fill(`*a${i - 1}`)
        .join(', ')}]`,
    );
  return lines.join('\n');
}

describe('alias bombs', () => {
  it('9 levels × 10 aliases (10^9 nodes expanded) never expand: the yaml alias limit stops them at once', () => {
    const started = performance.now();
    const result = loadPolicyText(aliasBomb(9, 10), 'p.yaml');
    expect(result.ok).toBe(false);
    // Expanded, 10^9 nodes would take minutes and gigabytes; stopped, it is a parse.
    expect(performance.now() - started).toBeLessThan(5_000);
  });

  // yaml's Document#toJS throws a ReferenceError for an alias it will not resolve (past its alias
  // limit, or to an anchor not set before it); the loader turns it into a policy error.
  it.each([
    ['an alias bomb', aliasBomb(9, 10)],
    [
      'an alias before its anchor',
      `${MINIMAL}  group_by: *by
x: &by [cluster]
`,
    ],
  ])('%s is a policy error with a position, not a thrown ReferenceError', (_what, text) => {
    const result = loadPolicyText(text, 'p.yaml');
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.errors[0]?.message).toMatch(/^YAML: .*alias/i);
  });

  it('a few aliases within the limit are fine (anchors are legitimate YAML)', () => {
    const text = `receivers:\n  - name: log\n    console: {}\nroute:\n  receiver: log\n  group_by: &by [cluster, owner]\n  routes:\n    - receiver: log\n      group_by: *by\n`;
    expect(loadPolicyText(text, 'p.yaml').ok).toBe(true);
  });
});

/** A Flux-style partial signal with one drifted resource named `name` (names come from webhook bodies). */
function signalNamed(name: string): Signal {
  return {
    source: 'flux-webhook',
    cluster: 'prod-eu-1',
    owner: { kind: 'Kustomization', namespace: 'flux-system', name: 'mesh' },
    project: '',
    destination: {},
    labels: { team: 'payments' },
    observedAt: 0,
    completeness: 'partial',
    resources: [{ group: 'networking.istio.io', kind: 'VirtualService', namespace: 'shop', name, state: 'Corrected' }],
  };
}

/** Classifies in a worker thread; a classification still running after `limitMs` is stopped and reported as a hang. */
function classifyWithin(job: ClassifyJob, limitMs: number): Promise<ClassifyOutcome | { ok: false; error: 'hang' }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./classify-worker.ts', import.meta.url), { workerData: job });
    let timer: NodeJS.Timeout | undefined;
    // The limit counts from the worker's 'ready' (modules and policy loaded): starting a worker
    // that compiles TypeScript can take many seconds on a loaded machine, classifying must not.
    worker.on('message', (m: ClassifyOutcome | 'ready') => {
      if (m === 'ready') {
        timer = setTimeout(() => {
          void worker.terminate();
          resolve({ ok: false, error: 'hang' });
        }, limitMs);
        return;
      }
      clearTimeout(timer);
      void worker.terminate();
      resolve(m);
    });
    worker.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

const withRoute = (matcher: string): string => `${MINIMAL}  routes:\n    - matchers: [${JSON.stringify(matcher)}]\n      receiver: log\n`;
const withRule = (match: string): string => `${MINIMAL}rules:\n  - match: ${match}\n    set: { severity: low }\n`;
/** Long enough that any linear matcher is done in milliseconds, counted once the worker is loaded. */
const LIMIT_MS = 5_000;
/** The test's own timeout: the worker's start (not counted in LIMIT_MS) plus the limit. */
const TEST_MS = LIMIT_MS + 60_000;

describe('regexes and globs against long names (webhook input, up to 1 MiB)', () => {
  it.each([
    ['an anchored alternation route matcher', withRoute('name=~"cart|reviews-.*"'), 'reviews-'.padEnd(100_000, 'x')],
    ['a one-star glob rule', withRule('{ name: "reviews-*" }'), 'reviews-'.padEnd(100_000, 'x')],
    ['a two-star glob rule', withRule('{ name: "*canary*" }'), 'a'.repeat(100_000)],
  ])(
    '%s classifies a 100,000-character name without hanging',
    async (_what, policy, name) => {
      const outcome = await classifyWithin({ policy, signal: signalNamed(name) }, LIMIT_MS);
      expect(outcome).toMatchObject({ ok: true, findings: 1 });
    },
    TEST_MS,
  );

  // Names come from webhook bodies: a backtracking pattern would block the event loop (every
  // webhook stalls) for minutes. Matchers run on V8's linear engine and globs without RegExp.
  it.each([
    ['a nested-quantifier route matcher, name=~"(a+)+b"', withRoute('name=~"(a+)+b"'), `${'a'.repeat(40)}c`],
    ['a six-star glob rule, *a*a*a*a*a*b', withRule('{ name: "*a*a*a*a*a*b" }'), 'a'.repeat(300)],
    // Three stars compile to ^.*a.*b.*$: quadratic, 10^10 steps on a 100,000-character name.
    ['a three-star glob rule, *a*b*', withRule('{ name: "*a*b*" }'), 'a'.repeat(100_000)],
  ])(
    '%s classifies a crafted name without hanging',
    async (_what, policy, name) => {
      const outcome = await classifyWithin({ policy, signal: signalNamed(name) }, LIMIT_MS);
      expect(outcome).toMatchObject({ ok: true });
    },
    TEST_MS,
  );

  // A label named like an Object.prototype member is not inherited from it (it was: classify threw).
  it(
    'a rule on a label named "constructor" classifies a signal without that label',
    async () => {
      const outcome = await classifyWithin({ policy: withRule('{ labels: { constructor: "x*" } }'), signal: signalNamed('cart') }, LIMIT_MS);
      expect(outcome).toMatchObject({ ok: true });
    },
    TEST_MS,
  );
});
