import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import express from 'express';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApiRouter } from '../../src/http/api.ts';
import type { Notification, TrackedFinding } from '../../src/model/alert-group.ts';
import { QUEUE_NAMES, type DeliverJob } from '../../src/queue/queues.ts';
import { jobIdOf } from '../../src/queue/job-ids.ts';
import { groupStateSchema, type GroupState } from '../../src/track/group-state.ts';
import { createDeadLetters } from '../../src/queue/dead-letters.ts';
import { createRedisGroupReader } from '../../src/track/group-reader.ts';
import { createRedisHistory, historyEntry } from '../../src/track/history.ts';
import { activeGroupsKey, groupRedisKey, historyKey } from '../../src/track/keys.ts';
import { createRedisSilenceStore } from '../../src/track/silence-store.ts';
import { deleteKeys, redisUrl, testPrefix, waitFor } from '../support/redis.ts';

const TOKEN = 'api-test-token-DO-NOT-ECHO';
const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.parse('2026-05-01T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

const owner = { kind: 'Application', namespace: 'argocd', name: 'payments' };
const groupLabels = { cluster: 'prod-eu', tool: 'argocd' as const, owner, project: 'mesh' };
const GROUP = 'a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4';

function tracked(
  name: string,
  kind: string,
  severity: TrackedFinding['severity'],
  category: TrackedFinding['category'],
  status: TrackedFinding['status'] = 'firing',
): TrackedFinding {
  return {
    fingerprint: `fp-${name}`,
    groupKey: GROUP,
    cluster: 'prod-eu',
    tool: 'argocd',
    owner,
    project: 'mesh',
    resource: { group: 'security.istio.io', kind, namespace: 'payments', name },
    state: 'Modified',
    category,
    mesh: 'istio',
    severity,
    receivers: ['slack'],
    reasons: ['default severity'],
    observedAt: T0,
    firstSeen: T0,
    lastSeen: T0 + MIN,
    status,
  };
}

const authz = tracked('allow-frontend', 'AuthorizationPolicy', 'critical', 'security');
const telemetry = tracked('mesh-default', 'Telemetry', 'medium', 'observability');

function notification(seq: number, groupKey = GROUP): Notification {
  return {
    groupKey,
    seq,
    reason: seq === 1 ? 'first' : 'new-findings',
    status: 'firing',
    labels: groupLabels,
    severity: 'critical',
    firing: [authz, telemetry],
    resolved: [],
    at: T0 + seq * MIN,
    firstSeen: T0,
  };
}

const state: GroupState = {
  v: 1,
  groupKey: GROUP,
  createdAt: T0,
  labels: groupLabels,
  timing: { groupWaitMs: 10_000, groupIntervalMs: 300_000, repeatIntervalMs: 4 * HOUR, pendingForMs: 0 },
  findings: { [telemetry.fingerprint]: telemetry, [authz.fingerprint]: authz },
  firstSeen: T0,
  snapshots: { 'Application/argocd/payments': T0 },
  flushSeq: 1,
  pendingFlush: null,
  handledFlushSeq: 1,
  lastNotification: notification(1),
};

describe('API /api/v1', () => {
  const prefix = testPrefix('api');
  let redis: Redis;
  let workerRedis: Redis;
  let queue: Queue<DeliverJob>;
  let server: Server;
  let base: string;
  let clock = T0 + 2 * MIN;
  const bodies: string[] = [];
  const deadJobId = jobIdOf('deliver', GROUP, 1, 'slack');

  /** `contentType`: default application/json on a POST or with a body; null: none at all. */
  async function call(method: string, path: string, opts: { body?: unknown; raw?: string; token?: string | null; contentType?: string | null } = {}) {
    const token = opts.token === undefined ? TOKEN : opts.token;
    const sendsType = opts.contentType !== null && (method === 'POST' || opts.body !== undefined || opts.raw !== undefined);
    // A byte body: fetch adds no Content-Type of its own (it would add text/plain to a string).
    const payload = opts.raw !== undefined ? opts.raw : opts.body !== undefined ? JSON.stringify(opts.body) : undefined;
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(token === null ? {} : { authorization: `Bearer ${token}` }),
        ...(sendsType ? { 'content-type': opts.contentType ?? 'application/json' } : {}),
      },
      ...(payload === undefined ? {} : { body: opts.contentType === null ? new TextEncoder().encode(payload) : payload }),
    });
    const text = await res.text();
    bodies.push(text);
    return { status: res.status, headers: res.headers, body: JSON.parse(text) as Record<string, unknown> };
  }

  beforeAll(async () => {
    redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
    workerRedis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
    queue = new Queue<DeliverJob>(QUEUE_NAMES.deliver, { connection: redis, prefix });

    // An active group, plus one in the active set whose state is unreadable (skipped).
    expect(groupStateSchema.safeParse(state).error?.issues).toBeUndefined();
    await redis.hset(groupRedisKey(prefix, GROUP), 'v', '1', 's', JSON.stringify(state));
    await redis.zadd(activeGroupsKey(prefix), T0, GROUP);
    await redis.hset(groupRedisKey(prefix, 'corrupt'), 'v', '1', 's', '{"v":2}');
    await redis.zadd(activeGroupsKey(prefix), T0 + 1, 'corrupt');

    const history = createRedisHistory(redis, prefix);
    for (const seq of [1, 2, 3]) await history.record(notification(seq));

    // A dead letter: a delivery that failed for good.
    await queue.add('deliver', { receiver: 'slack', notification: notification(1) }, { jobId: deadJobId, attempts: 5 });
    const worker = new Worker<DeliverJob>(
      QUEUE_NAMES.deliver,
      async () => {
        throw new UnrecoverableError('slack: channel_not_found');
      },
      { connection: workerRedis, prefix },
    );
    await waitFor(async () => (await queue.getFailedCount()) === 1, 10_000, 'the dead letter');
    await worker.close();

    const app = express();
    app.use(
      '/api/v1',
      createApiRouter({
        token: TOKEN,
        silences: createRedisSilenceStore(redis, prefix),
        groups: createRedisGroupReader(redis, prefix),
        history,
        deadLetters: createDeadLetters(queue),
        now: () => clock,
      }),
    );
    server = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => server.once('listening', () => resolve()));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1`;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await queue.close();
    redis.disconnect();
    workerRedis.disconnect();
    await deleteKeys(redisUrl(), prefix);
  });

  describe('authentication', () => {
    it.each([
      ['no Authorization header', null, /missing Authorization header/],
      ['a wrong token', 'wrong-token', /invalid bearer token/],
    ])('401 with %s, before anything else', async (_what, token, message) => {
      for (const [method, path] of [
        ['GET', '/alerts'],
        ['POST', '/silences'],
        ['GET', '/nope'],
        ['POST', '/deadletters/x/retry'],
      ] as const) {
        const res = await call(method, path, { token, ...(method === 'POST' ? { raw: '{not json' } : {}) });
        expect(res.status).toBe(401);
        expect(res.body.error).toMatch(message);
        expect(res.headers.get('www-authenticate')).toBe('Bearer');
      }
    });

    it('a non-Bearer scheme is refused', async () => {
      const res = await fetch(`${base}/alerts`, { headers: { authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` } });
      expect(res.status).toBe(401);
      bodies.push(await res.text());
    });
  });

  describe('silences', () => {
    let id = '';

    it('POST creates a silence (201, Location, state)', async () => {
      const res = await call('POST', '/silences', {
        body: {
          matchers: ['kind="AuthorizationPolicy"', { name: 'cluster', op: '=~', value: 'prod-.*' }],
          duration: '2h',
          createdBy: 'alice',
          comment: 'rotating policies',
        },
      });
      expect(res.status).toBe(201);
      id = String(res.body.id);
      expect(res.headers.get('location')).toBe(`/api/v1/silences/${id}`);
      expect(res.body).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        matchers: [
          { name: 'kind', op: '=', value: 'AuthorizationPolicy' },
          { name: 'cluster', op: '=~', value: 'prod-.*' },
        ],
        startsAt: iso(clock),
        endsAt: iso(clock + 2 * HOUR),
        createdBy: 'alice',
        comment: 'rotating policies',
        createdAt: iso(clock),
        state: 'active',
      });
    });

    it('GET lists it and GET /:id returns it', async () => {
      const pending = await call('POST', '/silences', {
        body: { matchers: ['namespace="payments"'], startsAt: iso(clock + HOUR), endsAt: iso(clock + 2 * HOUR), createdBy: 'bob', comment: 'later' },
      });
      expect(pending.status).toBe(201);
      const list = await call('GET', '/silences');
      expect(list.status).toBe(200);
      const silences = list.body.silences as Array<{ id: string; state: string }>;
      expect(silences.map((s) => [s.id, s.state])).toEqual(
        expect.arrayContaining([
          [id, 'active'],
          [pending.body.id, 'pending'],
        ]),
      );
      const one = await call('GET', `/silences/${id}`);
      expect(one.status).toBe(200);
      expect(one.body).toMatchObject({ id, state: 'active', createdBy: 'alice' });
    });

    it.each<[string, Record<string, unknown>, RegExp]>([
      ['no matchers', { duration: '1h', createdBy: 'a', comment: 'c' }, /^matchers: /],
      ['a bad matcher', { matchers: ['namespace payments'], duration: '1h', createdBy: 'a', comment: 'c' }, /^matchers\.0: /],
      ['a bad regex', { matchers: ['name=~"("'], duration: '1h', createdBy: 'a', comment: 'c' }, /^matchers\.0: invalid regular expression/],
      ['no end', { matchers: ['a="b"'], createdBy: 'a', comment: 'c' }, /^endsAt: /],
      ['a bad duration', { matchers: ['a="b"'], duration: 'forever', createdBy: 'a', comment: 'c' }, /^duration: /],
      [
        'endsAt before startsAt',
        { matchers: ['a="b"'], startsAt: '2030-01-02T00:00:00Z', endsAt: '2030-01-01T00:00:00Z', createdBy: 'a', comment: 'c' },
        /^endsAt: /,
      ],
      ['an empty createdBy', { matchers: ['a="b"'], duration: '1h', createdBy: '', comment: 'c' }, /^createdBy: /],
      ['no comment', { matchers: ['a="b"'], duration: '1h', createdBy: 'a' }, /^comment: /],
    ])('POST with %s → 400 naming the field', async (_what, body, message) => {
      const res = await call('POST', '/silences', { body });
      expect(res.status).toBe(400);
      expect(res.body.error).toMatch(message);
    });

    it.each<[string, { raw: string; contentType?: string | null }, number, RegExp]>([
      ['malformed JSON', { raw: '{"matchers": [' }, 400, /malformed request body/],
      ['a JSON array', { raw: '[]' }, 400, /\(body\): expected a JSON object/],
      [
        'a non-JSON content type (415)',
        { raw: 'matchers=a', contentType: 'text/plain' },
        415,
        /^Content-Type "text\/plain" is not supported: send application\/json$/,
      ],
      [
        'a form content type, as a cross-site form posts (415)',
        { raw: 'matchers=a', contentType: 'application/x-www-form-urlencoded' },
        415,
        /send application\/json/,
      ],
      [
        'no Content-Type at all (415)',
        { raw: JSON.stringify({ matchers: ['a="b"'], duration: '1h', createdBy: 'a', comment: 'c' }), contentType: null },
        415,
        /^Content-Type is required: send application\/json$/,
      ],
      ['a body over 64 KiB', { raw: JSON.stringify({ comment: 'x'.repeat(70_000) }) }, 413, /larger than/],
    ])('POST with %s → %s', async (_what, opts, status, message) => {
      const res = await call('POST', '/silences', opts);
      expect(res.status).toBe(status);
      expect(res.body.error).toMatch(message);
    });

    it('404 for unknown ids', async () => {
      for (const method of ['GET', 'DELETE']) {
        const res = await call(method, '/silences/00000000-0000-0000-0000-000000000000');
        expect(res.status).toBe(404);
        expect(res.body.error).toMatch(/no silence with id/);
      }
    });

    it('DELETE expires it (200, endsAt = now) and it stays listed as expired', async () => {
      clock += 10 * MIN;
      const res = await call('DELETE', `/silences/${id}`);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id, endsAt: iso(clock), state: 'expired' });
      const list = await call('GET', '/silences');
      expect((list.body.silences as Array<{ id: string; state: string }>).find((s) => s.id === id)?.state).toBe('expired');
    });
  });

  describe('alerts', () => {
    it('GET /alerts shows active groups with findings, silencedBy and the last notification', async () => {
      const created = await call('POST', '/silences', {
        body: { matchers: ['kind="AuthorizationPolicy"', 'owner="payments"'], duration: '1h', createdBy: 'alice', comment: 'c' },
      });
      const res = await call('GET', '/alerts');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        groups: [
          {
            groupKey: GROUP,
            labels: groupLabels,
            status: 'firing',
            firstSeen: iso(T0),
            findings: [
              {
                fingerprint: authz.fingerprint,
                resource: authz.resource,
                api: 'AuthorizationPolicy.security.istio.io',
                state: 'Modified',
                severity: 'critical',
                category: 'security',
                mesh: 'istio',
                status: 'firing',
                firstSeen: iso(T0),
                lastSeen: iso(T0 + MIN),
                receivers: ['slack'],
                silencedBy: created.body.id,
              },
              {
                fingerprint: telemetry.fingerprint,
                resource: telemetry.resource,
                api: `Telemetry.${telemetry.resource.group}`,
                state: 'Modified',
                severity: 'medium',
                category: 'observability',
                mesh: 'istio',
                status: 'firing',
                firstSeen: iso(T0),
                lastSeen: iso(T0 + MIN),
                receivers: ['slack'],
              },
            ],
            lastNotification: { seq: 1, reason: 'first', at: iso(T0 + MIN) },
          },
        ],
      });
      await call('DELETE', `/silences/${String(created.body.id)}`);
      const after = await call('GET', '/alerts');
      const [group] = after.body.groups as Array<{ findings: Array<{ silencedBy?: string }> }>;
      expect(group?.findings.map((f) => f.silencedBy)).toEqual([undefined, undefined]);
    });

    it('GET /alerts/history returns the newest notifications first, up to limit', async () => {
      const res = await call('GET', '/alerts/history?limit=2');
      expect(res.status).toBe(200);
      expect((res.body.notifications as Notification[]).map((n) => n.seq)).toEqual([3, 2]);
      const all = await call('GET', '/alerts/history');
      // Entries carry summaries and references (issue #12), not the whole notification.
      expect(all.body.notifications).toEqual([historyEntry(notification(3)), historyEntry(notification(2)), historyEntry(notification(1))]);
    });

    it.each([
      ['/alerts/history?limit=0', /limit: limit must be at least 1/],
      ['/alerts/history?limit=1001', /limit: limit must be at most 1000/],
      ['/alerts/history?limit=ten', /limit: limit must be a whole number/],
      ['/alerts/history?limit=1&limit=2', /limit: limit must be given once/],
      ['/alerts?limit=-1', /limit: limit must be a whole number/],
      ['/alerts?since=1h', /Unrecognized key: "since"/],
      ['/deadletters?limit=', /limit: limit must be a whole number/],
    ])('GET %s → 400', async (path, message) => {
      const res = await call('GET', path);
      expect(res.status).toBe(400);
      expect(res.body.error).toMatch(message);
    });

    it('the history keeps at most its maximum, trimmed in the same transaction', async () => {
      const capped = createRedisHistory(redis, `${prefix}:capped`, 3);
      for (const seq of [1, 2, 3, 4, 5]) await capped.record(notification(seq));
      expect(await redis.llen(historyKey(`${prefix}:capped`))).toBe(3);
      expect((await capped.recent(10)).map((n) => n.seq)).toEqual([5, 4, 3]);
    });
  });

  describe('dead letters', () => {
    it('GET /deadletters lists failed deliveries with a summary', async () => {
      const res = await call('GET', '/deadletters');
      expect(res.status).toBe(200);
      expect(res.body.deadLetters).toEqual([
        {
          id: deadJobId,
          queue: 'deliver',
          receiver: 'slack',
          groupKey: GROUP,
          seq: 1,
          reason: 'slack: channel_not_found',
          attempts: 1,
          failedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          notification: { status: 'firing', reason: 'first', severity: 'critical', labels: groupLabels, firing: 2, resolved: 0, at: iso(T0 + MIN) },
        },
      ]);
    });

    it('POST /deadletters/:id/retry without Content-Type (as a cross-site form could send) → 415, still a dead letter', async () => {
      const res = await call('POST', `/deadletters/${deadJobId}/retry`, { contentType: null });
      expect(res.status).toBe(415);
      expect(await queue.getJobState(deadJobId)).toBe('failed');
    });

    it('POST /deadletters/:id/retry puts it back to waiting with fresh attempts; then it is no longer a dead letter', async () => {
      const res = await call('POST', `/deadletters/${deadJobId}/retry`);
      expect(res.status).toBe(202);
      expect(res.body).toEqual({ status: 'retried' });
      expect(await queue.getJobState(deadJobId)).toBe('waiting');
      expect((await queue.getJob(deadJobId))?.attemptsMade).toBe(0);
      expect((await call('GET', '/deadletters')).body.deadLetters).toEqual([]);

      const again = await call('POST', `/deadletters/${deadJobId}/retry`);
      expect(again.status).toBe(404);
      expect(again.body.error).toMatch(/no dead letter with id/);
    });

    it('404 for an unknown dead letter', async () => {
      const res = await call('POST', '/deadletters/deliver-unknown/retry');
      expect(res.status).toBe(404);
    });
  });

  it('unknown API paths are JSON 404s', async () => {
    const res = await call('GET', '/silencez');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: 'not found' });
  });

  it('no response ever contains the API token', () => {
    expect(bodies.length).toBeGreaterThan(30);
    for (const body of bodies) expect(body).not.toContain(TOKEN);
  });
});
