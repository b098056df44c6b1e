import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// issue #19: on a Node older than 24, `npm ci`, `npm run <x>` and the `meshdrift` command stop at
// once with the command to use. Run with the machine's own old Node (Debian's is 20); skipped
// where every node on the machine is 24 or newer (test/unit/scripts/node-guard.test.ts still runs).

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function oldNode(): string | undefined {
  const which = spawnSync('which', ['-a', 'node'], { encoding: 'utf8' }).stdout.split('\n');
  for (const candidate of ['/usr/bin/node', '/usr/local/bin/node', ...which].filter((p) => p !== '' && existsSync(p))) {
    const v = spawnSync(candidate, ['-p', 'process.versions.node'], { encoding: 'utf8' });
    if (v.status === 0 && Number(v.stdout.split('.')[0]) < 24) return candidate;
  }
  return undefined;
}

const NODE = oldNode();
const NPM = NODE === undefined ? undefined : join(dirname(dirname(NODE)), 'lib/node_modules/npm/bin/npm-cli.js');
const HAS_NPM = NPM !== undefined && existsSync(NPM);

/** Only PATH (the old node first) and HOME: no npm_* variables of the npm running this test. */
function run(args: string[], cwd: string) {
  const env = { PATH: `${dirname(NODE ?? '/')}:/usr/bin:/bin`, HOME: process.env.HOME ?? tmpdir(), npm_config_update_notifier: 'false' };
  return spawnSync(NODE ?? 'node', args, { cwd, env, encoding: 'utf8', timeout: 60_000 });
}

describe.skipIf(NODE === undefined)(`on an old Node (${NODE ?? 'none found'})`, () => {
  it('the meshdrift command says to use Node 24, with the command, and exits 1', () => {
    const r = run(['bin/meshdrift.cjs', 'serve', '--help'], ROOT);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^meshdrift needs Node 24 or newer; this is Node v\d+\.\d+\.\d+\.\n/);
    expect(r.stderr).toContain('\n  npx -y -p node@24 -- node bin/meshdrift.cjs serve --help\n');
    expect(r.stderr).not.toContain('ERR_UNKNOWN_FILE_EXTENSION');
  });

  it.skipIf(!HAS_NPM)('npm run demo and npm test stop before running anything', () => {
    const demo = run([NPM!, 'run', 'demo', '--silent'], ROOT);
    expect(demo.status).toBe(1);
    expect(demo.stderr).toContain('\n  npx -y -p node@24 -- npm run demo\n');
    expect(demo.stdout).not.toContain('"receiver":"console"');
    const test = run([NPM!, 'test', '--silent'], ROOT);
    expect(test.status).toBe(1);
    expect(test.stderr).toContain('\n  npx -y -p node@24 -- npm test\n');
  });

  it.skipIf(!HAS_NPM)('npm ci refuses to install (engine-strict), naming the command in the engines it prints', () => {
    // A copy of what npm ci reads; --offline and --dry-run: should the check ever pass, nothing is fetched or written.
    const dir = mkdtempSync(join(tmpdir(), 'meshdrift-npm-ci-'));
    try {
      for (const f of ['package.json', 'package-lock.json', '.npmrc']) copyFileSync(join(ROOT, f), join(dir, f));
      const r = run([NPM!, 'ci', '--offline', '--dry-run', '--logs-max=0'], dir);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('EBADENGINE');
      expect(r.stderr).toContain('"with-older-node":"npx -y -p node@24 -- npm ci"');
      expect(existsSync(join(dir, 'node_modules'))).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the launcher (bin/meshdrift.cjs) picks what to run', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  /** A copy of the launcher and the guard, with stand-ins for src/main.ts and dist/main.js that say which ran. */
  function pkgAt(sub: string, parts: { src?: boolean; dist?: boolean }): string {
    const base = mkdtempSync(join(tmpdir(), 'meshdrift-bin-'));
    dirs.push(base);
    const root = join(base, sub);
    mkdirSync(join(root, 'bin'), { recursive: true });
    mkdirSync(join(root, 'scripts'));
    copyFileSync(join(ROOT, 'bin/meshdrift.cjs'), join(root, 'bin/meshdrift.cjs'));
    copyFileSync(join(ROOT, 'scripts/node-guard.cjs'), join(root, 'scripts/node-guard.cjs'));
    writeFileSync(join(root, 'package.json'), '{"type":"module"}');
    if (parts.src) mkdirSync(join(root, 'src')), writeFileSync(join(root, 'src/main.ts'), "console.log('src', process.argv.slice(2).join(' '));\n");
    if (parts.dist) mkdirSync(join(root, 'dist')), writeFileSync(join(root, 'dist/main.js'), "console.log('dist', process.argv.slice(2).join(' '));\n");
    return root;
  }
  const launch = (root: string) => spawnSync(process.execPath, [join(root, 'bin/meshdrift.cjs'), 'serve', '--help'], { cwd: root, encoding: 'utf8' });

  it('the sources in a checkout, the build under node_modules (Node strips no types there) or without sources', () => {
    expect(launch(pkgAt('checkout', { src: true, dist: true })).stdout).toBe('src serve --help\n');
    expect(launch(pkgAt('node_modules/meshdrift', { src: true, dist: true })).stdout).toBe('dist serve --help\n');
    expect(launch(pkgAt('image', { dist: true })).stdout).toBe('dist serve --help\n');
    const none = launch(pkgAt('node_modules/meshdrift', { src: true }));
    expect(none.status).toBe(1);
    expect(none.stderr).toBe('meshdrift: dist/main.js is missing: build it first with `npm run build`\n');
  });

  it('npx meshdrift in the repository runs the package bin', () => {
    const npx = spawnSync('npx', ['--no-install', 'meshdrift', '--version'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, HOME: process.env.HOME ?? tmpdir(), npm_config_update_notifier: 'false' },
      timeout: 60_000,
    });
    expect([npx.status, npx.stderr]).toEqual([0, '']);
    expect(npx.stdout).toMatch(/^meshdrift \d+\.\d+\.\d+ \(/);
  });
});
