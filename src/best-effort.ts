import { createLogger, type Logger } from './log.ts';
import type { BestEffortOperation, Metrics } from './metrics.ts';
import { firstLineOf } from './model/error-message.ts';

/**
 * A best-effort step: a Redis, BullMQ or Slack call whose failure must never fail its caller,
 * because something else already covers it (a TTL, a retry by the next event, a fallback). Its
 * failure is still never silent: each one is counted
 * (`meshdrift_best_effort_failures_total{operation}`) and logged at warn, at most one line per
 * operation per {@link BEST_EFFORT_WARN_EVERY_MS}, saying how many failed since the previous line.
 * docs/operations.md says what each operation covers and what an operator does about it.
 */
export const BEST_EFFORT_MEANS: Readonly<Record<BestEffortOperation, string>> = {
  last_signal_write: "when a source last spoke (the web page's Sources view) not recorded: the pair's next signal writes it again",
  remediation_lock_release:
    "an owner's remediation lock not released: it expires by itself (the remediator's lock time, 60 s by default); until then that owner's remediations are deferred",
  escalation_source_read:
    'the stored notification a remediation escalation refers to could not be read: the escalation is told without its findings list (its headline names the owner and why)',
  slack_lock_release:
    "a Slack group's message lock not released: it expires by itself (3 post timeouts + 5 s, 35 s by default); until then that group's deliveries are deferred",
  slack_rate_limit_hold:
    "a Slack 429's hold on the channel not shared through Redis: this job waits anyway; other groups' and replicas' posts to the channel may get their own 429",
  slack_channel_id_write:
    "a Slack channel's ID, learnt from a post's answer, not stored: the next post's answer stores it; until then a lost post's lookup in that channel is not possible",
  slack_pending_post_clear: "a refused Slack post's pending record not cleared: it expires by itself; the retry costs one history lookup that finds nothing",
  slack_message_record:
    'a Slack post or thread reply that went through was not recorded: the delivery counts as done; the next notification finds the message by its pending-post record (one history lookup), or tells this change again in its reply',
  flush_intent_release:
    "claimed flush intents whose jobs could not be added were not given back to their due times: they wait for their lease (60 s), then any replica's mover adds them",
  flush_promote: "a due flush not promoted by this replica's timer: BullMQ's own timer runs it, up to ~100 ms later",
  watchdog_due_read:
    "the worker watchdog could not read a queue's due jobs: that check is skipped; the next one (every MESHDRIFT_WORKER_STALL_AFTER / 6) reads again",
  worker_close: "a replaced (stuck) queue worker's close failed: its connection is cut anyway, and its running jobs go to BullMQ's stalled-job check",
  data_loss_notice_enqueue:
    'the Redis data loss notice was not queued (the queue connection not back yet after the restart): it is queued again at the next epoch check (every MESHDRIFT_REDIS_EPOCH_CHECK_INTERVAL and at every reconnect)',
};

/** At most one warning per operation this often (per process). */
export const BEST_EFFORT_WARN_EVERY_MS = 60_000;
/** How much of an error's first line a warning carries: a Redis or BullMQ message names the failure, never credentials. */
const ERROR_CHARS = 300;

export interface BestEffort {
  /** Counts and (rate-limited) logs a failed best-effort step; never throws. */
  failed(operation: BestEffortOperation, err: unknown): void;
  /** `step`'s promise, its failure reported as {@link failed} instead of thrown. */
  attempt(operation: BestEffortOperation, step: () => Promise<unknown>): Promise<void>;
}

export interface BestEffortDeps {
  /** Absent in callers without a registry (a test's own notifier): then only logged. */
  metrics?: Pick<Metrics, 'bestEffortFailed'>;
  log: Pick<Logger, 'warn'>;
  /** The clock of the rate limit (epoch ms); default Date.now. A clock that went back logs at once. */
  now?: () => number;
}

export function createBestEffort(deps: BestEffortDeps): BestEffort {
  const now = deps.now ?? Date.now;
  const since = new Map<BestEffortOperation, { failed: number; warnedAt: number | undefined }>();
  const failed = (operation: BestEffortOperation, err: unknown): void => {
    try {
      deps.metrics?.bestEffortFailed(operation);
      const s = since.get(operation) ?? { failed: 0, warnedAt: undefined };
      since.set(operation, s);
      s.failed += 1;
      const at = now();
      if (s.warnedAt !== undefined && at >= s.warnedAt && at - s.warnedAt < BEST_EFFORT_WARN_EVERY_MS) return;
      deps.log.warn(
        { operation, failed: s.failed, error: firstLineOf(err, ERROR_CHARS) },
        `best-effort step failed (${BEST_EFFORT_MEANS[operation]}); \`failed\` counts this operation's failures since its previous such line`,
      );
      s.failed = 0;
      s.warnedAt = at;
    } catch {
      // Reporting must never fail the caller (a logger's destination gone at shutdown).
    }
  };
  return reportingWith(failed);
}

/** A BestEffort whose `attempt` reports through `failed` (the one way to build one). */
export function reportingWith(failed: BestEffort['failed']): BestEffort {
  return {
    failed,
    async attempt(operation, step) {
      try {
        await step();
      } catch (err) {
        failed(operation, err);
      }
    },
  };
}

let fallback: BestEffort | undefined;
/** For callers built without one (a notifier in a test, a CLI): warn-level JSON lines on stderr, not counted. */
export function fallbackBestEffort(): BestEffort {
  fallback ??= createBestEffort({ log: createLogger('warn') });
  return fallback;
}
