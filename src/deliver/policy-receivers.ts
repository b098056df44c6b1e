import type { Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import type { Env } from '../config/env.ts';
import { createPolicyHolder, type PolicyHolder as PolicyHolderOf } from '../config/policy-holder.ts';
import type { Notifier } from './notifier.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { createNotifiers, type ReceiverFactories } from './receivers.ts';
import { slackButtonsOf } from './slack/buttons.ts';
import type { BestEffort } from '../best-effort.ts';

/** The policy in force with the receivers built from it (config/policy-holder.ts, over this floor's Notifier). */
export type PolicyHolder = PolicyHolderOf<Notifier>;

export interface PolicyReceiversDeps {
  env: Env;
  /** The raw environment, for the secrets the policy's receivers name. */
  processEnv: NodeJS.ProcessEnv;
  redis: Redis;
  /** Where the console receiver writes (stdout by default). */
  consoleOut?: Writable | undefined;
  /** The receiver types built above this floor (`remediate`: remediate/receiver-factory.ts). */
  factories: ReceiverFactories;
  /** When Redis recently lost meshdrift's state: Slack first posts then look for the old message. */
  stateLostAt: () => number | undefined;
  metrics: Metrics;
  log: Logger;
  /** The process's one best-effort reporter (best-effort.ts), for the receivers it builds. */
  bestEffort: BestEffort;
  now: () => number;
}

/** Loads the policy (MESHDRIFT_POLICY or the built-in one) with the receivers built from it; reloads rebuild them. */
export function loadPolicyWithReceivers(deps: PolicyReceiversDeps): Promise<PolicyHolder> {
  const { env, processEnv, metrics, log, now } = deps;
  return createPolicyHolder({
    env,
    processEnv,
    buildNotifiers: (receivers, policy) =>
      createNotifiers(
        receivers,
        {
          env: processEnv,
          redis: deps.redis,
          keyPrefix: env.MESHDRIFT_KEY_PREFIX,
          ...(deps.consoleOut ? { consoleOut: deps.consoleOut } : {}),
          ...(env.SLACK_API_URL ? { slackApiUrl: env.SLACK_API_URL } : {}),
          links: { argocdUrl: env.ARGOCD_URL, gitHosts: env.MESHDRIFT_GIT_HOSTS, publicUrl: env.MESHDRIFT_PUBLIC_URL },
          slackButtons: slackButtonsOf({
            interactive: env.SLACK_SIGNING_SECRET !== undefined && env.SLACK_SIGNING_SECRET !== '',
            allowedUsers: env.MESHDRIFT_SLACK_ALLOWED_USERS,
            route: policy.classify.route,
            receivers,
          }),
          log,
          onSlackLostPost: (outcome) => metrics.slackLostPost(outcome),
          stateLostAt: deps.stateLostAt,
          now,
          bestEffort: deps.bestEffort,
        },
        deps.factories,
      ),
    metrics,
    log,
    now,
  });
}
