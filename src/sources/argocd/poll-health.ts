import type { Logger } from '../../log.ts';

/**
 * What the Argo CD poller (argocd/poller.ts) reports of each poll, and the health it keeps from
 * them: consecutive failures, since when, the last error, and a sticky 401/403.
 */

export type PollOutcome = 'ok' | 'partial' | 'failed' | 'unauthorized';

export interface PollResult {
  outcome: PollOutcome;
  /** Apps listed, over every namespace scope. */
  listed: number;
  /** Resource trees read (apps Degraded or Missing). */
  trees: number;
  /** Signals ingested. */
  signals: number;
  /** Signals whose ingest changed tracked state (`tracked`). */
  discovered: number;
  /** Apps gone since the previous poll, resolved with an empty snapshot. */
  vanished: number;
  /** One line per failed list, tree, skipped app or ingest; never a secret. */
  errors: string[];
  durationMs: number;
}

export interface ArgoCdPollerHealth {
  /** False after 401/403 (until a poll succeeds) and while the API has failed for longer than `unreadyAfterMs`. */
  ready: boolean;
  /** When the current run of failed polls began (epoch ms); absent while polls succeed. */
  since?: number;
  /** The last poll's error, when it failed (redacted: never the token). */
  lastError?: string;
  /** When a poll last listed successfully (epoch ms). */
  lastSuccessAt?: number;
  consecutiveFailures: number;
}

/** The poller's health, updated from each finished (or crashed) poll. */
export interface PollHealth {
  /** Updates health from a finished poll, logs it, and reports it (`onPoll`, `onDiscovered`). */
  record(result: PollResult, unauthorized: boolean, started: number): void;
  /** A poll that threw (a bug: polls report failures in their result). */
  crashed(error: string): void;
  /** Polls failed in a row (0 after a success). */
  failures(): number;
  health(): ArgoCdPollerHealth;
}

export interface PollHealthOptions {
  log: Logger;
  now: () => number;
  /** Failing for longer than this makes the source not ready. */
  unreadyAfterMs: number;
  onPoll?: ((outcome: PollOutcome, result: PollResult) => void) | undefined;
  onDiscovered?: ((count: number) => void) | undefined;
}

export function createPollHealth(opts: PollHealthOptions): PollHealth {
  const { log, now } = opts;
  let failures = 0;
  let failingSince: number | undefined;
  let lastError: string | undefined;
  let lastSuccessAt: number | undefined;
  let authFailed = false;

  return {
    record(result, unauthorized, started) {
      if (result.outcome === 'failed' || result.outcome === 'unauthorized') {
        failures++;
        failingSince ??= started;
        lastError = result.errors.at(-1) ?? 'poll failed';
        // Sticky until a poll succeeds: a later timeout does not make a rejected token good again.
        if (unauthorized) authFailed = true;
        log.warn({ outcome: result.outcome, error: lastError, consecutiveFailures: failures }, 'Argo CD poll failed');
      } else {
        if (failures > 0) log.info({ after: failures }, 'Argo CD poll succeeded again');
        failures = 0;
        failingSince = undefined;
        lastError = undefined;
        authFailed = false;
        lastSuccessAt = now();
        const level = result.outcome === 'ok' && result.discovered === 0 ? 'debug' : 'info';
        log[level](
          {
            outcome: result.outcome,
            listed: result.listed,
            trees: result.trees,
            signals: result.signals,
            discovered: result.discovered,
            vanished: result.vanished,
            errors: result.errors.length,
            durationMs: result.durationMs,
          },
          'Argo CD poll done',
        );
      }
      if (result.discovered > 0) opts.onDiscovered?.(result.discovered);
      opts.onPoll?.(result.outcome, result);
    },
    crashed(error) {
      failures++;
      failingSince ??= now();
      lastError = error;
      log.error({ error: lastError }, 'Argo CD poll crashed');
    },
    failures: () => failures,
    health() {
      const longOutage = failingSince !== undefined && now() - failingSince > opts.unreadyAfterMs;
      return {
        ready: !authFailed && !longOutage,
        ...(failingSince !== undefined ? { since: failingSince } : {}),
        ...(lastError !== undefined ? { lastError } : {}),
        ...(lastSuccessAt !== undefined ? { lastSuccessAt } : {}),
        consecutiveFailures: failures,
      };
    },
  };
}
