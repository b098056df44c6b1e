import { z } from 'zod';
import { ownerRefSchema } from './signal.ts';

/**
 * A short message about one GitOps owner for its alert's Slack thread: a remediation's verify
 * verdict, or a flap breaker's escalation. The remediator writes it; a job carries it to every
 * Slack receiver, and each posts it in the thread of its message about that owner, if it has one.
 */
export const ownerNoteSchema = z.object({
  /** Unique per note: the job id derives from it, so a retried producer tells it once. */
  id: z.string().min(1),
  cluster: z.string(),
  tool: z.enum(['argocd', 'flux', 'meshdrift']),
  owner: ownerRefSchema,
  /** mrkdwn, already escaped where it quotes names. */
  text: z.string().min(1).max(3000),
  /** Also show it in the channel (`reply_broadcast`): escalations, which need a human now. */
  broadcast: z.boolean(),
});
export type OwnerNote = z.infer<typeof ownerNoteSchema>;
