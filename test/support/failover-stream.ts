import type { App } from '../../src/app.ts';
import type { Logger } from '../../src/log.ts';
import { type FakeArgoCd, loadArgoCdFixtureApps, startFakeArgoCd } from '../fakes/argocd.ts';
import { type FakeSlack, startFakeSlack } from '../fakes/slack.ts';
import { meshApp } from './argocd.ts';
import { postArgocd, startService } from './service.ts';

/**
 * A stream of drift signals from retrying senders through a Redis failover (issue #20), and what
 * came of it at the fake Slack: each app's drift told once (a second message for one app is a
 * duplicate), every drift whose webhook was acknowledged (202) told at all (else a loss).
 */
export interface StreamReport {
  apps: number;
  /** Webhooks answered 202 (one per app: senders stop at the first). */
  acked: number;
  /** Attempts answered otherwise (503, a cut connection) and sent again. */
  retries: number;
  /** From the kill to the first 202 of a request sent after it. */
  outageMs: number;
  /** Apps told at the fake Slack when the fault began. */
  toldBeforeFault: number;
  /** Acknowledged apps not in GET /api/v1/alerts when the service first answered again after the kill. */
  missingAfterFailover: number;
  /** Messages beyond the first, per app. */
  duplicates: number;
  /** The most messages one app got (2: one duplicate). */
  maxPerApp: number;
  /** Acknowledged apps with no message (within the bound). */
  losses: number;
}

const APP_NAME = /ha-app-\d+/;

export function haApp(i: number): Record<string, unknown> & { metadata: { name: string; namespace: string } } {
  const app = meshApp() as Record<string, unknown> & { metadata: { name: string; namespace: string } };
  app.metadata.name = `ha-app-${i}`;
  return app;
}

/** The fake Argo CD with only the stream's apps (its fixtures would add messages of their own). */
export function onlyStreamApps(argo: FakeArgoCd): void {
  for (const a of loadArgoCdFixtureApps()) argo.removeApp(a.metadata.name, a.metadata.namespace);
}

async function alertedApps(url: string): Promise<Set<string>> {
  const res = await fetch(`${url}/api/v1/alerts`).catch(() => null);
  if (res?.status !== 200) return new Set();
  return new Set(JSON.stringify(await res.json()).match(/ha-app-\d+/g) ?? []);
}

export interface StreamOptions {
  svc: App & { url: string };
  slack: FakeSlack;
  argo: FakeArgoCd;
  apps: number;
  /** Senders in parallel, each sending its share one after the other. */
  senders: number;
  /** The fault, once this many webhooks were acknowledged; resolves when the store has failed over. */
  faultAfter: number;
  fault: () => Promise<void>;
  /** Bound for every app's message (Slack is rate-limited to about one message a second per channel). */
  deliverWithinMs: number;
}

export async function runFailoverStream(o: StreamOptions): Promise<StreamReport> {
  const url = o.svc.url;
  const acked = new Set<string>();
  let retries = 0;
  let killAt: number | undefined;
  let firstAfterKill: number | undefined;
  let faultDone: Promise<void> | undefined;
  let missingAfterFailover = -1;
  let toldBeforeFault = 0;
  const perApp = (): Map<string, number> => {
    const counts = new Map<string, number>();
    for (const m of o.slack.messages.values()) {
      const name = APP_NAME.exec(JSON.stringify(m.blocks))?.[0];
      if (name !== undefined) counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    return counts;
  };
  const sendOne = async (i: number): Promise<void> => {
    const app = haApp(i);
    o.argo.putApp(app);
    const deadline = Date.now() + 120_000;
    for (;;) {
      const startedAt = Date.now();
      const res = await postArgocd(url, { app }).catch(() => null);
      if (res?.status === 202) {
        acked.add(app.metadata.name);
        if (killAt !== undefined && startedAt > killAt && firstAfterKill === undefined) {
          firstAfterKill = Date.now();
          const alerted = await alertedApps(url);
          missingAfterFailover = [...acked].filter((a) => !alerted.has(a)).length;
        }
        if (acked.size === o.faultAfter && faultDone === undefined) {
          killAt = Date.now();
          toldBeforeFault = perApp().size;
          faultDone = o.fault();
        }
        return;
      }
      retries++;
      if (Date.now() > deadline) throw new Error(`${app.metadata.name}: never acknowledged within 120s`);
      // As Argo CD's and Flux's senders do: retry after a pause.
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  await Promise.all(
    Array.from({ length: o.senders }, async (_, s) => {
      for (let i = s; i < o.apps; i += o.senders) {
        await sendOne(i);
        await new Promise((r) => setTimeout(r, 50));
      }
    }),
  );
  await faultDone;
  const deadline = Date.now() + o.deliverWithinMs;
  while (Date.now() < deadline && [...acked].some((a) => !perApp().has(a))) await new Promise((r) => setTimeout(r, 250));
  // A duplicate would come after the first message: give it time to show (bounded).
  await new Promise((r) => setTimeout(r, 3_000));
  const counts = perApp();
  return {
    apps: o.apps,
    acked: acked.size,
    retries,
    toldBeforeFault,
    outageMs: killAt !== undefined && firstAfterKill !== undefined ? firstAfterKill - killAt : -1,
    missingAfterFailover: Math.max(0, missingAfterFailover),
    duplicates: [...counts.values()].reduce((n, c) => n + Math.max(0, c - 1), 0),
    maxPerApp: Math.max(0, ...counts.values()),
    losses: [...acked].filter((a) => !counts.has(a)).length,
  };
}

const FAILOVER_API_TOKEN = 'argocd-api-token-DO-NOT-LOG';

/** What a failover test streams through: a fake Slack, a fake Argo CD polled every 2 s, and meshdrift. */
export interface FailoverHarness {
  slack: FakeSlack;
  argo: FakeArgoCd;
  svc: App & { url: string };
  stop(): Promise<void>;
}

/**
 * The fakes and the service of a failover test, meshdrift reaching Redis as `redisEnv` says
 * (REDIS_SENTINELS…, REDIS_CLUSTER_NODES…) under `prefix`; the Argo CD API serves only the stream's apps.
 */
export async function startFailoverHarness(opts: { prefix: string; redisEnv: Record<string, string>; log?: Logger }): Promise<FailoverHarness> {
  const slack = await startFakeSlack({ token: 'xoxb-test-SECRET-token' });
  const argo = await startFakeArgoCd({ token: FAILOVER_API_TOKEN });
  onlyStreamApps(argo);
  const svc = await startService({
    redisUrl: '',
    prefix: opts.prefix,
    slackUrl: slack.url,
    ...(opts.log ? { log: opts.log } : {}),
    env: {
      ...opts.redisEnv,
      ARGOCD_URL: argo.url,
      ARGOCD_TOKEN: FAILOVER_API_TOKEN,
      ARGOCD_POLL_INTERVAL: '2s',
      ARGOCD_PROJECTS: 'mesh-prod',
      MESHDRIFT_GROUP_WAIT: '200ms',
    },
  });
  return {
    slack,
    argo,
    svc,
    async stop() {
      await svc.stop().catch(() => undefined);
      await argo.close();
      await slack.close();
    },
  };
}
