import type { Notifier, SendResult } from '../../src/deliver/notifier.ts';
import type { Notification } from '../../src/model/alert-group.ts';
import { REMEDIATION } from '../../src/remediate/capability.ts';
import { remediationTakeover } from '../../src/remediate/jobs.ts';
import type { RemediationOwner } from '../../src/remediate/policy.ts';

/**
 * A delivery of `n` to a remediation receiver as production runs it, without BullMQ: the delivery
 * handler's takeover (remediate/jobs.ts) queues one job per owner, here into a list, and each job
 * runs the receiver's declared remediation for its owner as the `remediate` job handler does.
 * These tests' notifications have one owner each; that owner's result is returned.
 */
export async function remediate(receiver: Notifier, n: Notification): Promise<SendResult> {
  const remediation = REMEDIATION.of(receiver);
  if (!remediation) throw new Error(`receiver of type ${receiver.type} does not declare the remediation capability`);
  const queued: RemediationOwner[] = [];
  const took = await remediationTakeover({ enqueueRemediation: async (_receiver, _n, owner) => void queued.push(owner) })(remediation.receiver, receiver, n);
  if (took === undefined) throw new Error('the remediation takeover did not take the delivery');
  const [owner, ...more] = queued;
  if (!owner || more.length > 0) throw new Error(`expected one owner in the notification, got ${queued.length}`);
  return (await remediation.remediateOwner(n, owner)).result;
}
