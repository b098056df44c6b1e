// Every metric the Grafana dashboard, the alert rules and the promtool tests use must be one that
// meshdrift exports: a metric of src/metrics.ts, a default process metric prom-client registers
// (meshdrift_process_*, meshdrift_nodejs_*), or `up`. Label names used in matchers and in by/without
// must exist on those metrics (or be a scrape target label), and matcher values of enumerated labels
// (outcome, severity, category) must be values meshdrift can emit.
// Then the same names are checked against a running meshdrift: `meshdrift serve` (src/main.ts) starts
// on a free loopback port with its own Redis key prefix, and every metric the dashboard and the rules
// query must have a `# TYPE` line on its /metrics (labelled counters have no sample before their first
// increment, so samples cannot be asked for; a histogram's _bucket/_sum/_count come from its TYPE line).
// The registry gives the labels; the running service proves it really serves those metrics.
// Redis: REDIS_URL, else 127.0.0.1:6379, else a throwaway redis-server (src/cli/redis-finder.ts).
// Needs Node >= 24 (imports src/*.ts directly).  node test/deploy/check-metrics.mjs
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

const root = fileURLToPath(new URL('../../', import.meta.url));
const rel = (p) => p.replace(root, '');
const errors = [];
const fail = (where, msg) => errors.push(`${where}: ${msg}`);

// ---- What meshdrift exports, from the real registry ---------------------------------------------
const { createMetrics } = await import(`${root}src/metrics.ts`);
const { SEVERITIES } = await import(`${root}src/model/severity.ts`);
const { CATEGORIES } = await import(`${root}src/model/finding.ts`);
const { QUEUE_NAMES, QUEUE_JOB_STATES } = await import(`${root}src/queue/queues.ts`);
const metrics = createMetrics();
const TARGET_LABELS = ['job', 'instance', 'namespace', 'pod', 'service', 'container', 'endpoint'];
/** name -> Set of label names (target labels excluded). */
const known = new Map();
const own = new Set();
for (const m of await metrics.registry.getMetricsAsJSON()) {
  const labelNames = metrics.registry.getSingleMetric(m.name)?.labelNames ?? [];
  const add = (name, extra = []) => known.set(name, new Set([...labelNames, ...extra]));
  if (m.type === 'histogram') {
    add(`${m.name}_bucket`, ['le']);
    add(`${m.name}_sum`);
    add(`${m.name}_count`);
  } else if (m.type === 'summary') {
    add(m.name, ['quantile']);
    add(`${m.name}_sum`);
    add(`${m.name}_count`);
  } else add(m.name);
  if (!/^meshdrift_(process|nodejs)_/.test(m.name)) own.add(m.name);
}
known.set('up', new Set());
for (const name of known.keys()) {
  if (!name.startsWith('meshdrift_') && name !== 'up') fail('src/metrics.ts', `metric ${name} lacks the meshdrift_ prefix`);
}

// Label values meshdrift can emit, from the source of truth.
const metricsSource = readFileSync(`${root}src/metrics.ts`, 'utf8');
function unionType(name) {
  const m = metricsSource.match(new RegExp(`type ${name}\\s*=\\s*([^;]+);`));
  if (!m) {
    fail('src/metrics.ts', `cannot find the type ${name} (its values check the alert rules)`);
    return [];
  }
  return [...m[1].matchAll(/'([^']+)'/g)].map((x) => x[1]);
}
const ENUMS = {
  meshdrift_signals_total: { outcome: unionType('SignalOutcome') },
  meshdrift_notifications_total: { outcome: unionType('DeliveryOutcome') },
  meshdrift_findings_total: { severity: [...SEVERITIES], category: [...CATEGORIES] },
  meshdrift_active_findings: { severity: [...SEVERITIES], category: [...CATEGORIES] },
  meshdrift_queue_jobs: { queue: Object.values(QUEUE_NAMES), state: [...QUEUE_JOB_STATES] },
};

// ---- A small PromQL scanner --------------------------------------------------------------------
const FUNCTIONS = new Set(
  `abs absent absent_over_time avg avg_over_time bottomk ceil changes clamp clamp_max clamp_min count count_over_time count_values
   day_of_month day_of_week day_of_year days_in_month delta deriv exp floor group histogram_quantile holt_winters hour idelta
   increase irate label_join label_replace last_over_time ln log10 log2 max max_over_time min min_over_time minute month
   predict_linear present_over_time quantile quantile_over_time rate resets round scalar sgn sort sort_desc sqrt stddev
   stddev_over_time stdvar stdvar_over_time sum sum_over_time time timestamp topk vector year`.split(/\s+/),
);
const GROUPING = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'atan2']);

function tokenize(src) {
  const out = [];
  let i = 0;
  while (i < src.length) {
    const rest = src.slice(i);
    let m;
    if ((m = rest.match(/^\s+/)) || (m = rest.match(/^#[^\n]*/))) i += m[0].length;
    else if ((m = rest.match(/^"(?:[^"\\]|\\.)*"|^'(?:[^'\\]|\\.)*'|^`[^`]*`/))) {
      out.push({ t: 'str', v: m[0].slice(1, -1) });
      i += m[0].length;
    } else if ((m = rest.match(/^\$\{[^}]*\}|^\$[A-Za-z_]\w*/))) {
      out.push({ t: 'var', v: m[0] });
      i += m[0].length;
    } else if ((m = rest.match(/^[0-9.][0-9a-zA-Z.+]*/))) {
      out.push({ t: 'num', v: m[0] });
      i += m[0].length;
    } else if ((m = rest.match(/^[A-Za-z_:][A-Za-z0-9_:]*/))) {
      out.push({ t: 'id', v: m[0] });
      i += m[0].length;
    } else if ((m = rest.match(/^(=~|!~|!=|==|>=|<=)/))) {
      out.push({ t: 'op', v: m[0] });
      i += 2;
    } else {
      out.push({ t: 'op', v: src[i] });
      i += 1;
    }
  }
  return out;
}

/** Checks one expression; returns the metric names it uses. */
function checkExpr(expr, where) {
  const toks = tokenize(expr);
  const used = [];
  const grouping = [];
  for (let i = 0; i < toks.length; i++) {
    const tok = toks[i];
    if (tok.t === 'op' && tok.v === '[') {
      while (i < toks.length && !(toks[i].t === 'op' && toks[i].v === ']')) i++;
      continue;
    }
    if (tok.t === 'op' && tok.v === '{') {
      const metric = toks[i - 1]?.t === 'id' && !FUNCTIONS.has(toks[i - 1].v) ? toks[i - 1].v : null;
      if (!metric) fail(where, 'a selector without a metric name ({...} alone) cannot be checked');
      i++;
      while (i < toks.length && !(toks[i].t === 'op' && toks[i].v === '}')) {
        if (toks[i].t === 'op' && toks[i].v === ',') {
          i++;
          continue;
        }
        const [label, op, value] = [toks[i], toks[i + 1], toks[i + 2]];
        if (label?.t !== 'id' || op?.t !== 'op' || value?.t !== 'str') {
          fail(where, `cannot read the label matcher near "${label?.v ?? ''}"`);
          break;
        }
        if (metric) checkMatcher(metric, label.v, op.v, value.v, where);
        i += 3;
      }
      continue;
    }
    if (tok.t !== 'id') continue;
    const next = toks[i + 1];
    if (GROUPING.has(tok.v)) {
      if (next?.t === 'op' && next.v === '(') {
        i += 2;
        while (i < toks.length && !(toks[i].t === 'op' && toks[i].v === ')')) {
          if (toks[i].t === 'id') grouping.push(toks[i].v);
          i++;
        }
      }
      continue;
    }
    if (KEYWORDS.has(tok.v)) continue;
    // An aggregation with its grouping first: sum by (a) (...).
    if (FUNCTIONS.has(tok.v) && next?.t === 'id' && (next.v === 'by' || next.v === 'without')) continue;
    if (next?.t === 'op' && next.v === '(') {
      if (!FUNCTIONS.has(tok.v)) fail(where, `unknown PromQL function ${tok.v}()`);
      continue;
    }
    used.push(tok.v);
    if (!known.has(tok.v)) fail(where, `metric ${tok.v} is not exported by meshdrift (src/metrics.ts or prom-client defaults)`);
  }
  const labelsInExpr = new Set(TARGET_LABELS);
  for (const m of used) for (const l of known.get(m) ?? []) labelsInExpr.add(l);
  for (const l of grouping) if (!labelsInExpr.has(l)) fail(where, `groups by label "${l}", which none of ${used.join(', ') || '(no metric)'} has`);
  return used;
}

function checkMatcher(metric, label, op, value, where) {
  const labels = known.get(metric);
  if (!labels) return; // reported as an unknown metric
  if (label !== '__name__' && !labels.has(label) && !TARGET_LABELS.includes(label)) {
    fail(where, `${metric} has no label "${label}" (it has: ${[...labels].join(', ') || 'none'})`);
    return;
  }
  const allowed = ENUMS[metric]?.[label];
  if (!allowed || value.includes('$')) return;
  let values = [];
  if (op === '=' || op === '!=') values = [value];
  else if (/^[A-Za-z0-9_|-]+$/.test(value)) values = value.split('|');
  for (const v of values)
    if (!allowed.includes(v)) fail(where, `${metric}{${label}${op}"${value}"}: "${v}" is not a value meshdrift emits (${allowed.join(', ')})`);
}

// ---- The expressions to check ------------------------------------------------------------------
let exprCount = 0;
const usedAll = new Set();
/** Metric name -> the first rule or panel that queries it (for messages). */
const queriedBy = new Map();
const use = (metric, where) => {
  usedAll.add(metric);
  if (!queriedBy.has(metric)) queriedBy.set(metric, where);
};
const check = (expr, where) => {
  exprCount++;
  for (const m of checkExpr(expr, where)) use(m, where);
};

const rulesFile = `${root}deploy/prometheus/rules.yaml`;
const rules = parse(readFileSync(rulesFile, 'utf8'));
for (const g of rules.groups ?? []) for (const r of g.rules ?? []) check(String(r.expr), `${rel(rulesFile)} ${r.alert ?? r.record}`);

const dashFile = `${root}deploy/grafana/meshdrift-dashboard.json`;
const dash = JSON.parse(readFileSync(dashFile, 'utf8'));
const allPanels = (panels) => (panels ?? []).flatMap((p) => [p, ...allPanels(p.panels)]);
for (const p of allPanels(dash.panels)) {
  for (const t of p.targets ?? []) if (t.expr) check(t.expr, `${rel(dashFile)} panel "${p.title}" ${t.refId}`);
}
for (const v of dash.templating?.list ?? []) {
  if (v.type !== 'query') continue;
  const q = typeof v.query === 'string' ? v.query : v.query?.query;
  const where = `${rel(dashFile)} variable $${v.name}`;
  const lv = String(q).match(/^label_values\((.*),\s*([A-Za-z_]\w*)\s*\)$/);
  if (!lv) {
    fail(where, `unsupported variable query "${q}" (use label_values(<selector>, <label>))`);
    continue;
  }
  const [metric] = checkExpr(lv[1], where);
  exprCount++;
  if (metric) use(metric, where);
  if (metric && !known.get(metric)?.has(lv[2]) && !TARGET_LABELS.includes(lv[2])) fail(where, `${metric} has no label "${lv[2]}"`);
}

// The promtool tests must feed series that meshdrift really exports, with real labels.
const testsDir = `${root}deploy/prometheus/tests`;
const { readdirSync } = await import('node:fs');
let seriesCount = 0;
for (const f of readdirSync(testsDir).filter((n) => n.endsWith('.yaml') || n.endsWith('.yml'))) {
  const doc = parse(readFileSync(`${testsDir}/${f}`, 'utf8'));
  for (const t of doc.tests ?? []) {
    for (const s of t.input_series ?? []) {
      seriesCount++;
      const where = `${rel(testsDir)}/${f} "${t.name}" series`;
      const name = String(s.series).match(/^[A-Za-z_:][A-Za-z0-9_:]*/)?.[0];
      // Other jobs' targets (up{job="other"}) are fine in tests: they show what must not fire.
      if (name === 'up') continue;
      checkExpr(s.series, where);
    }
  }
}

// ---- The same names on a running meshdrift's /metrics --------------------------------------------
const served = await scrapeRunningMeshdrift().catch((err) => {
  fail('meshdrift serve', err.message);
  return undefined;
});
if (served) {
  for (const name of [...usedAll].sort()) {
    if (name === 'up') continue; // Prometheus' own, per target
    if (!servedHas(served, name)) fail('meshdrift serve /metrics', `metric ${name} (queried by ${queriedBy.get(name)}) has no # TYPE line`);
  }
}

if (errors.length > 0) {
  for (const e of errors) console.error(`FAIL ${e}`);
  console.error(`check-metrics: ${errors.length} error(s)`);
  process.exit(1);
}
const unused = [...own].filter((m) => ![...usedAll].some((u) => u === m || u.startsWith(`${m}_`)));
console.log(
  `ok   metrics: ${exprCount} expressions (rules, dashboard panels and variables) and ${seriesCount} test series use ${usedAll.size} metric names, all exported by meshdrift with the labels and values used`,
);
console.log(
  `ok   meshdrift serve: all ${[...usedAll].filter((n) => n !== 'up').length} metric names the dashboard and the rules query are on its /metrics (${served.size} metric families there)`,
);
if (unused.length > 0) console.log(`note meshdrift metrics not on the dashboard or in rules: ${unused.join(', ')}`);

/** Whether a metric name is served: its own TYPE line, or a histogram's/summary's series. */
function servedHas(types, name) {
  if (types.has(name) && !['histogram', 'summary'].includes(types.get(name))) return true;
  const m = name.match(/^(.*)_(bucket|sum|count)$/);
  if (!m) return types.get(name) === 'summary';
  const family = types.get(m[1]);
  return family === 'histogram' || (family === 'summary' && m[2] !== 'bucket');
}

/**
 * Starts `meshdrift serve` (no clusters, no receivers: the console), waits for /readyz, reads
 * /metrics and stops it. Returns the metric families served, name -> type. Bounded: 20 s to get
 * ready, 5 s to stop; its Redis keys (own prefix) are deleted afterwards.
 */
async function scrapeRunningMeshdrift() {
  const { spawn } = await import('node:child_process');
  const { randomUUID } = await import('node:crypto');
  const { Redis } = await import('ioredis');
  const { findRedis, freePort, deleteKeysByPrefix } = await import(`${root}src/cli/redis-finder.ts`);
  const redis = await findRedis(process.env);
  const port = await freePort();
  const prefix = `deploy-checks-${randomUUID().slice(0, 8)}`;
  const url = `http://127.0.0.1:${port}`;
  let stderr = '';
  const child = spawn(process.execPath, [`${root}src/main.ts`, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      PORT: String(port),
      HOST: '127.0.0.1',
      REDIS_URL: redis.url,
      MESHDRIFT_KEY_PREFIX: prefix,
      MESHDRIFT_LOG_LEVEL: 'warn',
      MESHDRIFT_ALLOW_UNAUTHENTICATED: 'true',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr.on('data', (d) => (stderr += d.toString()));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  try {
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode} before it was ready:\n${stderr.slice(-2000)}`);
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined);
      if (res?.status === 200) break;
      if (Date.now() > deadline) throw new Error(`not ready on ${url} after 20 s (last /readyz: ${res?.status ?? 'no answer'}):\n${stderr.slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const res = await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) });
    if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
    const types = new Map();
    for (const m of (await res.text()).matchAll(/^# TYPE ([A-Za-z_:][A-Za-z0-9_:]*) (\w+)$/gm)) types.set(m[1], m[2]);
    if (types.size === 0) throw new Error('GET /metrics has no # TYPE line');
    return types;
  } finally {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    await deleteKeysByPrefix(client, prefix).finally(() => client.disconnect());
    await redis.stop();
  }
}
