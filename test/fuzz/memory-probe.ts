// Preloaded into the `meshdrift serve` the fuzz test starts (`node --import <this> src/main.ts
// serve`): over the IPC channel it answers process.memoryUsage() after a full GC, so the test reads
// the server's own memory without any change to src/. Without an IPC channel it does nothing.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface MemoryAnswer {
  id: number;
  rss: number;
  heapUsed: number;
  external: number;
}

if (process.send !== undefined) {
  let gc: (() => void) | undefined;
  process.on('message', (m: unknown) => {
    if (typeof m !== 'object' || m === null || !('id' in m) || typeof m.id !== 'number') return;
    // gc() without starting node with --expose-gc: set the flag, then read it from a fresh context.
    if (gc === undefined) {
      setFlagsFromString('--expose-gc');
      gc = runInNewContext('gc') as () => void;
    }
    gc();
    const { rss, heapUsed, external } = process.memoryUsage();
    const answer: MemoryAnswer = { id: m.id, rss, heapUsed, external };
    process.send?.(answer);
  });
  // The IPC channel must not keep `serve` alive once it has stopped.
  process.channel?.unref();
}
