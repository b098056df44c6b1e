#!/usr/bin/env bash
# Runs `node "$@"` on Node 24, as .ci/run does: the system node when it is 24 or newer, else Node 24
# from the npm registry through npx (the system node is left alone). NODE24=<path to a node 24
# binary> skips both (e.g. a cached one when npx cannot run). The benches start their children
# (meshdrift, load generators) with process.execPath, so they run on the same Node 24.
set -euo pipefail
if [ -n "${NODE24:-}" ]; then exec "$NODE24" "$@"; fi
major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$major" -ge 24 ]; then exec node "$@"; fi
exec npx -y -p node@24 -- node "$@"
