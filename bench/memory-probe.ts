// Preloaded into the `meshdrift serve` a bench starts (`node --import bench/memory-probe.ts
// src/main.ts serve`), so the bench can read the process's memory from inside without any change to
// src/: over the IPC channel it answers process.memoryUsage() and V8's heap spaces, after a full GC
// when asked, and writes a heap snapshot when asked. Without an IPC channel it does nothing.
import { writeHeapSnapshot, getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface ProbeRequest {
  id?: number;
  /** Run a full, compacting GC first (live memory rather than what the collector has not reclaimed yet). */
  gc?: boolean;
  /** Also write a heap snapshot to this path (slow, and doubles the heap for a while). */
  heapSnapshot?: string;
}

export interface ProbeAnswer {
  id: number;
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** V8 heap spaces: used bytes by space name (old_space, large_object_space, code_space...). */
  spaces: Record<string, number>;
  heapSnapshot?: string;
}

/** `gc()` without starting node with --expose-gc (the flag is set at run time, then read from a fresh context). */
function exposeGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

if (process.send !== undefined) {
  let gc: (() => void) | undefined;
  process.on('message', (m: unknown) => {
    const req = m as ProbeRequest;
    if (typeof req !== 'object' || req === null || typeof req.id !== 'number') return;
    if (req.gc === true) {
      gc ??= exposeGc();
      gc();
    }
    const snapshot = req.heapSnapshot === undefined ? undefined : writeHeapSnapshot(req.heapSnapshot);
    const spaces = Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size]));
    const answer: ProbeAnswer = { id: req.id, ...process.memoryUsage(), spaces, ...(snapshot === undefined ? {} : { heapSnapshot: snapshot }) };
    process.send?.(answer);
  });
  // The IPC channel must not keep `serve` alive once it has stopped (main.ts exits by itself anyway).
  process.channel?.unref();
}
