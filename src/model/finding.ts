import { z } from 'zod';
import { severitySchema } from './severity.ts';
import { driftStateSchema, ownerRefSchema, resourceRefSchema } from './signal.ts';

export const CATEGORIES = ['security', 'traffic', 'observability', 'mesh-control', 'non-mesh'] as const;
export const categorySchema = z.enum(CATEGORIES);
export type Category = z.infer<typeof categorySchema>;

export const findingSchema = z.object({
  /** Stable hash of cluster, tool, owner and resource identity (track/fingerprint.ts). */
  fingerprint: z.string(),
  /** Alert group this finding belongs to (track/fingerprint.ts groupKeyOf). */
  groupKey: z.string(),
  cluster: z.string(),
  tool: z.enum(['argocd', 'flux']),
  owner: ownerRefSchema,
  project: z.string(),
  resource: resourceRefSchema,
  state: driftStateSchema,
  category: categorySchema,
  /** Mesh the kind belongs to (istio, linkerd, gateway-api, …) or 'none'. */
  mesh: z.string(),
  severity: severitySchema,
  receivers: z.array(z.string()),
  /** Why it got this severity and these receivers; `explain` prints these. */
  reasons: z.array(z.string()),
  detail: z.string().optional(),
  revision: z.string().optional(),
  /** Epoch ms at which the source observed it. */
  observedAt: z.number(),
});
/** A drifted resource, classified. */
export type Finding = z.infer<typeof findingSchema>;
