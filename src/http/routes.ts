import type express from 'express';
import type { Redis } from 'ioredis';
import type { Catalog } from '../classify/catalog.ts';
import type { Env } from '../config/env.ts';
import type { PolicyHolder } from '../deliver/policy-receivers.ts';
import { createSlackAcknowledge } from '../deliver/pagerduty/acknowledge.ts';
import { createSlackActionAccess } from '../deliver/slack/access.ts';
import { createRedisStormStore } from '../deliver/storm.ts';
import { createRedisSlackReplayGuard } from '../deliver/slack/replay-guard.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from '../metrics.ts';
import { createDeadLetters } from '../queue/dead-letters.ts';
import type { Queues } from '../queue/queues.ts';
import type { AuditTrail } from '../remediate/audit.ts';
import { createSyncNow } from '../remediate/sync-now.ts';
import { createEscalationEnder } from '../remediate/human-acts.ts';
import type { FluxRevisionStore } from '../sources/flux/revision-store.ts';
import { createRedisGroupReader } from '../track/group-reader.ts';
import { readOwnerGroupsAhead, type Ingest } from '../track/ingest.ts';
import type { TrackStores } from '../track/stores.ts';
import { createApiRouter } from './api.ts';
import { createAlertmanagerApiRouter, type AlertmanagerApiDeps } from './api-v2.ts';
import type { RequestListener } from 'node:http';
import { createServer, type ServerDeps } from './server.ts';
import { createSlackActionsRouter, slackAuditEntry } from './slack-actions.ts';
import { redisUnavailable, type UnavailableReason } from '../net/unavailable.ts';
import type { LeaderGatedKubeSources } from '../sources/kube/gated.ts';
import type { Senders } from './senders.ts';
import { createRedisGroupMetaReader } from '../track/group-meta.ts';
import { createUiRouter, type UiDeps } from './ui/router.ts';
import { assembleGroup } from '../track/group-layout.ts';
import { groupRedisKey } from '../track/keys.ts';
import type { LastSignals } from '../track/last-signal.ts';
import type { ArgoCdPollerHealth } from '../sources/argocd/poll-health.ts';
import { createRedisSlackMessageStore, createSlackActionLineRecorder, slackReceiverKeyPrefix } from '../deliver/slack/message-store.ts';
import { pagerDutyDedupKey } from '../deliver/pagerduty/render.ts';
import { buildInfo } from '../model/build-info.ts';

/** What every part of the HTTP edge uses. */
export interface HttpBase {
  env: Env;
  /** The raw environment the Slack receivers' `token_env` names. */
  processEnv: NodeJS.ProcessEnv;
  redis: Redis;
  metrics: Metrics;
  log: Logger;
  now: () => number;
}

/** The stages the HTTP edge drives or reads. */
export interface HttpStages {
  stores: TrackStores;
  queues: Queues;
  audit: AuditTrail;
  /** The policy holder (throws before start()). */
  policy: () => PolicyHolder;
  catalog: Catalog;
  ingest: Ingest;
  fluxRevisions: FluxRevisionStore;
  /** The Kubernetes watches, when they run here (their inventory places a Flux event's resources; the web page shows their health). */
  kube: () => Pick<LeaderGatedKubeSources, 'groupInInventory' | 'health'> | undefined;
  /** The Argo CD API poll's health, when it runs here (the web page's Sources view). */
  pollHealth?: () => ArgoCdPollerHealth | undefined;
  /** When each source last spoke per cluster (the web page's Sources view). */
  lastSignals?: LastSignals;
  ready: ServerDeps['ready'];
  /** Who may post to the webhooks, and for which clusters (http/senders.ts). */
  senders: Senders;
}

type HttpAppDeps = HttpBase & HttpStages;

/** The handler behind the socket: webhooks, the JSON API, Slack buttons (when SLACK_SIGNING_SECRET is set), probes, metrics. */
export function createHttpApp(base: HttpBase, stages: HttpStages): RequestListener {
  const deps: HttpAppDeps = { ...base, ...stages };
  const { env, redis, stores, queues, audit, policy, metrics, log, now } = deps;
  // 503 (the sender retries) when Redis is down, busy, loading, failing over, or a write lost to contention.
  const isUnavailable = (err: unknown): UnavailableReason | undefined => redisUnavailable(redis, err);
  const prefix = env.MESHDRIFT_KEY_PREFIX;
  return createServer({
    ...(env.SLACK_SIGNING_SECRET ? { slackActions: slackActionsRouter(deps, env.SLACK_SIGNING_SECRET) } : {}),
    webhooks: {
      ingest: deps.ingest,
      fluxRevisions: deps.fluxRevisions,
      groupInInventory: (cluster, owner, ref) => deps.kube()?.groupInInventory(cluster, owner, ref),
      ownerGroupsAhead: (owner) => readOwnerGroupsAhead(stores.owners, owner),
      catalog: deps.catalog,
      cluster: env.MESHDRIFT_CLUSTER,
      senders: deps.senders,
      onRefused: (sender, reason) => metrics.webhookRefused(sender, reason),
      now,
      log,
    },
    api: createApiRouter({
      token: env.MESHDRIFT_API_TOKEN,
      silences: stores.silences,
      silenceLimits: stores.silenceLimits,
      onLimit: (limit) => metrics.limitHit(limit),
      groups: createRedisGroupReader(redis, prefix),
      history: stores.history,
      deadLetters: createDeadLetters(queues.deliver, queues.flush),
      storms: createRedisStormStore(redis, prefix, now),
      ...(env.MESHDRIFT_PUBLIC_URL ? { publicUrl: env.MESHDRIFT_PUBLIC_URL } : {}),
      audit,
      inhibition: { rules: () => policy().current().inhibitRules, sources: () => stores.inhibitSources.list() },
      links: { argocdUrl: env.ARGOCD_URL, gitHosts: env.MESHDRIFT_GIT_HOSTS },
      now,
      log,
      isUnavailable,
    }),
    apiV2: createAlertmanagerApiRouter(alertmanagerApiDeps(deps, isUnavailable)),
    ui: createUiRouter(uiDeps(deps, isUnavailable)),
    metrics,
    log,
    ready: deps.ready,
    isUnavailable,
    maxBodyBytes: { argocd: env.MESHDRIFT_ARGOCD_MAX_BODY, flux: env.MESHDRIFT_FLUX_MAX_BODY },
  });
}

const STARTED_AT = Date.now();

/** /api/v2 (Alertmanager's API): the same token, silences, groups and inhibition as /api/v1. */
function alertmanagerApiDeps(deps: HttpAppDeps, isUnavailable: AlertmanagerApiDeps['isUnavailable']): AlertmanagerApiDeps {
  const { env, redis, stores, policy, metrics, log, now } = deps;
  return {
    token: env.MESHDRIFT_API_TOKEN,
    silences: stores.silences,
    silenceLimits: stores.silenceLimits,
    onLimit: (limit) => metrics.limitHit(limit),
    groups: createRedisGroupReader(redis, env.MESHDRIFT_KEY_PREFIX),
    inhibition: { rules: () => policy().current().inhibitRules, sources: () => stores.inhibitSources.list() },
    links: { argocdUrl: env.ARGOCD_URL, gitHosts: env.MESHDRIFT_GIT_HOSTS },
    policy: () => {
      const p = policy().current();
      return { receivers: p.receivers, route: p.config.route };
    },
    version: buildInfo().version,
    ...(buildInfo().commit === undefined ? {} : { revision: buildInfo().commit }),
    startedAt: STARTED_AT,
    now,
    log,
    ...(isUnavailable === undefined ? {} : { isUnavailable }),
  };
}

/** The web page (/ui): the same stores as /api/v1, its own access (http/ui/access.ts). */
function uiDeps(deps: HttpAppDeps, isUnavailable: UiDeps['isUnavailable']): UiDeps {
  const { env, redis, stores, policy, metrics, log, now } = deps;
  const prefix = env.MESHDRIFT_KEY_PREFIX;
  const receiverOf = (name: string | undefined) =>
    name === undefined
      ? undefined
      : policy()
          .current()
          .receivers.find((r) => r.name === name);
  return {
    access: {
      apiToken: env.MESHDRIFT_API_TOKEN,
      trustedProxies: env.MESHDRIFT_UI_TRUSTED_PROXIES,
      userHeader: env.MESHDRIFT_UI_USER_HEADER,
      groupsHeader: env.MESHDRIFT_UI_GROUPS_HEADER,
      writers: env.MESHDRIFT_UI_WRITERS,
      ...(env.MESHDRIFT_PUBLIC_URL ? { publicUrl: env.MESHDRIFT_PUBLIC_URL } : {}),
    },
    groups: createRedisGroupReader(redis, prefix),
    group: async (groupKey) => assembleGroup(groupKey, await redis.hgetall(groupRedisKey(prefix, groupKey))),
    silences: stores.silences,
    silenceLimits: stores.silenceLimits,
    onLimit: (limit) => metrics.limitHit(limit),
    history: stores.history,
    audit: deps.audit,
    storms: createRedisStormStore(redis, prefix, now),
    inhibition: { rules: () => policy().current().inhibitRules, sources: () => stores.inhibitSources.list() },
    links: { argocdUrl: env.ARGOCD_URL, gitHosts: env.MESHDRIFT_GIT_HOSTS },
    incidentLinks: async (group, groupKey) => {
      const receiver = receiverOf(group?.labels.receiver);
      const ref = receiver?.slack === undefined ? null : await createRedisSlackMessageStore(redis, slackReceiverKeyPrefix(prefix, receiver.name)).get(groupKey);
      return {
        ...(ref === null ? {} : { slack: `https://slack.com/archives/${encodeURIComponent(ref.channel)}/p${ref.ts.replace('.', '')}` }),
        ...(receiver?.pagerduty === undefined ? {} : { pagerduty: pagerDutyDedupKey(groupKey) }),
      };
    },
    sources: async () => {
      const kube = deps.kube()?.health();
      const poll = deps.pollHealth?.();
      return {
        lastSignals: (await deps.lastSignals?.list()) ?? [],
        ...(kube === undefined ? {} : { watches: kube }),
        ...(poll === undefined ? {} : { poll }),
        auditIntervalMs: env.MESHDRIFT_AUDIT_INTERVAL,
      };
    },
    sync: createSyncNow({ policy, store: stores.store, queues: deps.queues, now, log }),
    syncAvailable: () =>
      policy()
        .current()
        .receivers.some((r) => r.remediate !== undefined),
    deadLetters: createDeadLetters(deps.queues.deliver, deps.queues.flush),
    ackMs: env.MESHDRIFT_UI_ACK_DURATION,
    maxGroups: env.MESHDRIFT_UI_MAX_GROUPS,
    now,
    log,
    ...(isUnavailable === undefined ? {} : { isUnavailable }),
  };
}

/** POST /slack/actions: what each button needs, from the stages that own it. */
function slackActionsRouter(deps: HttpAppDeps, signingSecret: string): express.Router {
  const { env, redis, stores, queues, policy, now, log } = deps;
  const { store } = stores;
  const prefix = env.MESHDRIFT_KEY_PREFIX;
  // A click needs the group's labels and last notification only: its meta record, not its findings.
  const groups = createRedisGroupMetaReader(redis, prefix);
  // A human silencing or acknowledging the group ends its owners' remediation escalations (issue #22).
  const endEscalations = createEscalationEnder({
    lastNotification: async (groupKey) => (await store.get(groupKey))?.lastNotification ?? undefined,
    notifiers: () => policy().notifiers(),
    queues,
    escalationDefault: () => {
      const root = policy().current().config.route.receiver;
      return root === undefined ? [] : [root];
    },
    log,
  });
  return createSlackActionsRouter({
    signingSecret,
    now,
    log,
    silences: stores.silences,
    groupLabels: async (groupKey) => (await groups.meta(groupKey))?.labels ?? null,
    allowed: createSlackActionAccess({
      policy: () => policy().current(),
      store,
      allowedUsers: env.MESHDRIFT_SLACK_ALLOWED_USERS,
      processEnv: deps.processEnv,
      botToken: env.SLACK_BOT_TOKEN,
      apiUrl: env.SLACK_API_URL,
      now,
    }),
    sync: createSyncNow({ policy, store, queues, now, log }),
    acknowledge: createSlackAcknowledge({ groups, owners: stores.owners, queues, receivers: () => policy().current().receivers, now }),
    recordAction: createSlackActionLineRecorder(redis, prefix, () => policy().current().receivers),
    // The one audit trail (GET /api/v1/audit), kind slack-action.
    audit: async (entry) => {
      await deps.audit.append(slackAuditEntry(entry));
      if (entry.outcome === 'performed' && (entry.action === 'silence' || entry.action === 'acknowledge'))
        await endEscalations(entry.groupKey, entry.actor, entry.action === 'silence' ? 'silenced it' : 'acknowledged it');
    },
    firstSeen: createRedisSlackReplayGuard(redis, prefix),
  });
}
