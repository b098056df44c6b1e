import type { Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import { receiverTypeOf, type ReceiverConfig, type ReceiverType } from '../config/policy.ts';
import { createAlertmanagerNotifier } from './alertmanager/notifier.ts';
import { createConsoleNotifier } from './console/notifier.ts';
import type { LinkContext } from './links.ts';
import type { Notifier } from './notifier.ts';
import type { SlackButtonsOf } from './slack/buttons.ts';
import { createPagerDutyNotifier } from './pagerduty/notifier.ts';
import { createRedisSlackMessageStore, slackReceiverKeyPrefix } from './slack/message-store.ts';
import { createRedisSlackRateLimiter } from './slack/rate-limit.ts';
import { createSlackNotifier } from './slack/notifier.ts';
import { createWebhookNotifier } from './webhook/notifier.ts';
import type { Logger } from '../log.ts';
import type { SlackLostPostOutcome } from '../metrics.ts';
import type { BestEffort } from '../best-effort.ts';

export interface ReceiverDeps {
  env: NodeJS.ProcessEnv;
  redis: Redis;
  keyPrefix: string;
  consoleOut?: Writable;
  slackApiUrl?: string;
  /** ARGOCD_URL and MESHDRIFT_GIT_HOSTS: what the links in messages are built from. */
  links?: LinkContext;
  /** Which buttons Slack messages carry (deliver/slack/buttons.ts); none without it. */
  slackButtons?: SlackButtonsOf;
  /** Receivers' own warnings (e.g. a Slack lookup that needs a scope). */
  log?: Logger;
  /** Each Slack post whose answer was lost, e.g. `meshdrift_slack_lost_posts_total{outcome}`. */
  onSlackLostPost?: (outcome: SlackLostPostOutcome) => void;
  /** When Redis recently lost meshdrift's state (redis-epoch.ts): Slack first posts then look for the old message. */
  stateLostAt?: () => number | undefined;
  now?: () => number;
  /** Where receivers report a failed best-effort step (a lock release…): counted and logged (best-effort.ts). */
  bestEffort?: BestEffort;
}

export class ReceiverConfigError extends Error {
  override readonly name = 'ReceiverConfigError';
}

/** Reads a secret from the variable the policy names; the error names the variable, never a value. */
export function secret(deps: ReceiverDeps, receiver: string, variable: string): string {
  const value = deps.env[variable]?.trim();
  if (!value) throw new ReceiverConfigError(`receiver "${receiver}": environment variable ${variable} is not set`);
  return value;
}

/** Builds one receiver of a type from its policy entry. */
export type ReceiverFactory = (r: ReceiverConfig, deps: ReceiverDeps) => Notifier;
/** Factories for receiver types this floor does not build (`remediate`: remediate/receiver-factory.ts), from the composition root. */
export type ReceiverFactories = Partial<Record<ReceiverType, ReceiverFactory>>;

// One factory per receiver type (no switch): the policy schema guarantees the matching block exists.
/** The Events API endpoint option, present only when one is configured. */
const eventsUrlOf = (url: string | undefined): { eventsUrl?: string } => (url ? { eventsUrl: url } : {});

const FACTORIES: ReceiverFactories = {
  console: (_r, deps) => createConsoleNotifier(deps.consoleOut, deps.links),
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
      ...(deps.links ? { links: deps.links } : {}),
      ...(deps.slackButtons ? { buttons: deps.slackButtons } : {}),
      ...(deps.bestEffort ? { bestEffort: deps.bestEffort } : {}),
    }),
  pagerduty: (r, deps) =>
    createPagerDutyNotifier({
      routingKey: secret(deps, r.name, r.pagerduty?.routing_key_env ?? ''),
      ...eventsUrlOf(r.pagerduty?.events_url ?? deps.env.PAGERDUTY_EVENTS_URL),
      ...(deps.links ? { links: deps.links } : {}),
    }),
  alertmanager: (r, deps) =>
    createAlertmanagerNotifier({
      url: r.alertmanager?.url ?? '',
      ...(r.alertmanager ? { firingTtlMs: r.alertmanager.firing_ttl } : {}),
      ...(deps.links ? { links: deps.links } : {}),
    }),
  webhook: (r, deps) => {
    const url = r.webhook?.url ?? secret(deps, r.name, r.webhook?.url_env ?? '');
    const hmacKey = r.webhook?.hmac_key_env ? secret(deps, r.name, r.webhook.hmac_key_env) : undefined;
    return createWebhookNotifier({ url, receiver: r.name, ...(hmacKey ? { hmacKey } : {}), ...(deps.links ? { links: deps.links } : {}) });
  },
};

/**
 * Builds every receiver of a policy, by name, with this floor's factories and `more` (the types built
 * above it). Throws ReceiverConfigError for a missing secret, or a type nothing here can build.
 */
export function createNotifiers(receivers: readonly ReceiverConfig[], deps: ReceiverDeps, more: ReceiverFactories = {}): Map<string, Notifier> {
  const notifiers = new Map<string, Notifier>();
  for (const r of receivers) {
    let notifier: Notifier;
    const type = receiverTypeOf(r);
    const factory = more[type] ?? FACTORIES[type];
    if (!factory) throw new ReceiverConfigError(`receiver "${r.name}": receivers of type ${type} cannot be built here (no ${type} factory was given)`);
    try {
      notifier = factory(r, deps);
    } catch (err) {
      if (err instanceof ReceiverConfigError) throw err;
      // Constructors reject bad URLs without repeating them (they may hold tokens).
      throw new ReceiverConfigError(`receiver "${r.name}": ${err instanceof Error ? err.message : String(err)}`);
    }
    notifiers.set(r.name, r.send_resolved ? notifier : { ...notifier, send: notifier.send.bind(notifier), sendResolved: false });
  }
  return notifiers;
}
