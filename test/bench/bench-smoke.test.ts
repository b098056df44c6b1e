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
  it('admission: prints the answer throughput and latency, the records written, and the admission-to-Slack latency', async () => {
    const r = await runBenchModule('bench/admission.ts', {
      BENCH_ADMISSION_N: '40',
      BENCH_ADMISSION_CONCURRENCY: '2',
      BENCH_ADMISSION_SLACK_N: '1',
      BENCH_DEADLINE_MS: '100000',
    });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/^\s+40\s+2\s+\d+\/s\s+\d+\.\d\d ms\s+\d+\.\d\d ms\s+\d+\.\d\d ms\s+0$/m);
    expect(r.out).toMatch(/records: \{outcome="written"\} \d+/);
    expect(r.out).toMatch(/^\s+1\s+1\s+-?\d+\.\d\d ms/m);
    // With Redis stopped: 10 answers one at a time, 10 from 2 clients, every one an allow.
    const down = r.out.slice(r.out.indexOf('3. AdmissionReview answers with Redis stopped'));
    expect(down).toMatch(/^\s+10\s+1\s+\d+\/s\s+\d+\.\d\d ms\s+\d+\.\d\d ms\s+\d+\.\d\d ms\s+0$/m);
    expect(down).toMatch(/^\s+10\s+2\s+\d+\/s\s+\d+\.\d\d ms\s+\d+\.\d\d ms\s+\d+\.\d\d ms\s+0$/m);
  }, 120_000);

  it('mesh-watch: prints the memory with the mesh watch off and on, its cost per object, and the MTTD of kubectl edits', async () => {
    const r = await runBenchModule('bench/mesh-watch.ts', {
      BENCH_MESH_OBJECTS: '200',
      BENCH_MESH_PER_APP: '50',
      BENCH_MESH_EDITS: '2',
      BENCH_MESH_DEADLINE_MS: '110000',
    });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/mesh watch on, 200 objects\s+\d+ MB/);
    expect(r.out).toMatch(/bytes of heap per object/);
    expect(r.out).toMatch(/2 edits: min -?\d+ ms, p50 -?\d+ ms, p90 -?\d+ ms, max -?\d+ ms/);
  }, 120_000);

  it('active-findings-rebuild: prints the one-script recount beside the stepped rebuild, with the same counts', async () => {
    const r = await runBenchModule('bench/active-findings-rebuild.ts', { BENCH_GROUPS: '20', BENCH_FINDINGS: '2' });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(
      /^\s+20 groups \(40 findings\)\s+before: longest command \d+\.\d ms.*after: \d+ commands \(\d+ scripts and reads\), longest \d+\.\d\d ms, p99 \d+\.\d\d ms.*same counts: true$/m,
    );
  }, 60_000);

  it('group-size: prints cost per signal for each size and the ratio between them', async () => {
    const r = await runBenchModule('bench/group-size.ts', {
      BENCH_GROUP_SIZES: '2,5',
      BENCH_GROUP_SIGNALS: '1',
      BENCH_GROUP_SETTLE_MS: '0',
      BENCH_DEADLINE_MS: '50000',
    });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/^\s+2\s+\d+(\.\d+)?\s+1\.0x\s+\d+(\.\d+)?\s+1\.0x\s+1\+1$/m);
    expect(r.out).toMatch(/^\s+5\s+\d+(\.\d+)?\s+\d+\.\dx/m);
    expect(r.out).toMatch(/ratio 5 \/ 2 findings: in-process \d+\.\dx, HTTP \d+\.\dx \(target: within 1\.5x\)/);
  }, 60_000);

  it('vs-bare: prints the rate and CPU per request of the bare server, the bare server with a Redis write and meshdrift, and the fraction', async () => {
    const r = await runBenchModule('bench/vs-bare.ts', { BENCH_BARE_N: '20', BENCH_BARE_ROUNDS: '1', BENCH_BARE_CONCURRENCY: '2', BENCH_DEADLINE_MS: '50000' });
    expect(r.code, r.out).toBe(0);
    for (const server of ['bare Node server', 'bare \\+ 1 Redis write', 'meshdrift'])
      expect(r.out).toMatch(new RegExp(`^\\s+${server}\\s+\\d+\\s+\\d+\\.\\d\\s+\\d+\\.\\d\\s+\\d+\\.\\d{3}\\s+\\d+\\.\\d{3}$`, 'm'));
    expect(r.out).toMatch(/meshdrift \/ bare: \d+\.\d\d; meshdrift \/ bare \+ Redis write: \d+\.\d\d \(target: at least 0\.5\)/);
  }, 60_000);

  it('scale: a tiny storm is sent from its own process and told to both receivers, with every figure printed', async () => {
    const r = await runBenchModule('bench/scale.ts', {
      BENCH_SCALE_CLUSTERS: '2',
      BENCH_SCALE_APPS: '3',
      BENCH_SCALE_RESOURCES: '6',
      BENCH_SCALE_GROUP_WAIT: '1s',
      BENCH_SCALE_TELL_TIMEOUT_S: '40',
      BENCH_MESHDRIFT_FROM: 'src',
    });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/storm sent in\s+\d+\.\d s \(3 webhooks incl\. retries; 3 apps accepted, 0 lost\)/);
    expect(r.out).toMatch(/5xx answers\s+0$/m);
    expect(r.out).toMatch(/webhook receiver told\s+\d+\.\d s \(6 findings in \d+ posts\)/);
    expect(r.out).toMatch(/every receiver told\s+\d+\.\d s$/m);
    expect(r.out).toMatch(/Slack calls made\s+\d+ \(chat\.postMessage \d+/);
    expect(r.out).toMatch(/lost \/ duplicate notifications\s+Slack 0 \/ 0; webhook 0 \/ 0/);
    expect(r.out).toMatch(/longest pacing backlog\s+\d+ Slack deliveries deferred by pacing at once/);
    expect(r.out).toMatch(/RSS idle \/ peak \/ end\s+\d+ MB \/ \d+ MB \/ \d+ MB/);
    expect(r.out).toMatch(/Redis used_memory before \/ peak \/ end\s+\d+ MB/);
  }, 90_000);
});
