#!/usr/bin/env bash
# Lints docker-compose.yml offline (no Docker engine needed).
#  1. `docker compose config -q` (or the standalone `docker-compose`) when one is installed: the
#     real parser, with every profile enabled.
#  2. Otherwise, and always in addition, a structural check with node and the `yaml` package:
#     the services and profiles the docs promise, images, commands, files that are mounted.
#  3. `amtool check-config` on the Alertmanager config when amtool is installed.
# Usage: test/deploy/check-compose.sh   (from anywhere; exit 1 on any problem)
set -euo pipefail
cd "$(dirname "$0")/../.."
FILE=docker-compose.yml
NODE=(node)
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 22 ? 0 : 1)' 2>/dev/null; then
  NODE=(npx -y -p node@24 -- node)
fi

compose=()
if docker compose version >/dev/null 2>&1; then compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then compose=(docker-compose)
fi
if [ ${#compose[@]} -gt 0 ]; then
  echo "check-compose: ${compose[*]} config (all profiles)"
  "${compose[@]}" -f "$FILE" --profile demo --profile alertmanager config -q
  services="$("${compose[@]}" -f "$FILE" --profile demo --profile alertmanager config --services | sort | tr '\n' ' ')"
  [ "$services" = "alertmanager demo meshdrift redis " ] || { echo "check-compose: unexpected services: $services" >&2; exit 1; }
else
  echo "check-compose: no docker compose here; structural check only"
fi

"${NODE[@]}" --input-type=module - "$FILE" <<'JS'
import { existsSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
const file = process.argv[2];
const problems = [];
const doc = parse(readFileSync(file, 'utf8'), { uniqueKeys: true });
const services = doc?.services ?? {};
const want = { redis: undefined, meshdrift: undefined, demo: 'demo', alertmanager: 'alertmanager' };
for (const [name, profile] of Object.entries(want)) {
  const s = services[name];
  if (!s) { problems.push(`service ${name} is missing`); continue; }
  const profiles = s.profiles ?? [];
  if (profile === undefined && profiles.length > 0) problems.push(`${name} must run without a profile`);
  if (profile !== undefined && !profiles.includes(profile)) problems.push(`${name} must be in profile ${profile}`);
  if (!s.image && !s.build) problems.push(`${name} needs image or build`);
}
const extra = Object.keys(services).filter((n) => !(n in want));
if (extra.length) problems.push(`unexpected services: ${extra.join(', ')}`);
const known = new Set(['image', 'build', 'command', 'environment', 'ports', 'volumes', 'depends_on', 'healthcheck', 'profiles', 'read_only', 'restart']);
for (const [name, s] of Object.entries(services)) {
  for (const key of Object.keys(s)) if (!known.has(key)) problems.push(`${name}: key ${key} is not one this check knows (typo?)`);
  for (const [dep, cond] of Object.entries(s.depends_on ?? {})) {
    if (!services[dep]) problems.push(`${name} depends on undefined service ${dep}`);
    if (cond?.condition === 'service_healthy' && !services[dep]?.healthcheck) problems.push(`${name} waits for ${dep} to be healthy, but ${dep} has no healthcheck`);
  }
  for (const v of s.volumes ?? []) {
    const src = String(v).split(':')[0];
    if (src.startsWith('.') && !existsSync(src)) problems.push(`${name} mounts ${src}, which does not exist`);
    if (!src.startsWith('.') && !src.startsWith('/') && !(doc.volumes && src in doc.volumes)) problems.push(`${name} uses undeclared volume ${src}`);
  }
  for (const p of s.ports ?? []) if (!String(p).startsWith('127.0.0.1:')) problems.push(`${name} publishes ${p} beyond localhost`);
}
const env = (n) => services[n]?.environment ?? {};
if (env('meshdrift').REDIS_URL !== 'redis://redis:6379') problems.push('meshdrift must use the compose Redis (REDIS_URL=redis://redis:6379)');
if (env('demo').REDIS_URL !== 'redis://redis:6379') problems.push('demo must use the compose Redis (REDIS_URL=redis://redis:6379)');
if (JSON.stringify(services.demo?.command) !== '["demo"]') problems.push('demo must run `meshdrift demo` (command: ["demo"])');
if (!String(services.alertmanager?.image ?? '').startsWith('prom/alertmanager')) problems.push('alertmanager must use the prom/alertmanager image');
if (!(services.redis?.command ?? []).includes('noeviction')) problems.push('redis needs --maxmemory-policy noeviction (BullMQ)');
if (problems.length) { for (const p of problems) console.error(`check-compose: ${p}`); process.exit(1); }
console.log(`check-compose: ${file}: structure OK (${Object.keys(services).join(', ')})`);
JS

if command -v amtool >/dev/null 2>&1; then
  amtool check-config deploy/compose/alertmanager.yml >/dev/null && echo "check-compose: amtool check-config deploy/compose/alertmanager.yml OK"
else
  echo "check-compose: amtool not installed; Alertmanager config not checked"
fi
if [ -f dist/main.js ] || [ -f src/main.ts ]; then
  "${NODE[@]}" src/main.ts validate deploy/compose/policy-alertmanager.yaml
  echo
fi
echo "check-compose: OK"
