import type { KubeConfig } from '@kubernetes/client-node';
import { startAuditCycle, type AuditCycle, type AuditCycleOptions } from './audit-cycle.ts';
import { kubeConfigFor } from '../../config/clusters.ts';
import { startLeaderElection, type LeaderElection, type LeaderElectionOptions } from './leader.ts';
import { startKubeSources, type KubeSources, type KubeSourcesHealth, type KubeSourcesOptions } from './sources.ts';

/**
 * The Kubernetes sources behind leader election (issue #5): only the replica holding the Lease
 * (in the first listed cluster) runs the watches and the audit cycle; they start when it becomes
 * the leader and stop when it loses the lease. Webhooks and workers are not involved: every
 * replica keeps serving them. `leaderElection: false` runs them unconditionally (one replica).
 */

export type Role = 'leader' | 'follower' | 'disabled';

export interface LeaderGatedOptions extends KubeSourcesOptions {
  leaderElection:
    | false
    | ({ namespace: string; name?: string } & Partial<
        Pick<LeaderElectionOptions, 'identity' | 'leaseDurationMs' | 'renewDeadlineMs' | 'retryPeriodMs' | 'requestTimeoutMs'>
      >);
  /** The audit cycle, run where the watches run; false or absent: none. */
  audit?: false | Pick<AuditCycleOptions, 'intervalMs' | 'runAtStart' | 'onDiscovered' | 'onRun' | 'ingestConcurrency'>;
  /** Each change of role, e.g. a `meshdrift_leader` gauge (1 leader / 0 otherwise). */
  onRoleChange?: (role: Role) => void;
}

export interface LeaderGatedKubeSources extends KubeSources {
  role(): Role;
  isLeader(): boolean;
  /** The audit cycle while it runs here (leader or no election), for tests and an admin trigger. */
  audit(): AuditCycle | undefined;
  /** Resolves once the last start or stop of the sources (after a role change) has finished. */
  settled(): Promise<void>;
}

export function startLeaderGatedKubeSources(opts: LeaderGatedOptions): LeaderGatedKubeSources {
  const { leaderElection, audit: auditOpts, onRoleChange, ...sourceOpts } = opts;
  const log = opts.log;
  let sources: KubeSources | undefined;
  let audit: AuditCycle | undefined;
  let role: Role = leaderElection === false ? 'disabled' : 'follower';
  // Starts and stops run one after the other, in the order leadership changed.
  let chain: Promise<void> = Promise.resolve();
  let stopped = false;

  const startAll = (): void => {
    sources = startKubeSources(sourceOpts);
    if (auditOpts) {
      audit = startAuditCycle(auditCycleOptions(sourceOpts, auditOpts));
    }
  };
  const stopAll = async (): Promise<void> => {
    const [s, a] = [sources, audit];
    sources = undefined;
    audit = undefined;
    await Promise.all([s?.stop(), a?.stop()]);
  };
  const enqueue = (step: () => void | Promise<void>, what: string): void => {
    chain = chain.then(step).catch((err: unknown) => log.error({ error: err instanceof Error ? err.message : String(err) }, `${what} failed`));
  };
  const setRole = (next: Role): void => {
    if (role === next) return;
    role = next;
    onRoleChange?.(next);
  };

  let election: LeaderElection | undefined;
  if (leaderElection === false) {
    onRoleChange?.('disabled');
    startAll();
  } else {
    const kc = leaseClusterConfig(sourceOpts, log);
    if (kc === undefined) {
      setRole('disabled');
      startAll();
    } else {
      onRoleChange?.('follower');
      election = startLeaderElection({
        ...leaderElectionOptions(leaderElection, kc, sourceOpts),
        log,
        onStartedLeading: () => {
          if (stopped) return;
          setRole('leader');
          enqueue(() => {
            if (!stopped && role === 'leader' && !sources) {
              log.info('leading: starting the Kubernetes watches');
              startAll();
            }
          }, 'starting the watches');
        },
        onStoppedLeading: () => {
          setRole('follower');
          enqueue(async () => {
            if (sources) log.info('no longer leading: stopping the Kubernetes watches');
            await stopAll();
          }, 'stopping the watches');
        },
      });
    }
  }

  const followerHealth = (): KubeSourcesHealth => ({ ready: true, clusters: [], watches: [] });

  return {
    role: () => role,
    isLeader: () => role === 'leader',
    audit: () => audit,
    settled: () => chain,
    health: () => sources?.health() ?? followerHealth(),
    groupInInventory: (cluster, owner, ref) => sources?.groupInInventory(cluster, owner, ref),
    idle: () => sources?.idle() ?? Promise.resolve(),
    async stop() {
      stopped = true;
      // Stop watching before the lease is released, so two leaders never overlap.
      enqueue(() => stopAll(), 'stopping the watches');
      await chain;
      await election?.stop();
      await chain;
    },
  };
}

/** The audit cycle's options: the watches' scope and dependencies, then the audit settings. */
function auditCycleOptions(
  sourceOpts: KubeSourcesOptions,
  auditOpts: Pick<AuditCycleOptions, 'intervalMs' | 'runAtStart' | 'onDiscovered' | 'onRun' | 'ingestConcurrency'>,
): AuditCycleOptions {
  return {
    clusters: sourceOpts.clusters,
    ...(sourceOpts.kinds ? { kinds: sourceOpts.kinds } : {}),
    ...(sourceOpts.namespaces ? { namespaces: sourceOpts.namespaces } : {}),
    ...(sourceOpts.labelSelector !== undefined ? { labelSelector: sourceOpts.labelSelector } : {}),
    ingest: sourceOpts.ingest,
    catalog: sourceOpts.catalog,
    log: sourceOpts.log,
    ...(sourceOpts.kubeConfig ? { kubeConfig: sourceOpts.kubeConfig } : {}),
    ...(sourceOpts.now ? { now: sourceOpts.now } : {}),
    ...(sourceOpts.delay ? { delay: sourceOpts.delay } : {}),
    ...(sourceOpts.pageSize !== undefined ? { pageSize: sourceOpts.pageSize } : {}),
    ...auditOpts,
  };
}

/** A client for the first listed cluster, where the Lease lives; undefined (logged) when none can be built. */
function leaseClusterConfig(sourceOpts: KubeSourcesOptions, log: KubeSourcesOptions['log']): KubeConfig | undefined {
  const first = sourceOpts.clusters[0];
  try {
    if (!first) throw new Error('no cluster is configured');
    return (sourceOpts.kubeConfig ?? kubeConfigFor)(first);
  } catch (err) {
    // No lease can be held, so nobody could lead: watch anyway (deduplication keeps
    // notifications single across replicas), and say so loudly.
    log.error(
      { error: err instanceof Error ? err.message : String(err) },
      'cannot build a client for the leader election cluster; running the watches without leader election',
    );
    return undefined;
  }
}

/** The election's options, without its callbacks. */
function leaderElectionOptions(
  leaderElection: Exclude<LeaderGatedOptions['leaderElection'], false>,
  kc: KubeConfig,
  sourceOpts: KubeSourcesOptions,
): Omit<LeaderElectionOptions, 'onStartedLeading' | 'onStoppedLeading' | 'log'> {
  return {
    kubeConfig: kc,
    namespace: leaderElection.namespace,
    ...(leaderElection.name !== undefined ? { name: leaderElection.name } : {}),
    ...(leaderElection.identity !== undefined ? { identity: leaderElection.identity } : {}),
    ...(leaderElection.leaseDurationMs !== undefined ? { leaseDurationMs: leaderElection.leaseDurationMs } : {}),
    ...(leaderElection.renewDeadlineMs !== undefined ? { renewDeadlineMs: leaderElection.renewDeadlineMs } : {}),
    ...(leaderElection.retryPeriodMs !== undefined ? { retryPeriodMs: leaderElection.retryPeriodMs } : {}),
    ...(leaderElection.requestTimeoutMs !== undefined ? { requestTimeoutMs: leaderElection.requestTimeoutMs } : {}),
    ...(sourceOpts.now ? { now: sourceOpts.now } : {}),
    ...(sourceOpts.delay ? { delay: sourceOpts.delay } : {}),
  };
}
