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
  /** The sender's cluster name (the template's `context.clusterName`); else MESHDRIFT_CLUSTER. */
  cluster: z.string().min(1).optional(),
  trigger: z.string().optional(),
});
export type ArgocdWebhook = z.infer<typeof argocdWebhookSchema>;
