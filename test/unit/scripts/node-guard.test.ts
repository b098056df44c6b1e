import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

const require = createRequire(import.meta.url);
const guard = require('../../../scripts/node-guard.cjs') as {
  REQUIRED_MAJOR: number;
  nodeGuardMessage(version: string, env: Record<string, string | undefined>, fallback: string): string | null;
};
const ROOT = new URL('../../../', import.meta.url);

describe('the Node version guard (scripts/node-guard.cjs)', () => {
  it('turns away Node 20 with the exact command to use, per npm script', () => {
    const demo = guard.nodeGuardMessage('20.20.2', { npm_lifecycle_event: 'demo' }, 'unused');
    expect(demo).toContain('meshdrift needs Node 24 or newer; this is Node v20.20.2.');
    expect(demo).toContain('\n  npx -y -p node@24 -- npm run demo\n');
    expect(guard.nodeGuardMessage('v22.1.0', { npm_lifecycle_event: 'test' }, 'unused')).toContain('npx -y -p node@24 -- npm test\n');
    expect(guard.nodeGuardMessage('18.0.0', { npm_lifecycle_event: 'start' }, 'unused')).toContain('npx -y -p node@24 -- npm start\n');
    // Outside npm (or under npx), the caller's own command.
    expect(guard.nodeGuardMessage('20.0.0', {}, 'node bin/meshdrift.cjs serve')).toContain('npx -y -p node@24 -- node bin/meshdrift.cjs serve\n');
    expect(guard.nodeGuardMessage('20.0.0', { npm_lifecycle_event: 'npx' }, 'node bin/meshdrift.cjs demo')).toContain('-- node bin/meshdrift.cjs demo\n');
  });

  it('lets Node 24 and newer through', () => {
    expect(guard.nodeGuardMessage('24.0.0', {}, 'x')).toBeNull();
    expect(guard.nodeGuardMessage('v25.2.1', { npm_lifecycle_event: 'demo' }, 'x')).toBeNull();
  });

  it('guards every npm script that runs meshdrift code, and npm ci (engine-strict, engines)', () => {
    const pkg = JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as {
      engines: Record<string, string>;
      bin: Record<string, string>;
      scripts: Record<string, string>;
    };
    for (const name of ['build', 'typecheck', 'lint', 'format', 'test', 'test:unit', 'test:faults', 'start']) {
      expect(pkg.scripts[name], name).toMatch(/^node scripts\/node-guard\.cjs && /);
    }
    // The launcher runs the guard itself.
    for (const name of ['demo', 'serve']) expect(pkg.scripts[name], name).toMatch(/^node bin\/meshdrift\.cjs /);
    expect(pkg.bin.meshdrift).toBe('bin/meshdrift.cjs');
    expect(pkg.engines.node).toBe(`>=${guard.REQUIRED_MAJOR}`);
    // npm prints the engines object when it refuses to install: the command is in it.
    expect(pkg.engines['with-older-node']).toBe('npx -y -p node@24 -- npm ci');
    expect(readFileSync(new URL('.npmrc', ROOT), 'utf8')).toMatch(/^engine-strict=true$/m);
  });
});
