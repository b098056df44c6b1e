import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The docs cannot point at files that moved (issue #14 renames and splits files): every `src/...`
 * path cited in docs/*.md, CONTRIBUTING.md and README.md must exist, and so must the target of
 * every relative Markdown link in them. Anchors (`#...`) are not checked, only the file or folder.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** The Markdown files whose citations are checked, repository-relative. */
function docFiles(root: string): string[] {
  const docs = readdirSync(join(root, 'docs'))
    .filter((n) => n.endsWith('.md'))
    .map((n) => `docs/${n}`);
  return [...docs, 'CONTRIBUTING.md', 'README.md'].filter((f) => existsSync(join(root, f))).sort();
}

/** `src/a/{b,c}.ts` → `src/a/b.ts`, `src/a/c.ts` (one level of braces, as the docs write them). */
function expandBraces(path: string): string[] {
  const m = /^(.*?)\{([^{}]*)\}(.*)$/.exec(path);
  if (m === null) return [path];
  const [, head = '', alternatives = '', tail = ''] = m;
  return alternatives.split(',').flatMap((alt) => expandBraces(`${head}${alt}${tail}`));
}

/** Every `src/...` path in a text: in code spans, links or prose. Trailing punctuation is not part of it. */
function citedSrcPaths(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(/(?<![A-Za-z0-9_.-]|[A-Za-z0-9_-]\/)src\/[A-Za-z0-9_./{},*-]*/g)) {
    const raw = m[0].replace(/[.,]+$/, '');
    for (const p of expandBraces(raw)) out.add(p);
  }
  return [...out];
}

/** Targets of relative Markdown links `[text](target)`: not URLs, not anchors of the same page. */
function relativeLinkTargets(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = m[1] ?? '';
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue;
    const path = target.split('#')[0] ?? '';
    if (path !== '') out.add(path);
  }
  return [...out];
}

/** Whether a repository-relative path exists; a `*` in its last segment must match at least one entry. */
function pathExists(root: string, path: string): boolean {
  const clean = path.replace(/\/$/, '');
  if (!clean.includes('*')) return existsSync(join(root, clean));
  const dir = dirname(clean);
  if (dir.includes('*') || !existsSync(join(root, dir))) return false;
  const pattern = new RegExp(
    `^${clean
      .slice(dir.length + 1)
      .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '[^/]*')}$`,
  );
  return readdirSync(join(root, dir)).some((n) => pattern.test(n));
}

/** Every cited path of the docs under `root` that does not exist, as `file: path`. */
function missingCitations(root: string): string[] {
  const missing: string[] = [];
  for (const file of docFiles(root)) {
    const text = readFileSync(join(root, file), 'utf8');
    for (const p of citedSrcPaths(text)) if (!pathExists(root, p)) missing.push(`${file}: ${p}`);
    for (const target of relativeLinkTargets(text)) {
      const repoPath = relative(root, resolve(root, dirname(file), target));
      if (repoPath.startsWith('..') || !pathExists(root, repoPath)) missing.push(`${file}: link ${target}`);
    }
  }
  return missing;
}

describe('paths cited in the docs', () => {
  it('finds src/ paths in code spans, links and prose, expanding braces and dropping trailing punctuation', () => {
    const text = [
      'See `src/track/decide.ts`, and [the store](../src/track/redis-store.ts).',
      'The sources/kube/ folder: src/sources/kube/{audit-cycle,leader}.ts. Also src/model/.',
      'Not a path: mysrc/x.ts, test/src/y.ts or .src/z.ts.',
    ].join('\n');
    expect(citedSrcPaths(text).sort()).toEqual([
      'src/model/',
      'src/sources/kube/audit-cycle.ts',
      'src/sources/kube/leader.ts',
      'src/track/decide.ts',
      'src/track/redis-store.ts',
    ]);
  });

  it('takes relative link targets without their anchor, and skips URLs and same-page anchors', () => {
    const text = '[a](operations.md#limits) [b](../src/app.ts) [c](https://example.com/x) [d](#here) [e](mailto:x@y.z)';
    expect(relativeLinkTargets(text)).toEqual(['operations.md', '../src/app.ts']);
  });

  it('reports a cited file that does not exist, and accepts folders and globs that match', () => {
    expect(pathExists(ROOT, 'src/app.ts')).toBe(true);
    expect(pathExists(ROOT, 'src/track/')).toBe(true);
    expect(pathExists(ROOT, 'src/*.ts')).toBe(true);
    expect(pathExists(ROOT, 'src/no-such-file.ts')).toBe(false);
    expect(pathExists(ROOT, 'src/*.no-such-extension')).toBe(false);
  });

  it('checks docs/*.md, CONTRIBUTING.md and README.md', () => {
    const files = docFiles(ROOT);
    expect(files).toContain('docs/architecture.md');
    expect(files).toContain('docs/operations.md');
    expect(files).toContain('README.md');
  });

  it('every src/ path and relative link in the docs exists', () => {
    expect(missingCitations(ROOT)).toEqual([]);
  });
});
