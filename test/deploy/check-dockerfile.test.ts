import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

/** The Dockerfile lint of .ci/deploy-checks (test/deploy/check-dockerfile.mjs) passes ours and fails a bad one. */

const SCRIPT = fileURLToPath(new URL('./check-dockerfile.mjs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'meshdrift-dockerfile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function lint(dockerfile?: string): { status: number | null; out: string } {
  const args = [SCRIPT];
  if (dockerfile !== undefined) {
    const file = join(dir, `Dockerfile.${Math.random().toString(36).slice(2)}`);
    writeFileSync(file, dockerfile);
    args.push(file);
  }
  const r = spawnSync(process.execPath, args, { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('check-dockerfile.mjs', () => {
  it('passes the shipped Dockerfile', () => {
    const r = lint();
    expect(r.out).toContain('ok   Dockerfile: dockerfile-utils clean');
    expect(r.status).toBe(0);
  });

  it('fails a Dockerfile with syntax errors and a root, dev-dependency, shell-form image, naming each line', () => {
    const r = lint(
      [
        'FROM node:latest',
        'WORKDIR /app',
        'COPY package.json package-lock.json ./',
        'COPY test ./test',
        'RUN npm ci',
        'USR node',
        'HEALTHCHECK --interval=abc CMD curl localhost',
        'CMD node dist/main.js serve',
        '',
      ].join('\n'),
    );
    expect(r.status).toBe(1);
    for (const problem of [
      ':6: error: Unknown instruction: USR',
      ':7: error: time: invalid duration abc',
      'must be a multi-stage build',
      ':1: base image node:latest uses latest: pin a version',
      ':5: final stage installs dev dependencies (use npm ci --omit=dev)',
      'final stage has no USER: the image would run as root',
      ':8: CMD must use the exec form',
      ':7: HEALTHCHECK must probe /healthz',
      'final stage must EXPOSE 8080',
      ':4: COPY source test is excluded by .dockerignore',
    ]) {
      expect(r.out).toContain(problem);
    }
  });
});
