import type { PolicyHolder } from '../deliver/policy-receivers.ts';
import { syncReceiverFor } from '../deliver/slack/buttons.ts';
import type { Logger } from '../log.ts';
import type { Queues } from '../queue/queues.ts';
import type { TrackStore } from '../track/redis-store.ts';
import { ownersOf } from './policy.ts';
import { REMEDIATION } from './capability.ts';
import { followUp } from './jobs.ts';

export interface SyncNowDeps {
  policy: () => PolicyHolder;
  store: Pick<TrackStore, 'get'>;
  queues: Queues;
  now: () => number;
  log: Logger;
}

/**
 * "Sync now" from Slack: each owner of the group's firing findings goes to the policy's
 * remediation receiver for the owner's tool (its guardrails, dry run and audit apply as for
 * automatic remediation), inline so the clicker hears the result; its verify step and notes are
 * queued as for automatic remediation.
 */
export function createSyncNow(deps: SyncNowDeps): (groupKey: string, actor: string) => Promise<{ dryRun: boolean; summary: string }> {
  const { policy, store, queues, now, log } = deps;
  return async (groupKey, actor) => {
    const state = await store.get(groupKey);
    const last = state?.lastNotification;
    if (!state || !last || last.status !== 'firing') throw new Error('nothing is drifted in this group any more');
    const wanted: readonly string[] = state.labels.tool === 'argocd' ? ['argocd-sync', 'argocd-operation'] : ['flux-reconcile'];
    // The same choice as the one that drew the button (deliver/slack/buttons.ts).
    const receiver = syncReceiverFor(policy().current().receivers, state.labels);
    const notifier = receiver ? policy().notifiers().get(receiver.name) : undefined;
    const remediation = notifier ? REMEDIATION.of(notifier) : undefined;
    if (!receiver || !remediation)
      throw new Error(`the policy has no remediate receiver with action ${wanted.join(' or ')} for cluster ${state.labels.cluster}`);
    const n = { ...last, reason: 'first' as const, at: now() };
    for (const owner of ownersOf(n)) {
      const run = await remediation.remediateOwner(n, owner, actor);
      await followUp(run, { notifiers: () => policy().notifiers(), queues, escalationDefault: () => rootReceiver(policy()), log });
      if (!run.result.ok) throw new Error(run.result.reason);
    }
    log.info({ group: groupKey, actor, receiver: receiver.name }, 'sync requested from Slack');
    return { dryRun: receiver.remediate?.dry_run ?? true, summary: `via ${receiver.name}` };
  };
}

/** The root route's receiver: where escalations go by default. */
function rootReceiver(holder: PolicyHolder): string[] {
  const root = holder.current().config.route.receiver;
  return root === undefined ? [] : [root];
}
