'use strict';
// meshdrift needs Node 24 (it runs its TypeScript sources directly and uses Node 24 APIs). This file
// stops any older Node at once with the command to use instead, rather than letting it fail minutes
// later with ERR_UNKNOWN_FILE_EXTENSION ".ts" or "Map.groupBy is not a function" (issue #19).
// Plain old JavaScript on purpose: it must parse and run on the old Node it turns away.
// Used by bin/meshdrift.cjs and, as `node scripts/node-guard.cjs && ...`, by the package.json scripts.
// (`npm ci` itself is stopped by `engine-strict=true` in .npmrc and package.json "engines".)

var REQUIRED_MAJOR = 24;

/** The command the user ran, as npm tells its scripts (npm_lifecycle_event), else `fallback`. */
function commandOf(env, fallback) {
  var event = env.npm_lifecycle_event;
  if (typeof event === 'string' && event !== '' && event !== 'npx') {
    return event === 'test' || event === 'start' ? 'npm ' + event : 'npm run ' + event;
  }
  return fallback;
}

/** The message for Node `version` ("20.20.2"), or null when it is new enough. */
function nodeGuardMessage(version, env, fallback) {
  var major = parseInt(String(version).replace(/^v/, '').split('.')[0], 10);
  if (major >= REQUIRED_MAJOR) return null;
  return (
    'meshdrift needs Node ' +
    REQUIRED_MAJOR +
    ' or newer; this is Node v' +
    String(version).replace(/^v/, '') +
    '.\n' +
    'Run it with Node ' +
    REQUIRED_MAJOR +
    ' from the npm registry (nothing on the system changes):\n' +
    '  npx -y -p node@' +
    REQUIRED_MAJOR +
    ' -- ' +
    commandOf(env, fallback) +
    '\n'
  );
}

/** Exits 1 with the message on a Node older than 24. */
function requireNode24(fallback) {
  var message = nodeGuardMessage(process.versions.node, process.env, fallback);
  if (message !== null) {
    process.stderr.write(message);
    process.exit(1);
  }
}

module.exports = { REQUIRED_MAJOR: REQUIRED_MAJOR, nodeGuardMessage: nodeGuardMessage, requireNode24: requireNode24 };

if (require.main === module) requireNode24('npm ci');
