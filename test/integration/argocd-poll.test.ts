import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app.ts';
import { createLogger } from '../../src/log.ts';
import { ArgoCdApiError, createArgoCdApi } from '../../src/sources/argocd/api.ts';
import { startArgoCdPoller, type ArgoCdPoller, type ArgoCdPollerOptions, type PollOutcome } from '../../src/sources/argocd/poller.ts';
import { sleep as abortableSleep, type Delay } from '../../src/sources/kube/backoff.ts';
import { startFakeArgoCd, type FakeArgoCd } from '../fakes/argocd.ts';
import { isThreadReply, startFakeSlack, type FakeSlack } from '../fakes/slack.ts';
import { meshApp, SYNCED_AT } from '../support/argocd.ts';
import { redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { startService, stopService } from '../support/service.ts';

/**
 * Argo CD API polling end to end: the fake Argo CD API server (test/fakes/argocd.ts) → the poller →
 * the real pipeline (Redis, queues, workers) → the fake Slack. Most tests drive a poller fed into
 * the service's own ingest (to poll on demand); the first runs the service's own, from its env.
 */

const API_TOKEN = 'argocd-api-token-DO-NOT-LOG';
const DR = { group: 'networking.istio.io', kind: 'DestinationRule', namespace: 'payments', name: 'payments' };

const posts = (slack: FakeSlack) => slack.calls.filter((c) => c.method === 'chat.postMessage' && !isThreadReply(c));
const updates = (slack: FakeSlack) => slack.calls.filter((c) => c.method === 'chat.update');
const blocksText = (args: Record<string, unknown>) => JSON.stringify(args.blocks);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let prefix: string;
let slack: FakeSlack;
let argo: FakeArgoCd;
let svc: (App & { url: string }) | undefined;
let logs: string;
const pollers: ArgoCdPoller[] = [];

beforeEach(async () => {
  prefix = testPrefix('argopoll');
  logs = '';
  slack = await startFakeSlack({ token: 'xoxb-test-SECRET-token' });
  argo = await startFakeArgoCd({ token: API_TOKEN });
});

afterEach(async () => {
  await Promise.all(pollers.splice(0).map((p) => p.stop()));
  await stopService(svc, redisUrl(), prefix);
  svc = undefined;
  await argo.close();
  await slack.close();
});

async function service(): Promise<App & { url: string }> {
  svc = await startService({ redisUrl: redisUrl(), prefix, slackUrl: slack.url });
  return svc;
}

function poll(app: App, extra: Partial<ArgoCdPollerOptions> & { timeoutMs?: number } = {}) {
  const outcomes: PollOutcome[] = [];
  const { timeoutMs, ...rest } = extra;
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs += chunk.toString();
      cb();
    },
  });
  const p = startArgoCdPoller({
    api: createArgoCdApi({ apiUrl: argo.url, token: API_TOKEN, timeoutMs: timeoutMs ?? 5_000 }),
    cluster: 'test-cluster',
    filters: { projects: ['mesh-prod'], appNamespaces: [] },
    ingest: app.ingest,
    log: createLogger('debug', sink),
    intervalMs: 3_600_000,
    runAtStart: false,
    onPoll: (o) => outcomes.push(o),
    ...rest,
  });
  pollers.push(p);
  return { p, outcomes };
}

interface AlertsView {
  groups: { status: string; findings: { resource: { kind: string; name: string }; state: string; status: string }[] }[];
}
async function findings(url: string): Promise<string[]> {
  const body = (await (await fetch(`${url}/api/v1/alerts`)).json()) as AlertsView;
  return body.groups.flatMap((g) => g.findings.filter((f) => f.status === 'firing').map((f) => `${f.resource.kind}/${f.resource.name}=${f.state}`)).sort();
}

describe('Argo CD API polling configured by the environment', () => {
  it('ARGOCD_URL + ARGOCD_TOKEN poll on their own; a rejected token fails /readyz and raises one Argo CD unreachable alert, which resolves with the token', async () => {
    svc = await startService({
      redisUrl: redisUrl(),
      prefix,
      slackUrl: slack.url,
      env: { ARGOCD_URL: argo.url, ARGOCD_TOKEN: API_TOKEN, ARGOCD_POLL_INTERVAL: '1s', ARGOCD_PROJECTS: 'mesh-prod' },
    });
    const url = svc.url;
    await waitFor(() => posts(slack).length === 1, 15_000, 'the drift, polled');
    expect(blocksText(posts(slack)[0]?.args ?? {})).toContain('payments-allow-frontend');
    expect(argo.lists()[0]?.query).toMatchObject({ projects: 'mesh-prod' });
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    // Argo CD's drift is still known from the last poll; a rejected token is its own alert.
    argo.expireToken(true);
    await waitFor(async () => (await fetch(`${url}/readyz`)).status === 503, 15_000, 'not ready');
    const ready = (await (await fetch(`${url}/readyz`)).json()) as Record<string, unknown>;
    expect(JSON.stringify(ready)).toContain('ARGOCD_TOKEN');
    expect(JSON.stringify(ready)).not.toContain(API_TOKEN);
    const unreachable = () => posts(slack).filter((c) => blocksText(c.args).includes('Unreachable'));
    await waitFor(() => unreachable().length === 1, 15_000, 'the Argo CD unreachable alert');
    expect(blocksText(unreachable()[0]?.args ?? {})).toContain(new URL(argo.url).host);
    // It holds nothing back: the app's own message was not touched.
    expect(blocksText(posts(slack)[0]?.args ?? {})).not.toContain('RESOLVED');

    argo.expireToken(false);
    await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, 15_000, 'ready again');
    await waitFor(
      () => updates(slack).some((c) => blocksText(c.args).includes('RESOLVED') && blocksText(c.args).includes('Unreachable')),
      15_000,
      'the unreachable alert resolves',
    );
    expect(unreachable()).toHaveLength(1);
  });
});

describe('Argo CD API polling → the pipeline', () => {
  it('drift in the fixtures becomes findings and one Slack message; the app turning Synced resolves it', async () => {
    const app = await service();
    const { p } = poll(app);
    const first = await p.pollNow();
    expect(first).toMatchObject({ outcome: 'ok', listed: 1, trees: 0, signals: 1, discovered: 1, errors: [] });
    expect(await findings(app.url)).toEqual([
      'AuthorizationPolicy/payments-allow-frontend=Modified',
      'PeerAuthentication/default=Modified',
      'ServiceEntry/legacy-psp-api=Extraneous',
      'VirtualService/payments=Modified',
    ]);
    await waitFor(() => posts(slack).length === 1, 10_000, 'the Slack message');
    const text = blocksText(posts(slack)[0]?.args ?? {});
    expect(text).toContain('payments-allow-frontend');
    expect(text).toContain('VirtualService');

    // The same state again: nothing new.
    expect(await p.pollNow()).toMatchObject({ outcome: 'ok', discovered: 0 });

    argo.putApp(meshApp('Synced', SYNCED_AT));
    expect(await p.pollNow()).toMatchObject({ outcome: 'ok', discovered: 1 });
    expect(await findings(app.url)).toEqual([]);
    await waitFor(() => updates(slack).length === 1, 10_000, 'the resolve update');
    expect(blocksText(updates(slack)[0]?.args ?? {})).toContain('RESOLVED');
    expect(posts(slack)).toHaveLength(1);
  });

  it("a Degraded app's resource tree names the unhealthy mesh resource", async () => {
    const app = await service();
    argo.putApp(meshApp('Synced', SYNCED_AT));
    argo.setAppHealth('payments-mesh', 'Degraded');
    argo.setResourceHealth('payments-mesh', DR, { status: 'Degraded', message: 'subset v3 not found' });
    const { p } = poll(app);
    expect(await p.pollNow()).toMatchObject({ outcome: 'ok', listed: 1, trees: 1, discovered: 1 });
    expect(argo.trees().map((r) => ({ path: r.path, query: r.query }))).toEqual([
      { path: '/api/v1/applications/payments-mesh/resource-tree', query: { appNamespace: 'argocd', project: 'mesh-prod' } },
    ]);
    expect(await findings(app.url)).toEqual(['DestinationRule/payments=Unhealthy']);
    await waitFor(() => posts(slack).length === 1, 10_000, 'the Slack message');
    expect(blocksText(posts(slack)[0]?.args ?? {})).toContain('DestinationRule');

    // Healthy again: no tree read, and the finding resolves.
    argo.setAppHealth('payments-mesh', 'Healthy');
    argo.setResourceHealth('payments-mesh', DR, undefined);
    expect(await p.pollNow()).toMatchObject({ outcome: 'ok', trees: 0, discovered: 1 });
    expect(await findings(app.url)).toEqual([]);
    expect(argo.trees()).toHaveLength(1);
  });

  it('401 makes the source not ready with a clear error, and it recovers when the token works again', async () => {
    const app = await service();
    const { p, outcomes } = poll(app);
    argo.expireToken(true);
    expect(await p.pollNow()).toMatchObject({ outcome: 'unauthorized', listed: 0, signals: 0 });
    const health = p.health();
    expect(health.ready).toBe(false);
    expect(health.since).toBeTypeOf('number');
    expect(health.lastError).toContain('HTTP 401: invalid session: token has invalid claims: token is expired');
    expect(health.lastError).toContain('ARGOCD_TOKEN');
    expect(JSON.stringify(health)).not.toContain(API_TOKEN);
    expect(argo.lists()[0]?.authorization).toBe(`Bearer ${API_TOKEN}`);

    argo.expireToken(false);
    expect(await p.pollNow()).toMatchObject({ outcome: 'ok', discovered: 1 });
    expect(p.health()).toMatchObject({ ready: true, consecutiveFailures: 0 });
    expect(p.health().lastError).toBeUndefined();
    expect(outcomes).toEqual(['unauthorized', 'ok']);
    expect(logs).toContain('token is expired');
    expect(logs).not.toContain(API_TOKEN);
  });

  it('a slow API times out and is retried with backoff, never in a hot loop, until it answers', async () => {
    const app = await service();
    argo.setDelay(1_000);
    // The loop's waits, recorded (and really waited): what it asks for is what is checked.
    const waits: number[] = [];
    const delay: Delay = (ms, signal) => {
      waits.push(ms);
      return abortableSleep(ms, signal);
    };
    const { p, outcomes } = poll(app, { timeoutMs: 150, runAtStart: true, backoff: { baseMs: 100, maxMs: 400 }, delay });
    await waitFor(() => outcomes.length >= 3, 10_000, 'three timed-out polls');
    expect(outcomes.slice(0, 3)).toEqual(['failed', 'failed', 'failed']);
    expect(p.health()).toMatchObject({ consecutiveFailures: outcomes.length, lastError: expect.stringContaining('request timed out') });
    // Each failed poll waits at least half its backoff (50, 100, 200, 200 ms…) on top of the 150 ms
    // timeout: over a second, a handful of requests, never hundreds.
    expect(waits.slice(0, 3).every((ms) => ms >= 50)).toBe(true);
    await sleep(1_000);
    expect(argo.lists().length).toBeLessThanOrEqual(10);

    argo.setDelay(0);
    await waitFor(() => outcomes.at(-1) === 'ok', 10_000, 'a successful poll');
    expect(p.health()).toMatchObject({ ready: true, consecutiveFailures: 0 });
    await waitFor(() => posts(slack).length === 1, 10_000, 'the Slack message');
    // Back to the interval (an hour): the loop waits in it (no poll in flight, none to come: a
    // condition, not "none seen during a fixed sleep"), and no poll made more than one request.
    await waitFor(() => waits.at(-1) === 3_600_000, 10_000, 'the loop back to the interval');
    const requests = argo.lists().length;
    expect(requests).toBeLessThanOrEqual(outcomes.length);
    expect(argo.lists().length).toBe(requests);
  });

  it('sends the filters: repeated projects, the selector, one list per app namespace', async () => {
    const app = await service();
    const { p } = poll(app, { filters: { projects: ['mesh-prod', 'megadodo'], selector: 'team in (payments,edge)', appNamespaces: ['argocd', 'argo-cd'] } });
    const result = await p.pollNow();
    expect(result).toMatchObject({ outcome: 'ok', listed: 1 });
    const lists = argo.lists();
    expect(lists.map((r) => [r.queryAll('projects'), r.query.selector, r.query.appNamespace])).toEqual([
      [['mesh-prod', 'megadodo'], 'team in (payments,edge)', 'argocd'],
      [['mesh-prod', 'megadodo'], 'team in (payments,edge)', 'argo-cd'],
    ]);
    expect(lists.every((r) => r.query.fields === undefined)).toBe(true);
  });
});

describe('the Argo CD API client against the fake server', () => {
  const api = () => createArgoCdApi({ apiUrl: `${argo.url}/`, token: API_TOKEN, timeoutMs: 2_000 });

  it('lists every fixture app in one answer, sorted by name, and filters by project, selector and namespace', async () => {
    expect((await api().listApplications()).items.map((a) => a.metadata.name)).toEqual([
      'hitchhiker-babel-fish',
      'hitchhiker-ford-prefect-broken',
      'jen',
      'megadodo-zarniwoop',
      'payments-mesh',
      'velero-test',
    ]);
    expect((await api().listApplications({ projects: ['hitchhiker', 'sre'] })).items.map((a) => a.metadata.name)).toEqual([
      'hitchhiker-babel-fish',
      'hitchhiker-ford-prefect-broken',
      'velero-test',
    ]);
    expect((await api().listApplications({ selector: 'cloud_provider=gcp,preview!=false' })).items.map((a) => a.metadata.name)).toEqual(['velero-test']);
    expect((await api().listApplications({ selector: '!team' })).items).toHaveLength(5);
    expect((await api().listApplications({ appNamespace: 'argo-cd' })).items.map((a) => a.metadata.name)).toEqual(['velero-test']);
    expect((await api().listApplications({ appNamespace: 'nowhere' })).items).toEqual([]);
  });

  it('fields keeps only the selected fields (and so no reconciledAt)', async () => {
    const list = await api().listApplications({
      projects: ['mesh-prod'],
      fields: ['items.metadata.name', 'items.metadata.namespace', 'items.status.sync.status', 'items.status.resources'],
    });
    expect(list.items).toHaveLength(1);
    expect(list.items[0]?.metadata).toEqual({ name: 'payments-mesh', namespace: 'argocd' });
    expect(list.items[0]?.status?.sync).toEqual({ status: 'OutOfSync' });
    expect(list.items[0]?.status?.reconciledAt).toBeUndefined();
    expect(list.items[0]?.status?.resources).toHaveLength(9);
  });

  it('a bad selector is the server error, retryable; an unknown app tree is 404 with a project, 403 without', async () => {
    const bad = await api()
      .listApplications({ selector: 'team in ()' })
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(ArgoCdApiError);
    expect(bad).toMatchObject({ kind: 'unavailable', status: 500, message: expect.stringContaining('error parsing the selector') });
    await expect(api().resourceTree({ name: 'nope', namespace: 'argocd', project: 'default' })).rejects.toMatchObject({ kind: 'not-found', status: 404 });
    await expect(api().resourceTree({ name: 'nope' })).rejects.toMatchObject({ kind: 'forbidden', status: 403 });
  });

  it('a wrong token is a typed 401 without the token in it; a failing server is retryable', async () => {
    const wrong = createArgoCdApi({ apiUrl: argo.url, token: 'wrong-SECRET-token' });
    const err = await wrong.listApplications().catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'ArgoCdAuthError', kind: 'unauthorized', status: 401 });
    expect(String((err as Error).message)).toContain('invalid session: token signature is invalid');
    expect(String((err as Error).message)).not.toContain('wrong-SECRET-token');
    argo.failNext(1, 503, { error: 'upstream connect error', code: 14, message: 'upstream connect error' });
    await expect(api().listApplications()).rejects.toMatchObject({
      kind: 'unavailable',
      retryable: true,
      message: 'argocd list of applications: HTTP 503: upstream connect error',
    });
  });

  it('refuses a list larger than the bound, saying how to narrow it', async () => {
    const small = createArgoCdApi({ apiUrl: argo.url, token: API_TOKEN, maxListBytes: 20 * 1024 });
    await expect(small.listApplications()).rejects.toMatchObject({
      kind: 'rejected',
      message: expect.stringMatching(/larger than 20 KiB; poll fewer apps at once \(ARGOCD_PROJECTS/),
    });
    expect((await small.listApplications({ projects: ['mesh-prod'] })).items).toHaveLength(1);
  });

  it('times out a silent server within the bound', async () => {
    argo.setDelay(2_000);
    const quick = createArgoCdApi({ apiUrl: argo.url, token: API_TOKEN, timeoutMs: 100 });
    await expect(quick.listApplications()).rejects.toMatchObject({ kind: 'timeout', message: 'argocd list of applications: request timed out (after 100ms)' });
  });
});
