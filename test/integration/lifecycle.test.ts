import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { startFakePagerDuty, type FakePagerDuty } from '../fakes/pagerduty.ts';
import { isThreadReply, startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { meshAppBody } from '../support/argocd.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { postArgocd, startService, stopService } from '../support/service.ts';
import { onlyGroupKey, waitSettled } from '../support/settle.ts';

const ROUTING_KEY = 'L1FECYCLEKEY0123456789abcdef0123';
const ts = (s: number) => new Date(Date.UTC(2026, 10, 24, 10, 0, s)).toISOString();

function policyFile(route: string): string {
  const dir = mkdtempSync(`${tmpdir()}/meshdrift-lifecycle-`);
  writeFileSync(
    `${dir}/policy.yaml`,
    `receivers:\n  - { name: chat, slack: { channel: "#mesh-drift" } }\n  - { name: pager, pagerduty: { routing_key_env: PD_KEY } }\nroute:\n${route}`,
  );
  return `${dir}/policy.yaml`;
}

let slack: FakeSlack;
let pd: FakePagerDuty;
let prefix: string;
const running: App[] = [];

async function service(policy: string): Promise<App & { url: string }> {
  const svc = await startService({
    redisUrl: redisUrl(),
    prefix,
    slackUrl: slack.url,
    env: { MESHDRIFT_POLICY: policy, PD_KEY: ROUTING_KEY, PAGERDUTY_EVENTS_URL: pd.eventsUrl },
  });
  running.push(svc);
  return svc;
}

/** Waits until the flush the last signal scheduled has run (or the group is gone: decided and dropped). */
async function waitForFlushOf(svc: App, what: string): Promise<void> {
  const groupKey = await onlyGroupKey(svc, prefix);
  const seq = groupKey === undefined ? undefined : (await svc.store.get(groupKey))?.pendingFlush?.seq;
  if (groupKey === undefined || seq === undefined) return;
  await waitFor(async () => ((await svc.store.get(groupKey))?.handledFlushSeq ?? seq) >= seq, 10_000, what);
}

beforeEach(async () => {
  prefix = testPrefix('life');
  slack = await startFakeSlack({ token: 'xoxb-test-SECRET-token' });
  pd = await startFakePagerDuty();
});

afterEach(async () => {
  for (const svc of running.splice(0)) await stopService(svc, redisUrl(), prefix);
  await slack.close();
  await pd.close();
});

describe('alert lifecycle through the service', () => {
  it('a flapping drift (drift, resolve, drift, resolve within pending_for) sends nothing', { timeout: 60_000 }, async () => {
    // pending_for is far longer than one flap step (a post and the flush it schedules), so a
    // loaded machine cannot stretch a drift past it; each step waits for its flush, not a sleep.
    const svc = await service(policyFile('  receiver: chat\n  group_wait: 200ms\n  group_interval: 300ms\n  pending_for: 5s\n'));
    for (let i = 0; i < 4; i++) {
      expect((await postArgocd(svc.url, meshAppBody(i % 2 === 0 ? 'OutOfSync' : 'Synced', ts(i)))).status).toBe(202);
      await waitForFlushOf(svc, `the flush after flap step ${i}`);
    }
    // The flap is decided (the group is dropped untold) and nothing is due: nothing was sent.
    await waitSettled(svc, { what: 'the flap to be decided' });
    expect(await onlyGroupKey(svc, prefix)).toBeUndefined();
    expect(slack.calls).toHaveLength(0);
    // A drift that stays past pending_for is sent, once.
    await postArgocd(svc.url, meshAppBody('OutOfSync', ts(10)));
    await waitFor(() => slack.messages.size === 1, 20_000, 'the message after pending_for');
    await waitSettled(svc, { what: 'the delivery of the message' });
    expect(slack.calls.filter((c) => c.method === 'chat.postMessage' && !isThreadReply(c))).toHaveLength(1);
  });

  it('repeat_interval re-notifies a group that stays drifted', async () => {
    const svc = await service(policyFile('  receiver: chat\n  group_wait: 100ms\n  group_interval: 200ms\n  repeat_interval: 1s\n'));
    await postArgocd(svc.url, meshAppBody('OutOfSync', ts(0)));
    await waitFor(() => slack.messages.size === 1, 10_000, 'the first message');
    await waitFor(() => slack.calls.some((c) => c.method === 'chat.update'), 10_000, 'the repeat');
    const history = slack.calls.map((c) => c.method);
    expect(history[0]).toBe('chat.postMessage');
    expect(slack.messages.size).toBe(1);
  });

  it('a restart between trigger and resolve resolves the same PagerDuty incident and edits the same Slack message', async () => {
    const policy = policyFile(
      `  receiver: chat\n  group_wait: 100ms\n  group_interval: 200ms\n  routes:\n    - matchers: ['severity="critical"']\n      receiver: pager\n      continue: true\n    - receiver: chat\n`,
    );
    const first = await service(policy);
    await postArgocd(first.url, meshAppBody('OutOfSync', ts(0)));
    await waitFor(() => slack.messages.size === 1 && pd.alerts.length === 1, 10_000, 'trigger and message');
    const ts0 = [...slack.messages.keys()][0];
    await first.stop();
    running.splice(running.indexOf(first), 1);

    const second = await service(policy);
    await postArgocd(second.url, meshAppBody('Synced', ts(30)));
    await waitFor(() => pd.alerts[0]?.status === 'resolved' && slack.calls.some((c) => c.method === 'chat.update'), 10_000, 'resolve after restart');
    expect(pd.alerts).toHaveLength(1);
    expect(slack.messages.size).toBe(1);
    expect(slack.calls.find((c) => c.method === 'chat.update')?.args.ts).toBe(ts0);
  });

  it('3 replicas on one Redis send each notification once', async () => {
    const policy = policyFile('  receiver: chat\n  group_wait: 300ms\n  group_interval: 300ms\n');
    const replicas = [await service(policy), await service(policy), await service(policy)];
    await Promise.all(Array.from({ length: 30 }, (_, i) => postArgocd(replicas[i % 3]?.url ?? '', meshAppBody('OutOfSync', ts(0)))));
    await waitFor(() => slack.messages.size === 1, 10_000, 'the message');
    await Promise.all(Array.from({ length: 30 }, (_, i) => postArgocd(replicas[i % 3]?.url ?? '', meshAppBody('Synced', ts(5)))));
    await waitFor(() => slack.calls.some((c) => c.method === 'chat.update'), 10_000, 'the resolve');
    await waitSettled(replicas, { what: 'every replica to be done with the resolve' });
    expect(slack.calls.filter((c) => c.method === 'chat.postMessage' && !isThreadReply(c))).toHaveLength(1);
    expect(slack.calls.filter((c) => c.method === 'chat.update')).toHaveLength(1);
  });
});
