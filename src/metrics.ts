import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { buildInfo } from './model/build-info.ts';
import type { Severity } from './model/severity.ts';
import type { UnavailableReason } from './net/unavailable.ts';

export type SignalOutcome = 'tracked' | 'unchanged' | 'stale' | 'rollout' | 'ignored' | 'invalid' | 'unauthorized' | 'forbidden' | 'too_large' | 'unavailable';
export type DeliveryOutcome = 'success' | 'retry' | 'rate_limited' | 'failed' | 'dead_letter';
/**
 * The best-effort steps whose failures `meshdrift_best_effort_failures_total` counts, by the
 * `operation` label (best-effort.ts says what each covers; docs/operations.md what to do).
 */
export const BEST_EFFORT_OPERATIONS = [
  'last_signal_write',
  'remediation_lock_release',
  'escalation_source_read',
  'slack_lock_release',
  'slack_rate_limit_hold',
  'slack_channel_id_write',
  'slack_pending_post_clear',
  'slack_message_record',
  'flush_promote',
  'flush_intent_release',
  'watchdog_due_read',
  'worker_close',
  'data_loss_notice_enqueue',
] as const;
export type BestEffortOperation = (typeof BEST_EFFORT_OPERATIONS)[number];

/** The limits of issue #12, as the `limit` label of meshdrift_limit_hits_total. */
export type LimitName =
  | 'silences'
  | 'silence_size'
  | 'silence_duration'
  | 'alert_groups'
  | 'alert_groups_evicted'
  | 'inhibit_sources'
  | 'app_series'
  | 'webhook_body'
  | 'flux_event_time'
  | 'snapshot_findings'
  | 'group_findings'
  | 'ui_board_groups';

/**
 * What a lookup of a lost Slack post (deliver/slack/lost-post.ts) ended in, for the metric:
 * `found` (adopted, no second post), `not_found` (it never reached Slack: posted now),
 * `fallback` (the lookup is not possible: no
 * history scope, bot not in the channel, channel ID unknown, or more messages since than it reads:
 * posted anyway, at-least-once), `deferred` (rate limited, timed out or failing for now: the job is
 * retried, never posted).
 */
export type SlackLostPostOutcome = 'found' | 'not_found' | 'fallback' | 'deferred';

/** How meshdrift_app_drift_total labels apps (MESHDRIFT_APP_METRICS). */
export type AppMetricsMode = { mode: 'all' } | { mode: 'off' } | { mode: 'top'; n: number };

/** The label value of every app label on the one series that counts apps without their own. */
export const OTHER_APPS = '_other';

interface AppLabels {
  app_cluster: string;
  app_tool: string;
  app_kind: string;
  app_namespace: string;
  app: string;
}

/**
 * The apps that drifted most, in bounded memory: exact counts for at most `capacity` apps. A new
 * app past it takes the place of the least counted one (whose count goes on in `_other`), so an app
 * that drifts often always has a place, and a flood of apps that drift once churns only the bottom
 * of the table. An app that lost its place and comes back counts from zero again (Prometheus sees a
 * counter reset).
 */
class TopApps {
  private readonly table = new Map<string, { labels: AppLabels; count: number }>();
  // The table's keys by count (each bucket in the order its apps reached that count), and the
  // lowest count that may have a bucket: a new app past capacity evicts the first of the lowest
  // bucket without scanning the table (O(1) while the bottom of the table is apps counted once).
  private readonly byCount = new Map<number, Set<string>>();
  private low = Number.POSITIVE_INFINITY;
  total = 0;
  private readonly capacity: number;
  private readonly onEvict: () => void;
  constructor(capacity: number, onEvict: () => void) {
    this.capacity = capacity;
    this.onEvict = onEvict;
  }

  private place(key: string, count: number): void {
    let bucket = this.byCount.get(count);
    if (bucket === undefined) this.byCount.set(count, (bucket = new Set()));
    bucket.add(key);
    if (count < this.low) this.low = count;
  }

  private unplace(key: string, count: number): void {
    const bucket = this.byCount.get(count);
    bucket?.delete(key);
    if (bucket?.size === 0) this.byCount.delete(count);
  }

  /** The key of a least counted app (the first to reach that count). */
  private lowest(): string | undefined {
    if (!this.byCount.has(this.low)) {
      // The lowest bucket emptied (its apps counted up): the next lowest, among the distinct counts.
      this.low = Number.POSITIVE_INFINITY;
      for (const count of this.byCount.keys()) if (count < this.low) this.low = count;
    }
    const bucket = this.byCount.get(this.low);
    return bucket === undefined ? undefined : bucket.values().next().value;
  }

  add(labels: AppLabels, count: number): void {
    this.total += count;
    const key = JSON.stringify([labels.app_cluster, labels.app_tool, labels.app_kind, labels.app_namespace, labels.app]);
    const entry = this.table.get(key);
    if (entry) {
      this.unplace(key, entry.count);
      entry.count += count;
      this.place(key, entry.count);
      return;
    }
    if (this.table.size >= this.capacity) {
      const minKey = this.lowest();
      if (minKey !== undefined) {
        this.unplace(minKey, this.table.get(minKey)?.count ?? 0);
        this.table.delete(minKey);
      }
      this.onEvict();
    }
    this.table.set(key, { labels, count });
    this.place(key, count);
  }

  /** The `n` most counted apps. */
  top(n: number): Array<{ labels: AppLabels; count: number }> {
    return [...this.table.values()].sort((a, b) => b.count - a.count).slice(0, n);
  }
}

/**
 * Every metric meshdrift exports, behind named methods on an injected registry. Labels come from
 * small enums (source, outcome, severity, receiver type), never ids.
 */
export interface Metrics {
  readonly registry: Registry;
  signalReceived(source: string, outcome: SignalOutcome): void;
  /**
   * A signal refused before tracking: an identity field (`cluster`, `owner.name`, `resources.name`,
   * …) holds a control, bidi or zero-width character (model/signal.ts), by source and field.
   */
  signalRefused(source: string, field: string): void;
  findingOpened(severity: Severity, category: string): void;
  /**
   * Findings that started firing for one GitOps app (Argo CD Application, Flux Kustomization or
   * HelmRelease): "drift frequency per app". Labelled by app, as Argo CD's own `argocd_app_info`
   * is: one series per app that ever drifted.
   */
  appDrifted(app: { cluster: string; tool: string; kind: string; namespace: string; name: string }, count: number): void;
  findingsResolved(count: number): void;
  dedupSuppressed(source: string): void;
  notificationDecided(reason: string): void;
  /** One delivery attempt, by the receiver's name (as the policy names it) and type (slack, pagerduty…). */
  notificationDelivered(receiver: string, type: string, outcome: DeliveryOutcome): void;
  /** One delivery attempt's time, by the receiver's name and type. */
  deliveryDuration(receiver: string, type: string, seconds: number): void;
  ingestDuration(source: string, seconds: number): void;
  setActiveGroups(count: number): void;
  policyReloaded(success: boolean, at: number): void;
  remediation(action: string, outcome: string): void;
  watchRestarted(cluster: string, kind: string): void;
  /** A queue's worker replaced by the worker watchdog (src/queue/worker-watchdog.ts). */
  workerRestarted(queue: string): void;
  auditDiscovered(count: number): void;
  auditRun(outcome: string): void;
  /** One Argo CD API poll, by outcome (ok, partial, failed, unauthorized). */
  argocdPoll(outcome: string): void;
  /** Polled signals that changed tracked state. */
  argocdPollDiscovered(count: number): void;
  /** A drifted mesh resource's field changes from Argo CD managed-resources, by outcome (sources/argocd/managed-diff.ts). */
  argocdDiffFetch(outcome: string): void;
  setLeader(leader: boolean): void;
  /** Mesh objects the mesh watch checks in one cluster, of one kind. */
  meshObjects(cluster: string, kind: string, count: number): void;
  /** A watch-seen state sent (sources/mesh/cluster.ts). */
  meshState(cluster: string, state: string): void;
  /** A mesh object version whose comparison failed. */
  meshDiffFailed(cluster: string): void;
  /** Objects seen past the per-cluster cap so far. */
  meshCapped(cluster: string, count: number): void;
  /** Whether this replica competes for the watch Lease: with meshdrift_leader, tells "no leader" from "no watches" (issue #7). */
  setLeaderElection(enabled: boolean): void;
  /** A finding's first notification: seconds from when its source observed it (MTTD as meshdrift sees it). */
  timeToNotify(severity: string, seconds: number): void;
  /** A finding announced resolved: seconds it was drifted (from first seen to resolved). */
  timeToResolve(severity: string, seconds: number): void;
  /**
   * Firing findings by severity, mesh and category, as read from Redis (track/active-findings.ts).
   * Label sets no longer listed drop to 0 rather than vanish, so a resolved severity graphs as 0.
   */
  setActiveFindings(counts: ReadonlyArray<{ severity: string; mesh: string; category: string; count: number }>): void;
  /** Jobs of one BullMQ queue by state (queue/queues.ts `jobCounts`). */
  setQueueJobs(queue: string, counts: Readonly<Record<string, number>>): void;
  /** A Slack post whose answer was lost, looked for before posting again (deliver/slack/lost-post.ts), by outcome. */
  slackLostPost(outcome: SlackLostPostOutcome): void;
  /** Redis was found to have lost meshdrift's state (its epoch key gone or replaced): `meshdrift_redis_data_loss_total`. */
  redisDataLoss(): void;
  /** 1 within MESHDRIFT_REDIS_DATA_LOSS_WINDOW after a detected loss, else 0: `meshdrift_redis_data_loss_recent`. */
  setRedisDataLossRecent(recent: boolean): void;
  /** A request or signal refused, or a series folded, because a limit of issue #12 was reached. */
  limitHit(limit: LimitName): void;
  /**
   * A batch of signals for one alert group committed by this replica (track/redis-store.ts): how many
   * signals it folded into its one commit, and how many times its compare-and-set lost to another
   * writer (another replica, a flush) before it went through.
   */
  signalBatch(signals: number, conflicts: number): void;
  /** A webhook answered 503 because Redis could not serve it (net/unavailable.ts), by reason: `meshdrift_redis_unavailable_total`. */
  redisUnavailable(reason: UnavailableReason): void;
  /** Redis TIME (the shared clock) minus this replica's clock, seconds, as last measured (clock.ts). */
  setClockOffset(seconds: number): void;
  /** A failed read of Redis TIME (the last offset stays in use). */
  clockSyncFailed(): void;
  /** A best-effort step that failed and did not fail its caller (best-effort.ts): `meshdrift_best_effort_failures_total{operation}`. */
  bestEffortFailed(operation: BestEffortOperation): void;
  /** A Redis preflight check's state (track/redis-preflight.ts): 1 passes, 0 fails, -1 could not be read. */
  setRedisPreflight(check: string, state: 'ok' | 'fail' | 'unknown'): void;
  /** A sender's timestamp bounded to the receipt (track/ingest.ts signalTime): from the future, or too far past. */
  senderTimeClamped(source: string, direction: 'future' | 'past'): void;
  /** A job that failed for good and is kept as a dead letter: `stalled` (its worker died or hung too often) or `failed`. */
  deadLettered(queue: 'flush' | 'deliver', reason: 'stalled' | 'failed'): void;
  /** A group notification a drift storm took instead of telling it (deliver/storm.ts). */
  stormAbsorbed(receiver: string): void;
  /** A drift storm opened for a receiver. */
  stormOpened(receiver: string): void;
  /** A storm summary sent: firing (opened or updated) or resolved. */
  stormSummary(status: 'firing' | 'resolved'): void;
  /**
   * An authenticated webhook request for a cluster, project or namespace its credential may not
   * speak for (403). `sender` is a configured credential name (bounded by MESHDRIFT_SENDERS_FILE).
   */
  webhookRefused(sender: string, reason: 'cluster' | 'project' | 'namespace'): void;
  /** One AdmissionReview answered (always an allow when a uid could be read), by outcome, and how long the answer took. */
  admissionRequest(outcome: AdmissionOutcome, seconds: number): void;
  /** An admission record written to Redis, dropped (the recording queue was full) or failed (Redis, after retries). */
  admissionRecord(outcome: 'written' | 'dropped' | 'failed'): void;
  /** An admission record joined to a finding: `told` (the recorder's own finding on a GitOps-managed object), `confirmed` (a watch event showed it persisted). */
  admissionJoined(how: 'told' | 'confirmed'): void;
  /** When the admission listener's certificate expires (epoch s), after each (re)load. */
  setAdmissionCertExpiry(epochSeconds: number): void;
}

/**
 * What an admission request ended in: `recorded` (queued for recording), `skipped` (a dry run, a
 * subresource or not a mesh kind), `dropped` (the recording queue was full), `malformed` (not a
 * valid AdmissionReview, allowed by its uid), `too_large`, `timeout` (the body did not arrive within
 * the deadline), `invalid` (no uid could be read: 400). All but `invalid` are answered with an allow
 * when a uid could be read.
 */
export type AdmissionOutcome = 'recorded' | 'skipped' | 'dropped' | 'malformed' | 'too_large' | 'timeout' | 'invalid';

/** The admission recorder's metrics (sources/admission/, http/admission-listener.ts). */
function admissionMetrics(registry: Registry): Pick<Metrics, 'admissionRequest' | 'admissionRecord' | 'admissionJoined' | 'setAdmissionCertExpiry'> {
  const requests = new Counter({
    name: 'meshdrift_admission_requests_total',
    help: 'AdmissionReview requests answered by the recorder webhook, by outcome (recorded, skipped, dropped, malformed, too_large, timeout: allowed; invalid: 400).',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'meshdrift_admission_duration_seconds',
    help: 'Time from an AdmissionReview request to its answer (the recording happens after it).',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2],
    registers: [registry],
  });
  const records = new Counter({
    name: 'meshdrift_admission_records_total',
    help: 'Admission records: written to Redis, dropped (the recording queue was full: MESHDRIFT_ADMISSION_QUEUE) or failed (Redis, after retries).',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const joined = new Counter({
    name: 'meshdrift_admission_joined_total',
    help: 'Admission records joined to a finding: told (a change outside Git to a GitOps-managed object, at once) or confirmed (a watch event showed it persisted).',
    labelNames: ['how'],
    registers: [registry],
  });
  const certExpiry = new Gauge({
    name: 'meshdrift_admission_certificate_expiry_timestamp_seconds',
    help: 'When the admission listener certificate in use expires (epoch seconds).',
    registers: [registry],
  });
  return {
    admissionRequest: (outcome, seconds) => {
      requests.inc({ outcome });
      duration.observe(seconds);
    },
    admissionRecord: (outcome) => records.inc({ outcome }),
    admissionJoined: (how) => joined.inc({ how }),
    setAdmissionCertExpiry: (s) => certExpiry.set(s),
  };
}

/** The mesh watch (issue #16, sources/mesh/). */
function meshMetrics(registry: Registry): Pick<Metrics, 'meshObjects' | 'meshState' | 'meshDiffFailed' | 'meshCapped'> {
  const objects = new Gauge({
    name: 'meshdrift_mesh_objects',
    help: 'Mesh objects the mesh watch checks, by cluster and kind (the leader only).',
    labelNames: ['cluster', 'kind'],
    registers: [registry],
  });
  const states = new Counter({
    name: 'meshdrift_mesh_states_total',
    help: 'Watch-seen states sent for mesh objects, by cluster and state (Modified, Corrected from edits and reverts; Shadow, Unmanaged, NotInEffect per owner snapshot).',
    labelNames: ['cluster', 'state'],
    registers: [registry],
  });
  const diffFailures = new Counter({
    name: 'meshdrift_mesh_diff_failures_total',
    help: 'Mesh object versions whose comparison with the GitOps baseline failed (kept without evidence), by cluster.',
    labelNames: ['cluster'],
    registers: [registry],
  });
  const capped = new Gauge({
    name: 'meshdrift_mesh_capped_objects',
    help: 'Mesh objects seen past MESHDRIFT_MESH_MAX_OBJECTS (kept as identities only, not checked), by cluster; 0 when under the cap.',
    labelNames: ['cluster'],
    registers: [registry],
  });
  return {
    meshObjects: (cluster, kind, count) => objects.set({ cluster, kind }, count),
    meshState: (cluster, state) => states.inc({ cluster, state }),
    meshDiffFailed: (cluster) => diffFailures.inc({ cluster }),
    meshCapped: (cluster, count) => capped.set({ cluster }, count),
  };
}

/** The drift-storm counters (deliver/storm.ts). */
function stormMetrics(registry: Registry): Pick<Metrics, 'stormAbsorbed' | 'stormOpened' | 'stormSummary'> {
  const stormAbsorbedC = new Counter({
    name: 'meshdrift_storm_absorbed_total',
    help: 'Group notifications not sent one by one because a drift storm of their receiver tells them in its summary (MESHDRIFT_STORM_THRESHOLD, MESHDRIFT_STORM_WINDOW), by receiver.',
    labelNames: ['receiver'],
    registers: [registry],
  });
  const stormOpenedC = new Counter({
    name: 'meshdrift_storms_total',
    help: 'Drift storms opened (many groups of one receiver first firing within MESHDRIFT_STORM_WINDOW), by receiver.',
    labelNames: ['receiver'],
    registers: [registry],
  });
  const stormSummaries = new Counter({
    name: 'meshdrift_storm_summaries_total',
    help: 'Drift storm summaries sent, by status (firing: opened or updated; resolved: every member resolved).',
    labelNames: ['status'],
    registers: [registry],
  });
  return {
    stormAbsorbed: (receiver) => stormAbsorbedC.inc({ receiver }),
    stormOpened: (receiver) => stormOpenedC.inc({ receiver }),
    stormSummary: (status) => stormSummaries.inc({ status }),
  };
}

/** The signal and finding counters (webhooks, watches, tracking), with the app-drift series and the shared-state gauges. */
function ingestMetrics(
  registry: Registry,
  appMode: AppMetricsMode,
): Pick<
  Metrics,
  | 'signalReceived'
  | 'signalRefused'
  | 'findingOpened'
  | 'appDrifted'
  | 'limitHit'
  | 'redisUnavailable'
  | 'signalBatch'
  | 'findingsResolved'
  | 'dedupSuppressed'
  | 'setActiveFindings'
  | 'setQueueJobs'
> {
  const signals = new Counter({
    name: 'meshdrift_signals_total',
    help: 'Signals received, by source and outcome.',
    labelNames: ['source', 'outcome'],
    registers: [registry],
  });
  const signalsRefused = new Counter({
    name: 'meshdrift_signals_refused_total',
    help: 'Signals refused before tracking because an identity (cluster, owner, resource group/kind/namespace/name) holds a control, bidi or zero-width character, by source and field.',
    labelNames: ['source', 'field'],
    registers: [registry],
  });
  const findings = new Counter({
    name: 'meshdrift_findings_total',
    help: 'Findings that started firing, by severity and category.',
    labelNames: ['severity', 'category'],
    registers: [registry],
  });
  const limitHits = new Counter({
    name: 'meshdrift_limit_hits_total',
    help: 'Requests or signals refused, or app series folded into _other, because a configured limit was reached, by limit (silences, silence_size, silence_duration, alert_groups, alert_groups_evicted, inhibit_sources, app_series, webhook_body, flux_event_time, snapshot_findings, group_findings).',
    labelNames: ['limit'],
    registers: [registry],
  });
  const unavailable = new Counter({
    name: 'meshdrift_redis_unavailable_total',
    help: 'Webhooks answered 503 with Retry-After because Redis could not serve them, by reason: contention (a group write lost its compare-and-set past its bounded retries), busy (BUSY), loading (LOADING), failover (READONLY, MASTERDOWN, NOREPLICAS, TRYAGAIN, CLUSTERDOWN, UNBLOCKED), connection.',
    labelNames: ['reason'],
    registers: [registry],
  });
  const batchSize = new Histogram({
    name: 'meshdrift_signal_batch_size',
    help: 'Signals for one alert group handled together by this replica: one read and at most one commit per batch (concurrent signals for one group are batched); _count is the number of batches.',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [registry],
  });
  const conflicts = new Counter({
    name: 'meshdrift_group_write_conflicts_total',
    help: 'Compare-and-set commits of a batch of signals lost to another writer of the same alert group (another replica or a flush), each retried.',
    registers: [registry],
  });
  const appDrifted = createAppDriftMetric(registry, appMode, () => limitHits.inc({ limit: 'app_series' }));
  const shared = createSharedStateGauges(registry);
  const resolved = new Counter({ name: 'meshdrift_findings_resolved_total', help: 'Findings resolved by a later snapshot.', registers: [registry] });
  const dedup = new Counter({
    name: 'meshdrift_dedup_suppressed_total',
    help: 'Signals that repeated what was already tracked and caused no notification.',
    labelNames: ['source'],
    registers: [registry],
  });
  return {
    signalReceived: (source, outcome) => signals.inc({ source, outcome }),
    signalRefused: (source, field) => signalsRefused.inc({ source, field }),
    findingOpened: (severity, category) => findings.inc({ severity, category }),
    appDrifted,
    limitHit: (limit) => limitHits.inc({ limit }),
    redisUnavailable: (reason) => unavailable.inc({ reason }),
    signalBatch: (signals, lost) => {
      batchSize.observe(signals);
      if (lost > 0) conflicts.inc(lost);
    },
    findingsResolved: (count) => resolved.inc(count),
    dedupSuppressed: (source) => dedup.inc({ source }),
    setActiveFindings: shared.setActiveFindings,
    setQueueJobs: shared.setQueueJobs,
  };
}

/** The notification decisions and deliveries, with the ingest and delivery timings. */
function deliveryMetrics(
  registry: Registry,
): Pick<Metrics, 'notificationDecided' | 'notificationDelivered' | 'deliveryDuration' | 'ingestDuration' | 'setActiveGroups'> {
  const decided = new Counter({
    name: 'meshdrift_notifications_decided_total',
    help: 'Notifications decided per alert group, by reason.',
    labelNames: ['reason'],
    registers: [registry],
  });
  const delivered = new Counter({
    name: 'meshdrift_notifications_total',
    help: 'Notification delivery attempts, by receiver (its name in the policy), receiver type and outcome.',
    labelNames: ['receiver', 'type', 'outcome'],
    registers: [registry],
  });
  const deliveryTime = new Histogram({
    name: 'meshdrift_delivery_duration_seconds',
    help: 'Time of one delivery attempt, by receiver (its name in the policy) and receiver type.',
    labelNames: ['receiver', 'type'],
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const ingestTime = new Histogram({
    name: 'meshdrift_ingest_duration_seconds',
    help: 'Time from a signal received to tracked and queued.',
    labelNames: ['source'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [registry],
  });
  const active = new Gauge({
    name: 'meshdrift_active_alert_groups',
    help: 'Alert groups with at least one firing finding (last seen by this replica).',
    registers: [registry],
  });
  return {
    notificationDecided: (reason) => decided.inc({ reason }),
    notificationDelivered: (receiver, type, outcome) => delivered.inc({ receiver, type, outcome }),
    deliveryDuration: (receiver, type, seconds) => deliveryTime.observe({ receiver, type }, seconds),
    ingestDuration: (source, seconds) => ingestTime.observe({ source }, seconds),
    setActiveGroups: (count) => active.set(count),
  };
}

/** Policy reloads, remediations, watch restarts, and time to notify and to resolve. */
function controlMetrics(
  registry: Registry,
): Pick<Metrics, 'policyReloaded' | 'remediation' | 'watchRestarted' | 'workerRestarted' | 'timeToNotify' | 'timeToResolve'> {
  const reloadOk = new Gauge({
    name: 'meshdrift_policy_reload_success',
    help: '1 if the last policy (re)load succeeded, 0 if it failed and the previous policy is still in force.',
    registers: [registry],
  });
  const reloadAt = new Gauge({
    name: 'meshdrift_policy_last_reload_timestamp_seconds',
    help: 'When the policy was last (re)loaded, successfully or not.',
    registers: [registry],
  });
  const remediations = new Counter({
    name: 'meshdrift_remediations_total',
    help: 'Remediation decisions and actions, by action and outcome (performed, dry-run, deferred, failed, rate-limited, escalated, skipped; verified or verify-failed once a performed action is checked).',
    labelNames: ['action', 'outcome'],
    registers: [registry],
  });
  const watchRestarts = new Counter({
    name: 'meshdrift_watch_restarts_total',
    help: 'Kubernetes watches restarted after an error, by cluster and kind.',
    labelNames: ['cluster', 'kind'],
    registers: [registry],
  });
  const workerRestarts = new Counter({
    name: 'meshdrift_worker_restarts_total',
    help: 'Queue workers replaced because they took none of their due jobs for MESHDRIFT_WORKER_STALL_AFTER, by queue.',
    labelNames: ['queue'],
    registers: [registry],
  });
  const drift = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 12 * 3600, 86400, 7 * 86400];
  const toNotify = new Histogram({
    name: 'meshdrift_time_to_notify_seconds',
    help: 'From a drift observed by its source to its first notification (MTTD).',
    labelNames: ['severity'],
    buckets: drift,
    registers: [registry],
  });
  const toResolve = new Histogram({
    name: 'meshdrift_time_to_resolve_seconds',
    help: 'How long announced findings stayed drifted, first seen to resolved.',
    labelNames: ['severity'],
    buckets: drift,
    registers: [registry],
  });
  return {
    policyReloaded: (success, at) => {
      reloadOk.set(success ? 1 : 0);
      reloadAt.set(at / 1000);
    },
    remediation: (action, outcome) => remediations.inc({ action, outcome }),
    watchRestarted: (cluster, kind) => watchRestarts.inc({ cluster, kind }),
    workerRestarted: (queue) => workerRestarts.inc({ queue }),
    timeToNotify: (severity, seconds) => toNotify.observe({ severity }, Math.max(0, seconds)),
    timeToResolve: (severity, seconds) => toResolve.observe({ severity }, Math.max(0, seconds)),
  };
}

/** The audit re-list, the Argo CD API poll and the watch Lease. */
function discoveryMetrics(
  registry: Registry,
): Pick<Metrics, 'auditDiscovered' | 'auditRun' | 'argocdPoll' | 'argocdPollDiscovered' | 'argocdDiffFetch' | 'setLeader' | 'setLeaderElection'> {
  const auditFound = new Counter({
    name: 'meshdrift_audit_discovered_total',
    help: 'Audit re-list signals that changed what was tracked: drift (or a resolve) the watches and webhooks had missed.',
    registers: [registry],
  });
  const auditRuns = new Counter({
    name: 'meshdrift_audit_runs_total',
    help: 'Audit re-list runs, by outcome (ok, partial, failed).',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const argocdPolls = new Counter({
    name: 'meshdrift_argocd_polls_total',
    help: 'Argo CD API polls, by outcome (ok, partial, failed, unauthorized).',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const argocdPollFound = new Counter({
    name: 'meshdrift_argocd_poll_discovered_total',
    help: 'Argo CD API poll signals that changed what was tracked (drift or a resolve).',
    registers: [registry],
  });
  const argocdDiffFetches = new Counter({
    name: 'meshdrift_argocd_diff_fetches_total',
    help: 'Field changes of drifted mesh resources from Argo CD managed-resources, by outcome (fetched, cached, failed, absent, budget).',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const leader = new Gauge({ name: 'meshdrift_leader', help: '1 while this replica holds the watch Lease.', registers: [registry] });
  const election = new Gauge({
    name: 'meshdrift_leader_election_enabled',
    help: '1 if this replica competes for the watch Lease (MESHDRIFT_CLUSTERS set, MESHDRIFT_LEADER_ELECTION on): then some replica should hold it.',
    registers: [registry],
  });
  return {
    auditDiscovered: (count) => auditFound.inc(count),
    auditRun: (outcome) => auditRuns.inc({ outcome }),
    argocdPoll: (outcome) => argocdPolls.inc({ outcome }),
    argocdPollDiscovered: (count) => argocdPollFound.inc(count),
    argocdDiffFetch: (outcome) => argocdDiffFetches.inc({ outcome }),
    setLeader: (isLeader) => leader.set(isLeader ? 1 : 0),
    setLeaderElection: (enabled) => election.set(enabled ? 1 : 0),
  };
}

/** Dead letters, refused webhooks, lost Slack posts, Redis data loss, and the clock. */
function reliabilityMetrics(
  registry: Registry,
): Pick<
  Metrics,
  | 'deadLettered'
  | 'webhookRefused'
  | 'slackLostPost'
  | 'redisDataLoss'
  | 'setRedisDataLossRecent'
  | 'setClockOffset'
  | 'clockSyncFailed'
  | 'bestEffortFailed'
  | 'senderTimeClamped'
  | 'setRedisPreflight'
> {
  const deadLetters = new Counter({
    name: 'meshdrift_dead_letters_total',
    help: 'Jobs that failed for good and are kept as dead letters (GET /api/v1/deadletters), by queue (flush, deliver) and reason (stalled: the worker died or hung more often than allowed; failed: an error on the last attempt).',
    labelNames: ['queue', 'reason'],
    registers: [registry],
  });
  const webhookRefusals = new Counter({
    name: 'meshdrift_webhook_refused_total',
    help: 'Authenticated webhook requests refused (403) because the credential may not speak for the cluster, project or namespace the body names, by sender (credential name) and reason (cluster, project, namespace).',
    labelNames: ['sender', 'reason'],
    registers: [registry],
  });
  const slackLostPosts = new Counter({
    name: 'meshdrift_slack_lost_posts_total',
    help: 'Slack posts whose answer was lost (timeout, cut connection), looked for in the channel before posting again, by outcome: found (no second message), not_found (it never reached Slack), fallback (posted again: the lookup was not possible, e.g. a missing history scope), deferred (the lookup is retried).',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const redisDataLoss = new Counter({
    name: 'meshdrift_redis_data_loss_total',
    help: "Times this replica found that Redis had lost meshdrift's state (the epoch key gone or replaced: Redis restarted empty, without AOF). Findings are re-derived from the sources; silences are gone.",
    registers: [registry],
  });
  const redisDataLossRecent = new Gauge({
    name: 'meshdrift_redis_data_loss_recent',
    help: "1 within MESHDRIFT_REDIS_DATA_LOSS_WINDOW after this replica found that Redis had lost meshdrift's state, else 0.",
    registers: [registry],
  });
  redisDataLossRecent.set(0);
  const clockOffset = new Gauge({
    name: 'meshdrift_clock_offset_seconds',
    help: "Redis TIME (the clock all replicas share) minus this replica's local clock, as last measured; meshdrift tells time by Redis, so this shows how far off the node's clock is.",
    registers: [registry],
  });
  const clockSyncErrors = new Counter({
    name: 'meshdrift_clock_sync_errors_total',
    help: 'Failed reads of Redis TIME; the last measured offset stays in use.',
    registers: [registry],
  });
  const bestEffortFailures = new Counter({
    name: 'meshdrift_best_effort_failures_total',
    help: 'Best-effort steps (a lock release, a hint written for later, a timer that BullMQ also covers) whose Redis or BullMQ call failed without failing the work they belong to, by operation; docs/operations.md says what each covers.',
    labelNames: ['operation'],
    registers: [registry],
  });
  // Every operation from the start at 0: the first failure is an increase, not a new series.
  for (const operation of BEST_EFFORT_OPERATIONS) bestEffortFailures.inc({ operation }, 0);
  const preflight = new Gauge({
    name: 'meshdrift_redis_preflight',
    help: 'The Redis preflight at start and at every reconnect, by check: role (the server is a primary), maxmemory_policy (noeviction), aof (appendonly on; reported, not required). 1 passes, 0 fails, -1 could not be read (e.g. CONFIG GET refused).',
    labelNames: ['check'],
    registers: [registry],
  });
  const senderClamped = new Counter({
    name: 'meshdrift_sender_time_clamped_total',
    help: 'Signals whose sender timestamp was bounded to the receipt (MESHDRIFT_MAX_SENDER_SKEW), by source and direction (future: after the receipt; past: older than the allowed skew).',
    labelNames: ['source', 'direction'],
    registers: [registry],
  });
  return {
    deadLettered: (queue, reason) => deadLetters.inc({ queue, reason }),
    webhookRefused: (sender, reason) => webhookRefusals.inc({ sender, reason }),
    slackLostPost: (outcome) => slackLostPosts.inc({ outcome }),
    redisDataLoss: () => redisDataLoss.inc(),
    setRedisDataLossRecent: (recent) => redisDataLossRecent.set(recent ? 1 : 0),
    setClockOffset: (seconds) => clockOffset.set(seconds),
    clockSyncFailed: () => clockSyncErrors.inc(),
    bestEffortFailed: (operation) => bestEffortFailures.inc({ operation }),
    senderTimeClamped: (source, direction) => senderClamped.inc({ source, direction }),
    setRedisPreflight: (check, state) => preflight.set({ check }, state === 'ok' ? 1 : state === 'fail' ? 0 : -1),
  };
}

export function createMetrics(registry: Registry = new Registry(), opts: { defaultMetrics?: boolean; appMetrics?: AppMetricsMode } = {}): Metrics {
  const appMode: AppMetricsMode = opts.appMetrics ?? { mode: 'top', n: 50 };
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'meshdrift_' });
  registerBuildInfo(registry);
  return {
    registry,
    ...ingestMetrics(registry, appMode),
    ...deliveryMetrics(registry),
    ...controlMetrics(registry),
    ...discoveryMetrics(registry),
    ...reliabilityMetrics(registry),
    ...stormMetrics(registry),
    ...admissionMetrics(registry),
    ...meshMetrics(registry),
  };
}

/** `meshdrift_build_info`: 1, labelled with what runs (`commit` only from a git checkout). */
function registerBuildInfo(registry: Registry): void {
  const info = buildInfo();
  new Gauge({
    name: 'meshdrift_build_info',
    help: 'Always 1; the labels say which meshdrift runs: version (package.json), node_version, commit (git, when run from a checkout).',
    labelNames: ['version', 'node_version', 'commit'],
    registers: [registry],
  }).set({ version: info.version, node_version: info.nodeVersion, commit: info.commit ?? '' }, 1);
}

/**
 * `meshdrift_app_drift_total`. `app_*` label names: `cluster` and `namespace` are taken by
 * Prometheus's own target labels. Labels come from the wire (any app name a sender makes up), so the
 * series are bounded (MESHDRIFT_APP_METRICS): `top:N` shows the N apps that drifted most among
 * those counted (at most max(4N, N+100)), and one series labelled `_other` for the rest; `off` only
 * that one; `all` one per app (unbounded). `_other` is the total minus what is shown: it may drop
 * when an app enters the top N (a counter reset to Prometheus).
 */
function createAppDriftMetric(registry: Registry, appMode: AppMetricsMode, onFolded: () => void): Metrics['appDrifted'] {
  const topApps = appMode.mode === 'top' ? new TopApps(Math.max(appMode.n * 4, appMode.n + 100), onFolded) : undefined;
  let otherApps = 0;
  const other: AppLabels = { app_cluster: OTHER_APPS, app_tool: OTHER_APPS, app_kind: OTHER_APPS, app_namespace: OTHER_APPS, app: OTHER_APPS };
  const appDrift = new Counter({
    name: 'meshdrift_app_drift_total',
    help: 'Findings that started firing, by GitOps app (drift frequency per app); counted per alert group. Apps without their own series (MESHDRIFT_APP_METRICS) count in the series whose labels are all _other.',
    labelNames: ['app_cluster', 'app_tool', 'app_kind', 'app_namespace', 'app'],
    registers: [registry],
    collect() {
      if (appMode.mode === 'all') return;
      this.reset();
      if (topApps) {
        let shown = 0;
        for (const { labels, count } of topApps.top(appMode.mode === 'top' ? appMode.n : 0)) {
          this.inc(labels, count);
          shown += count;
        }
        if (topApps.total > shown) this.inc(other, topApps.total - shown);
      } else if (otherApps > 0) this.inc(other, otherApps);
    },
  });
  return (app, count) => {
    const labels: AppLabels = { app_cluster: app.cluster, app_tool: app.tool, app_kind: app.kind, app_namespace: app.namespace, app: app.name };
    if (appMode.mode === 'all') appDrift.inc(labels, count);
    else if (topApps) topApps.add(labels, count);
    else otherApps += count;
  };
}

/**
 * Gauges of state every replica shares (Redis, BullMQ): each replica reports the same value, so
 * aggregate them across replicas with max(), never sum().
 */
function createSharedStateGauges(registry: Registry): Pick<Metrics, 'setActiveFindings' | 'setQueueJobs'> {
  const activeFindings = new Gauge({
    name: 'meshdrift_active_findings',
    help: 'Findings firing now, by severity, mesh and category: distinct drifted resources across all alert groups, read from Redis (the same on every replica: aggregate with max).',
    labelNames: ['severity', 'mesh', 'category'],
    registers: [registry],
  });
  const activeFindingsShown = new Map<string, { severity: string; mesh: string; category: string }>();
  const queueJobs = new Gauge({
    name: 'meshdrift_queue_jobs',
    help: 'BullMQ jobs by queue (flush, deliver) and state (waiting, prioritized, delayed, active, failed = dead letters), read from Redis (the same on every replica: aggregate with max).',
    labelNames: ['queue', 'state'],
    registers: [registry],
  });
  return {
    setActiveFindings: (counts) => {
      const now = new Set<string>();
      for (const { severity, mesh, category, count } of counts) {
        const key = JSON.stringify([severity, mesh, category]);
        now.add(key);
        activeFindingsShown.set(key, { severity, mesh, category });
        activeFindings.set({ severity, mesh, category }, count);
      }
      for (const [key, labels] of activeFindingsShown) if (!now.has(key)) activeFindings.set(labels, 0);
    },
    setQueueJobs: (queue, counts) => {
      for (const [state, count] of Object.entries(counts)) queueJobs.set({ queue, state }, count);
    },
  };
}
