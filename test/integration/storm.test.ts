import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { isThreadReply, startFakeSlack, type FakeSlack, type FakeSlackMessage } from '../fakes/slack.ts';
import { meshAppBody, SYNCED_AT } from '../support/argocd.ts';
import { deleteKeys, redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { postArgocd, startService } from '../support/service.ts';
import { waitSettled } from '../support/settle.ts';
import { startWebhookSink } from '../support/webhook-sink.ts';

// Drift storms (issue #15, deliver/storm.ts): 200 apps drifting at once after one revision are told
// to a Slack channel as one summary, by two replicas, with nothing lost and nothing told twice.

type Svc = App & { url: string };

const appName = (i: number): string => `storm-app-${String(i).padStart(3, '0')}`;

function appBody(i: number, sync: 'OutOfSync' | 'Synced' = 'OutOfSync'): unknown {
  const body = meshAppBody(sync, sync === 'Synced' ? SYNCED_AT : undefined) as { app: { metadata: { name: string; uid: string } } };
  body.app.metadata.name = appName(i);
  body.app.metadata.uid = `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
  return body;
}

/** Posts to the replicas in turn, a few at a time; every answer must be 2xx. */
async function postAll(replicas: readonly Svc[], count: number, sync: 'OutOfSync' | 'Synced', first = 0): Promise<void> {
  const statuses: number[] = [];
  for (let start = first; start < first + count; start += 20) {
    const batch = Array.from({ length: Math.min(20, first + count - start) }, (_, k) => start + k);
    const answers = await Promise.all(batch.map((i) => postArgocd(replicas[i % replicas.length]?.url ?? '', appBody(i, sync))));
    statuses.push(...answers.map((r) => r.status));
  }
  expect(statuses.filter((s) => s < 200 || s >= 300)).toEqual([]);
}

interface StormView {
  receiver: string;
  id: string;
  cause: { kind: string };
  status: 'firing' | 'resolved';
  summary: string;
  lastJoinAt: string;
  joined: number;
  firingMembers: number;
  href: string;
  members: { groupKey: string; owner: string; firing: number }[];
}

/** Each storm, with every member (GET /api/v1/storms/{id}, page after page). */
async function storms(svc: Svc): Promise<StormView[]> {
  const res = await fetch(`${svc.url}/api/v1/storms`);
  expect(res.status).toBe(200);
  const list = ((await res.json()) as { storms: StormView[] }).storms;
  for (const storm of list) {
    storm.members = [];
    let next: string | undefined = '0';
    while (next !== undefined) {
      const page = await fetch(`${svc.url}${storm.href}?limit=50&cursor=${next}`);
      expect(page.status).toBe(200);
      const body = (await page.json()) as { members: StormView['members']; next?: string };
      storm.members.push(...body.members);
      next = body.next;
    }
  }
  return list;
}

const isStorm = (m: FakeSlackMessage): boolean => JSON.stringify(m.blocks).includes('DRIFT STORM');
/** Channel messages about one app (its owner is in the header). */
const messagesOf = (slack: FakeSlack, i: number): FakeSlackMessage[] =>
  [...slack.messages.values()].filter((m) => !isStorm(m) && JSON.stringify(m.blocks).includes(`argocd/${appName(i)}`));

describe('drift storms', () => {
  let slack: FakeSlack;
  let replicas: Svc[] = [];
  let prefix: string;

  beforeEach(async () => {
    prefix = testPrefix('storm');
    slack = await startFakeSlack({ token: 'xoxb-test-SECRET-token' });
  });

  afterEach(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    replicas = [];
    await slack.close();
    await deleteKeys(redisUrl(), prefix);
  });

  const start = async (n: number, env: Record<string, string>): Promise<void> => {
    for (let i = 0; i < n; i++) replicas.push(await startService({ redisUrl: redisUrl(), prefix, slackUrl: slack.url, env }));
  };

  it('200 apps drifting at once after one revision: one summary, 0 lost, 0 duplicates across 2 replicas, one resolve', async () => {
    await start(2, { MESHDRIFT_STORM_THRESHOLD: '20', MESHDRIFT_STORM_WINDOW: '2s' });
    const [a] = replicas as [Svc, Svc];
    await postAll(replicas, 200, 'OutOfSync');

    // Every app is accounted for: a member of the storm (API), or told on its own (its message).
    const accounted = async (): Promise<{ members: Set<string>; alone: number[] }> => {
      const [storm] = await storms(a);
      const members = new Set((storm?.members ?? []).map((m) => m.owner));
      const alone = Array.from({ length: 200 }, (_, i) => i).filter((i) => messagesOf(slack, i).length > 0);
      return { members, alone };
    };
    await waitFor(
      async () => {
        const { members, alone } = await accounted();
        return members.size + alone.length === 200 && [...slack.messages.values()].some(isStorm);
      },
      90_000,
      'every app in the storm or told on its own, and the summary posted',
    );
    // Let the summary catch up with every member (it is refreshed every window).
    await waitFor(
      async () => {
        const [storm] = await storms(a);
        const summary = [...slack.messages.values()].find(isStorm);
        return storm !== undefined && summary !== undefined && JSON.stringify(summary.blocks).includes(`in ${storm.members.length} apps`);
      },
      30_000,
      'the summary counting every member',
    );
    const { members, alone } = await accounted();
    const [storm] = await storms(a);
    expect(storm?.status).toBe('firing');
    // No app both in the storm and told alone; each app told alone exactly once.
    for (const i of alone) {
      expect(messagesOf(slack, i)).toHaveLength(1);
      expect([...members].some((o) => o.endsWith(`/${appName(i)}`))).toBe(false);
    }
    // Only what was already on its way before the threshold was reached went out alone.
    expect(alone.length).toBeLessThan(20);
    expect(members.size).toBeGreaterThan(180);
    // One summary message in the channel, not one per app.
    const summaries = [...slack.messages.values()].filter(isStorm);
    expect(summaries).toHaveLength(1);
    const summaryText = JSON.stringify(summaries[0]?.blocks);
    expect(summaryText).toMatch(/resources in \d+ apps drifted in /);
    expect(storm?.cause.kind).toBe('revision');
    expect(summaryText).toMatch(/after revision 3f1c2a9e8b7d, \d+ critical/);
    // The detail: a sample of members' most severe findings, each saying whose it is.
    expect(summaryText).toMatch(/Application argocd\/storm-app-\d{3} on test-cluster \(\+\d+ more\)/);
    // A few findings are shown in the summary itself; the rest through GET /api/v1/storms.
    expect(storm?.members.every((m) => m.firing > 0)).toBe(true);
    const channelPosts = slack.calls.filter((c) => c.method === 'chat.postMessage' && !isThreadReply(c));
    expect(channelPosts.length).toBe(alone.length + 1);

    // A window after the last group joined, the storm takes no more: new drift is told on its own.
    const quietSince = Date.parse(storm?.lastJoinAt ?? '');
    await waitFor(() => Date.now() > quietSince + 2_500, 10_000, 'a quiet window');
    // Its detail is told in the summary's thread: members named (75 at most), "and N more", the API link.
    const detail = (): string[] =>
      slack.calls
        .filter((c) => c.method === 'chat.postMessage' && isThreadReply(c) && JSON.stringify(c.args).includes('Members '))
        .map((c) => JSON.stringify(c.args));
    await waitFor(() => detail().length === 3, 30_000, 'the storm detail in three replies');
    expect(
      detail()
        .join('')
        .match(/storm-app-\d{3}/g)?.length,
    ).toBe(75);
    expect(detail()[2]).toContain(`and ${members.size - 75} more`);
    expect(detail()[2]).toContain(`GET /api/v1/storms/${storm?.id}`);
    await postAll(replicas, 5, 'OutOfSync', 200);
    await waitFor(() => [200, 201, 202, 203, 204].every((i) => messagesOf(slack, i).length === 1), 30_000, 'five new apps told on their own');
    expect((await storms(a))[0]?.members.length).toBe(members.size);

    // The revision is reverted: every app resolves. The storm is told resolved once.
    await postAll(replicas, 205, 'Synced');
    await waitFor(async () => (await storms(a))[0]?.status === 'resolved', 60_000, 'the storm to resolve');
    await waitSettled(replicas, { timeoutMs: 60_000 });
    const after = [...slack.messages.values()].filter(isStorm);
    expect(after).toHaveLength(1);
    expect(JSON.stringify(after[0]?.blocks)).toContain('RESOLVED');
    expect(JSON.stringify(after[0]?.blocks)).toContain('Drift storm over');
    // Apps told alone were told resolved alone (their own message, updated in place).
    for (const i of alone) {
      const [m] = messagesOf(slack, i);
      expect(JSON.stringify(m?.blocks)).toContain('RESOLVED');
    }
    // No new channel message for the resolves (updates in place), no second summary.
    expect(slack.calls.filter((c) => c.method === 'chat.postMessage' && !isThreadReply(c)).length).toBe(alone.length + 1 + 5);
    for (const i of [200, 201, 202, 203, 204]) expect(JSON.stringify(messagesOf(slack, i)[0]?.blocks)).toContain('RESOLVED');
    // One resolved summary sent, by whichever replica ran it; every member absorbed once.
    const counter = (text: string, re: RegExp): number => Number(re.exec(text)?.[1] ?? 0);
    const texts = await Promise.all(replicas.map(async (r) => (await fetch(`${r.url}/metrics`)).text()));
    const sum = (re: RegExp): number => texts.reduce((acc, t) => acc + counter(t, re), 0);
    expect(sum(/meshdrift_storm_summaries_total\{status="resolved"\} (\d+)/)).toBe(1);
    expect(sum(/meshdrift_storms_total\{receiver="slack"\} (\d+)/)).toBe(1);
  }, 240_000);

  it('below the threshold each group is told on its own, as before', async () => {
    await start(1, { MESHDRIFT_STORM_THRESHOLD: '20', MESHDRIFT_STORM_WINDOW: '2s' });
    const [a] = replicas as [Svc];
    await postAll(replicas, 5, 'OutOfSync');
    await waitFor(() => slack.messages.size === 5, 30_000, 'five messages');
    await waitSettled(replicas, { timeoutMs: 30_000 });
    for (let i = 0; i < 5; i++) expect(messagesOf(slack, i)).toHaveLength(1);
    expect([...slack.messages.values()].filter(isStorm)).toHaveLength(0);
    expect(await storms(a)).toEqual([]);
  }, 60_000);

  it('per receiver: its own threshold over the environment, or `storm: off`; the environment for the others', async () => {
    const [offSink, plainSink] = [await startWebhookSink(), await startWebhookSink()];
    const dir = await mkdtemp(join(tmpdir(), 'meshdrift-storm-policy-'));
    try {
      const policy = join(dir, 'policy.yaml');
      await writeFile(
        policy,
        [
          'receivers:',
          '  - { name: chat, slack: { channel: "#mesh-drift" }, storm: { threshold: 60, window: 2s } }',
          '  - { name: off, webhook: { url_env: OFF_URL }, storm: off }',
          '  - { name: plain, webhook: { url_env: PLAIN_URL } }',
          'route:',
          '  receiver: chat',
          '  routes:',
          '    - { receiver: chat, continue: true }',
          '    - { receiver: off, continue: true }',
          '    - { receiver: plain }',
          '',
        ].join('\n'),
      );
      // The environment's threshold (10) makes a storm of 15 apps for the receiver without a
      // setting of its own; the others are told every app on its own.
      await start(1, {
        MESHDRIFT_POLICY: policy,
        OFF_URL: offSink.url,
        PLAIN_URL: plainSink.url,
        MESHDRIFT_STORM_THRESHOLD: '10',
        MESHDRIFT_STORM_WINDOW: '2s',
      });
      const [a] = replicas as [Svc];
      await postAll(replicas, 15, 'OutOfSync');
      await waitFor(async () => (await storms(a)).some((s) => s.receiver === 'plain'), 30_000, 'the storm of the receiver without settings');
      await waitFor(() => offSink.posts() >= 15, 30_000, 'one post per app where storms are off');
      await waitFor(() => Array.from({ length: 15 }, (_, i) => i).every((i) => messagesOf(slack, i).length === 1), 40_000, 'one Slack message per app');
      // A window and more later (the storm's summary is refreshed meanwhile): still its only storm.
      await new Promise((r) => setTimeout(r, 3_000));
      expect((await storms(a)).map((s) => s.receiver)).toEqual(['plain']);
      expect([...slack.messages.values()].filter(isStorm)).toHaveLength(0);
      expect(offSink.posts()).toBe(15);
      expect(plainSink.posts()).toBeLessThan(15);
    } finally {
      await Promise.all([offSink.close(), plainSink.close()]);
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
