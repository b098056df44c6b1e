import { z } from 'zod';
import { CATEGORIES } from '../model/finding.ts';
import { SEVERITIES } from '../model/severity.ts';
import { DRIFT_STATES } from '../model/signal.ts';
import { annotationsSchema } from './annotations.ts';

/**
 * The `rules` of the policy file (config/policy.ts): what a rule matches, and the severity and
 * labels it sets (or that it ignores). Declared beside the classifier that applies them
 * (classify/rules.ts), below config/.
 */

/** A glob (`*` any run of characters, `?` one) or a list of globs, any of which may match. */
const globs = z.union([z.string(), z.array(z.string()).min(1)]).transform((v) => (typeof v === 'string' ? [v] : v));

const stateList = z.union([z.enum([...DRIFT_STATES]), z.array(z.enum([...DRIFT_STATES])).min(1)]).transform((v) => (typeof v === 'string' ? [v] : v));
const categoryList = z.union([z.enum([...CATEGORIES]), z.array(z.enum([...CATEGORIES])).min(1)]).transform((v) => (typeof v === 'string' ? [v] : v));
const labelName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'label names are letters, digits and _');

export const ruleMatchSchema = z.strictObject({
  cluster: globs.optional(),
  /** The GitOps tool: argocd or flux. */
  source: globs.optional(),
  project: globs.optional(),
  /** Owner object's name (Argo CD Application, Flux Kustomization/HelmRelease). */
  owner: globs.optional(),
  owner_namespace: globs.optional(),
  owner_kind: globs.optional(),
  destination_namespace: globs.optional(),
  group: globs.optional(),
  kind: globs.optional(),
  namespace: globs.optional(),
  name: globs.optional(),
  category: categoryList.optional(),
  mesh: globs.optional(),
  state: stateList.optional(),
  /** The owner's Kubernetes labels (Argo CD Application metadata.labels), each a glob. */
  labels: z.record(z.string(), z.string()).optional(),
});
export type RuleMatch = z.infer<typeof ruleMatchSchema>;

export const ruleSchema = z
  .strictObject({
    name: z.string().min(1).optional(),
    match: ruleMatchSchema.default({}),
    set: z
      .strictObject({
        severity: z.enum(SEVERITIES).optional(),
        labels: z.record(labelName, z.string()).optional(),
      })
      .optional(),
    /** The team's words on the alert, templated over the finding's labels (classify/annotations.ts). */
    annotations: annotationsSchema.optional(),
    ignore: z.boolean().default(false),
    continue: z.boolean().default(false),
  })
  .refine((r) => r.ignore || r.set !== undefined || r.annotations !== undefined, {
    message: 'a rule needs `set` (severity and/or labels), `annotations`, or `ignore: true`',
  });
export type RuleConfig = z.infer<typeof ruleSchema>;
