/**
 * Per-key batching (issue #15): work items for one key (an alert group) that arrive while a batch of
 * that key is being committed wait, and are then run together as the next batch, in arrival order.
 * One key never has two batches running in this process, so signals for one group on one replica
 * never race each other's compare-and-set; different keys run concurrently. The first item of an
 * idle key waits only for the code running now to finish (a microtask), so items asked for in one
 * go join it; it never waits for I/O (a webhook's answer would wait a turn of the event loop).
 *
 * `run` answers each item of a batch with its result or its own error (one refused item does not
 * fail the others); an error thrown by `run` fails every item of that batch.
 */
export type KeyedBatches<I, R> = (key: string, item: I) => Promise<R>;

interface Waiting<I, R> {
  item: I;
  resolve: (result: R) => void;
  reject: (err: unknown) => void;
}

export function createKeyedBatches<I, R>(run: (key: string, items: readonly I[]) => Promise<Array<R | Error>>, maxBatch: number): KeyedBatches<I, R> {
  const queues = new Map<string, Array<Waiting<I, R>>>();

  const drain = async (key: string, queue: Array<Waiting<I, R>>): Promise<void> => {
    await Promise.resolve();
    while (queue.length > 0) {
      const batch = queue.splice(0, maxBatch);
      try {
        const results = await run(
          key,
          batch.map((w) => w.item),
        );
        batch.forEach((w, i) => {
          const r = results[i];
          if (r instanceof Error) w.reject(r);
          else if (r === undefined) w.reject(new Error(`batch of ${key}: no result for item ${i}`));
          else w.resolve(r);
        });
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
    queues.delete(key);
  };

  return (key, item) =>
    new Promise<R>((resolve, reject) => {
      let queue = queues.get(key);
      const idle = queue === undefined;
      if (queue === undefined) {
        queue = [];
        queues.set(key, queue);
      }
      queue.push({ item, resolve, reject });
      if (idle) void drain(key, queue);
    });
}
