import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { classify } from '../../src/classify/classify.ts';
import { loadPolicyText } from '../../src/config/load.ts';
import { encodeButtonValue } from '../../src/deliver/slack/actions.ts';
import { applicationSchema, applicationToSignal } from '../../src/sources/argocd/application.ts';
import { ownerPath } from '../../src/model/owner.ts';
import { groupKeyOf } from '../../src/model/fingerprint.ts';
import { groupInputs, scopeOf } from '../../src/track/grouping.ts';
import { groupRedisKey, ownerGroupsKey } from '../../src/track/keys.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { meshApp, meshAppBody, SYNCED_AT } from '../support/argocd.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { postArgocd, startService, stopService } from '../support/service.ts';

/**
 * Issue #12 item 7, through the running service: a policy reload that swaps two routes changes no
 * permission and resolves nothing; edited and renamed routes keep their alert groups (by content)
 * or move them without a false "resolved"; groups stored by meshdrift before route identities
 * (positional route ids) keep working.
 */

const SIGNING_SECRET = 'slack-signing-SECRET';
const API_TOKEN = 'api-token-at-least-16-chars';
const LATER = '2026-11-24T10:20:00Z';

const HEAD = `receivers:
  - { name: chat, slack: { channel: "#mesh-drift" } }
  - { name: other, slack: { channel: "#mesh-other" } }
route:
  receiver: chat
  group_wait: 100ms
  slack_actions: { allowed: [U0ROOT], actions: [silence] }
  routes:
`;
// The mesh app (payments-mesh) goes to PROD; STAGING takes another app.
const PROD = `    - matchers: ['owner="payments-mesh"']
      slack_actions: { allowed: [U0PROD], actions: [silence] }
`;
const STAGING = `    - matchers: ['owner="checkout"']
      slack_actions: { allowed: [U0STAGE], actions: [silence] }
`;

let clicks = 0;
async function click(url: string, user: string, value: string): Promise<void> {
  // action_ts differs per click: the same body twice is a replay (dropped by the replay guard).
  const payload = {
    type: 'block_actions',
    user: { id: user },
    container: { type: 'message' },
    actions: [{ action_id: 'meshdrift.silence.1h', value, type: 'button', action_ts: `${Date.now()}.${++clicks}` }],
  };
  const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const ts = String(Math.floor(Date.now() / 1000));
  const signature = `v0=${createHmac('sha256', SIGNING_SECRET).update(`v0:${ts}:${body}`).digest('hex')}`;
  const res = await fetch(`${url}/slack/actions`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-slack-request-timestamp': ts, 'x-slack-signature': signature },
    body,
  });
  expect(res.status).toBe(200);
}

let slack: FakeSlack;
let svc: (App & { url: string }) | undefined;
let prefix: string;
let file: string;

async function start(policy: string): Promise<void> {
  file = `${mkdtempSync(`${tmpdir()}/meshdrift-route-identity-`)}/p.yaml`;
  writeFileSync(file, policy);
  svc = await startService({
    redisUrl: redisUrl(),
    prefix,
    slackUrl: slack.url,
    env: { MESHDRIFT_POLICY: file, SLACK_SIGNING_SECRET: SIGNING_SECRET, MESHDRIFT_API_TOKEN: API_TOKEN },
  });
}

async function reload(policy: string): Promise<void> {
  writeFileSync(file, policy);
  expect(await svc?.reloadPolicy()).toBe(true);
}

beforeEach(async () => {
  prefix = testPrefix('routeid');
  slack = await startFakeSlack({ token: 'xoxb-test-SECRET-token' });
});

afterEach(async () => {
  await stopService(svc, redisUrl(), prefix);
  svc = undefined;
  await slack.close();
});

const OWNER = ownerPath({ cluster: 'test-cluster', tool: 'argocd', owner: { kind: 'Application', namespace: 'argocd', name: 'payments-mesh' } });
const ownerGroups = async (): Promise<string[]> => ((await svc?.redis.smembers(ownerGroupsKey(prefix, OWNER))) ?? []).sort();

interface AuditRecord {
  kind: string;
  actor: string;
  outcome: string;
}
const slackAudit = async (): Promise<string[]> =>
  ((await (await fetch(`${svc?.url}/api/v1/audit`, { headers: { authorization: `Bearer ${API_TOKEN}` } })).json()) as { records: AuditRecord[] }).records
    .filter((r) => r.kind === 'slack-action')
    .map((r) => `${r.actor} ${r.outcome}`)
    .sort();

/** The group's findings' statuses: a resolve (false or not) shows here before any flush runs. */
async function statuses(groupKey: string): Promise<string[]> {
  return Object.values((await svc?.store.get(groupKey))?.findings ?? {}).map((f) => f.status);
}

const resolvedShown = () => [...slack.messages.values()].some((m) => JSON.stringify(m.blocks).includes('RESOLVED'));

describe('route identity across policy reloads', () => {
  it('a reload that swaps two routes changes no permission, opens no group and resolves nothing', async () => {
    await start(`${HEAD}${PROD}${STAGING}`);
    expect((await postArgocd(svc?.url ?? '', meshAppBody())).status).toBe(202);
    await waitFor(() => slack.messages.size === 1, 10_000, 'the Slack message');
    const [groupKey] = await ownerGroups();
    const value = encodeButtonValue(groupKey ?? '', 1);

    await click(svc?.url ?? '', 'U0STAGE', value);
    await waitFor(async () => (await slackAudit()).length === 1, 5_000, 'the first denial');

    await reload(`${HEAD}${STAGING}${PROD}`);
    // The staging user stays denied on the prod alert; the prod user stays allowed.
    await click(svc?.url ?? '', 'U0STAGE', value);
    await waitFor(async () => (await slackAudit()).length === 2, 5_000, 'the second denial');
    // The next snapshot, still drifted: same group, nothing resolved, no second message.
    expect((await postArgocd(svc?.url ?? '', meshAppBody('OutOfSync', LATER))).status).toBe(202);
    expect(await ownerGroups()).toEqual([groupKey]);
    expect(new Set(await statuses(groupKey ?? ''))).toEqual(new Set(['firing']));
    await click(svc?.url ?? '', 'U0PROD', value);
    await waitFor(async () => (await slackAudit()).length === 3, 5_000, 'the allowed silence');
    expect(await slackAudit()).toEqual(['slack:U0PROD performed', 'slack:U0STAGE denied', 'slack:U0STAGE denied']);
    expect(slack.messages.size).toBe(1);
    expect(resolvedShown()).toBe(false);
  });

  it('an edited unnamed route keeps its group (found by content) and its new permissions apply; a renamed route too', async () => {
    await start(`${HEAD}${PROD}${STAGING}`);
    await postArgocd(svc?.url ?? '', meshAppBody());
    await waitFor(() => slack.messages.size === 1, 10_000, 'the Slack message');
    const [groupKey] = await ownerGroups();
    const value = encodeButtonValue(groupKey ?? '', 1);

    // New matchers (a new content identity) and new permissions.
    await reload(
      `${HEAD}    - matchers: ['owner="payments-mesh"', 'project="mesh-prod"']\n      slack_actions: { allowed: [U0NEW], actions: [silence] }\n${STAGING}`,
    );
    expect((await postArgocd(svc?.url ?? '', meshAppBody('OutOfSync', LATER))).status).toBe(202);
    expect(await ownerGroups()).toEqual([groupKey]);
    expect(new Set(await statuses(groupKey ?? ''))).toEqual(new Set(['firing']));
    await click(svc?.url ?? '', 'U0PROD', value);
    await click(svc?.url ?? '', 'U0NEW', value);
    await waitFor(async () => (await slackAudit()).length === 2, 5_000, 'both clicks');
    expect(await slackAudit()).toEqual(['slack:U0NEW performed', 'slack:U0PROD denied']);

    // Named now (another identity again), then renamed: still the same group.
    await reload(
      `${HEAD}    - name: payments\n      matchers: ['owner="payments-mesh"']\n      slack_actions: { allowed: [U0NEW], actions: [silence] }\n${STAGING}`,
    );
    await postArgocd(svc?.url ?? '', meshAppBody('OutOfSync', '2026-11-24T10:21:00Z'));
    expect((await svc?.store.get(groupKey ?? ''))?.labels.route).toBe('name:payments');
    await reload(
      `${HEAD}    - name: payments-v2\n      matchers: ['owner="payments-mesh"']\n      slack_actions: { allowed: [U0NEW], actions: [silence] }\n${STAGING}`,
    );
    await postArgocd(svc?.url ?? '', meshAppBody('OutOfSync', '2026-11-24T10:22:00Z'));
    expect(await ownerGroups()).toEqual([groupKey]);
    expect((await svc?.store.get(groupKey ?? ''))?.labels.route).toBe('name:payments-v2');
    expect(new Set(await statuses(groupKey ?? ''))).toEqual(new Set(['firing']));
    expect(slack.messages.size).toBe(1);
    expect(resolvedShown()).toBe(false);
  });

  it('a route edited to another receiver: the new receiver is told; the old alert stays firing until the drift really ends', async () => {
    await start(`${HEAD}${PROD}${STAGING}`);
    await postArgocd(svc?.url ?? '', meshAppBody());
    await waitFor(() => slack.messages.size === 1, 10_000, 'the Slack message');
    const [oldKey] = await ownerGroups();

    await reload(`${HEAD}    - matchers: ['owner="payments-mesh"']\n      receiver: other\n${STAGING}`);
    await postArgocd(svc?.url ?? '', meshAppBody('OutOfSync', LATER));
    const groups = await ownerGroups();
    expect(groups).toHaveLength(2);
    expect(new Set(await statuses(oldKey ?? ''))).toEqual(new Set(['firing']));
    await waitFor(() => slack.messages.size === 2, 10_000, "the new receiver's message");
    expect(new Set([...slack.messages.values()].map((m) => m.channel)).size).toBe(2);
    expect(resolvedShown()).toBe(false);

    // Snapshots that still report the finding keep the old group alive (its TTL), as its firing
    // findings' signals would: also a repeat of the same snapshot, which changes nothing there.
    await svc?.redis.expire(groupRedisKey(prefix, oldKey ?? ''), 100);
    await postArgocd(svc?.url ?? '', meshAppBody('OutOfSync', LATER));
    expect(await svc?.redis.ttl(groupRedisKey(prefix, oldKey ?? ''))).toBeGreaterThan(86_400);
    expect(new Set(await statuses(oldKey ?? ''))).toEqual(new Set(['firing']));

    // The drift ends: both alerts resolve, truthfully.
    await postArgocd(svc?.url ?? '', meshAppBody('Synced', SYNCED_AT));
    await waitFor(() => [...slack.messages.values()].every((m) => JSON.stringify(m.blocks).includes('RESOLVED')), 10_000, 'both resolved');
  });
});

describe('groups stored by meshdrift before route identities (rolling upgrade)', () => {
  it('a group under a positional route id keeps its key, resolves its route by content for permissions, and is not resolved or duplicated', async () => {
    // Swapped relative to when the old code stored the group: `route.routes[0]` is staging now.
    const policy = `${HEAD}${STAGING}${PROD}`;
    await start(policy);
    // What the old code wrote for the first snapshot under `${HEAD}${PROD}${STAGING}`: the group
    // keyed by the positional id `route.routes[0]` (prod then), through the same store.
    const old = loadPolicyText(`${HEAD}${PROD}${STAGING}`, 'p.yaml');
    if (!old.ok) throw new Error('policy');
    const signal = applicationToSignal(applicationSchema.parse(meshApp()), { cluster: 'test-cluster', source: 'argocd-webhook', now: Date.now() });
    const [input] = groupInputs(signal, classify(signal, old.policy.classify), old.policy.classify.route);
    if (!input?.labels) throw new Error('no input');
    const legacyKey = groupKeyOf('route.routes[0]', input.labels.groupBy ?? {});
    const applied = await svc?.store.apply(
      {
        ...input,
        groupKey: legacyKey,
        labels: { ...input.labels, route: 'route.routes[0]' },
        findings: input.findings.map((f) => ({ ...f, groupKey: legacyKey, routes: ['route.routes[0]'] })),
        scope: scopeOf(signal),
      },
      Date.now(),
    );
    expect(applied?.opened.length).toBeGreaterThan(0);
    expect(await ownerGroups()).toEqual([legacyKey]);
    const value = encodeButtonValue(legacyKey, 1);
    // Permissions of the stored group: the prod route's, found by content (by position, the
    // stored `route.routes[0]` would now be staging's, and let U0STAGE silence a prod alert).
    await click(svc?.url ?? '', 'U0STAGE', value);
    await waitFor(async () => (await slackAudit()).length === 1, 5_000, 'the denial');

    // The new code's first snapshot of the same drift: adopted, not a second group, nothing resolved.
    expect((await postArgocd(svc?.url ?? '', meshAppBody('OutOfSync', LATER))).status).toBe(202);
    expect(await ownerGroups()).toEqual([legacyKey]);
    const state = await svc?.store.get(legacyKey);
    expect(new Set(Object.values(state?.findings ?? {}).map((f) => f.status))).toEqual(new Set(['firing']));
    expect(state?.labels.route).toMatch(/^content:[0-9a-f]{16}$/);
    // Its one notification goes out under the old key.
    await waitFor(() => slack.messages.size === 1, 10_000, 'the Slack message of the adopted group');
    expect(resolvedShown()).toBe(false);

    // Adopted: the prod route's permissions, by its identity now.
    await click(svc?.url ?? '', 'U0STAGE', value);
    await click(svc?.url ?? '', 'U0PROD', value);
    await waitFor(async () => (await slackAudit()).length === 3, 5_000, 'the clicks');
    expect(await slackAudit()).toEqual(['slack:U0PROD performed', 'slack:U0STAGE denied', 'slack:U0STAGE denied']);
  });
});
