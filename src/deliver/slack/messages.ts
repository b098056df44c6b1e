import type { Notification } from '../../model/alert-group.ts';
import type { OwnerNote } from '../../model/owner-note.ts';
import { ownerKey } from '../../model/owner.ts';
import type { SendResult } from '../notifier.ts';
import { withActionLog } from './actions.ts';
import type { SlackChannel } from './channel.ts';
import { isPlatformError, POST_INSTEAD_OF_UPDATE_ERRORS, SKIP_REPLY_ERRORS } from './client.ts';
import { postMayHaveLandedAfter, slackAlertMetadata } from './lost-post.ts';
import type { SlackGroupLock, SlackMessageRef } from './message-store.ts';
import type { SlackDeliveryPlan } from './plan.ts';
import { toldFindingsOf } from './render-reply.ts';
import { renderMainMessage, renderThreadReply } from './storm-render.ts';

/**
 * The Slack calls that write a receiver's messages (post, edit, thread reply, owner note), each
 * followed by what it records in the message store. Each call's rate-limit slots are taken before.
 */

/** Posts the group's main message once, looking first for one a lost answer may hide (lost-post-recovery.ts). */
export type PostOnce = (n: Notification, ref: SlackMessageRef | null, lock: SlackGroupLock) => Promise<SendResult>;

/**
 * chat.postMessage of the main message, with the metadata a lookup finds it by. With
 * `forgetOnRefusal`, an answer that says Slack did not post (429, a platform error) drops this
 * attempt's pending-post record, so the retry does not look for a post that cannot exist.
 */
export async function postMessage(ch: SlackChannel, n: Notification, how: { forgetOnRefusal: boolean }): Promise<SendResult> {
  const { text, blocks } = renderMainMessage(n, ch.links, ch.buttons);
  let posted: { channel: string; ts: string };
  try {
    const res = await ch.client().chat.postMessage({
      channel: ch.name,
      text,
      blocks,
      metadata: slackAlertMetadata(n),
      unfurl_links: false,
      unfurl_media: false,
    });
    if (res.ts === undefined) {
      return ch.fail({ ok: false, retryable: true, reason: 'slack chat.postMessage answered ok without a message ts' });
    }
    posted = { channel: res.channel ?? ch.name, ts: res.ts };
  } catch (error) {
    if (how.forgetOnRefusal && !postMayHaveLandedAfter(error)) {
      // Best effort: a record left behind costs the retry one history lookup that finds nothing.
      await ch.bestEffort.attempt('slack_pending_post_clear', () => ch.store.clearPendingPost(n.groupKey));
    }
    return ch.failure('chat.postMessage', error);
  }
  await ch.learnChannelId(posted.channel);
  try {
    // A new message starts its thread: nothing is owed for it. Storing it also settles the
    // pending-post record (its seq is now shown).
    await ch.store.set(n.groupKey, { ...posted, seq: n.seq, repliedSeq: n.seq, told: toldFindingsOf(n) });
    await ch.store.setOwnerGroup(ownerKey(n.labels), n.groupKey);
  } catch (err) {
    // The alert is in Slack. Retrying now would find it through the pending-post record, but so
    // will the next notification's post; report delivery rather than spend an attempt on it.
    ch.bestEffort.failed('slack_message_record', err);
  }
  return { ok: true };
}

/** The thread reply that tells what changed since the reply before. */
export async function postReply(ch: SlackChannel, n: Notification, ref: SlackMessageRef): Promise<SendResult> {
  const { text, blocks } = renderThreadReply(n, ref.told);
  try {
    await ch.client().chat.postMessage({
      channel: ref.channel,
      thread_ts: ref.ts,
      text,
      blocks,
      unfurl_links: false,
      unfurl_media: false,
    });
  } catch (error) {
    if (!isPlatformError(error, SKIP_REPLY_ERRORS)) return ch.failure('chat.postMessage (thread reply)', error);
  }
  try {
    await ch.store.set(n.groupKey, { ...ref, repliedSeq: n.seq, told: toldFindingsOf(n) });
  } catch (err) {
    // The reply is in Slack and the message shows this notification. A retry would reply twice;
    // without one, the next notification's reply also tells this change. Report delivery.
    ch.bestEffort.failed('slack_message_record', err);
  }
  return { ok: true };
}

/** chat.update of the main message (keeping who did what), then its reply when the plan has one. */
async function updateMessage(
  ch: SlackChannel,
  plan: Extract<SlackDeliveryPlan, { action: 'update' }>,
  n: Notification,
  lock: SlackGroupLock,
  postOnce: PostOnce,
): Promise<SendResult> {
  const { text, blocks } = renderMainMessage(n, ch.links, ch.buttons);
  // The re-render keeps who did what (Slack buttons): read last, just before the edit.
  const lines = await ch.store.actionLines(n.groupKey, plan.ref.ts);
  const shown = lines.reduce<unknown[]>((acc, line) => withActionLog(acc, line, { removeActions: n.status !== 'firing' }), blocks);
  try {
    await ch.client().chat.update({ channel: plan.ref.channel, ts: plan.ref.ts, text, blocks: shown as typeof blocks, metadata: slackAlertMetadata(n) });
  } catch (error) {
    if (isPlatformError(error, POST_INSTEAD_OF_UPDATE_ERRORS)) return postOnce(n, plan.ref, lock);
    return ch.failure('chat.update', error);
  }
  // Recorded before the reply: a job that stops now resumes with the reply alone. The
  // update is idempotent, so a job that stopped before this line just edits again.
  const updated: SlackMessageRef = plan.reply
    ? { ...plan.ref, seq: n.seq, repliedSeq: plan.ref.repliedSeq ?? plan.ref.seq }
    : { ...plan.ref, seq: n.seq, repliedSeq: n.seq, told: toldFindingsOf(n) };
  await ch.store.set(n.groupKey, updated);
  return plan.reply ? postReply(ch, n, updated) : { ok: true };
}

/** Runs a plan whose rate-limit slots are taken; a 'post' goes through `postOnce`, as does an edit of a message that is gone. */
export async function execute(
  ch: SlackChannel,
  plan: Exclude<SlackDeliveryPlan, { action: 'post' }>,
  n: Notification,
  lock: SlackGroupLock,
  postOnce: PostOnce,
): Promise<SendResult> {
  switch (plan.action) {
    case 'none':
      return { ok: true };
    case 'reply':
      return postReply(ch, n, plan.ref);
    case 'update':
      return updateMessage(ch, plan, n, lock, postOnce);
  }
}

/** Posts an owner note in the thread of this receiver's message about the owner, if there is one. */
export async function tellNote(ch: SlackChannel, note: OwnerNote): Promise<SendResult> {
  const groupKey = await ch.store.groupOfOwner(ownerKey(note));
  const ref = groupKey === null ? null : await ch.store.get(groupKey);
  // This receiver never wrote about the owner (or forgot it): someone else's channel, nothing to tell.
  if (ref === null) return { ok: true };
  const deferred = await ch.reserve(1);
  if (deferred !== null) return deferred;
  try {
    await ch.client().chat.postMessage({
      channel: ref.channel,
      thread_ts: ref.ts,
      reply_broadcast: note.broadcast,
      text: note.text,
      blocks: [{ type: 'section', text: { type: 'mrkdwn', text: note.text } }],
      unfurl_links: false,
      unfurl_media: false,
    });
  } catch (error) {
    if (isPlatformError(error, SKIP_REPLY_ERRORS)) return { ok: true };
    return ch.failure('chat.postMessage (note)', error);
  }
  return { ok: true };
}
