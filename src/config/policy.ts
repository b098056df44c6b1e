import { z } from 'zod';
import { CATEGORIES } from '../model/finding.ts';
import { SEVERITIES } from '../model/severity.ts';
import { DRIFT_STATES } from '../model/signal.ts';
import { inhibitRuleSchema } from '../route/inhibit.ts';
import { timeIntervalsSchema } from '../route/time-interval.ts';
import { policyDurationSchema } from '../model/duration.ts';
import { ruleSchema } from '../classify/rule-config.ts';
import { tooManyAnnotationNames, unknownAnnotationLabels } from '../classify/annotations.ts';
import { routeSchema } from '../route/route-config.ts';
import { CLUSTER_NAME } from './clusters.ts';
import { MESH_CATEGORIES } from '../classify/catalog.ts';

/**
 * The policy file (MESHDRIFT_POLICY), modelled on Alertmanager's configuration but in drift
 * terms: `rules` decide severity and labels (or ignore), `receivers` say where notifications go,
 * `route` is the routing tree. Every object is strict: an unknown key is an error, reported with its
 * line and column by config/load.ts.
 */

const duration = policyDurationSchema;

const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name (e.g. PAGERDUTY_ROUTING_KEY)');
const httpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL');

// A MESHDRIFT_CLUSTERS name (config/clusters.ts); whether it is listed is checked when the receiver is built.
const clusterName = z.string().regex(CLUSTER_NAME, 'a MESHDRIFT_CLUSTERS cluster name');

const RECEIVER_TYPES = ['console', 'slack', 'pagerduty', 'alertmanager', 'webhook', 'remediate'] as const;

export const receiverSchema = z
  .strictObject({
    name: z.string().min(1),
    console: z.strictObject({}).optional(),
    slack: z
      .strictObject({
        channel: z.string({ error: 'is required: the channel to post to (#mesh-drift or an ID C0…); SLACK_CHANNEL is only for the built-in policy' }).min(1),
        /** Env var holding the bot token; default SLACK_BOT_TOKEN. Never the token itself. */
        token_env: envName.default('SLACK_BOT_TOKEN'),
      })
      .optional(),
    pagerduty: z.strictObject({ routing_key_env: envName, events_url: httpUrl.optional() }).optional(),
    alertmanager: z
      .strictObject({
        url: httpUrl,
        /**
         * endsAt of firing alerts, from each send. Keep it above the route's repeat_interval (each
         * repeat re-sends them): if meshdrift stops, Alertmanager resolves them after this long.
         */
        firing_ttl: duration.prefault('9h'),
      })
      .optional(),
    webhook: z
      .strictObject({
        /** The URL, or the env var holding it when it carries a secret. */
        url: httpUrl.optional(),
        url_env: envName.optional(),
        hmac_key_env: envName.optional(),
      })
      .refine((w) => (w.url === undefined) !== (w.url_env === undefined), { message: 'set exactly one of `url` or `url_env`' })
      .optional(),
    /**
     * Guarded auto-remediation (issue #6): dry-run unless `dry_run: false`, rate-limited per owner,
     * with a flap breaker. Only findings a route sends here are ever remediated.
     */
    remediate: z
      .strictObject({
        action: z.enum(['argocd-sync', 'argocd-operation', 'flux-reconcile']),
        dry_run: z.boolean().default(true),
        prune: z.boolean().default(false),
        max_per_hour: z.number().int().nonnegative().default(3),
        flap: z
          .strictObject({ max: z.number().int().positive().default(3), within: duration.prefault('1h'), escalate_severity: z.enum(SEVERITIES).optional() })
          .prefault({}),
        verify_timeout: duration.prefault('5m'),
        argocd: z.strictObject({ url: httpUrl, token_env: envName, namespace: z.string().min(1).default('argocd') }).optional(),
        flux: z.strictObject({ api_url: httpUrl, token_env: envName }).optional(),
        /**
         * The Kubernetes API of a MESHDRIFT_CLUSTERS cluster, with its credentials (in-cluster
         * service account or kubeconfig): for argocd-operation, or flux-reconcile instead of `flux`.
         * Only findings of that cluster are remediated through it.
         */
        kube: z.strictObject({ cluster: clusterName }).optional(),
        /** flux-reconcile: annotate the Kustomization's or HelmRelease's source first (`flux reconcile --with-source`). */
        source_first: z.boolean().default(false),
        /** The finding categories it acts on; default the mesh ones (never `non-mesh`, a Deployment) unless listed here. */
        categories: z
          .array(z.enum(CATEGORIES))
          .min(1)
          .max(CATEGORIES.length)
          .default([...MESH_CATEGORIES]),
        /**
         * Scope, from what meshdrift reads itself (the Application's `spec.destination` and
         * `spec.project`, the Flux object's namespace and the cluster it was read from), never
         * from the webhook: anything outside is refused and audited. Unset: no limit.
         */
        clusters: z.array(z.string().min(1).max(512)).min(1).max(100).optional(),
        projects: z.array(z.string().min(1).max(253)).min(1).max(100).optional(),
        namespaces: z.array(z.string().min(1).max(253)).min(1).max(100).optional(),
        /** The severity of the escalation notification (flap breaker open, verify failed). */
        escalation_severity: z.enum(SEVERITIES).default('high'),
        /**
         * Receivers that hear escalations as notifications of their own (PagerDuty, console,
         * webhook, Alertmanager); default the root route's receiver. Slack receivers are told in
         * the alert's thread, as every Slack receiver is.
         */
        escalate_to: z.array(z.string().min(1)).max(20).optional(),
      })
      .superRefine((r, ctx) => {
        const issue = (path: string, message: string): void => ctx.addIssue({ code: 'custom', path: [path], message });
        if (r.action === 'argocd-sync') {
          if (r.argocd === undefined) issue('argocd', 'argocd-sync needs `argocd: { url, token_env }`');
          if (r.kube !== undefined) issue('kube', 'argocd-sync talks to the Argo CD API (`argocd`); for the Kubernetes API use action argocd-operation');
        }
        if (r.action === 'argocd-operation') {
          if (r.kube === undefined) issue('kube', 'argocd-operation needs `kube: { cluster }` (a MESHDRIFT_CLUSTERS name)');
          if (r.argocd !== undefined) issue('argocd', '`argocd` is for argocd-sync; argocd-operation writes through `kube: { cluster }`');
        }
        if (r.action === 'flux-reconcile') {
          if (r.flux === undefined && r.kube === undefined)
            issue('flux', 'flux-reconcile needs `kube: { cluster }` (a MESHDRIFT_CLUSTERS name) or `flux: { api_url, token_env }`');
          if (r.flux !== undefined && r.kube !== undefined) issue('kube', 'set only one of `kube: { cluster }` and `flux: { api_url, token_env }`');
          if (r.prune) issue('prune', 'prune applies to argocd-sync and argocd-operation only');
          if (r.clusters !== undefined && r.kube === undefined)
            issue(
              'clusters',
              'clusters needs `kube: { cluster }` for flux-reconcile: through `flux: { api_url }` meshdrift does not know which cluster it writes to',
            );
          if (r.projects !== undefined) issue('projects', 'projects are Argo CD projects: they apply to argocd-sync and argocd-operation only');
        } else {
          if (r.flux !== undefined) issue('flux', '`flux` applies to flux-reconcile only');
          if (r.source_first) issue('source_first', 'source_first applies to flux-reconcile only');
        }
      })
      .optional(),
    send_resolved: z.boolean().default(true),
    /**
     * Drift storms of this receiver (deliver/storm.ts): `off`, or the threshold and window that
     * start one; a key left out takes MESHDRIFT_STORM_THRESHOLD / MESHDRIFT_STORM_WINDOW.
     */
    storm: z
      .union([
        z.literal('off'),
        z.strictObject({
          threshold: z.number().int().min(2, 'threshold must be at least 2 (or `storm: off`)').max(100_000).optional(),
          window: duration.refine((ms) => ms >= 1_000 && ms <= 3_600_000, 'window must be from 1s to 1h').optional(),
        }),
      ])
      .optional(),
  })
  .superRefine((r, ctx) => {
    const types = RECEIVER_TYPES.filter((t) => r[t] !== undefined);
    if (types.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        message: `receiver "${r.name}" needs exactly one type (${RECEIVER_TYPES.join(', ')}); it has ${types.length === 0 ? 'none' : types.join(', ')}`,
      });
    }
  });
export type ReceiverConfig = z.infer<typeof receiverSchema>;
export type ReceiverType = (typeof RECEIVER_TYPES)[number];

export function receiverTypeOf(r: ReceiverConfig): ReceiverType {
  if (r.slack) return 'slack';
  if (r.pagerduty) return 'pagerduty';
  if (r.alertmanager) return 'alertmanager';
  if (r.webhook) return 'webhook';
  if (r.remediate) return 'remediate';
  return 'console';
}

export const severityOverridesSchema = z.partialRecord(
  z.enum([...CATEGORIES]),
  z.strictObject(
    Object.fromEntries(DRIFT_STATES.map((s) => [s, z.enum(SEVERITIES).optional()])) as Record<
      (typeof DRIFT_STATES)[number],
      z.ZodOptional<z.ZodEnum<{ [K in (typeof SEVERITIES)[number]]: K }>>
    >,
  ),
);

export const policySchema = z.strictObject({
  /** Overrides of the default category × state severity matrix. */
  severity: severityOverridesSchema.optional(),
  /** Notify drift of kinds outside the mesh catalog too (default: tracked and listed, not sent). */
  notify_non_mesh: z.boolean().optional(),
  rules: z
    .array(ruleSchema)
    .superRefine((rules, ctx) => {
      // A label an annotation names must be one a finding can have (classify/annotations.ts).
      for (const u of unknownAnnotationLabels(rules)) ctx.addIssue({ code: 'custom', path: u.path, message: u.message });
      const tooMany = tooManyAnnotationNames(rules);
      if (tooMany !== undefined) ctx.addIssue({ code: 'custom', message: tooMany });
    })
    .default([]),
  receivers: z.array(receiverSchema).min(1, 'define at least one receiver'),
  route: routeSchema,
  /** Alertmanager's inhibit_rules, over finding labels. */
  inhibit_rules: z.array(inhibitRuleSchema).default([]),
  /** Named time intervals for routes' mute_time_intervals / active_time_intervals. */
  time_intervals: timeIntervalsSchema.default([]),
});
export type PolicyConfig = z.infer<typeof policySchema>;
