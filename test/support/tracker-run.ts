import type { Notification } from '../../src/model/alert-group.ts';
import type { Finding } from '../../src/model/finding.ts';
import { applySignal, flush, type SignalInput } from '../../src/track/decide.ts';
import type { GroupState, Timing } from '../../src/track/group-state.ts';
import { PAYMENTS_APP, paymentsGroupLabels } from './notifications.ts';

/** group_wait 10 s, group_interval 5 m, repeat 4 h, no pending_for, resolve_wait 30 s. */
export const TRACKER_TIMING: Timing = {
  groupWaitMs: 10_000,
  groupIntervalMs: 300_000,
  repeatIntervalMs: 4 * 3_600_000,
  pendingForMs: 0,
  resolveWaitMs: 30_000,
};

/** A signal about {@link PAYMENTS_APP}'s findings on `cluster`, for group `g1`, received at `at`. */
export function paymentsSignal(findings: readonly Finding[], completeness: SignalInput['completeness'], at: number, cluster = 'prod-eu'): SignalInput {
  return {
    groupKey: 'g1',
    labels: paymentsGroupLabels(cluster),
    timing: TRACKER_TIMING,
    findings,
    completeness,
    scope: { cluster, tool: 'argocd', owner: { ...PAYMENTS_APP } },
    observedAt: at,
  };
}

/**
 * The tracker's own decisions (track/decide.ts, pure): applies `input` at `at` (meshdrift's clock),
 * then runs every flush due by `until`, each at its due time. Returns the state after them and the
 * notifications told, as production builds them (resolvedAt, lastSeen and all).
 */
export function applyAndTell(prev: GroupState | null, input: SignalInput, at: number, until: number): { state: GroupState | null; told: Notification[] } {
  let state = applySignal(prev, input, at).next;
  const told: Notification[] = [];
  while (state?.pendingFlush && state.pendingFlush.dueAt <= until) {
    const result = flush(state, state.pendingFlush.seq, { now: state.pendingFlush.dueAt });
    if (result.notification) told.push(result.notification);
    state = result.next;
  }
  return { state, told };
}
