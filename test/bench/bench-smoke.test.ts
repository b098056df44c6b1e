import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The benches are not tests (speed is never asserted), but each must start and print its figures.
 * Each new bench module runs once here with tiny sizes, as `npm run bench` would run it (same Node).
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function runBenchModule(file: string, env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, out }));
  });
}

describe('bench modules run one tiny iteration', () => {
  it('group-size: prints cost per signal for each size and the ratio between them', async () => {
    const r = await runBenchModule('bench/group-size.ts', { BENCH_GROUP_SIZES: '2,5', BENCH_GROUP_SIGNALS: '1', BENCH_DEADLINE_MS: '50000' });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/^\s+2\s+\d+(\.\d+)?\s+1\.0x\s+\d+(\.\d+)?\s+1\.0x\s+1\+1$/m);
    expect(r.out).toMatch(/^\s+5\s+\d+(\.\d+)?\s+\d+\.\dx/m);
    expect(r.out).toMatch(/ratio 5 \/ 2 findings: in-process \d+\.\dx, HTTP \d+\.\dx \(target: within 1\.5x\)/);
  }, 60_000);
});
