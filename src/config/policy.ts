import { z } from 'zod';
import { CATEGORIES } from '../model/finding.ts';
import { SEVERITIES } from '../model/severity.ts';
import { DRIFT_STATES } from '../model/signal.ts';
import { inhibitRuleSchema } from '../route/inhibit.ts';
import { timeIntervalsSchema } from '../route/time-interval.ts';
import { parseDuration } from '../model/duration.ts';
import { CLUSTER_NAME } from './clusters.ts';

/**
 * The policy file (MESHDRIFT_POLICY), modelled on Alertmanager's configuration but in drift
 * terms: `rules` decide severity and labels (or ignore), `receivers` say where notifications go,
 * `route` is the routing tree. Every object is strict: an unknown key is an error, reported with its
 * line and column by config/load.ts.
 */

const duration = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration (use e.g. 30s, 5m, 4h)` });
    return z.NEVER;
  }
  return ms;
});

/** A glob (`*` any run of characters, `?` one) or a list of globs, any of which may match. */
const globs = z.union([z.string(), z.array(z.string()).min(1)]).transform((v) => (typeof v === 'string' ? [v] : v));

const stateList = z
  .union([z.enum([...DRIFT_STATES]), z.array(z.enum([...DRIFT_STATES])).min(1)])
  .transform((v) => (typeof v === 'string' ? [v] : v));
const categoryList = z
  .union([z.enum([...CATEGORIES]), z.array(z.enum([...CATEGORIES])).min(1)])
  .transform((v) => (typeof v === 'string' ? [v] : v));
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
    ignore: z.boolean().default(false),
    continue: z.boolean().default(false),
  })
  .refine((r) => r.ignore || r.set !== undefined, { message: 'a rule needs `set` (severity and/or labels) or `ignore: true`' });
export type RuleConfig = z.infer<typeof ruleSchema>;

const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'an environment variable name (e.g. PAGERDUTY_ROUTING_KEY)');
const httpUrl = z.string().url().refine((u) => /^https?:\/\//.test(u), 'must be an http(s) URL');

// A MESHDRIFT_CLUSTERS name (config/clusters.ts); whether it is listed is checked when the receiver is built.
const clusterName = z.string().regex(CLUSTER_NAME, 'a MESHDRIFT_CLUSTERS cluster name');

const RECEIVER_TYPES = ['console', 'slack', 'pagerduty', 'alertmanager', 'webhook', 'remediate'] as const;

export const receiverSchema = z
  .strictObject({
    name: z.string().min(1),
    console: z.strictObject({}).optional(),
    slack: z
      .strictObject({
        channel: z.string().min(1),
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
          if (r.flux === undefined && r.kube === undefined) issue('flux', 'flux-reconcile needs `kube: { cluster }` (a MESHDRIFT_CLUSTERS name) or `flux: { api_url, token_env }`');
          if (r.flux !== undefined && r.kube !== undefined) issue('kube', 'set only one of `kube: { cluster }` and `flux: { api_url, token_env }`');
          if (r.prune) issue('prune', 'prune applies to argocd-sync and argocd-operation only');
        } else {
          if (r.flux !== undefined) issue('flux', '`flux` applies to flux-reconcile only');
          if (r.source_first) issue('source_first', 'source_first applies to flux-reconcile only');
        }
      })
      .optional(),
    send_resolved: z.boolean().default(true),
  })
  .superRefine((r, ctx) => {
    const types = RECEIVER_TYPES.filter((t) => r[t] !== undefined);
    if (types.length !== 1) {
      ctx.addIssue({ code: 'custom', message: `receiver "${r.name}" needs exactly one type (${RECEIVER_TYPES.join(', ')}); it has ${types.length === 0 ? 'none' : types.join(', ')}` });
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

/** What Slack buttons may do, and who may press them, on alerts of a route (inherited by its children). */
export const SLACK_BUTTON_ACTIONS = ['sync', 'silence', 'acknowledge'] as const;
export interface SlackActionsConfig {
  /** Slack user IDs (U…, W…) and user group IDs (S…), or "*" for anyone in the workspace. */
  allowed: string[];
  /** The buttons those users may use here; the others are refused to everyone. Default: all. */
  actions: Array<(typeof SLACK_BUTTON_ACTIONS)[number]>;
}

const slackActionsSchema = z.strictObject({
  allowed: z
    .array(z.string().regex(/^(\*|[UW][A-Z0-9]{2,20}|S[A-Z0-9]{2,20})$/, 'a Slack user ID (U…/W…), a user group ID (S…), or "*"'))
    .min(1, 'name at least one Slack user or user group ID (or "*")'),
  actions: z.array(z.enum(SLACK_BUTTON_ACTIONS)).min(1, 'name at least one of sync, silence, acknowledge').default([...SLACK_BUTTON_ACTIONS]),
});

export interface RouteConfig {
  /**
   * The route's identity across reloads (unique in the tree; not on the root). Without it a
   * route is known by its content: matchers, receiver, group_by and its parent (route/route.ts).
   */
  name?: string | undefined;
  receiver?: string | undefined;
  matchers?: string[] | undefined;
  continue?: boolean | undefined;
  group_by?: string[] | undefined;
  group_wait?: number | undefined;
  group_interval?: number | undefined;
  repeat_interval?: number | undefined;
  pending_for?: number | undefined;
  /** Names of time_intervals during which this route sends nothing (not inherited, as in Alertmanager). */
  mute_time_intervals?: string[] | undefined;
  /** Names of time_intervals outside which this route sends nothing. */
  active_time_intervals?: string[] | undefined;
  /** Who may use which Slack buttons on this route's alerts (else MESHDRIFT_SLACK_ALLOWED_USERS). */
  slack_actions?: SlackActionsConfig | undefined;
  routes?: RouteConfig[] | undefined;
}

/** Route names key alert groups and show in reasons: a short, plain token. */
const routeName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'a route name is 1-63 letters, digits, ".", "_" or "-", starting with a letter or digit');

export const routeSchema: z.ZodType<RouteConfig, unknown> = z.lazy(() =>
  z.strictObject({
    name: routeName.optional(),
    receiver: z.string().min(1).optional(),
    matchers: z.array(z.string()).optional(),
    continue: z.boolean().optional(),
    group_by: z.array(z.string().min(1)).optional(),
    group_wait: duration.optional(),
    group_interval: duration.optional(),
    repeat_interval: duration.optional(),
    pending_for: duration.optional(),
    mute_time_intervals: z.array(z.string().min(1)).optional(),
    active_time_intervals: z.array(z.string().min(1)).optional(),
    slack_actions: slackActionsSchema.optional(),
    routes: z.array(routeSchema).optional(),
  }),
);

export const severityOverridesSchema = z.partialRecord(
  z.enum([...CATEGORIES]),
  z.strictObject(Object.fromEntries(DRIFT_STATES.map((s) => [s, z.enum(SEVERITIES).optional()])) as Record<(typeof DRIFT_STATES)[number], z.ZodOptional<z.ZodEnum<{ [K in (typeof SEVERITIES)[number]]: K }>>>),
);

export const policySchema = z.strictObject({
  /** Overrides of the default category × state severity matrix. */
  severity: severityOverridesSchema.optional(),
  rules: z.array(ruleSchema).default([]),
  receivers: z.array(receiverSchema).min(1, 'define at least one receiver'),
  route: routeSchema,
  /** Alertmanager's inhibit_rules, over finding labels. */
  inhibit_rules: z.array(inhibitRuleSchema).default([]),
  /** Named time intervals for routes' mute_time_intervals / active_time_intervals. */
  time_intervals: timeIntervalsSchema.default([]),
});
export type PolicyConfig = z.infer<typeof policySchema>;
