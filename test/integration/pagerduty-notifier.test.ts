import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Notification, TrackedFinding } from '../../src/model/alert-group.ts';
import type { Notifier } from '../../src/deliver/notifier.ts';
import { createPagerDutyNotifier } from '../../src/deliver/pagerduty/notifier.ts';
import { pagerDutyDedupKey } from '../../src/deliver/pagerduty/render.ts';
import { startFakePagerDuty, type FakePagerDuty } from '../fakes/pagerduty.ts';
import { makeNotification, makeTrackedFinding, T0 } from '../support/notifications.ts';

// 32 characters, as PagerDuty integration keys are.
const ROUTING_KEY = 'R0UT1NGKEY0SECRET0123456789abcde';
const GROUP_KEY = '3f2a9c0d1e4b5a6978c0d1e2f3a4b5c6';

function finding(name: string, severity: TrackedFinding['severity'] = 'critical'): TrackedFinding {
  return makeTrackedFinding(name, { groupKey: GROUP_KEY, severity });
}

function firing(seq = 1, findings = [finding('allow-checkout')]): Notification {
  return makeNotification({ groupKey: GROUP_KEY, seq, reason: seq === 1 ? 'first' : 'new-findings', firing: findings, at: T0 + seq * 1000 });
}

function resolved(seq: number): Notification {
  return {
    ...firing(seq),
    reason: 'resolved',
    status: 'resolved',
    firing: [],
    resolved: [{ ...finding('allow-checkout'), status: 'resolved', resolvedAt: T0 + seq * 1000 }],
  };
}

let pd: FakePagerDuty;
let notifier: Notifier;

beforeEach(async () => {
  pd = await startFakePagerDuty();
  notifier = createPagerDutyNotifier({
    routingKey: ROUTING_KEY,
    eventsUrl: pd.eventsUrl,
    links: { argocdUrl: 'https://argocd.example.com' },
    timeoutMs: 2_000,
  });
});

afterEach(async () => {
  await pd.close();
});

describe('pagerduty notifier against the fake Events API v2', () => {
  it('is named pagerduty', () => {
    expect(notifier.type).toBe('pagerduty');
  });

  it('triggers an alert, dedups a later trigger into it, and the resolve closes that same alert', async () => {
    await expect(notifier.send(firing(1))).resolves.toEqual({ ok: true });
    const dedupKey = pagerDutyDedupKey(GROUP_KEY);
    const alert = pd.openAlert(ROUTING_KEY, dedupKey);
    expect(alert).toMatchObject({ status: 'triggered', severity: 'critical', triggers: 1 });
    expect(alert?.summary).toMatch(/^\[CRITICAL\] 1 drifted mesh resource in Application argocd\/payments on prod-eu/);

    await expect(notifier.send(firing(2, [finding('allow-checkout'), finding('deny-all')]))).resolves.toEqual({ ok: true });
    expect(pd.alerts).toHaveLength(1);
    expect(alert?.triggers).toBe(2);

    await expect(notifier.send(resolved(3))).resolves.toEqual({ ok: true });
    expect(pd.openAlert(ROUTING_KEY, dedupKey)).toBeUndefined();
    expect(pd.alerts).toHaveLength(1);
    expect(pd.alerts[0]?.status).toBe('resolved');
    expect(pd.events.map((e) => [e.status, (e.body as { event_action: string }).event_action])).toEqual([
      [202, 'trigger'],
      [202, 'trigger'],
      [202, 'resolve'],
    ]);
    expect(pd.events[0]?.body).toMatchObject({
      routing_key: ROUTING_KEY,
      client: 'meshdrift',
      links: [{ href: 'https://argocd.example.com/applications/argocd/payments' }],
    });
  });

  it('opens a new alert for a trigger after the resolve (next episode)', async () => {
    await notifier.send(firing(1));
    await notifier.send(resolved(2));
    await notifier.send({ ...firing(3), reason: 'first' });
    expect(pd.alerts.map((a) => a.status)).toEqual(['resolved', 'triggered']);
  });

  it('delivers a 5,000-finding group that the fake accepts (under 512 KB)', async () => {
    const many = Array.from({ length: 5_000 }, (_, i) => ({ ...finding(`${'p'.repeat(200)}-${i}`), detail: 'x'.repeat(2_000) }));
    await expect(notifier.send(firing(1, many))).resolves.toEqual({ ok: true });
    expect(pd.events[0]?.status).toBe(202);
  });

  it('maps 400 to not retryable, with what PagerDuty said', async () => {
    const bad = createPagerDutyNotifier({ routingKey: 'too-short', eventsUrl: pd.eventsUrl, timeoutMs: 2_000 });
    const result = await bad.send(firing(1));
    expect(result).toEqual({
      ok: false,
      retryable: false,
      reason: "pagerduty rejected the event (HTTP 400): Event object is invalid; Length of 'routing_key' is incorrect (should be 32 characters)",
    });
    expect(pd.alerts).toHaveLength(0);
  });

  it('maps 429 to retryable, with Retry-After as retryAfterMs', async () => {
    pd.failNext(1, { status: 429, retryAfterSeconds: 30 });
    expect(await notifier.send(firing(1))).toEqual({
      ok: false,
      retryable: true,
      reason: 'pagerduty rate limited (HTTP 429): Requests for this service are arriving too quickly. Please retry later.',
      retryAfterMs: 30_000,
    });
    await expect(notifier.send(firing(1))).resolves.toEqual({ ok: true });
    expect(pd.alerts).toHaveLength(1);
  });

  it('maps 429 without Retry-After to retryable without retryAfterMs', async () => {
    pd.failNext(1, 429);
    const result = await notifier.send(firing(1));
    expect(result).toMatchObject({ ok: false, retryable: true });
    expect(result).not.toHaveProperty('retryAfterMs');
  });

  it.each([500, 502, 503, 504, 408])('maps HTTP %i to retryable', async (status) => {
    pd.failNext(1, status);
    expect(await notifier.send(firing(1))).toMatchObject({ ok: false, retryable: true, reason: expect.stringContaining(`HTTP ${status}`) });
  });

  it.each([401, 403, 404, 413])('maps HTTP %i to not retryable', async (status) => {
    pd.failNext(1, status);
    expect(await notifier.send(firing(1))).toMatchObject({ ok: false, retryable: false });
  });

  it('maps a timeout to retryable', async () => {
    const quick = createPagerDutyNotifier({ routingKey: ROUTING_KEY, eventsUrl: pd.eventsUrl, timeoutMs: 200 });
    pd.failNext(1, { status: 202, delayMs: 1_000 });
    expect(await quick.send(firing(1))).toEqual({ ok: false, retryable: true, reason: 'pagerduty request timed out' });
  });

  it('maps an unreachable endpoint to retryable', async () => {
    const gone = await startFakePagerDuty();
    const url = gone.eventsUrl;
    await gone.close();
    const unreachable = createPagerDutyNotifier({ routingKey: ROUTING_KEY, eventsUrl: url, timeoutMs: 2_000 });
    expect(await unreachable.send(firing(1))).toEqual({ ok: false, retryable: true, reason: 'pagerduty request failed: ECONNREFUSED' });
  });

  it('never puts the routing key into a reason, whatever the failure', async () => {
    // PagerDuty could quote the event back; make the fake do it.
    const echo = { status: 'invalid event', message: `bad routing_key ${ROUTING_KEY}`, errors: [`'routing_key' ${ROUTING_KEY} is not valid`] };
    const answers = [
      { status: 400, body: echo },
      { status: 429, retryAfterSeconds: 1, body: { message: ROUTING_KEY } },
      { status: 500, body: { message: `oops ${ROUTING_KEY}` } },
      { status: 403, body: { message: ROUTING_KEY, errors: [ROUTING_KEY] } },
      { status: 202, delayMs: 600 },
    ];
    const quick = createPagerDutyNotifier({ routingKey: ROUTING_KEY, eventsUrl: pd.eventsUrl, timeoutMs: 300 });
    for (const answer of answers) {
      pd.failNext(1, answer);
      const result = await quick.send(firing(1));
      expect(result.ok).toBe(false);
      expect(JSON.stringify(result)).not.toContain(ROUTING_KEY);
    }
    // The redaction kept what PagerDuty said otherwise.
    pd.failNext(1, { status: 400, body: echo });
    expect(await quick.send(firing(1))).toMatchObject({ reason: expect.stringContaining('bad routing_key [redacted]') });
  });

  it('maps a non-JSON 5xx from a proxy to retryable without quoting the body', async () => {
    const proxy = createServer((_req, res) => {
      res.writeHead(502, { 'Content-Type': 'text/html' });
      res.end('<html>bad gateway</html>');
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = proxy.address() as AddressInfo;
      const viaProxy = createPagerDutyNotifier({ routingKey: ROUTING_KEY, eventsUrl: `http://127.0.0.1:${port}/v2/enqueue`, timeoutMs: 2_000 });
      expect(await viaProxy.send(firing(1))).toEqual({ ok: false, retryable: true, reason: 'pagerduty failed: HTTP 502' });
    } finally {
      proxy.closeAllConnections();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});
