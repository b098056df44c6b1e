import type { Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import { receiverTypeOf, type ReceiverConfig, type ReceiverType } from '../config/policy.ts';
import { createAlertmanagerNotifier } from './alertmanager/notifier.ts';
import { createConsoleNotifier } from './console/notifier.ts';
import type { Notifier } from './notifier.ts';
import { createPagerDutyNotifier } from './pagerduty/notifier.ts';
import { createRedisSlackMessageStore, slackReceiverKeyPrefix } from './slack/message-store.ts';
import { createRedisSlackRateLimiter } from './slack/rate-limit.ts';
import { createSlackNotifier } from './slack/notifier.ts';
import { createWebhookNotifier } from './webhook/notifier.ts';
import type { AuditTrail } from '../remediate/audit.ts';
import type { RemediationOutcome } from '../remediate/audit.ts';
import { createKubeConfigHttp, type KubeHttp } from '../remediate/kube-http.ts';
import type { RemediationAction, RemediationConfigInput } from '../remediate/policy.ts';
import { type ClusterConfig, kubeConfigFor } from '../config/clusters.ts';
import { createRemediator } from '../remediate/remediator.ts';
import type { Logger } from '../log.ts';
import type { SlackLostPostOutcome } from '../metrics.ts';

export interface ReceiverDeps {
  env: NodeJS.ProcessEnv;
  /** MESHDRIFT_CLUSTERS as loadEnv parsed it (Env.kubeSources.clusters): what `kube.cluster` may name. */
  clusters?: readonly ClusterConfig[];
  redis: Redis;
  keyPrefix: string;
  consoleOut?: Writable;
  slackApiUrl?: string;
  argocdUrl?: string;
  /** Where remediation receivers record every decision and action. */
  audit?: AuditTrail;
  onRemediation?: (action: RemediationAction, outcome: RemediationOutcome) => void;
  /** Receivers' own warnings (e.g. a Slack lookup that needs a scope). */
  log?: Logger;
  /** Each Slack post whose answer was lost, e.g. `meshdrift_slack_lost_posts_total{outcome}`. */
  onSlackLostPost?: (outcome: SlackLostPostOutcome) => void;
  /** When Redis recently lost meshdrift's state (redis-epoch.ts): Slack first posts then look for the old message. */
  stateLostAt?: () => number | undefined;
  now?: () => number;
}

export class ReceiverConfigError extends Error {
  override readonly name = 'ReceiverConfigError';
}

/** Reads a secret from the variable the policy names; the error names the variable, never a value. */
function secret(deps: ReceiverDeps, receiver: string, variable: string): string {
  const value = deps.env[variable]?.trim();
  if (!value) throw new ReceiverConfigError(`receiver "${receiver}": environment variable ${variable} is not set`);
  return value;
}

type RemediateConfig = NonNullable<ReceiverConfig['remediate']>;

/** The remediator's guardrail settings from the policy's `remediate` block. */
function remediationConfig(cfg: RemediateConfig): RemediationConfigInput {
  return {
    action: cfg.action,
    dryRun: cfg.dry_run,
    prune: cfg.prune,
    maxPerHour: cfg.max_per_hour,
    flap: { max: cfg.flap.max, withinMs: cfg.flap.within, ...(cfg.flap.escalate_severity ? { escalateSeverity: cfg.flap.escalate_severity } : {}) },
    verifyTimeoutMs: cfg.verify_timeout,
    // Through a cluster's own API, only that cluster's owners.
    ...(cfg.kube ? { cluster: cfg.kube.cluster } : {}),
  };
}

/**
 * The Kubernetes API of the MESHDRIFT_CLUSTERS cluster a remediate receiver names (`kube.cluster`),
 * with that cluster's credentials. An unlisted name, or a kubeconfig that cannot be loaded, is a
 * configuration error now rather than a failed remediation later.
 */
function kubeHttpOf(deps: ReceiverDeps, receiver: string, cluster: string): KubeHttp {
  const clusters = deps.clusters ?? [];
  const found = clusters.find((c) => c.name === cluster);
  if (!found) {
    const listed = clusters.map((c) => c.name).join(', ');
    throw new ReceiverConfigError(`receiver "${receiver}": kube.cluster "${cluster}" is not in MESHDRIFT_CLUSTERS (${listed === '' ? 'it is empty' : `it lists ${listed}`})`);
  }
  try {
    return createKubeConfigHttp(kubeConfigFor(found));
  } catch (err) {
    throw new ReceiverConfigError(`receiver "${receiver}": kube.cluster: ${err instanceof Error ? err.message : String(err)}`);
  }
}

type Factory = (r: ReceiverConfig, deps: ReceiverDeps) => Notifier;

// One factory per receiver type (no switch): the policy schema guarantees the matching block exists.
const FACTORIES: Record<ReceiverType, Factory> = {
  console: (_r, deps) => createConsoleNotifier(deps.consoleOut),
  slack: (r, deps) =>
    createSlackNotifier({
      token: secret(deps, r.name, r.slack?.token_env ?? 'SLACK_BOT_TOKEN'),
      channel: r.slack?.channel ?? '',
      ...(deps.slackApiUrl ? { apiUrl: deps.slackApiUrl } : {}),
      // One stored message per (receiver, group): two Slack receivers keep separate messages.
      store: createRedisSlackMessageStore(deps.redis, slackReceiverKeyPrefix(deps.keyPrefix, r.name)),
      // One budget per channel for every receiver and replica (Slack: about 1 message/s/channel).
      rateLimiter: createRedisSlackRateLimiter(deps.redis, deps.keyPrefix),
      ...(deps.log ? { log: deps.log.child({ receiver: r.name }) } : {}),
      ...(deps.onSlackLostPost ? { onLostPost: deps.onSlackLostPost } : {}),
      ...(deps.stateLostAt ? { stateLostAt: deps.stateLostAt } : {}),
    }),
  pagerduty: (r, deps) =>
    createPagerDutyNotifier({
      routingKey: secret(deps, r.name, r.pagerduty?.routing_key_env ?? ''),
      ...((r.pagerduty?.events_url ?? deps.env.PAGERDUTY_EVENTS_URL) ? { eventsUrl: r.pagerduty?.events_url ?? deps.env.PAGERDUTY_EVENTS_URL } : {}),
      ...(deps.argocdUrl ? { argocdUrl: deps.argocdUrl } : {}),
    }),
  alertmanager: (r) => createAlertmanagerNotifier({ url: r.alertmanager?.url ?? '', ...(r.alertmanager ? { firingTtlMs: r.alertmanager.firing_ttl } : {}) }),
  remediate: (r, deps) => {
    const cfg = r.remediate;
    if (!cfg) throw new ReceiverConfigError(`receiver "${r.name}": missing remediate settings`);
    if (!deps.audit) throw new ReceiverConfigError(`receiver "${r.name}": remediation needs the audit trail`);
    return createRemediator({
      name: r.name,
      config: remediationConfig(cfg),
      ...(cfg.argocd ? { argocd: { apiUrl: cfg.argocd.url, token: secret(deps, r.name, cfg.argocd.token_env), controlPlaneNamespace: cfg.argocd.namespace } } : {}),
      ...(cfg.flux ? { flux: { apiUrl: cfg.flux.api_url, token: secret(deps, r.name, cfg.flux.token_env) } } : {}),
      ...(cfg.kube ? { kube: kubeHttpOf(deps, r.name, cfg.kube.cluster) } : {}),
      sourceFirst: cfg.source_first,
      redis: deps.redis,
      keyPrefix: deps.keyPrefix,
      now: deps.now ?? Date.now,
      audit: deps.audit,
      ...(deps.onRemediation ? { onOutcome: deps.onRemediation } : {}),
    });
  },
  webhook: (r, deps) => {
    const url = r.webhook?.url ?? secret(deps, r.name, r.webhook?.url_env ?? '');
    const hmacKey = r.webhook?.hmac_key_env ? secret(deps, r.name, r.webhook.hmac_key_env) : undefined;
    return createWebhookNotifier({ url, receiver: r.name, ...(hmacKey ? { hmacKey } : {}) });
  },
};

/** Builds every receiver of a policy, by name. Throws ReceiverConfigError for a missing secret. */
export function createNotifiers(receivers: readonly ReceiverConfig[], deps: ReceiverDeps): Map<string, Notifier> {
  const notifiers = new Map<string, Notifier>();
  for (const r of receivers) {
    let notifier: Notifier;
    try {
      notifier = FACTORIES[receiverTypeOf(r)](r, deps);
    } catch (err) {
      if (err instanceof ReceiverConfigError) throw err;
      // Constructors reject bad URLs without repeating them (they may hold tokens).
      throw new ReceiverConfigError(`receiver "${r.name}": ${err instanceof Error ? err.message : String(err)}`);
    }
    notifiers.set(r.name, r.send_resolved ? notifier : { ...notifier, send: notifier.send.bind(notifier), sendResolved: false });
  }
  return notifiers;
}
