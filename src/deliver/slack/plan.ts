import type { Notification } from '../../model/alert-group.ts';
import type { SlackMessageRef } from './message-store.ts';

/**
 * What one delivery of a notification still has to do in Slack, given the group's stored message.
 * Each step is recorded in the ref once done, so a retried or deferred job picks up where the
 * last one stopped.
 */
export type SlackDeliveryPlan =
  /** Nothing: the message already shows this notification (or a newer one), and its reply is told. */
  | { action: 'none' }
  /** A new main message: the first notification of an episode, or no message to edit. */
  | { action: 'post' }
  /** Edit the main message in place, then (with `reply`) tell the change in its thread. */
  | { action: 'update'; ref: SlackMessageRef; reply: boolean }
  /** The edit is done (a previous attempt stopped after it); only the thread reply is owed. */
  | { action: 'reply'; ref: SlackMessageRef };

/** Decides the Slack steps for `n` (pure: "decide, then act"). */
export function planSlackDelivery(ref: SlackMessageRef | null, n: Notification, opts: { threads: boolean }): SlackDeliveryPlan {
  if (ref === null) return { action: 'post' };
  // An older notification (a retried or late job) must not overwrite a newer message, nor reply
  // out of order: the newer one's reply tells everything since the thread's last line.
  if (ref.seq > n.seq) return { action: 'none' };
  if (ref.seq === n.seq) {
    const replied = ref.repliedSeq ?? ref.seq;
    return opts.threads && n.reason !== 'first' && replied < n.seq ? { action: 'reply', ref } : { action: 'none' };
  }
  // A new episode gets a new message; later notifications edit it in place.
  if (n.reason === 'first') return { action: 'post' };
  return { action: 'update', ref, reply: opts.threads };
}

/**
 * Slack calls the plan makes at most; each takes a slot of the channel's rate limit. An update is
 * followed by its reply, or, when the message is gone, by a new post instead: two either way.
 */
export function slackCallsOf(plan: SlackDeliveryPlan): number {
  switch (plan.action) {
    case 'none':
      return 0;
    case 'post':
    case 'reply':
      return 1;
    case 'update':
      return 2;
  }
}
