import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../../src/app.ts';
import { loadEnv } from '../../src/config/env.ts';
import { createLogger } from '../../src/log.ts';
import { APPLICATIONS } from '../../src/sources/kube/resources.ts';
import { startFakeArgoCd } from '../fakes/argocd.ts';
import { startFakeKubeApi, type FakeKubeApi } from '../fakes/kube-api.ts';
import { isThreadReply, startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { meshApp } from '../support/argocd.ts';
import { kubeconfigFor } from '../support/kubeconfig.ts';
import { deleteKeys, redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { startOwnRedis, type OwnRedis } from '../support/redis-server.ts';
import { SLACK_TOKEN, startService } from '../support/service.ts';

// Issue #12 item 9: Redis restarted EMPTY (no AOF, no RDB). meshdrift must notice (its epoch key
// is gone), say so (log, metric, /readyz, one notice to the default and console receivers),
// re-derive its findings from the Kubernetes source at once, and edit the Slack message the alert
// already had instead of posting it twice.
const CHANNEL = 'C0MESHDRIFT1';
let redis: OwnRedis;
let slack: FakeSlack;
let kube: FakeKubeApi;
let app: App | undefined;
let url = '';
let dir: string;
const logLines: string[] = [];
const consoleLines: string[] = [];

beforeAll(async () => {
  dir = mkdtempSync(`${tmpdir()}/meshdrift-dataloss-`);
  redis = await startOwnRedis(); // --save "" --appendonly no: a restart comes back empty
  slack = await startFakeSlack({ token: SLACK_TOKEN });
  kube = await startFakeKubeApi();
  kube.serve(APPLICATIONS);
  kube.apply(APPLICATIONS, meshApp('OutOfSync'));
  const policy = `${dir}/policy.yaml`;
  writeFileSync(
    policy,
    [
      'receivers:',
      '  - name: team-slack',
      `    slack: { channel: "${CHANNEL}", token_env: SLACK_BOT_TOKEN }`,
      '  - name: ops-console',
      '    console: {}',
      'route:',
      '  receiver: team-slack',
      '',
    ].join('\n'),
  );
  const raw: Record<string, string> = {
    PORT: '0',
    HOST: '127.0.0.1',
    REDIS_URL: redis.url,
    MESHDRIFT_KEY_PREFIX: testPrefix('dataloss'),
    MESHDRIFT_CLUSTER: 'test-cluster',
    MESHDRIFT_GROUP_WAIT: '200ms',
    MESHDRIFT_GROUP_INTERVAL: '1s',
    MESHDRIFT_LOG_LEVEL: 'info',
    MESHDRIFT_POLICY: policy,
    MESHDRIFT_CLUSTERS: `prod-eu-1=${kubeconfigFor(kube)}`,
    MESHDRIFT_WATCH: 'applications',
    MESHDRIFT_LEADER_ELECTION: 'false',
    // Only the data loss may trigger a re-list in this test.
    MESHDRIFT_AUDIT_INTERVAL: '1h',
    MESHDRIFT_REDIS_EPOCH_CHECK_INTERVAL: '1s',
    MESHDRIFT_ALLOW_UNAUTHENTICATED: 'true',
    SLACK_BOT_TOKEN: SLACK_TOKEN,
    SLACK_CHANNEL: CHANNEL,
    SLACK_API_URL: slack.url,
  };
  const consoleOut = new Writable({
    write(chunk: Buffer, _enc, cb) {
      consoleLines.push(
        ...chunk
          .toString()
          .split('\n')
          .filter((l) => l !== ''),
      );
      cb();
    },
  });
  app = createApp({
    env: loadEnv(raw),
    processEnv: raw,
    registry: new Registry(),
    consoleOut,
    log: createLogger('info', { write: (line: string) => void logLines.push(line) }),
    deliveryRetry: { attempts: 10, backoffMs: 100 },
  });
  await app.start();
  url = app.address().url;
}, 60_000);

afterAll(async () => {
  await app?.stop();
  await slack.close();
  await kube.close();
  await redis.stop();
  rmSync(dir, { recursive: true, force: true });
});

const metric = async (name: string): Promise<number> => {
  const text = await (await fetch(`${url}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m?.[1] === undefined ? Number.NaN : Number(m[1]);
};
/** On a timeout, the service's log (without the reconnect noise) and the Slack calls, to tell where the pipeline stopped. */
const showing = (err: unknown): never => {
  console.log(
    logLines
      .filter((l) => !l.includes('redis connection error'))
      .map((l) => l.slice(0, 400))
      .join('\n'),
  );
  console.log(JSON.stringify(slack.calls.map((c) => [c.method, c.args.ts, c.args.thread_ts])), JSON.stringify(slack.historyCalls.map((c) => c.args)));
  throw err;
};
const mainPosts = () => slack.calls.filter((c) => c.method === 'chat.postMessage' && !isThreadReply(c));
const aboutApp = (blocks: unknown) => JSON.stringify(blocks).includes('payments-mesh');

describe('Redis restarted empty (no persistence)', () => {
  it('is detected, announced once, re-derived from the Kubernetes source, and the Slack message is edited, not posted twice', async () => {
    await waitFor(() => slack.messages.size === 1, 20_000, 'the alert from the watch');
    const [original] = [...slack.messages.values()];
    if (!original) throw new Error('no message');
    expect(aboutApp(original.blocks)).toBe(true);
    // The first start is no loss.
    expect(await metric('meshdrift_redis_data_loss_total')).toBe(0);
    expect(logLines.some((l) => l.includes('Redis lost meshdrift state'))).toBe(false);
    const readyBefore = (await (await fetch(`${url}/readyz`)).json()) as { warnings?: string[] };
    expect(readyBefore.warnings).toBeUndefined();

    await redis.stop();
    await redis.start(); // same port, nothing kept

    // Detected: log line, metric and gauge, /readyz detail (still ready).
    await waitFor(() => logLines.some((l) => l.includes('Redis lost meshdrift state')), 20_000, 'the data loss log line');
    await waitFor(async () => (await metric('meshdrift_redis_data_loss_total')) === 1, 10_000, 'the data loss metric');
    expect(await metric('meshdrift_redis_data_loss_recent')).toBe(1);
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    const readyBody = (await ready.json()) as { warnings?: string[] };
    expect(readyBody.warnings?.join(' ')).toMatch(/redis lost meshdrift state/);

    // One notice, to the default receiver (Slack) and the console receiver.
    await waitFor(() => consoleLines.some((l) => l.includes('meshdrift-state')), 15_000, 'the notice on the console').catch(showing);
    await waitFor(() => [...slack.messages.values()].some((m) => JSON.stringify(m.blocks).includes('lost meshdrift')), 15_000, 'the notice in Slack').catch(
      showing,
    );
    const notice = consoleLines.find((l) => l.includes('meshdrift-state')) ?? '';
    expect(notice).toMatch(/Silences set before are gone/);
    expect(notice).toMatch(/Kubernetes audit re-list/);

    // Re-derived by the audit re-list the loss triggered; the alert's old message is edited in place.
    await waitFor(() => slack.calls.some((c) => c.method === 'chat.update' && c.args.ts === original.ts), 20_000, 'the edit of the original message').catch(
      showing,
    );
    expect(logLines.some((l) => l.includes('Kubernetes audit re-list done'))).toBe(true);
    // Anything posted twice would show after a delay (retries).
    await new Promise((r) => setTimeout(r, 1500));
    const appPosts = mainPosts().filter((c) => (typeof c.args.blocks === 'string' ? c.args.blocks.includes('payments-mesh') : aboutApp(c.args.blocks)));
    expect(appPosts).toHaveLength(1);
    expect([...slack.messages.values()].filter((m) => aboutApp(m.blocks))).toHaveLength(1);
    // The notice was sent once: one Slack message and one console line, however many checks ran.
    expect([...slack.messages.values()].filter((m) => JSON.stringify(m.blocks).includes('lost meshdrift'))).toHaveLength(1);
    expect(consoleLines.filter((l) => l.includes('meshdrift-state'))).toHaveLength(1);
    expect(await metric('meshdrift_redis_data_loss_total')).toBe(1);
  }, 90_000);
});

describe('Redis data loss with Argo CD API polling (keys deleted, as an emptied Redis)', () => {
  it('polls the Argo CD API at once, and the notice says so', async () => {
    const argo = await startFakeArgoCd({ token: 'argocd-api-token' });
    const prefix = testPrefix('dataloss-argo');
    const lines: string[] = [];
    const svc = await startService({
      redisUrl: redisUrl(),
      prefix,
      env: {
        ARGOCD_URL: argo.url,
        ARGOCD_TOKEN: 'argocd-api-token',
        ARGOCD_POLL_INTERVAL: '1h',
        MESHDRIFT_REDIS_EPOCH_CHECK_INTERVAL: '1s',
        MESHDRIFT_LOG_LEVEL: 'info',
      },
      log: createLogger('info', { write: (line: string) => void lines.push(line) }),
    });
    try {
      await waitFor(() => argo.lists().length >= 1, 15_000, 'the first poll');
      const polled = argo.lists().length;
      await deleteKeys(redisUrl(), prefix); // the epoch key included
      await waitFor(() => lines.some((l) => l.includes('Argo CD API poll done')), 15_000, 'the poll after the loss');
      expect(argo.lists().length).toBeGreaterThan(polled);
      // The built-in policy's one receiver is the console: the notice names the poll.
      const announced = lines.find((l) => l.includes('Redis data loss announced'));
      expect(announced).toContain('console');
    } finally {
      await svc.stop();
      await deleteKeys(redisUrl(), prefix);
      await argo.close();
    }
  }, 60_000);
});
