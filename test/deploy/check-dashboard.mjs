// Structure of deploy/grafana/meshdrift-dashboard.json: importable (the ${DS_PROMETHEUS} input),
// provisionable (a DS_PROMETHEUS datasource variable), every panel and query on that datasource,
// unique panel ids, a recent schemaVersion, panels on the grid without overlaps, every query valid
// PromQL (parsed by promtool).
//   node test/deploy/check-dashboard.mjs
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const file = 'deploy/grafana/meshdrift-dashboard.json';
const errors = [];
const fail = (msg) => errors.push(`${file}: ${msg}`);
let dash;
try {
  dash = JSON.parse(readFileSync(`${root}${file}`, 'utf8'));
} catch (err) {
  console.error(`FAIL ${file}: ${err.message}`);
  process.exit(1);
}

const DS = '${DS_PROMETHEUS}';
if (!(dash.__inputs ?? []).some((i) => i.name === 'DS_PROMETHEUS' && i.type === 'datasource' && i.pluginId === 'prometheus'))
  fail('__inputs needs DS_PROMETHEUS (datasource, prometheus)');
if (!(dash.templating?.list ?? []).some((v) => v.name === 'DS_PROMETHEUS' && v.type === 'datasource' && v.query === 'prometheus'))
  fail('templating needs a DS_PROMETHEUS datasource variable (for provisioning without import)');
if (!(Number.isInteger(dash.schemaVersion) && dash.schemaVersion >= 36)) fail(`schemaVersion ${dash.schemaVersion} is old (want >= 36)`);
for (const key of ['uid', 'title']) if (typeof dash[key] !== 'string' || dash[key] === '') fail(`missing ${key}`);
if (dash.uid && dash.uid.length > 40) fail('uid longer than 40 characters');
if ('id' in dash && dash.id !== null) fail('an exported dashboard must not carry a numeric id');

const isDs = (d) => d && d.type === 'prometheus' && d.uid === DS;
const flat = (panels) => (panels ?? []).flatMap((p) => [p, ...flat(p.panels)]);
const panels = flat(dash.panels);
const ids = new Set();
const KNOWN = new Set(['row', 'timeseries', 'stat', 'gauge', 'bargauge', 'table', 'text', 'heatmap', 'piechart']);
let queries = 0;
const cells = new Map();
for (const p of panels) {
  const name = `panel ${p.id} "${p.title}"`;
  if (!Number.isInteger(p.id)) fail(`${name}: id must be an integer`);
  else if (ids.has(p.id)) fail(`${name}: duplicate id`);
  ids.add(p.id);
  if (!KNOWN.has(p.type)) fail(`${name}: unknown panel type ${p.type}`);
  if (!p.title) fail(`panel ${p.id}: no title`);
  const g = p.gridPos;
  if (!g || ![g.x, g.y, g.w, g.h].every(Number.isInteger) || g.x < 0 || g.w < 1 || g.x + g.w > 24 || g.h < 1) fail(`${name}: bad gridPos ${JSON.stringify(g)}`);
  else {
    for (let x = g.x; x < g.x + g.w; x++)
      for (let y = g.y; y < g.y + g.h; y++) {
        const k = `${x},${y}`;
        if (cells.has(k)) {
          fail(`${name}: overlaps panel ${cells.get(k)} at ${k}`);
          x = y = Infinity;
        } else cells.set(k, p.id);
      }
  }
  if (p.type === 'row') continue;
  if (!isDs(p.datasource)) fail(`${name}: datasource must be {type: prometheus, uid: ${DS}}`);
  if (!(p.targets ?? []).length) fail(`${name}: no queries`);
  const refIds = new Set();
  for (const t of p.targets ?? []) {
    queries++;
    if (!t.expr) fail(`${name} ${t.refId}: empty expr`);
    if (!isDs(t.datasource)) fail(`${name} ${t.refId}: datasource must be ${DS}`);
    if (refIds.has(t.refId)) fail(`${name}: duplicate refId ${t.refId}`);
    refIds.add(t.refId);
  }
}
for (const v of dash.templating?.list ?? []) if (v.type === 'query' && !isDs(v.datasource)) fail(`variable ${v.name}: datasource must be ${DS}`);

// Every query must be valid PromQL: promtool parses them as recording rules, with Grafana's
// variables replaced by what Grafana would put there ($__range, $__rate_interval -> a duration).
const promql = [];
for (const p of panels) for (const t of p.targets ?? []) if (t.expr) promql.push({ where: `panel ${p.id} "${p.title}" ${t.refId}`, expr: t.expr });
const grafanaVars = (expr) => expr.replace(/\$__(range|rate_interval|interval)\b/g, '5m').replace(/\$\{?(\w+)\}?/g, '.*');
const { spawnSync } = await import('node:child_process');
const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
const { tmpdir } = await import('node:os');
const dir = mkdtempSync(`${tmpdir()}/meshdrift-dashboard-`);
try {
  const rules = { groups: [{ name: 'dashboard', rules: promql.map((q, i) => ({ record: `dashboard:query_${i}`, expr: grafanaVars(q.expr) })) }] };
  writeFileSync(`${dir}/queries.json`, JSON.stringify(rules)); // JSON is YAML
  const r = spawnSync('promtool', ['check', 'rules', `${dir}/queries.json`], { encoding: 'utf8', timeout: 30_000 });
  if (r.error) fail(`promtool is needed to parse the queries (Debian package prometheus): ${r.error.message}`);
  else if (r.status !== 0) {
    const out = `${r.stdout}${r.stderr}`;
    // promtool names the failing rule by its record name: map it back to the panel.
    for (const m of out.matchAll(/"dashboard:query_(\d+)":\s*(.*)/g)) {
      const q = promql[Number(m[1])];
      if (q) fail(`${q.where}: ${m[2]}`);
    }
    if (errors.length === 0) fail(`promtool check rules failed on the queries:\n${out}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

if (errors.length > 0) {
  for (const e of errors) console.error(`FAIL ${e}`);
  process.exit(1);
}
console.log(
  `ok   dashboard: schemaVersion ${dash.schemaVersion}, ${panels.filter((p) => p.type !== 'row').length} panels, ${queries} queries, all on ${DS}, all valid PromQL (promtool)`,
);
