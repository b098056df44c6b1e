import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

/** One `meshdrift serve` child process (what `npm run serve` runs), for multi-replica fault tests. */
export interface Replica {
  name: string;
  url: string;
  child: ChildProcess;
  /** Its JSON log lines (stderr), for a failure message. */
  log(): string;
  /** SIGKILL, as a node that dies: no cleanup runs. Resolves once it is gone. */
  kill9(): Promise<void>;
  /** SIGTERM (clean stop), SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts `node src/main.ts serve` with `env` only (plus PATH) on 127.0.0.1:0 and resolves once it
 * logged its URL and answers /readyz. The same Node runs it as runs the tests (Node 24).
 */
export async function startReplica(name: string, env: Record<string, string>, timeoutMs = 30_000): Promise<Replica> {
  const child = spawn(process.execPath, [MAIN, 'serve'], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', MESHDRIFT_LOG_LEVEL: 'info', MESHDRIFT_ALLOW_UNAUTHENTICATED: 'true', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const gone = (): boolean => child.exitCode !== null || child.signalCode !== null;
  const replica: Replica = {
    name,
    url: '',
    child,
    log: () => stderr,
    async kill9() {
      if (gone()) return;
      child.kill('SIGKILL');
      await exited;
    },
    async stop(graceMs = 10_000) {
      if (gone()) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (gone()) throw new Error(`replica ${name} exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${stderr.slice(-2000)}`);
    const started = /"url":"(http:\/\/127\.0\.0\.1:\d+)"[^\n]*"msg":"meshdrift started"/.exec(stderr);
    if (started?.[1]) {
      replica.url = started[1];
      const ready = await fetch(`${replica.url}/readyz`).then(
        (r) => r.status === 200,
        () => false,
      );
      if (ready) return replica;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await replica.kill9();
  throw new Error(`replica ${name} not ready within ${timeoutMs}ms:\n${stderr.slice(-2000)}`);
}
