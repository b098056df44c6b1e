#!/usr/bin/env node
'use strict';
// The `meshdrift` command (package.json "bin"; `npm run demo` and `npm run serve` start it too).
// Plain JavaScript any Node parses: on Node older than 24 it stops with the command to use
// (scripts/node-guard.cjs) instead of ERR_UNKNOWN_FILE_EXTENSION on the TypeScript sources.
// In a checkout it runs the sources (src/main.ts, as Node 24 strips the types); where there are
// none, or under node_modules (where Node does not strip types), the build (dist/main.js, `npm run build`).
var fs = require('node:fs');
var path = require('node:path');
var url = require('node:url');

// The command to suggest runs this file by its path: `npx meshdrift` finds a checkout's own bin,
// but `npx -p node@24 -- meshdrift` does not.
var self = path.relative(process.cwd(), __filename);
var args = process.argv.slice(2);
require('../scripts/node-guard.cjs').requireNode24(['node', self].concat(args).map(function (a) { return /^[\w./@=:,+-]+$/.test(a) ? a : JSON.stringify(a); }).join(' '));

var root = path.join(__dirname, '..');
var src = path.join(root, 'src', 'main.ts');
var dist = path.join(root, 'dist', 'main.js');
var entry = fs.existsSync(src) && root.split(path.sep).indexOf('node_modules') === -1 ? src : dist;
if (!fs.existsSync(entry)) {
  process.stderr.write('meshdrift: ' + path.relative(process.cwd(), dist) + ' is missing: build it first with `npm run build`\n');
  process.exit(1);
}
import(url.pathToFileURL(entry).href).catch(function (err) {
  process.stderr.write('meshdrift: ' + (err && err.stack ? err.stack : String(err)) + '\n');
  process.exit(1);
});
