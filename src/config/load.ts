import { readFile } from 'node:fs/promises';
import { isMap, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { createCatalog, type Catalog } from '../classify/catalog.ts';
import { DEFAULT_SEVERITY, type ClassifyPolicy, type SeverityMatrix } from '../classify/classify.ts';
import { compileRules } from '../classify/rules.ts';
import { CATEGORIES } from '../model/finding.ts';
import { DRIFT_STATES } from '../model/signal.ts';
import { compileInhibitRules, type CompiledInhibitRule, type InhibitRuleSpec } from '../route/inhibit.ts';
import { compileRoute, ROUTE_DEFAULTS, type CompiledRoute } from '../route/route.ts';
import { compileTimeIntervals, type CompiledTimeInterval } from '../route/time-interval.ts';
import { checkReferences, pathText, receiverNameOf } from './policy-refs.ts';
import { policySchema, type PolicyConfig, type ReceiverConfig } from './policy.ts';
import type { RouteConfig } from '../route/route-config.ts';

/**
 * Loads the policy file: read → YAML with positions → strict zod → cross-references → compile.
 * Every error names the file, line and column and what to fix; all of them are reported at once.
 */

export interface PolicyError {
  file: string;
  line: number;
  col: number;
  message: string;
}

export function formatPolicyError(e: PolicyError): string {
  return `${e.file}:${e.line}:${e.col}: ${e.message}`;
}

/**
 * Inhibit rules every policy has, before its own: an `Unreachable` finding hides the alerts it
 * makes meaningless (sources/reachability.ts).
 * - A cluster meshdrift cannot watch: every other finding of that cluster waits (they are still
 *   tracked, and sent once it is reachable if they still stand). An Argo CD API it cannot poll
 *   inhibits nothing: webhooks may still be telling the truth about that cluster.
 * - An Argo CD app whose comparison failed (sync Unknown): the rest of that app's findings wait.
 * Held-back findings stay tracked and are told at a later flush if they still stand.
 */
export const BUILTIN_INHIBIT_RULES: readonly InhibitRuleSpec[] = [
  {
    name: 'meshdrift:cluster-unreachable',
    source_matchers: ['tool="meshdrift"', 'kind="Cluster"', 'state="Unreachable"'],
    target_matchers: ['tool!="meshdrift"'],
    equal: ['cluster'],
  },
  {
    name: 'meshdrift:app-unreachable',
    source_matchers: ['tool="argocd"', 'group="argoproj.io"', 'kind="Application"', 'state="Unreachable"'],
    target_matchers: ['state!="Unreachable"'],
    equal: ['cluster', 'tool', 'owner_kind', 'owner_namespace', 'owner'],
  },
];

export interface LoadedPolicy {
  /** The file it came from, or `built-in defaults`. */
  source: string;
  config: PolicyConfig;
  classify: ClassifyPolicy;
  receivers: readonly ReceiverConfig[];
  inhibitRules: readonly CompiledInhibitRule[];
  timeIntervals: ReadonlyMap<string, CompiledTimeInterval>;
  summary: { rules: number; receivers: number; routes: number };
}

export type LoadResult = { ok: true; policy: LoadedPolicy } | { ok: false; errors: PolicyError[] };

export interface LoadOptions {
  /** Defaults for the root route's timers when the file sets none (from the environment). */
  timing?: { groupWaitMs?: number; groupIntervalMs?: number; resolveWaitMs?: number };
  /** When given, secrets the receivers name (env vars) must be set in it. `validate` runs without. */
  env?: NodeJS.ProcessEnv;
  catalog?: Catalog;
}

type Path = ReadonlyArray<PropertyKey>;

/**
 * Where column `inner` (1-based) of a scalar's value is in the file: exact for a plain or quoted
 * scalar on one line whose source is its value (no escapes), else the scalar's start.
 */
function innerOffset(best: Node | null, text: string, inner: number | undefined): number {
  const start = best?.range?.[0] ?? 0;
  if (inner === undefined || !isScalar(best) || typeof best.value !== 'string' || !best.range) return start;
  const quoted = best.type === 'QUOTE_DOUBLE' || best.type === 'QUOTE_SINGLE' ? 1 : 0;
  const source = text.slice(start + quoted, start + quoted + best.value.length);
  return source === best.value && !source.includes('\n') ? start + quoted + inner - 1 : start;
}

function position(
  doc: Document,
  lines: LineCounter,
  path: Path,
  key?: string,
  inner?: { text: string; col: number | undefined },
): { line: number; col: number } {
  // Walk down as far as the document goes; report the deepest node found.
  let node: unknown = doc.contents;
  let best: Node | null = (doc.contents as Node | null) ?? null;
  for (const step of path) {
    if (node && typeof node === 'object' && 'get' in node && typeof (node as { get: unknown }).get === 'function') {
      const next: unknown = (node as { get(k: unknown, keep: boolean): unknown }).get(typeof step === 'symbol' ? String(step) : step, true);
      if (next === undefined) break;
      node = next;
      if (next && typeof next === 'object' && 'range' in next) best = next as Node;
    } else break;
  }
  if (key !== undefined && isMap(node)) {
    const pair = node.items.find((p) => isScalar(p.key) && p.key.value === key);
    if (pair && isScalar(pair.key) && pair.key.range) best = pair.key;
  }
  const offset = inner === undefined || key !== undefined ? (best?.range?.[0] ?? 0) : innerOffset(best, inner.text, inner.col);
  const pos = lines.linePos(offset);
  return { line: pos.line, col: pos.col };
}

/** The column a matcher error names (`(col N of the matcher)`, matcher.ts), to point inside the string. */
function matcherCol(message: string): number | undefined {
  const m = / \(col (\d+) of the matcher\); /.exec(message);
  return m ? Number(m[1]) : undefined;
}

/** Errors by line and column, each once (the schema and the references may say the same of one place). */
function inFileOrder(errors: readonly PolicyError[]): PolicyError[] {
  const seen = new Set<string>();
  return errors
    .filter((e) => {
      const key = `${e.line}:${e.col}:${e.message}`;
      return !seen.has(key) && (seen.add(key), true);
    })
    .sort((a, b) => a.line - b.line || a.col - b.col);
}

function walkRoutes(route: RouteConfig, path: Path, visit: (r: RouteConfig, path: Path) => void): void {
  visit(route, path);
  (route.routes ?? []).forEach((child, i) => walkRoutes(child, [...path, 'routes', i], visit));
}

/** Compiles a validated config. Exposed for tests and the built-in default. */
export function compilePolicy(config: PolicyConfig, source: string, opts: LoadOptions = {}): LoadedPolicy {
  const severity = Object.fromEntries(
    CATEGORIES.map((c) => [c, Object.fromEntries(DRIFT_STATES.map((s) => [s, config.severity?.[c]?.[s] ?? DEFAULT_SEVERITY[c][s]]))]),
  ) as unknown as SeverityMatrix;
  const rootReceiver = config.route.receiver ?? '';
  const route: CompiledRoute = compileRoute(config.route, { ...ROUTE_DEFAULTS, ...opts.timing, receiver: rootReceiver });
  let routes = 0;
  walkRoutes(config.route, [], () => routes++);
  return {
    source,
    config,
    classify: { catalog: opts.catalog ?? createCatalog(), severity, rules: compileRules(config.rules), route, notifyNonMesh: config.notify_non_mesh === true },
    receivers: config.receivers,
    inhibitRules: [...compileInhibitRules(BUILTIN_INHIBIT_RULES), ...compileInhibitRules(config.inhibit_rules)],
    timeIntervals: compileTimeIntervals(config.time_intervals),
    summary: { rules: config.rules.length, receivers: config.receivers.length, routes },
  };
}

/** Parses and checks policy text. Never throws for bad input: returns every error found. */
export function loadPolicyText(text: string, file: string, opts: LoadOptions = {}): LoadResult {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const errors: PolicyError[] = [];
  const at = (path: Path, message: string, key?: string, col?: number) => {
    const where = pathText(key === undefined ? path : [...path, key]);
    const inner = { text, col: col ?? matcherCol(message) };
    errors.push({ file, ...position(doc, lines, path, key, inner), message: where === '' ? message : `${where}: ${message}` });
  };

  for (const e of doc.errors) {
    const pos = lines.linePos(e.pos[0]);
    errors.push({ file, line: pos.line, col: pos.col, message: `YAML: ${e.message.split('\n')[0] ?? e.message}` });
  }
  if (errors.length > 0) return { ok: false, errors };
  let raw: unknown;
  try {
    raw = doc.toJS();
  } catch (err) {
    // yaml throws while resolving aliases: one used before its anchor, or an alias bomb past its limit.
    return { ok: false, errors: [{ file, line: 1, col: 1, message: `YAML: ${err instanceof Error ? err.message : String(err)}` }] };
  }
  if (raw === null || raw === undefined)
    return { ok: false, errors: [{ file, line: 1, col: 1, message: 'the policy file is empty: it needs at least `receivers` and `route`' }] };

  const parsed = policySchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const receiver = receiverNameOf(raw, issue.path);
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) at(issue.path, `unknown key${receiver} (check the spelling; see config/policy.example.yaml)`, key);
      } else {
        at(issue.path, `${issue.message}${receiver}`);
      }
    }
    // The next layer runs anyway, on what parsed: every mistake of the file in one run (issue #19).
    checkReferences(raw, at, opts.env);
    return { ok: false, errors: inFileOrder(errors) };
  }
  const config = parsed.data;

  // Cross-references (policy-refs.ts), as Alertmanager's checkReceiver does.
  checkReferences(raw, at, opts.env);
  if (errors.length > 0) return { ok: false, errors: inFileOrder(errors) };
  return { ok: true, policy: compilePolicy(config, file, opts) };
}

export async function loadPolicyFile(file: string, opts: LoadOptions = {}): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const code = err instanceof Error && 'code' in err ? String(err.code) : '';
    return {
      ok: false,
      errors: [{ file, line: 0, col: 0, message: code === 'ENOENT' ? 'file not found' : `cannot read: ${err instanceof Error ? err.message : String(err)}` }],
    };
  }
  return loadPolicyText(text, file, opts);
}
