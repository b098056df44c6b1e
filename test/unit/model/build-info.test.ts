import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { buildInfo, builtCommit, gitCommit, versionLine } from '../../../src/model/build-info.ts';
import { createMetrics } from '../../../src/metrics.ts';
import pkg from '../../../package.json' with { type: 'json' };

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const dirs: string[] = [];
function repo(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'meshdrift-git-'));
  dirs.push(root);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('build info (meshdrift --version, meshdrift_build_info)', () => {
  it('is package.json version and this Node', () => {
    expect(buildInfo()).toMatchObject({ version: pkg.version, nodeVersion: process.versions.node });
    expect(versionLine({ version: '1.2.3', nodeVersion: '24.1.0' })).toBe('meshdrift 1.2.3 (Node 24.1.0)');
    expect(versionLine({ version: '1.2.3', nodeVersion: '24.1.0', commit: A })).toBe('meshdrift 1.2.3 (commit aaaaaaaaaaaa, Node 24.1.0)');
  });

  it('reads the commit an image build wrote (BUILD_COMMIT): 40 hex digits only, none when the build passed none', () => {
    expect(builtCommit(repo({ BUILD_COMMIT: `${A.toUpperCase()}\n` }))).toBe(A);
    expect(builtCommit(repo({ BUILD_COMMIT: '\n' }))).toBeUndefined();
    expect(builtCommit(repo({ BUILD_COMMIT: 'main\n' }))).toBeUndefined();
    expect(builtCommit(repo({ BUILD_COMMIT: `${A}\n<script>` }))).toBeUndefined();
    expect(builtCommit(repo({ 'package.json': '{}' }))).toBeUndefined();
  });

  it('reads the commit from .git: a loose ref, a packed one, a detached HEAD, a worktree; none without .git', () => {
    expect(gitCommit(repo({ '.git/HEAD': 'ref: refs/heads/main\n', '.git/refs/heads/main': `${A}\n` }))).toBe(A);
    expect(gitCommit(repo({ '.git/HEAD': 'ref: refs/heads/main\n', '.git/packed-refs': `# pack-refs\n${B} refs/heads/main\n` }))).toBe(B);
    expect(gitCommit(repo({ '.git/HEAD': `${A}\n` }))).toBe(A);
    const main = repo({ '.git/refs/heads/wt': `${B}\n`, '.git/worktrees/wt/HEAD': 'ref: refs/heads/wt\n', '.git/worktrees/wt/commondir': '../..\n' });
    expect(gitCommit(repo({ '.git': `gitdir: ${main}/.git/worktrees/wt\n` }))).toBe(B);
    expect(gitCommit(repo({ 'package.json': '{}' }))).toBeUndefined();
    expect(gitCommit(repo({ '.git/HEAD': 'ref: refs/heads/../../etc\n' }))).toBeUndefined();
  });

  it('meshdrift_build_info is 1 with version and node_version', async () => {
    const out = await createMetrics(new Registry(), { defaultMetrics: false }).registry.metrics();
    const line = out.split('\n').find((l) => l.startsWith('meshdrift_build_info{'));
    expect(line).toMatch(
      new RegExp(`^meshdrift_build_info\\{version="${pkg.version.replaceAll('.', '\\.')}",node_version="${process.versions.node}",commit="[0-9a-f]*"\\} 1$`),
    );
  });
});
