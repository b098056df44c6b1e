import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/cli/redis-finder.ts';
import { waitFor } from '../support/redis.ts';
import type { MemoryAnswer } from './memory-probe.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ServeProcess {
  url: string;
  /** Why the process is gone (exit code or signal, and its last log lines), or undefined while it runs. */
  exited(): string | undefined;
  /** The server's rss and heapUsed, after a full GC inside it. */
  memory(): Promise<MemoryAnswer>;
  stop(): Promise<void>;
}

/**
 * `meshdrift serve` as its own process (`node --import test/fuzz/memory-probe.ts src/main.ts serve`),
 * configured by `env` alone as in production, on a spare loopback port; resolves once /readyz
 * answers. Its own process, so a crash shows as an exit, and the load generator gets the other core.
 */
export async function startServe(env: Record<string, string>): Promise<ServeProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', `${ROOT}test/fuzz/memory-probe.ts`, `${ROOT}src/main.ts`, 'serve'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), MESHDRIFT_LOG_LEVEL: 'error', MESHDRIFT_ALLOW_UNAUTHENTICATED: 'true', ...env },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString('utf8')).slice(-4000);
  });
  const exited = (): string | undefined =>
    child.exitCode === null && child.signalCode === null
      ? undefined
      : `meshdrift serve exited (${child.exitCode ?? child.signalCode}):\n${stderr.slice(-2000)}`;
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (exited() !== undefined) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await gone;
    clearTimeout(timer);
  };
  try {
    await waitFor(
      async () => {
        const why = exited();
        if (why !== undefined) throw new Error(why);
        return (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(1000) }).catch(() => undefined))?.status === 200;
      },
      30_000,
      'meshdrift serve to be ready',
    );
  } catch (err) {
    await stop();
    throw err;
  }
  let seq = 0;
  return {
    url,
    exited,
    stop,
    memory() {
      const id = ++seq;
      return new Promise<MemoryAnswer>((resolve, reject) => {
        const timer = setTimeout(() => {
          child.off('message', onMessage);
          reject(new Error('the memory probe did not answer within 30 s'));
        }, 30_000);
        const onMessage = (m: unknown): void => {
          if ((m as MemoryAnswer).id !== id) return;
          clearTimeout(timer);
          child.off('message', onMessage);
          resolve(m as MemoryAnswer);
        };
        child.on('message', onMessage);
        child.send({ id });
      });
    },
  };
}
