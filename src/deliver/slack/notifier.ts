import type { Notification } from '../../model/alert-group.ts';
import { withCapabilities, type Notifier, type SendResult } from '../notifier.ts';
import { OWNER_NOTES, type OwnerNotes } from './note-job.ts';
import { STORM_DETAIL, type StormDetailTeller } from '../storm-detail.ts';
import { tellStormDetail } from './storm-render.ts';
import { createSlackChannel, lockBusy, type SlackChannel, type SlackNotifierOptions } from './channel.ts';
import { messageOf } from '../../model/error-message.ts';
import { postOnce, postOnceOn } from './lost-post-recovery.ts';
import type { SlackGroupLock } from './message-store.ts';
import { execute, tellNote } from './messages.ts';
import { planSlackDelivery, slackCallsOf } from './plan.ts';

export type { SlackNotifierOptions } from './channel.ts';

/** A Slack receiver also tells notes about an owner in the thread of its message about it (declared: OWNER_NOTES). */
export interface SlackThreadNotifier extends Notifier, OwnerNotes, StormDetailTeller {}

/**
 * Slack receiver: one message per alert group episode, posted on the group's first notification and
 * updated in place (chat.update) by later ones, each of which also adds a short line to the
 * message's thread saying what changed. The channel shows one line per incident, the thread its
 * history. A per-group lock and the stored seqs keep concurrent, retried or out-of-order jobs from
 * overwriting a newer message or telling a change twice. Never throws.
 *
 * Order of a later notification (each step recorded before the next, so a job that stops anywhere
 * resumes at the first step not recorded): lock → read ref → plan → take rate-limit slots for every
 * call the plan makes (or defer, having done nothing) → chat.update → store `seq` → thread reply →
 * store `repliedSeq` and `told` → unlock.
 *
 * A main message is posted once even when Slack's answer to the post is lost (Slack has no
 * idempotency key): a pending-post record goes to Redis just before chat.postMessage, and the
 * message carries metadata naming its group and seq. A retry that finds the record unanswered looks
 * for the message in the channel (conversations.history, which needs the bot scope
 * `channels:history`, or `groups:history` for a private channel) and edits it instead of posting
 * again. A lookup that fails for a passing reason (timeout, 5xx, rate limit) never posts: the job
 * is retried and the next lookup waits longer. Only a lookup that saw the whole channel since the
 * first attempt and found nothing posts again, or, where it cannot look (no history scope, bot
 * not in the channel, channel known only by name, more than 60 messages since), it posts
 * (at-least-once) and warns once what to fix.
 */
export function createSlackNotifier(opts: SlackNotifierOptions): SlackThreadNotifier {
  const ch = createSlackChannel(opts);
  const storeFailed = (what: string, error: unknown): SendResult =>
    ch.fail({ ok: false, retryable: true, reason: `slack message store ${what}: ${messageOf(error)}` });
  const notifier: SlackThreadNotifier = {
    type: 'slack',
    async tellOwner(note) {
      try {
        return await tellNote(ch, note);
      } catch (error) {
        return storeFailed('failed', error);
      }
    },
    async tellStormDetail(detail) {
      try {
        return await tellStormDetail(ch, detail);
      } catch (error) {
        return storeFailed('failed', error);
      }
    },
    async send(n) {
      let release: SlackGroupLock | null;
      try {
        release = await ch.store.tryLock(n.groupKey, ch.lockTtlMs);
      } catch (error) {
        return storeFailed('unavailable', error);
      }
      if (release === null) return lockBusy();
      try {
        return await deliver(ch, n, release);
      } catch (error) {
        // Only the store can get here (Slack errors are mapped where they happen).
        return storeFailed('failed', error);
      } finally {
        // The lock expires by itself; a failed release must not turn a delivery into a failure.
        await ch.bestEffort.attempt('slack_lock_release', release);
      }
    },
  };
  return withCapabilities(notifier, OWNER_NOTES.grant(notifier), STORM_DETAIL.grant(notifier));
}

/** One notification, the group's lock held: plan from the stored message, take every slot the plan needs, run it. */
async function deliver(ch: SlackChannel, n: Notification, lock: SlackGroupLock): Promise<SendResult> {
  const ref = await ch.store.get(n.groupKey);
  const plan = planSlackDelivery(ref, n, { threads: ch.threads });
  if (plan.action === 'none') return { ok: true };
  // After Redis lost its state, a first post may turn into an edit and its reply (postAfterStateLoss).
  const mayEditLost = plan.action === 'post' && ref === null && ch.stateLostAt() !== undefined;
  const deferred = await ch.reserve(slackCallsOf(plan) + (mayEditLost ? 1 : 0));
  if (deferred !== null) return deferred;
  return plan.action === 'post' ? postOnce(ch, n, ref, lock) : execute(ch, plan, n, lock, postOnceOn(ch));
}
