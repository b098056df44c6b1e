import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SLACK_ACTION_KINDS } from '../../src/deliver/slack/actions.ts';
import { renderSlackMessage } from '../../src/deliver/slack/render.ts';
import { createRedisSlackReplayGuard } from '../../src/deliver/slack/replay-guard.ts';
import { createSlackActionsRouter, type SlackActionAuditEntry, type SlackActionsDeps } from '../../src/http/slack-actions.ts';
import { createLogger } from '../../src/log.ts';
import type { GroupLabels } from '../../src/model/alert-group.ts';
import { createRedisSilenceStore, type SilenceStore } from '../../src/track/silence-store.ts';
import { makeNotification, paymentsGroupLabels } from '../support/notifications.ts';
import { deleteKeys, redisUrl, testPrefix, waitFor } from '../support/redis.ts';

const SECRET = 'test-signing-secret-0123456789';

interface Posted {
  body: Record<string, unknown>;
}

/** A local stand-in for Slack's response_url. */
async function startResponseUrl(): Promise<{ url: string; posted: Posted[]; close: () => Promise<void> }> {
  const posted: Posted[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      posted.push({ body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/actions/T0/123/abc`,
    posted,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function payload(actionId: string, responseUrl: string, user = 'U0ALICE1'): Record<string, unknown> {
  const n = makeNotification({ seq: 2 });
  // Every button drawn (which ones a message carries is deliver/slack/buttons.ts, tested apart).
  const { text, blocks } = renderSlackMessage(n, undefined, new Set(SLACK_ACTION_KINDS));
  const button = blocks.flatMap((b) => (b.type === 'actions' ? b.elements : [])).find((e) => e.action_id === actionId);
  return {
    type: 'block_actions',
    user: { id: user, username: 'alice', name: 'alice', team_id: 'T0' },
    api_app_id: 'A0',
    token: 'legacy-verification-token',
    container: { type: 'message', message_ts: '1732000000.000100', channel_id: 'C0ALERTS', is_ephemeral: false },
    trigger_id: '1.2.3',
    team: { id: 'T0', domain: 'example' },
    channel: { id: 'C0ALERTS', name: 'mesh-drift' },
    message: { type: 'message', ts: '1732000000.000100', text, blocks },
    response_url: responseUrl,
    actions: [{ action_id: actionId, block_id: 'meshdrift.actions', value: button?.value ?? '', type: 'button', action_ts: '1732000001.000' }],
  };
}

function signedRequest(body: string, now: number, secret = SECRET): Record<string, string> {
  const ts = String(Math.floor(now / 1000));
  return {
    'content-type': 'application/x-www-form-urlencoded',
    'x-slack-request-timestamp': ts,
    'x-slack-signature': `v0=${createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex')}`,
  };
}

const form = (p: Record<string, unknown>): string => new URLSearchParams({ payload: JSON.stringify(p) }).toString();

describe('POST /slack/actions', () => {
  let prefix: string;
  let redis: Redis;
  let silences: SilenceStore;
  let audits: SlackActionAuditEntry[];
  let server: Server;
  let base: string;
  let responder: Awaited<ReturnType<typeof startResponseUrl>>;
  let allowed: boolean;
  let syncs: Array<[string, string]>;
  let acks: Array<[string, string]>;
  let updates: Array<{ channel: string; ts: string; blocks: unknown[] }>;
  let deps: SlackActionsDeps;

  async function start(over: Partial<SlackActionsDeps> = {}, opts: { defaultResponseUrlHosts?: boolean } = {}): Promise<void> {
    deps = {
      signingSecret: SECRET,
      now: Date.now,
      log: createLogger('silent'),
      silences,
      groupLabels: async (groupKey): Promise<GroupLabels | null> => (groupKey === 'g1' ? paymentsGroupLabels() : null),
      allowed: () => allowed,
      sync: async (g, actor) => {
        syncs.push([g, actor]);
        return { dryRun: true };
      },
      acknowledge: async (g, actor) => {
        acks.push([g, actor]);
      },
      audit: async (e) => {
        audits.push(e);
      },
      ...(opts.defaultResponseUrlHosts ? {} : { responseUrlAllowed: (url: URL) => url.hostname === '127.0.0.1' }),
      ...over,
    };
    const app = express();
    app.use(createSlackActionsRouter(deps));
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((r) => server.once('listening', () => r()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  const post = (body: string, headers: Record<string, string>) => fetch(`${base}/slack/actions`, { method: 'POST', headers, body });

  beforeEach(async () => {
    prefix = testPrefix('slack-actions');
    redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
    silences = createRedisSilenceStore(redis, prefix);
    audits = [];
    syncs = [];
    acks = [];
    updates = [];
    allowed = true;
    responder = await startResponseUrl();
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await responder.close();
    redis.disconnect();
    await deleteKeys(redisUrl(), prefix);
  });

  it('an allowed "Silence 1h" answers 200 within 3 s, creates the silence and updates the message', async () => {
    await start();
    const body = form(payload('meshdrift.silence.1h', responder.url));
    const started = Date.now();
    const res = await post(body, signedRequest(body, Date.now()));
    expect(res.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(3000);

    await waitFor(async () => (await silences.active(Date.now())).length === 1, 5000, 'silence');
    const [silence] = await silences.active(Date.now());
    expect(silence?.matchers).toEqual([
      { name: 'cluster', op: '=', value: 'prod-eu' },
      { name: 'owner_kind', op: '=', value: 'Application' },
      { name: 'owner_namespace', op: '=', value: 'argocd' },
      { name: 'owner', op: '=', value: 'payments' },
    ]);
    expect(silence?.createdBy).toBe('slack:U0ALICE1');
    expect(Date.parse(silence?.endsAt ?? '') - Date.parse(silence?.startsAt ?? '')).toBe(3_600_000);

    await waitFor(() => responder.posted.length === 1, 5000, 'message update');
    const update = responder.posted[0]?.body;
    expect(update?.replace_original).toBe(true);
    expect(JSON.stringify(update?.blocks)).toContain('Silenced for 1h by <@U0ALICE1>');
    expect(audits).toEqual([
      expect.objectContaining({ actor: 'slack:U0ALICE1', action: 'silence', outcome: 'performed', groupKey: 'g1', seq: 2, silenceId: silence?.id }),
    ]);
  });

  it('a user who is not allowed gets an ephemeral "not allowed", an audit record, and nothing happens', async () => {
    allowed = false;
    await start();
    for (const id of ['meshdrift.silence.1d', 'meshdrift.sync']) {
      const body = form(payload(id, responder.url, 'U0MALLORY'));
      expect((await post(body, signedRequest(body, Date.now()))).status).toBe(200);
    }
    await waitFor(() => responder.posted.length === 2 && audits.length === 2, 5000, 'ephemeral replies');
    for (const p of responder.posted) {
      expect(p.body).toMatchObject({ response_type: 'ephemeral', replace_original: false });
      expect(String(p.body.text)).toMatch(/not allowed/);
    }
    expect(audits.map((a) => [a.action, a.outcome, a.actor])).toEqual(
      expect.arrayContaining([
        ['silence', 'denied', 'slack:U0MALLORY'],
        ['sync', 'denied', 'slack:U0MALLORY'],
      ]),
    );
    expect(await silences.active(Date.now())).toEqual([]);
    expect(syncs).toEqual([]);
  });

  it('rejects a bad, stale or missing signature with 401 and does nothing', async () => {
    await start();
    const body = form(payload('meshdrift.silence.1h', responder.url));
    const wrong = await post(body, signedRequest(body, Date.now(), 'not-the-secret'));
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toEqual({ error: 'signature mismatch' });
    expect((await post(body, signedRequest(body, Date.now() - 10 * 60_000))).status).toBe(401);
    expect((await post(body, signedRequest(body, Date.now() + 10 * 60_000))).status).toBe(401);
    expect((await post(body, { 'content-type': 'application/x-www-form-urlencoded' })).status).toBe(401);
    const tampered = body.replace('silence.1h', 'silence.1d');
    expect((await post(tampered, signedRequest(body, Date.now()))).status).toBe(401);
    await new Promise((r) => setTimeout(r, 200));
    expect(await silences.active(Date.now())).toEqual([]);
    expect(responder.posted).toEqual([]);
    expect(audits).toEqual([]);
  });

  it('answers 400 for a signed body that is not a block_actions payload', async () => {
    await start();
    for (const body of ['nothing=here', 'payload=not-json', form({ type: 'block_actions', actions: [] })]) {
      expect((await post(body, signedRequest(body, Date.now()))).status).toBe(400);
    }
  });

  it('"Sync now" and "Acknowledge" call their deps with the Slack actor and update the stored message by chat.update', async () => {
    await start({
      messageRef: async () => ({ channel: 'C0STORED', ts: '1732000000.000999', seq: 2 }),
      updateMessage: async (channel, ts, _text, blocks) => {
        updates.push({ channel, ts, blocks });
      },
    });
    for (const id of ['meshdrift.sync', 'meshdrift.ack']) {
      const body = form(payload(id, responder.url));
      expect((await post(body, signedRequest(body, Date.now()))).status).toBe(200);
    }
    await waitFor(() => updates.length === 2, 5000, 'chat.update');
    expect(syncs).toEqual([['g1', 'slack:U0ALICE1']]);
    expect(acks).toEqual([['g1', 'slack:U0ALICE1']]);
    expect(updates.every((u) => u.channel === 'C0STORED' && u.ts === '1732000000.000999')).toBe(true);
    const lines = updates.map((u) => JSON.stringify(u.blocks));
    expect(lines.some((l) => l.includes('Sync requested by <@U0ALICE1> (dry run: nothing changed)'))).toBe(true);
    expect(lines.some((l) => l.includes('Acknowledged by <@U0ALICE1>'))).toBe(true);
    expect(audits.map((a) => [a.action, a.outcome]).sort()).toEqual([
      ['acknowledge', 'performed'],
      ['sync', 'dry-run'],
    ]);
    expect(responder.posted).toEqual([]);
  });

  it('a failing action is audited as failed and the user is told', async () => {
    await start({
      sync: async () => {
        throw new Error('another operation is already in progress');
      },
    });
    const body = form(payload('meshdrift.sync', responder.url));
    expect((await post(body, signedRequest(body, Date.now()))).status).toBe(200);
    await waitFor(() => responder.posted.length === 1, 5000, 'ephemeral');
    expect(responder.posted[0]?.body).toMatchObject({ response_type: 'ephemeral' });
    expect(String(responder.posted[0]?.body.text)).toContain('another operation is already in progress');
    expect(audits).toEqual([expect.objectContaining({ action: 'sync', outcome: 'failed' })]);
  });

  it('a replayed click (same signature, inside the window) is acknowledged and ignored', async () => {
    await start({ firstSeen: createRedisSlackReplayGuard(redis, prefix) });
    const body = form(payload('meshdrift.silence.1h', responder.url));
    const headers = signedRequest(body, Date.now());
    expect((await post(body, headers)).status).toBe(200);
    expect((await post(body, headers)).status).toBe(200);
    await waitFor(async () => (await silences.active(Date.now())).length >= 1, 5000, 'silence');
    await new Promise((r) => setTimeout(r, 200));
    expect(await silences.active(Date.now())).toHaveLength(1);
  });

  it('a replay with the signature spelt otherwise (upper-case hex, V0=, spaces) does nothing either (issue #12 item 6)', async () => {
    await start({ firstSeen: createRedisSlackReplayGuard(redis, prefix) });
    const body = form(payload('meshdrift.silence.1h', responder.url));
    const headers = signedRequest(body, Date.now());
    const sig = headers['x-slack-signature'] ?? '';
    const hex = sig.slice(3);
    const variants = [
      sig,
      `v0=${hex.toUpperCase()}`,
      `V0=${hex}`,
      `V0=${hex.toUpperCase()}`,
      `  ${sig}`,
      `v0=${hex.slice(0, 10).toUpperCase()}${hex.slice(10)}`,
    ];
    for (const v of variants) expect((await post(body, { ...headers, 'x-slack-signature': v })).status).toBe(200);
    await waitFor(async () => (await silences.active(Date.now())).length >= 1, 5000, 'silence');
    await waitFor(() => audits.length >= 1, 5000, 'audit');
    await new Promise((r) => setTimeout(r, 300));
    expect(await silences.active(Date.now())).toHaveLength(1);
    expect(audits).toHaveLength(1);
  });

  it('never posts to a response_url outside the allowed hosts (default: hooks.slack.com)', async () => {
    await start({}, { defaultResponseUrlHosts: true });
    allowed = false;
    const body = form(payload('meshdrift.silence.1h', responder.url));
    expect((await post(body, signedRequest(body, Date.now()))).status).toBe(200);
    await waitFor(() => audits.length === 1, 5000, 'audit');
    await new Promise((r) => setTimeout(r, 200));
    expect(responder.posted).toEqual([]);
  });
});
