import { readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What is running: `meshdrift --version` and the `meshdrift_build_info` metric (issue #19). */
export interface BuildInfo {
  /** package.json's version; `unknown` when it cannot be read. */
  version: string;
  /**
   * The git commit it was built from: the checkout's `.git`, else the `BUILD_COMMIT` file an image
   * build writes (Dockerfile, from the build argument MESHDRIFT_COMMIT); absent when neither says.
   */
  commit?: string;
  /** `process.version` without the `v`. */
  nodeVersion: string;
}

// src/model/ and dist/model/ are both two folders below the package root.
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function packageVersion(): string {
  try {
    const pkg: unknown = JSON.parse(readText(join(ROOT, 'package.json')) ?? '');
    return typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

const SHA = /^[0-9a-f]{40}$/;

/**
 * The commit HEAD names in `ROOT/.git`, read from the files git keeps (no `git` process): a
 * detached HEAD, a loose ref, or a packed one; `.git` may be a worktree's `gitdir:` pointer.
 */
export function gitCommit(root: string = ROOT): string | undefined {
  let gitDir = join(root, '.git');
  const pointer = readText(gitDir)
    ?.match(/^gitdir: (.+)$/m)?.[1]
    ?.trim();
  if (pointer !== undefined) gitDir = isAbsolute(pointer) ? pointer : join(root, pointer);
  const head = readText(join(gitDir, 'HEAD'))?.trim();
  if (head === undefined) return undefined;
  if (SHA.test(head)) return head;
  const ref = head.match(/^ref: (refs\/[\w./-]+)$/)?.[1];
  if (ref === undefined || ref.includes('..')) return undefined;
  const common = readText(join(gitDir, 'commondir'))?.trim();
  const commonDir = common === undefined ? gitDir : isAbsolute(common) ? common : join(gitDir, common);
  for (const dir of [gitDir, commonDir]) {
    const loose = readText(join(dir, ref))?.trim();
    if (loose !== undefined && SHA.test(loose)) return loose;
  }
  const packed = readText(join(commonDir, 'packed-refs'))
    ?.split('\n')
    .find((l) => l.endsWith(` ${ref}`))
    ?.slice(0, 40);
  return packed !== undefined && SHA.test(packed) ? packed : undefined;
}

/** The commit an image build wrote to `ROOT/BUILD_COMMIT` (Dockerfile): 40 hex digits, else nothing. */
export function builtCommit(root: string = ROOT): string | undefined {
  const text = readText(join(root, 'BUILD_COMMIT'))?.trim().toLowerCase();
  return text !== undefined && SHA.test(text) ? text : undefined;
}

let cached: BuildInfo | undefined;

export function buildInfo(): BuildInfo {
  if (cached === undefined) {
    const commit = gitCommit() ?? builtCommit();
    cached = { version: packageVersion(), nodeVersion: process.version.replace(/^v/, ''), ...(commit === undefined ? {} : { commit }) };
  }
  return cached;
}

/** `meshdrift 0.1.0 (commit 7315eb7, Node 24.21.0)`. */
export function versionLine(info: BuildInfo = buildInfo()): string {
  return `meshdrift ${info.version} (${info.commit === undefined ? '' : `commit ${info.commit.slice(0, 12)}, `}Node ${info.nodeVersion})`;
}
