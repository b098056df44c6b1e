import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { createLogger } from '../../src/log.ts';
import { type FakePagerDuty, startFakePagerDuty } from '../fakes/pagerduty.ts';
import { type FakeSlack, startFakeSlack } from '../fakes/slack.ts';
import { postAdmission, paymentsVs, review, selfSignedCert } from '../support/admission.ts';
import { meshAppBody } from '../support/argocd.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { postArgocd, SLACK_TOKEN, startService, stopService } from '../support/service.ts';

/**
 * Issue #17, end to end: a person edits a GitOps-managed VirtualService with kubectl, the API server
 * tells the recorder, and Argo CD then reports the app OutOfSync. That is one incident: one Slack
 * message, naming the person, the path and the values before and after. With usernames hashed, the
 * name is nowhere: not in Slack, PagerDuty, the API, Redis or the logs.
 */

const VS_PATH = 'spec.http[0].route[1].weight';
/** A bearer token alice pastes into a header value of the route: never shown anywhere. */
const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJib2IifQ.dGhpcy1pcy1hLXNpZ25hdHVyZQ';

interface Running {
  svc: App & { url: string };
  slack: FakeSlack;
  pd: FakePagerDuty;
  prefix: string;
  logs: () => string;
  ca: Buffer;
}

let running: Running | undefined;

afterEach(async () => {
  if (!running) return;
  await stopService(running.svc, redisUrl(), running.prefix);
  await running.slack.close();
  await running.pd.close();
  running = undefined;
});

async function start(env: Record<string, string>): Promise<Running> {
  const slack = await startFakeSlack({ token: SLACK_TOKEN });
  const pd = await startFakePagerDuty();
  const tls = selfSignedCert();
  const dir = mkdtempSync(join(tmpdir(), 'meshdrift-admission-policy-'));
  writeFileSync(
    `${dir}/p.yaml`,
    'receivers:\n  - { name: chat, slack: { channel: "#mesh-drift" } }\n  - { name: pager, pagerduty: { routing_key_env: PD_KEY } }\nroute:\n  receiver: chat\n  routes:\n    - { receiver: chat, continue: true }\n    - { receiver: pager }\n',
  );
  let logs = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs += chunk.toString();
      cb();
    },
  });
  const prefix = testPrefix('admission-slack');
  const svc = await startService({
    redisUrl: redisUrl(),
    prefix,
    slackUrl: slack.url,
    log: createLogger('trace', sink),
    env: {
      MESHDRIFT_POLICY: `${dir}/p.yaml`,
      PD_KEY: '0123456789abcdef0123456789abcdef',
      PAGERDUTY_EVENTS_URL: pd.eventsUrl,
      MESHDRIFT_ADMISSION: 'true',
      MESHDRIFT_ADMISSION_PORT: '0',
      MESHDRIFT_ADMISSION_HOST: '127.0.0.1',
      MESHDRIFT_ADMISSION_TLS_CERT: tls.certFile,
      MESHDRIFT_ADMISSION_TLS_KEY: tls.keyFile,
      MESHDRIFT_ARGOCD_INSTANCE_LABEL: '',
      ...env,
    },
  });
  running = { svc, slack, pd, prefix, logs: () => logs, ca: tls.cert };
  return running;
}

/** alice edits the weight of route 1 from 10 to 50 with kubectl edit; then Argo CD reports the app OutOfSync. */
async function aliceThenArgo(r: Running): Promise<void> {
  const edited = paymentsVs(50, '41');
  const http = (edited.spec as { http: Array<Record<string, unknown>> }).http;
  if (http[0]) http[0].headers = { request: { set: { authorization: `Bearer ${JWT}` } } };
  const body = review({
    operation: 'UPDATE',
    username: 'alice@corp',
    groups: ['corp:mesh-admins'],
    oldObject: paymentsVs(10, '41'),
    object: edited,
    fieldManager: 'kubectl-edit',
  });
  const answer = await postAdmission(r.svc.admission?.address().url ?? '', body, r.ca);
  expect(answer.json).toMatchObject({ response: { allowed: true } });
  await waitFor(() => r.slack.messages.size === 1, 15_000, 'the first Slack message');
  expect((await postArgocd(r.svc.url, meshAppBody('OutOfSync'))).status).toBe(202);
  // The verdict updates the one message in place (group_interval 600ms); nothing more is posted.
  await waitFor(() => [...r.slack.messages.values()].some((m) => m.updates > 0), 15_000, 'the message updated with the verdict');
  await new Promise((res) => setTimeout(res, 1_500));
}

const messageText = (slack: FakeSlack) => [...slack.messages.values()].map((m) => `${m.text}\n${JSON.stringify(m.blocks)}`).join('\n');

describe('a change outside Git, told by the recorder, then Argo CD', () => {
  it('is one Slack message naming alice, the path and before/after', async () => {
    const r = await start({});
    await aliceThenArgo(r);
    expect(r.slack.messages.size).toBe(1);
    const text = messageText(r.slack);
    expect(text).toContain('alice@corp');
    expect(text).toContain('kubectl-edit');
    expect(text).toContain(VS_PATH);
    expect(text).toMatch(/10[^0-9]+50/);
    // The verdict's other drifted resources are in the same message.
    expect(text).toContain('payments-allow-frontend');
    // The header value is shown as changed, never as itself.
    expect(text).toContain('headers');
    expect(JSON.stringify(r.slack.calls)).not.toContain(JWT);
  });

  it('with usernames and groups hashed, never shows the name: not in Slack, PagerDuty, the API, Redis or the logs', async () => {
    const r = await start({
      MESHDRIFT_ADMISSION_USERNAMES: 'hash',
      MESHDRIFT_ADMISSION_GROUPS: 'hash',
      MESHDRIFT_ADMISSION_HASH_KEY: 'test-admission-hmac-key-0123456789',
    });
    await aliceThenArgo(r);
    await waitFor(() => r.pd.events.length > 0, 10_000, 'the PagerDuty event');
    expect(r.slack.messages.size).toBe(1);
    expect(messageText(r.slack)).toMatch(/sha256:[0-9a-f]{8}/);
    const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
    const stored: string[] = [];
    try {
      for (const key of await redis.keys(`${r.prefix}:*`)) {
        const type = await redis.type(key);
        if (type === 'string') stored.push((await redis.get(key)) ?? '');
        else if (type === 'hash') stored.push(JSON.stringify(await redis.hgetall(key)));
        else if (type === 'list') stored.push(JSON.stringify(await redis.lrange(key, 0, -1)));
        else if (type === 'stream') stored.push(JSON.stringify(await redis.xrange(key, '-', '+')));
        else if (type === 'zset') stored.push(JSON.stringify(await redis.zrange(key, 0, -1)));
        else if (type === 'set') stored.push(JSON.stringify(await redis.smembers(key)));
      }
    } finally {
      redis.disconnect();
    }
    const api = await Promise.all(['/api/v1/alerts', '/api/v1/alerts/history'].map(async (p) => (await fetch(`${r.svc.url}${p}`)).text()));
    const places: Record<string, string> = {
      slack: JSON.stringify(r.slack.calls),
      pagerduty: JSON.stringify(r.pd.events),
      api: api.join('\n'),
      redis: stored.join('\n'),
      logs: r.logs(),
    };
    expect(places.api).toContain('payments-allow-frontend');
    expect(places.redis).toContain('sha256:');
    for (const [where, text] of Object.entries(places)) {
      expect(text, where).not.toContain('alice');
      expect(text, where).not.toContain('corp:mesh-admins');
      expect(text, where).not.toContain(JWT);
    }
  });
});
