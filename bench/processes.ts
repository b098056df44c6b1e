// What the memory and latency benches share: the real `meshdrift serve` as a child process (with
// bench/memory-probe.ts preloaded, so heap figures can be asked for over IPC), a real Alertmanager,
// resident memory read from /proc, percentiles and tables. Every child is tracked so that a bench
// that ends, fails or passes its deadline kills all of them.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { stripTypeScriptTypes } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../src/cli/redis-finder.ts';
import type { ProbeAnswer, ProbeRequest } from './memory-probe.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
export const ALERTMANAGER_BIN = process.env.ALERTMANAGER_BIN ?? '/usr/bin/prometheus-alertmanager';

const children = new Set<ChildProcess>();
const tempDirs = new Set<string>();
const cleanups: Array<() => Promise<void>> = [];

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
export const mb = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(0)} MB`;

/** Registers something to undo when the bench ends (LIFO), e.g. stopping a redis-server. */
export function onCleanup(fn: () => Promise<void>): void {
  cleanups.push(fn);
}

export async function tempDir(name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `meshdrift-bench-${name}-`));
  tempDirs.add(dir);
  return dir;
}

export function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** SIGTERM, then SIGKILL after 5 s; resolves when it has exited. */
export async function stopChild(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
  children.delete(child);
}

/** Resident set size now and its peak (VmHWM) of a process, from /proc (Linux). */
export async function residentMemory(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `  ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')}`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string, exited: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited()) throw new Error(`${what}: the process exited`);
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`${what}: not within ${timeoutMs} ms`);
}

// ---------------------------------------------------------------------------------------------
// meshdrift serve

/** What `startMeshdrift` runs: the compiled service (as the Docker image does) or src/ with type stripping. */
export interface MeshdriftBuild {
  /** `dist`: `node <dist>/main.js serve`; `src`: `node src/main.ts serve` (npm run serve). */
  from: 'dist' | 'src';
  main: string;
  probe: string;
}

let build: Promise<MeshdriftBuild> | undefined;

/**
 * Production runs `node dist/main.js serve` (Dockerfile). Node 24 can run src/*.ts itself, but type
 * stripping loads its own transformer into the process, which memory figures must not count. So
 * src/ is compiled with tsconfig.build.json into a directory of this run's own (under node_modules,
 * where the compiled files still resolve the dependencies; removed at the end), and the probe is
 * stripped of its types into it too.
 * BENCH_MESHDRIFT_FROM=src runs the sources instead; BENCH_MESHDRIFT_DIST=<dir> runs a build of
 * your own (to compare a change; the directory must sit inside this repository so the dependencies
 * resolve).
 */
export function meshdriftBuild(): Promise<MeshdriftBuild> {
  build ??= (async (): Promise<MeshdriftBuild> => {
    if (process.env.BENCH_MESHDRIFT_FROM === 'src') return { from: 'src', main: join(ROOT, 'src/main.ts'), probe: join(ROOT, 'bench/memory-probe.ts') };
    const out = join(ROOT, 'node_modules/.cache/meshdrift-bench', `run-${process.pid}`);
    onCleanup(() => rm(out, { recursive: true, force: true }));
    await mkdir(out, { recursive: true });
    // Under node_modules no package.json above applies: say that these files are ES modules.
    await writeFile(join(out, 'package.json'), '{"type":"module"}\n');
    const probe = join(out, 'memory-probe.js');
    await writeFile(probe, stripTypeScriptTypes(await readFile(join(ROOT, 'bench/memory-probe.ts'), 'utf8')));
    const own = process.env.BENCH_MESHDRIFT_DIST;
    if (own !== undefined && own !== '') return { from: 'dist', main: join(own, 'main.js'), probe };
    const dist = join(out, 'dist');
    const tsc = spawnSync(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', dist, '--sourceMap', 'false'],
      { encoding: 'utf8', timeout: 300_000 },
    );
    const main = join(dist, 'main.js');
    if (!existsSync(main)) throw new Error(`building meshdrift failed (exit ${tsc.status}):\n${tsc.stdout}${tsc.stderr}`);
    // As `npm run build` does: the web page's stylesheet and script are read at start.
    await cp(join(ROOT, 'src/http/ui/static'), join(dist, 'http/ui/static'), { recursive: true });
    return { from: 'dist', main, probe };
  })();
  return build;
}

/** The Node flags the container image runs meshdrift with (Dockerfile `ENV NODE_OPTIONS`): what ships. */
function imageNodeFlags(): string[] {
  const line = /^ENV NODE_OPTIONS="([^"]*)"/m.exec(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
  return (line?.[1] ?? '').split(' ').filter((f) => f !== '');
}

/**
 * BENCH_NODE_FLAGS: the Node flags for meshdrift, space-separated (e.g. `--max-old-space-size=128`);
 * unset: the image's (Dockerfile NODE_OPTIONS); empty: V8's defaults.
 */
export const EXTRA_NODE_FLAGS = process.env.BENCH_NODE_FLAGS !== undefined ? process.env.BENCH_NODE_FLAGS.split(' ').filter((f) => f !== '') : imageNodeFlags();
/** glibc allocator settings (MALLOC_ARENA_MAX, MALLOC_TRIM_THRESHOLD_...) reach meshdrift when set. */
const MALLOC_ENV = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('MALLOC_') && e[1] !== undefined));

export interface MeshdriftProcess {
  url: string;
  pid: number;
  child: ChildProcess;
  /** process.memoryUsage() and V8 heap figures from inside, optionally after a full GC. */
  probe(req: ProbeRequest): Promise<ProbeAnswer>;
  /** Sum of a counter's series on /metrics whose labels contain every `labels` fragment. */
  counter(name: string, ...labels: string[]): Promise<number>;
  /** The last few KB of its stderr (logs), for error messages. */
  stderrTail(): string;
  stop(): Promise<void>;
}

/**
 * `node --import <probe> dist/main.js serve` (see meshdriftBuild), configured by `env` alone (as in
 * production), on a spare loopback port; resolves once /readyz answers 200. No Node flags beyond
 * the probe's preload, unless `nodeFlags` adds some.
 */
export async function startMeshdrift(env: Record<string, string>, nodeFlags: string[] = []): Promise<MeshdriftProcess> {
  const { main, probe } = await meshdriftBuild();
  const port = await freePort();
  const child = track(
    spawn(process.execPath, [...nodeFlags, ...EXTRA_NODE_FLAGS, '--import', probe, main, 'serve'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        ...MALLOC_ENV,
        HOST: '127.0.0.1',
        PORT: String(port),
        MESHDRIFT_LOG_LEVEL: 'warn',
        MESHDRIFT_ALLOW_UNAUTHENTICATED: 'true',
        ...env,
      },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    }),
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString('utf8')).slice(-8000);
  });
  const url = `http://127.0.0.1:${port}`;
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  try {
    await waitUntil(
      async () => (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) })).status === 200,
      60_000,
      'meshdrift serve to be ready',
      exited,
    );
  } catch (err) {
    await stopChild(child);
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${stderr.slice(-2000)}`);
  }
  let probeSeq = 0;
  return {
    url,
    pid: child.pid ?? -1,
    child,
    probe(req) {
      const id = ++probeSeq;
      return new Promise<ProbeAnswer>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('memory probe did not answer within 120 s')), 120_000);
        const onMessage = (m: unknown): void => {
          const answer = m as ProbeAnswer;
          if (answer.id !== id) return;
          clearTimeout(timer);
          child.off('message', onMessage);
          resolve(answer);
        };
        child.on('message', onMessage);
        child.send({ ...req, id });
      });
    },
    async counter(name, ...labels) {
      // One retry: a keep-alive socket the server has just closed fails the first try.
      const scrape = async (): Promise<string> => (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
      const text = await scrape().catch(async () => scrape());
      let sum = 0;
      for (const line of text.split('\n')) {
        if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
        if (!labels.every((l) => line.includes(l))) continue;
        sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      }
      return sum;
    },
    stderrTail: () => stderr,
    stop: () => stopChild(child, 15_000),
  };
}

// ---------------------------------------------------------------------------------------------
// Alertmanager

export interface AlertmanagerProcess {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** A real Alertmanager with its own temp dir (config + storage), no clustering, on a spare port. */
export async function startAlertmanager(config: string): Promise<AlertmanagerProcess> {
  const dir = await tempDir('am');
  const configFile = join(dir, 'alertmanager.yml');
  await writeFile(configFile, config);
  const port = await freePort();
  const child = track(
    spawn(
      ALERTMANAGER_BIN,
      [
        `--web.listen-address=127.0.0.1:${port}`,
        '--cluster.listen-address=',
        `--storage.path=${join(dir, 'data')}`,
        `--config.file=${configFile}`,
        '--log.level=warn',
      ],
      {
        stdio: ['ignore', 'ignore', 'pipe'],
      },
    ),
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString('utf8')).slice(-4000);
  });
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    await stopChild(child);
    await rm(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
  };
  try {
    await waitUntil(
      async () => (await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) })).status === 200,
      20_000,
      'alertmanager to be ready',
      () => child.exitCode !== null,
    );
  } catch (err) {
    await stop();
    throw new Error(`${err instanceof Error ? err.message : String(err)}\n${stderr.slice(-1000)}`);
  }
  return { url, pid: child.pid ?? -1, stop };
}

// ---------------------------------------------------------------------------------------------
// Running a bench: a hard deadline, and cleanup on every way out.

// One cleanup however many ways out are taken at once (a signal stops the children, so main fails
// too): the second caller waits for the first instead of exiting before the redis-server is stopped.
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await Promise.all([...children].map((c) => stopChild(c).catch(() => undefined)));
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
    await Promise.all([...tempDirs].map((d) => rm(d, { recursive: true, force: true }).catch(() => undefined)));
  })();
  return cleaning;
}

/** Runs `main`, then stops every child and removes temp dirs; exits 2 if `deadlineMs` passes first. */
export function runBench(name: string, deadlineMs: number, main: () => Promise<void>): void {
  const deadline = setTimeout(() => {
    process.stderr.write(`${name}: exceeded ${deadlineMs / 1000} s, stopping\n`);
    void cleanup().finally(() => process.exit(2));
  }, deadlineMs);
  deadline.unref();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void cleanup().finally(() => process.exit(130)));
  }
  main().then(
    async () => {
      await cleanup();
      process.exit(0);
    },
    async (err: unknown) => {
      process.stderr.write(`${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      await cleanup();
      process.exit(1);
    },
  );
}
