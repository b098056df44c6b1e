/**
 * How many findings this process holds in memory at once for the work that handles them whole:
 * ingesting a snapshot, flushing a group, delivering a notification. Each asks for its size
 * first and waits while the budget is spent, so eight 10,000-finding snapshots posted at once are
 * handled a few at a time instead of all at once (which ran the image's 256 MB heap out: issue
 * #12). A piece larger than the whole budget runs alone. Waiting is in arrival order, so a big
 * piece is not starved by a stream of small ones. Per process; replicas each have their own.
 */
export interface MemoryBudget {
  /** Waits until `findings` fit, takes them, and returns the function that gives them back. */
  acquire(findings: number): Promise<() => void>;
  /** Findings taken now (for tests and logs). */
  inUse(): number;
  readonly limit: number;
}

/**
 * What one stored group state costs per finding, in bytes of JSON (a tracked finding is about
 * 700 bytes, and the state holds the last notification's copy too): turns the size of a stored
 * state, which Redis tells without reading it (HSTRLEN), into a weight for the budget.
 */
export const STATE_BYTES_PER_FINDING = 1400;

export function createMemoryBudget(limit: number): MemoryBudget {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`memory budget must be a positive whole number of findings (got ${limit})`);
  let used = 0;
  const waiting: Array<{ weight: number; go: () => void }> = [];
  const admit = (): void => {
    // First come, first served: the head waits until it fits, the others wait behind it.
    while (waiting.length > 0) {
      const head = waiting[0];
      if (head === undefined || (used > 0 && used + head.weight > limit)) return;
      waiting.shift();
      used += head.weight;
      head.go();
    }
  };
  return {
    limit,
    inUse: () => used,
    acquire(findings) {
      const weight = Math.min(limit, Math.max(1, Math.ceil(Number.isFinite(findings) ? findings : limit)));
      return new Promise((resolve) => {
        let released = false;
        const release = (): void => {
          if (released) return;
          released = true;
          used -= weight;
          admit();
        };
        waiting.push({ weight, go: () => resolve(release) });
        admit();
      });
    },
  };
}

/** Runs `work` holding `findings` of the budget (none when there is no budget). */
export async function withBudget<T>(budget: MemoryBudget | undefined, findings: number, work: () => Promise<T>): Promise<T> {
  if (!budget) return work();
  const release = await budget.acquire(findings);
  try {
    return await work();
  } finally {
    release();
  }
}
