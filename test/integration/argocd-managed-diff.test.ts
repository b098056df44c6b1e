import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { createLogger } from '../../src/log.ts';
import { startFakeArgoCd, type FakeArgoCd } from '../fakes/argocd.ts';
import { startFakePagerDuty, type FakePagerDuty } from '../fakes/pagerduty.ts';
import { startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { startService, stopService } from '../support/service.ts';

/**
 * Issue #16, "What changed" with Argo CD API access: the service's own poller (ARGOCD_URL +
 * ARGOCD_TOKEN) reads managed-resources from the fake Argo CD for the drifted VirtualService, and
 * the finding carries the field changes. Planted credentials in the live objects (a header value, a
 * Secret's data, a JWT, a PEM key) never reach Slack, PagerDuty, the API nor the logs.
 */

const API_TOKEN = 'argocd-api-token-DO-NOT-LOG';
const PD_KEY = 'PDKEY0123456789abcdef0123456789a';
// Planted values, built at run time (no scanner should flag this file).
const HEADER_VALUE = ['planted', 'header', 'value', 'Zq81'].join('-');
const SECRET_DATA = Buffer.from(['planted', 'secret', 'data', 'Wx42'].join('-')).toString('base64');
const JWT = [
  Buffer.from('{"alg":"RS256","typ":"JWT"}').toString('base64url'),
  Buffer.from('{"sub":"planted-jwt-subject-Qm7"}').toString('base64url'),
  'c2lnbmF0dXJlLXBsYW50ZWQtSnU5',
].join('.');
const PEM_BODY = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCplanted';
const PEM = `-----BEGIN ${'PRIVATE'} KEY-----\n${PEM_BODY}\n-----END ${'PRIVATE'} KEY-----`;
const PLANTED = [HEADER_VALUE, SECRET_DATA, JWT, PEM_BODY, 'planted-jwt-subject'];

const VS = { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'payments', name: 'payments' };

function virtualService(weights: [number, number], live: boolean): Record<string, unknown> {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: {
      name: 'payments',
      namespace: 'payments',
      annotations: {
        'argocd.argoproj.io/tracking-id': 'payments-mesh:networking.istio.io/VirtualService:payments/payments',
        ...(live ? { 'debug.example.com/session': JWT, 'example.com/ca': PEM } : {}),
      },
    },
    spec: {
      hosts: ['payments'],
      http: [
        {
          ...(live ? { headers: { request: { set: { 'x-api-key': HEADER_VALUE, authorization: `Bearer ${JWT}` } } } } : {}),
          route: [
            { destination: { host: 'payments', subset: 'v1' }, weight: weights[0] },
            { destination: { host: 'payments', subset: 'v2' }, weight: weights[1] },
          ],
        },
      ],
    },
  };
}

let slack: FakeSlack;
let pd: FakePagerDuty;
let argo: FakeArgoCd;
let svc: (App & { url: string }) | undefined;
let logs = '';
const prefix = testPrefix('mgddiff');

beforeAll(async () => {
  slack = await startFakeSlack({ token: 'xoxb-test-SECRET-token' });
  pd = await startFakePagerDuty();
  argo = await startFakeArgoCd({ token: API_TOKEN });
  // A Secret of the app, drifted, with its data planted: not a mesh kind, never read; and a VirtualService edit.
  const app = argo.app('payments-mesh')!;
  const status = app.status as { resources: Record<string, unknown>[] };
  status.resources.push({ version: 'v1', kind: 'Secret', namespace: 'payments', name: 'payments-db', status: 'OutOfSync' });
  argo.setLiveObject(
    'payments-mesh',
    { kind: 'Secret', name: 'payments-db' },
    {
      desired: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'payments-db', namespace: 'payments' }, data: { password: 'b2xk' } },
      live: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'payments-db', namespace: 'payments' }, data: { password: SECRET_DATA } },
    },
  );
  argo.setLiveObject('payments-mesh', VS, { desired: virtualService([90, 10], false), live: virtualService([0, 100], true) });
  const dir = mkdtempSync(`${tmpdir()}/meshdrift-mgddiff-`);
  writeFileSync(
    `${dir}/p.yaml`,
    `receivers:\n  - { name: chat, slack: { channel: "#c" } }\n  - { name: pager, pagerduty: { routing_key_env: PD_KEY } }\nroute:\n  receiver: chat\n  routes:\n    - { receiver: chat, continue: true }\n    - { receiver: pager }\n`,
  );
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs += chunk.toString();
      cb();
    },
  });
  svc = await startService({
    redisUrl: redisUrl(),
    prefix,
    slackUrl: slack.url,
    log: createLogger('trace', sink),
    env: {
      MESHDRIFT_POLICY: `${dir}/p.yaml`,
      PD_KEY,
      PAGERDUTY_EVENTS_URL: pd.eventsUrl,
      ARGOCD_URL: argo.url,
      ARGOCD_TOKEN: API_TOKEN,
      ARGOCD_POLL_INTERVAL: '1s',
      ARGOCD_PROJECTS: 'mesh-prod',
    },
  });
});

afterAll(async () => {
  await stopService(svc, redisUrl(), prefix);
  await argo.close();
  await pd.close();
  await slack.close();
});

interface AlertsView {
  groups: { findings: { resource: { kind: string; name: string }; changes?: { source: string; changes: Record<string, unknown>[] } }[] }[];
}

describe('Argo CD managed-resources → what changed', () => {
  it('an OutOfSync VirtualService weight edit gives a finding naming spec.http[0].route[0].weight before/after; planted credentials appear nowhere', async () => {
    const url = svc?.url ?? '';
    const finding = async () => {
      const body = (await (await fetch(`${url}/api/v1/alerts`)).json()) as AlertsView;
      return body.groups.flatMap((g) => g.findings).find((f) => f.resource.kind === 'VirtualService' && f.resource.name === 'payments');
    };
    await waitFor(async () => (await finding())?.changes !== undefined, 20_000, 'the finding with its changes');
    const changes = (await finding())?.changes;
    expect(changes?.source).toBe('argocd-managed-resources');
    expect(changes?.changes).toContainEqual({ path: 'spec.http[0].route[0].weight', before: '90', after: '0' });
    expect(changes?.changes).toContainEqual({ path: 'spec.http[0].route[1].weight', before: '10', after: '100' });
    expect(changes?.changes).toContainEqual({ path: 'spec.http[0].headers', after: expect.stringContaining('MASKED') });
    // The annotations Git never set are not in Argo CD's diff (its predicted state keeps them): shadow drift, not this path.
    expect(changes?.changes.map((c) => c.path)).not.toContain('metadata.annotations["debug.example.com/session"]');

    // Only the drifted (Modified) mesh resources were read, each narrowed to itself; never the Secret.
    const read = argo
      .managedResourceCalls()
      .map((c) => `${c.query['group']}/${c.query['kind']}/${c.query['namespace']}/${c.query['name']} ${c.query['project']}`);
    expect([...new Set(read)].sort()).toEqual([
      'networking.istio.io/VirtualService/payments/payments mesh-prod',
      'security.istio.io/AuthorizationPolicy/payments/payments-allow-frontend mesh-prod',
      'security.istio.io/PeerAuthentication/payments/default mesh-prod',
    ]);

    await waitFor(() => slack.calls.some((c) => c.method === 'chat.postMessage'), 15_000, 'the Slack message');
    await waitFor(() => pd.events.length > 0, 15_000, 'the PagerDuty event');
    // A steady drift is not read again every poll (the fake's reconciledAt does not move).
    const before = argo.managedResourceCalls().length;
    const lists = argo.lists().length;
    await waitFor(() => argo.lists().length >= lists + 2, 10_000, 'two more polls');
    expect(argo.managedResourceCalls().length).toBe(before);

    const api = await (await fetch(`${url}/api/v1/alerts`)).text();
    const history = await (await fetch(`${url}/api/v1/alerts/history`)).text();
    const outputs = { slack: JSON.stringify(slack.calls), pagerduty: JSON.stringify(pd.events), api, history, logs };
    for (const [where, text] of Object.entries(outputs)) {
      for (const planted of PLANTED) expect(text.includes(planted), `${where} holds a planted value`).toBe(false);
      expect(text.includes(API_TOKEN), `${where} holds the Argo CD token`).toBe(false);
    }
    expect(logs.length).toBeGreaterThan(0);
  });

  it('a second edit of the same resource (Argo CD reconciles, same state) updates the stored changes without a new finding', async () => {
    const url = svc?.url ?? '';
    argo.setLiveObject('payments-mesh', VS, { live: virtualService([30, 70], true) });
    const weight = async () => {
      const body = (await (await fetch(`${url}/api/v1/alerts`)).json()) as AlertsView;
      const f = body.groups.flatMap((g) => g.findings).find((x) => x.resource.kind === 'VirtualService');
      return f?.changes?.changes.find((c) => c['path'] === 'spec.http[0].route[0].weight');
    };
    await waitFor(async () => (await weight())?.['after'] === '30', 15_000, 'the new weight');
    expect(await weight()).toEqual({ path: 'spec.http[0].route[0].weight', before: '90', after: '30' });
  });
});
