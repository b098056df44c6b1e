import { z } from 'zod';
import { applicationSchema } from './application.ts';

/**
 * The body the argocd-notifications webhook template in deploy/argocd/ posts:
 * `{"app": <Application>, "context"?: {...}, "cluster"?: "<name>"}`. Other top-level keys the
 * template adds (schema, trigger, argocdUrl) are accepted and ignored.
 */
export const argocdWebhookSchema = z.object({
  app: applicationSchema,
  context: z.record(z.string(), z.unknown()).optional(),
  /**
   * The sender's cluster name (the template's `context.clusterName`). Null, absent or "" (a
   * `context` without clusterName renders `null`): the sender's own cluster when its credential
   * speaks for exactly one, else MESHDRIFT_CLUSTER (http/senders.ts claimedCluster).
   */
  cluster: z
    .string()
    .max(253, 'a cluster name is at most 253 characters')
    .nullish()
    .transform((v) => (v === null || v === undefined || v.trim() === '' ? undefined : v)),
  trigger: z.string().optional(),
});
export type ArgocdWebhook = z.infer<typeof argocdWebhookSchema>;
