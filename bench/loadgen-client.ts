import { fork, type ChildProcess } from 'node:child_process';
import type { LoadRequest, LoadResult } from './flapping-loadgen.ts';
import { stopChild } from './processes.ts';

/**
 * Runs one load (bench/flapping-loadgen.ts) in a separate Node process, so the generator does not
 * share an event loop with the server it loads, and returns its figures. The child is always
 * stopped, also on a timeout. `track` lets a bench stop it on its own exit.
 */
export async function runLoadgen(req: LoadRequest, opts: { timeoutMs?: number; track?: Set<ChildProcess> } = {}): Promise<LoadResult> {
  const child = fork(new URL('./flapping-loadgen.ts', import.meta.url), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  opts.track?.add(child);
  try {
    return await new Promise<LoadResult>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('load generator timed out')), opts.timeoutMs ?? 90_000);
      child.once('message', (m) => {
        clearTimeout(timer);
        resolve(m as LoadResult);
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`load generator exited ${code}`));
      });
      child.send(req);
    });
  } finally {
    await stopChild(child);
    opts.track?.delete(child);
  }
}
