import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Notifier, SendResult } from '../../src/deliver/notifier.ts';
import { createAlertmanagerNotifier } from '../../src/deliver/alertmanager/notifier.ts';
import { createPagerDutyNotifier } from '../../src/deliver/pagerduty/notifier.ts';
import { createWebhookNotifier } from '../../src/deliver/webhook/notifier.ts';
import { makeNotification, makeTrackedFinding, paymentsGroupLabels, T0 } from '../support/notifications.ts';

/**
 * One status → outcome table for every HTTP notifier (Alertmanager's notify/test RetryTests): 2xx
 * delivers; 408, 429, 5xx and transport failures are retried; any other answer is permanent.
 * Each notifier runs against a local server answering the status its URL names.
 */
type Outcome = 'ok' | 'retry' | 'permanent';
type Answer = number | 'timeout' | 'reset' | 'refused';

const RETRY_TABLE: ReadonlyArray<readonly [Answer, Outcome]> = [
  [200, 'ok'],
  [201, 'ok'],
  [202, 'ok'],
  [204, 'ok'],
  [301, 'permanent'],
  [302, 'permanent'],
  [307, 'permanent'],
  [400, 'permanent'],
  [401, 'permanent'],
  [403, 'permanent'],
  [404, 'permanent'],
  [405, 'permanent'],
  [410, 'permanent'],
  [413, 'permanent'],
  [422, 'permanent'],
  [408, 'retry'],
  [429, 'retry'],
  [500, 'retry'],
  [501, 'retry'],
  [502, 'retry'],
  [503, 'retry'],
  [504, 'retry'],
  ['timeout', 'retry'],
  ['reset', 'retry'],
  ['refused', 'retry'],
];

const ROUTING_KEY = 'R0UT1NGKEY0SECRET0123456789abcde';
const TIMEOUT_MS = 300;

// Each takes the base URL that names the answer (…/status/503) and builds the notifier on it.
const NOTIFIERS: Record<string, (base: string) => Notifier> = {
  pagerduty: (base) => createPagerDutyNotifier({ routingKey: ROUTING_KEY, eventsUrl: `${base}/v2/enqueue`, timeoutMs: TIMEOUT_MS }),
  alertmanager: (base) => createAlertmanagerNotifier({ url: base, timeoutMs: TIMEOUT_MS }),
  webhook: (base) => createWebhookNotifier({ url: base, hmacKey: 'k', timeoutMs: TIMEOUT_MS }),
};

const notification = makeNotification({
  labels: paymentsGroupLabels('prod'),
  firing: [makeTrackedFinding('allow', { fingerprint: 'fp1', cluster: 'prod', reasons: [] })],
  at: T0,
});

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const what = /^\/(status\/(\d{3})|timeout|reset)(\/|$|\?)/.exec(req.url ?? '');
    if (what?.[1] === 'timeout') return; // never answers; the client gives up
    if (what?.[1] === 'reset') {
      req.socket.destroy();
      return;
    }
    const status = Number(what?.[2] ?? 404);
    res.writeHead(status, { 'Content-Type': 'application/json', ...(status >= 300 && status < 400 ? { Location: 'http://127.0.0.1:1/elsewhere' } : {}) });
    res.end(status === 204 ? undefined : '{"message":"answer from the retry-table server"}');
  });
});
let base = '';
let refusedBase = '';

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A port that was just free and is closed again: connections to it are refused.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  refusedBase = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
  await new Promise((resolve) => closed.close(resolve));
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

function urlFor(answer: Answer): string {
  if (answer === 'refused') return refusedBase;
  return typeof answer === 'number' ? `${base}/status/${answer}` : `${base}/${answer}`;
}

function outcomeOf(result: SendResult): Outcome {
  if (result.ok) return 'ok';
  return result.retryable ? 'retry' : 'permanent';
}

const cases = Object.keys(NOTIFIERS).flatMap((name) => RETRY_TABLE.map(([answer, outcome]) => [name, answer, outcome] as const));

describe('shared retry table', () => {
  it.each(cases)('%s: %s → %s', async (name, answer, expected) => {
    const make = NOTIFIERS[name];
    if (make === undefined) throw new Error(`no notifier ${name}`);
    const result = await make(urlFor(answer)).send(notification);

    expect(outcomeOf(result)).toBe(expected);
    if (!result.ok) {
      expect(result.reason).not.toBe('');
      expect(result.reason).not.toContain(ROUTING_KEY);
      if (typeof answer === 'number') expect(result.reason).toContain(`HTTP ${answer}`);
    }
  });
});
