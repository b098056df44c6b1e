import type { Notifier } from '../deliver/notifier.ts';
import type { Logger } from '../log.ts';
import type { Notification } from '../model/alert-group.ts';
import type { Queues } from '../queue/queues.ts';
import { REMEDIATION } from './capability.ts';
import { followUp } from './jobs.ts';
import { ownersOf } from './policy.ts';

/** What {@link createEscalationEnder} needs. */
export interface EscalationEnderDeps {
  /** The group's last notification (the tracker's stored state), or undefined when the group is gone. */
  lastNotification: (groupKey: string) => Promise<Notification | undefined>;
  notifiers: () => ReadonlyMap<string, Notifier>;
  queues: Pick<Queues, 'enqueueVerify' | 'enqueueNotes' | 'enqueueEscalations'>;
  /** Where escalations go when a remediate receiver names none: the root route's receiver. */
  escalationDefault?: () => readonly string[];
  log: Logger;
}

/**
 * A human acted on an alert group from Slack ("Silence", "Acknowledge"): every remediate receiver
 * ends its open escalation for the group's owners, and the resolves are told as the escalations
 * were (issue #22; "Sync now" ends them in the remediation run itself). Best effort: a failure is
 * logged at warn and the escalation stays open until an action on the owner is verified. Resolves
 * how many escalations it ended.
 */
export function createEscalationEnder(deps: EscalationEnderDeps): (groupKey: string, actor: string, what: string) => Promise<number> {
  return async (groupKey, actor, what) => {
    try {
      const last = await deps.lastNotification(groupKey);
      if (last === undefined) return 0;
      const owners = ownersOf({ ...last, firing: [...last.firing, ...last.resolved] });
      let ended = 0;
      for (const notifier of deps.notifiers().values()) {
        const remediation = REMEDIATION.of(notifier);
        if (remediation?.resolveEscalation === undefined) continue;
        for (const owner of owners) {
          const escalations = await remediation.resolveEscalation(owner, `${actor} ${what}`);
          if (escalations === undefined) continue;
          ended += escalations.events.length;
          await followUp({ result: { ok: true }, notes: [], escalations }, deps);
        }
      }
      return ended;
    } catch (err) {
      deps.log.warn(
        { group: groupKey, actor, error: err instanceof Error ? err.message : String(err) },
        'could not end the remediation escalations of the group',
      );
      return 0;
    }
  };
}
