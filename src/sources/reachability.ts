import type { Logger } from '../log.ts';
import type { Signal } from '../model/signal.ts';
import type { Ingest } from '../track/ingest.ts';

/**
 * "Cluster unreachable" (issue #5): when meshdrift cannot read a cluster (its watches have all
 * failed for a while) or an API it polls, it says so with one alert of its own instead of going
 * quiet, and that alert inhibits the cluster's per-resource alerts (config/load.ts
 * BUILTIN_INHIBIT_RULES): a dead cluster is one page, not one per drifted resource that nobody
 * can see any more.
 *
 * The alert is an ordinary finding, so it is grouped, deduplicated, routed, silenced and resolved
 * like every other one: a pseudo-resource `meshdrift.io/<kind>` named after what cannot be read,
 * owned by a pseudo-owner of the same kind and name, tool `meshdrift`, state `Unreachable`. Its
 * snapshot lists it while unreachable and lists nothing once reachable again, which resolves it.
 */

export const REACHABILITY_GROUP = 'meshdrift.io';

/** What cannot be read: a cluster's Kubernetes API, or the Argo CD API server meshdrift polls. */
export type ReachabilityKind = 'Cluster' | 'ArgoCD';

export interface ReachabilityReading {
  /** The `cluster` label of the findings this inhibits. */
  cluster: string;
  kind: ReachabilityKind;
  /** The pseudo-resource's name: the cluster name, or the API's host. */
  name: string;
  /**
   * true: reachable (resolves); false: unreachable for longer than the threshold (fires);
   * undefined: nothing to say yet (just failed, or partly degraded): the last report stands.
   */
  reachable: boolean | undefined;
  /** When it stopped answering (epoch ms): the finding's observedAt, so MTTD counts from there. */
  since?: number;
  /** Why, for the message: e.g. the last error. Must not carry secrets (callers redact). */
  detail?: string;
}

/** The snapshot that says where one target stands: one Unreachable resource, or none. */
export function reachabilitySignal(reading: ReachabilityReading & { reachable: boolean }, now: number): Signal {
  const resources = reading.reachable
    ? []
    : [
        {
          group: REACHABILITY_GROUP,
          kind: reading.kind,
          namespace: '',
          name: reading.name,
          state: 'Unreachable' as const,
          ...(reading.detail !== undefined ? { detail: reading.detail } : {}),
        },
      ];
  return {
    source: 'meshdrift',
    cluster: reading.cluster,
    owner: { kind: reading.kind, namespace: '', name: reading.name },
    project: '',
    destination: {},
    observedAt: reading.reachable ? now : Math.min(reading.since ?? now, now),
    completeness: 'snapshot',
    resources,
  };
}

export interface ReachabilityMonitorOptions {
  /** The current readings; called every `everyMs`. */
  read: () => readonly ReachabilityReading[];
  ingest: Ingest;
  log: Logger;
  now?: () => number;
  /** Default 5 s. */
  everyMs?: number;
}

export interface ReachabilityMonitor {
  /** Reads and reports once now (tests; the timer calls it too). Never rejects. */
  check(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Reports each target's reachability when it changes, and once at start (so a new leader
 * resolves what an old one reported, or reports what it still sees). A report that fails (Redis
 * down) is not remembered, so the next check sends it again: nothing is lost, and because the
 * finding is deduplicated in Redis, sending it twice never notifies twice.
 */
export function startReachabilityMonitor(opts: ReachabilityMonitorOptions): ReachabilityMonitor {
  const now = opts.now ?? Date.now;
  const reported = new Map<string, boolean>();
  // Targets whose last report failed: logged once per run of failures, not every check.
  const failing = new Set<string>();
  let running: Promise<void> | undefined;
  let stopped = false;

  const checkOnce = async (): Promise<void> => {
    for (const reading of opts.read()) {
      if (stopped) return;
      if (reading.reachable === undefined) continue;
      const key = `${reading.cluster}\u0000${reading.kind}\u0000${reading.name}`;
      if (reported.get(key) === reading.reachable) continue;
      try {
        await opts.ingest(reachabilitySignal({ ...reading, reachable: reading.reachable }, now()));
        reported.set(key, reading.reachable);
        failing.delete(key);
        const fields = { cluster: reading.cluster, target: `${reading.kind}/${reading.name}` };
        if (reading.reachable) opts.log.info(fields, 'reachable');
        else
          opts.log.warn(
            { ...fields, since: new Date(reading.since ?? now()).toISOString(), detail: reading.detail },
            'unreachable: alerting, and holding back its per-resource alerts',
          );
      } catch (err) {
        if (failing.has(key)) continue;
        failing.add(key);
        opts.log.error(
          { cluster: reading.cluster, target: `${reading.kind}/${reading.name}`, error: err instanceof Error ? err.message : String(err) },
          'could not record reachability; retrying at every check until it is recorded',
        );
      }
    }
  };
  // One check at a time: a slow Redis never stacks them up.
  const check = (): Promise<void> => {
    running ??= checkOnce().finally(() => {
      running = undefined;
    });
    return running;
  };
  const timer = setInterval(() => void check(), opts.everyMs ?? 5_000);
  timer.unref();
  void check();

  return {
    check,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
