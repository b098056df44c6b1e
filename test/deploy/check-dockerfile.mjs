// Lints the Dockerfile offline, without a Docker engine (none runs in CI, and hadolint is neither a
// Debian nor an npm package):
//  1. dockerfile-utils (the validator behind the VS Code Docker language server): instruction syntax,
//     unknown instructions and flags, bad durations in HEALTHCHECK, duplicate CMD/ENTRYPOINT,
//     deprecated instructions. Any error or warning fails.
//  2. What issue #7 asks of the image, and the hadolint rules that matter here: multi-stage, base
//     images pinned to a tag (not latest, DL3006/DL3007) and small (slim/alpine/distroless) in the
//     final stage, `npm ci --omit=dev` there, a non-root USER before the entrypoint (DL3002),
//     a HEALTHCHECK on /healthz, EXPOSE of the port the manifests use, exec-form ENTRYPOINT/CMD so
//     SIGTERM reaches node (DL3025), and every COPY source present and not excluded by .dockerignore.
//   node test/deploy/check-dockerfile.mjs [Dockerfile]
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { validate } from 'dockerfile-utils';

const root = fileURLToPath(new URL('../../', import.meta.url));
const file = process.argv[2] ?? `${root}Dockerfile`;
const name = file.replace(root, '');
const text = readFileSync(file, 'utf8');
const errors = [];
const fail = (line, msg) => errors.push(`${name}${line ? `:${line}` : ''}: ${msg}`);

// ---- 1. dockerfile-utils --------------------------------------------------------------------------
const SEVERITY = { 1: 'error', 2: 'warning' };
for (const d of validate(text)) {
  if (d.severity in SEVERITY) fail(d.range.start.line + 1, `${SEVERITY[d.severity]}: ${d.message}`);
}

// ---- 2. the image rules ------------------------------------------------------------------------
/** Instructions with continuation lines joined: { line, keyword, args }. */
function instructions(src) {
  const out = [];
  let pending;
  src.split('\n').forEach((raw, i) => {
    const lineText = raw.trimEnd();
    if (!pending && (/^\s*#/.test(lineText) || lineText.trim() === '')) return;
    if (pending && /^\s*#/.test(lineText)) return; // comments inside a continuation are dropped
    const body = lineText.endsWith('\\') ? lineText.slice(0, -1) : lineText;
    if (pending) pending.args += ` ${body.trim()}`;
    else {
      const m = body.trim().match(/^(\S+)\s*(.*)$/);
      pending = { line: i + 1, keyword: m[1].toUpperCase(), args: m[2] };
    }
    if (!lineText.endsWith('\\')) {
      out.push(pending);
      pending = undefined;
    }
  });
  if (pending) out.push(pending);
  return out;
}

const all = instructions(text);
const stages = [];
for (const ins of all) {
  if (ins.keyword === 'FROM') stages.push({ from: ins, body: [] });
  else stages.at(-1)?.body.push(ins);
}
if (stages.length < 2) fail(0, `must be a multi-stage build (build stage + runtime stage); it has ${stages.length} stage(s)`);
const stageNames = new Set(stages.map((s) => s.from.args.match(/\bAS\s+(\S+)/i)?.[1]).filter(Boolean));
for (const { from } of stages) {
  const image = from.args.replace(/--platform=\S+\s*/, '').split(/\s+/)[0];
  if (stageNames.has(image)) continue;
  if (!/[:@]/.test(image.split('/').pop())) fail(from.line, `base image ${image} has no tag: pin it (e.g. node:24-slim)`);
  else if (/:latest$/.test(image)) fail(from.line, `base image ${image} uses latest: pin a version`);
}
const final = stages.at(-1);
if (final) {
  const base = final.from.args.split(/\s+/)[0];
  if (!/slim|alpine|distroless|chainguard/.test(base)) fail(final.from.line, `final stage base ${base} is not a small image (slim, alpine or distroless)`);
  const runs = final.body.filter((i) => i.keyword === 'RUN');
  if (!runs.some((r) => /\bnpm ci\b[^&;|]*--omit=dev/.test(r.args)))
    fail(final.from.line, 'final stage must install production dependencies only: RUN npm ci --omit=dev');
  for (const r of runs) {
    if (/\bnpm (install|i)\b/.test(r.args) || (/\bnpm ci\b/.test(r.args) && !/--omit=dev/.test(r.args)))
      fail(r.line, 'final stage installs dev dependencies (use npm ci --omit=dev)');
  }
  const users = final.body.filter((i) => i.keyword === 'USER');
  const user = users.at(-1);
  if (!user) fail(final.from.line, 'final stage has no USER: the image would run as root');
  else if (/^(root|0)(:|$)/.test(user.args.trim())) fail(user.line, `USER ${user.args.trim()} is root`);
  const entry = final.body.filter((i) => i.keyword === 'ENTRYPOINT' || i.keyword === 'CMD');
  if (user && entry.some((e) => e.line < user.line)) fail(user.line, 'USER must come before ENTRYPOINT/CMD');
  if (entry.length === 0) fail(final.from.line, 'final stage has no ENTRYPOINT or CMD');
  for (const e of entry) {
    let exec;
    try {
      exec = JSON.parse(e.args);
    } catch {
      exec = undefined;
    }
    if (!Array.isArray(exec)) fail(e.line, `${e.keyword} must use the exec form ["node", ...] so that SIGTERM reaches node (shell form runs /bin/sh -c)`);
  }
  const hc = final.body.find((i) => i.keyword === 'HEALTHCHECK');
  if (!hc) fail(final.from.line, 'final stage has no HEALTHCHECK');
  else if (!/\/healthz/.test(hc.args)) fail(hc.line, 'HEALTHCHECK must probe /healthz');
  const expose = final.body.filter((i) => i.keyword === 'EXPOSE').flatMap((i) => i.args.split(/\s+/));
  if (!expose.some((p) => p.replace(/\/tcp$/, '') === '8080'))
    fail(final.from.line, 'final stage must EXPOSE 8080 (the port of deploy/kubernetes and docker-compose.yml)');
}

// COPY sources from the build context must exist and must not be excluded by .dockerignore.
const ignoreFile = `${root}.dockerignore`;
const ignores = existsSync(ignoreFile)
  ? readFileSync(ignoreFile, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'))
  : [];
if (ignores.length === 0) fail(0, '.dockerignore is missing or empty');
for (const must of ['node_modules', '.git'])
  if (!ignores.includes(must)) fail(0, `.dockerignore must exclude ${must} (size, and no local secrets in the build context)`);
const globToRegExp = (glob) =>
  new RegExp(
    `^${glob
      .replace(/\/$/, '')
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*\*/g, '\u0000')
      .replace(/\*/g, '[^/]*')
      .replace(/\?/g, '[^/]')
      .replace(/\u0000/g, '.*')}(/.*)?$`,
  );
const ignored = (path) => {
  let out = false;
  for (const pattern of ignores) {
    const negate = pattern.startsWith('!');
    if (globToRegExp(negate ? pattern.slice(1) : pattern).test(path)) out = !negate;
  }
  return out;
};
for (const { body } of stages) {
  for (const ins of body.filter((i) => i.keyword === 'COPY' || i.keyword === 'ADD')) {
    if (/--from=/.test(ins.args)) continue;
    const parts = ins.args.split(/\s+/).filter((p) => !p.startsWith('--'));
    for (const src of parts.slice(0, -1)) {
      const path = src.replace(/^\.\//, '').replace(/\/$/, '');
      if (!existsSync(`${root}${path}`)) fail(ins.line, `${ins.keyword} source ${src} does not exist`);
      else if (ignored(path)) fail(ins.line, `${ins.keyword} source ${src} is excluded by .dockerignore: the build would fail`);
    }
  }
}

if (errors.length > 0) {
  for (const e of errors) console.error(`FAIL ${e}`);
  process.exit(1);
}
console.log(
  `ok   ${name}: dockerfile-utils clean; ${stages.length} stages, final FROM ${final.from.args.split(/\s+/)[0]}, non-root, HEALTHCHECK, production dependencies only; .dockerignore keeps the COPY sources`,
);
