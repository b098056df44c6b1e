import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { Notification, TrackedFinding } from '../../src/model/alert-group.ts';
import { freePort } from '../../src/cli/redis-finder.ts';
import { createAlertmanagerNotifier } from '../../src/deliver/alertmanager/notifier.ts';
import { renderWebhookPayload } from '../../src/deliver/webhook/notifier.ts';
import { makeFinding, makeNotification, makeTrackedFinding, paymentsGroupLabels } from '../support/notifications.ts';
import { applyAndTell, paymentsSignal } from '../support/tracker-run.ts';
import { waitFor } from '../support/redis.ts';

const ALERTMANAGER_BIN = '/usr/bin/prometheus-alertmanager';
const HAVE_ALERTMANAGER = existsSync(ALERTMANAGER_BIN);
// Locally, a machine without the package skips the real-Alertmanager test; CI must run it
// (.ci/install-packages installs it), so there a missing binary fails.
const SKIP_REAL = !HAVE_ALERTMANAGER && process.env.CI !== 'true';

// Every alert routes to a receiver that sends nothing, except those of an `ends-*` cluster: they go
// at once (group_wait 0s, then every second) to `hookUrl`, resolves too, as Alertmanager's webhook.
function alertmanagerConfig(hookUrl: string): string {
  return `route:
  receiver: 'null'
  routes:
    - receiver: hook
      matchers: ['cluster=~"ends-.*"']
      group_by: [cluster]
      group_wait: 0s
      group_interval: 1s
      repeat_interval: 1h
receivers:
  - name: 'null'
  - name: hook
    webhook_configs:
      - url: '${hookUrl}'
        send_resolved: true
`;
}

// Seen a minute before `now`, on `cluster`: each run has its own, so alerts of runs never mix.
function finding(name: string, cluster: string, now: number): TrackedFinding {
  return makeTrackedFinding(name, { cluster, observedAt: now - 60_000, firstSeen: now - 60_000, lastSeen: now });
}

function notification(cluster: string, now: number, findings: TrackedFinding[]): Notification {
  return makeNotification({ labels: paymentsGroupLabels(cluster), firing: findings, at: now, firstSeen: now - 60_000 });
}

// The part of Alertmanager's `gettableAlert` the test reads.
const gettableAlertsSchema = z.array(
  z.object({
    labels: z.record(z.string(), z.string()),
    annotations: z.record(z.string(), z.string()),
    startsAt: z.string(),
    endsAt: z.string(),
    status: z.object({ state: z.string() }),
  }),
);

interface RunningAlertmanager {
  url: string;
  stop(): Promise<void>;
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** Starts a throwaway Alertmanager on a free loopback port and waits until it is ready. */
async function startAlertmanager(hookUrl: string): Promise<RunningAlertmanager> {
  const dir = await mkdtemp(join(tmpdir(), 'meshdrift-am-'));
  const configFile = join(dir, 'alertmanager.yml');
  await writeFile(configFile, alertmanagerConfig(hookUrl));
  let lastError = '';
  // The port is free when picked but could be taken before Alertmanager binds it; try again then.
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawn(
      ALERTMANAGER_BIN,
      [
        `--web.listen-address=127.0.0.1:${port}`,
        // Empty: no gossip cluster, so nothing listens beyond the one loopback port.
        '--cluster.listen-address=',
        `--storage.path=${join(dir, 'data')}`,
        `--config.file=${configFile}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-4_000);
    });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitFor(
        async () => {
          if (child.exitCode !== null) throw new Error(`alertmanager exited with ${child.exitCode}`);
          try {
            const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1_000) });
            return res.ok;
          } catch {
            return false;
          }
        },
        15_000,
        'alertmanager /-/ready',
      );
      return {
        url,
        stop: async () => {
          await stopProcess(child);
          await rm(dir, { recursive: true, force: true });
        },
      };
    } catch (error) {
      await stopProcess(child);
      lastError = `${error instanceof Error ? error.message : String(error)}\n${stderr}`;
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error(`could not start alertmanager: ${lastError}`);
}

async function activeAlerts(url: string, cluster: string): Promise<z.infer<typeof gettableAlertsSchema>> {
  const filter = encodeURIComponent(`cluster="${cluster}"`);
  const res = await fetch(`${url}/api/v2/alerts?filter=${filter}`, { signal: AbortSignal.timeout(2_000) });
  expect(res.status).toBe(200);
  return gettableAlertsSchema.parse(await res.json());
}

// What Alertmanager's webhook posts (the parts the test reads).
const amWebhookSchema = z.object({
  status: z.string(),
  alerts: z.array(z.object({ status: z.string(), labels: z.record(z.string(), z.string()), startsAt: z.string(), endsAt: z.string() })),
});
type AmWebhook = z.infer<typeof amWebhookSchema>;

describe.skipIf(SKIP_REAL)('alertmanager notifier against a real Alertmanager', () => {
  let am: RunningAlertmanager | undefined;
  // Alertmanager's webhook notifications, in the order they came.
  const hooks: AmWebhook[] = [];
  let hook: Awaited<ReturnType<typeof startServer>> | undefined;

  beforeAll(async () => {
    hook = await startServer((_req, body, res) => {
      // A body not as expected is answered 400 and not kept (the test then waits in vain and says so).
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        parsed = undefined;
      }
      const payload = amWebhookSchema.safeParse(parsed);
      if (payload.success) hooks.push(payload.data);
      res.writeHead(payload.success ? 200 : 400).end();
    });
    if (HAVE_ALERTMANAGER) am = await startAlertmanager(`${hook.url}/hook`);
  }, 60_000);

  afterAll(async () => {
    await am?.stop();
    await hook?.close();
  });

  it('posts a firing notification as active alerts, then the resolve ends them', async () => {
    // Failing here (not in beforeAll) counts as a failed test in CI's report, not a skipped one.
    if (am === undefined) {
      throw new Error(`${ALERTMANAGER_BIN} is missing; CI must install it: run .ci/install-packages (apt-get install prometheus-alertmanager)`);
    }
    const url = am.url;
    const cluster = `prod-${process.pid}`;
    const now = Date.now();
    const notifier = createAlertmanagerNotifier({
      url,
      timeoutMs: 2_000,
      generatorUrl: 'https://meshdrift.example.com/',
      links: { argocdUrl: 'https://argocd.example.com' },
    });
    expect(notifier.type).toBe('alertmanager');
    const fired = [
      {
        ...finding('allow-checkout', cluster, now),
        // What changed and who (issue #16): multi-line annotations Alertmanager keeps as sent.
        changes: {
          source: 'admission' as const,
          changes: [
            { path: 'spec.action', before: '"DENY"', after: '"ALLOW"' },
            { path: 'spec.rules[0].to[0].operation.paths[1]', after: '"/admin"' },
          ],
        },
        attribution: [
          { kind: 'tool' as const, who: 'kubectl-edit', operation: 'Update', at: Date.UTC(2026, 11, 4, 14, 3, 7), source: 'managedFields' as const },
        ],
      },
      {
        ...finding('deny-all', cluster, now),
        resource: { group: '', kind: 'NetworkPolicy', namespace: 'payments', name: 'deny-all' },
        category: 'security' as const,
        mesh: 'none',
      },
    ];

    await expect(notifier.send(notification(cluster, now, fired))).resolves.toEqual({ ok: true });

    let alerts: z.infer<typeof gettableAlertsSchema> = [];
    await waitFor(
      async () => {
        alerts = await activeAlerts(url, cluster);
        return alerts.length === 2 && alerts.every((a) => a.status.state === 'active');
      },
      5_000,
      'two active alerts',
    );
    const byName = new Map(alerts.map((a) => [a.labels.name, a]));
    expect(byName.get('allow-checkout')?.labels).toEqual({
      alertname: 'MeshDrift',
      cluster,
      tool: 'argocd',
      project: 'payments',
      owner_kind: 'Application',
      owner_namespace: 'argocd',
      owner: 'payments',
      group: 'security.istio.io',
      kind: 'AuthorizationPolicy',
      namespace: 'payments',
      name: 'allow-checkout',
      state: 'Modified',
      category: 'security',
      mesh: 'istio',
      severity: 'critical',
    });
    // The core group's empty `group` label is not sent.
    expect(byName.get('deny-all')?.labels).not.toHaveProperty('group');
    expect(byName.get('allow-checkout')?.annotations.summary).toBe(
      `AuthorizationPolicy.security.istio.io payments/allow-checkout drifted (Modified) in Application argocd/payments on ${cluster}`,
    );
    expect(byName.get('allow-checkout')?.annotations).toMatchObject({
      changes: 'spec.action: "DENY" → "ALLOW"\nspec.rules[0].to[0].operation.paths[1]: (unset) → "/admin"',
      changed_by: 'changed via kubectl-edit (Update) at 2026-12-04T14:03:07Z (field manager: a tool, not a person)',
      argocd_url: 'https://argocd.example.com/applications/argocd/payments',
    });
    expect(byName.get('allow-checkout')?.startsAt).toBe(new Date(now - 60_000).toISOString());
    expect(byName.get('allow-checkout')?.endsAt).toBe(new Date(now + 3_600_000).toISOString());

    const resolvedAt = Date.now();
    const resolve: Notification = {
      ...notification(cluster, resolvedAt, []),
      seq: 2,
      reason: 'resolved',
      status: 'resolved',
      resolved: fired.map((f) => ({ ...f, status: 'resolved', resolvedAt })),
    };
    await expect(notifier.send(resolve)).resolves.toEqual({ ok: true });

    // Alertmanager's list leaves out alerts whose endsAt has passed.
    await waitFor(async () => (await activeAlerts(url, cluster)).length === 0, 5_000, 'the alerts to end');
  });

  it("ends a Corrected finding when meshdrift saw it, as Alertmanager's webhook tells it, and says what meshdrift's webhook says", async () => {
    if (am === undefined) throw new Error(`${ALERTMANAGER_BIN} is missing; CI must install it: run .ci/install-packages`);
    const cluster = `ends-${process.pid}`;
    const notifier = createAlertmanagerNotifier({ url: am.url, timeoutMs: 2_000 });
    // Flux reverted the drift two minutes ago; the tracker told it 10 s later and resolved it 30 s after.
    const seenAt = Date.now() - 120_000;
    const corrected = makeFinding('reverted', { cluster, state: 'Corrected', observedAt: seenAt });
    const { told } = applyAndTell(null, paymentsSignal([corrected], 'partial', seenAt, cluster), seenAt, Date.now());
    const [first, resolve] = told as [Notification, Notification];
    expect([first.status, resolve.status]).toEqual(['firing', 'resolved']);
    const ours = (n: Notification) => renderWebhookPayload(n).alerts.map((a) => ({ status: a.status, startsAt: Date.parse(a.startsAt), endsAt: a.endsAt }));
    const theirs = (h: AmWebhook) => h.alerts.map((a) => ({ status: a.status, startsAt: Date.parse(a.startsAt), endsAt: a.endsAt }));
    const received = (status: string) => hooks.find((h) => h.status === status && h.alerts.some((a) => a.labels.cluster === cluster));

    await expect(notifier.send(first)).resolves.toEqual({ ok: true });
    await waitFor(() => received('firing') !== undefined, 15_000, "Alertmanager's firing webhook");
    const firing = received('firing') as AmWebhook;
    // A firing alert's end is hidden (Go's zero time): meshdrift's webhook says the same.
    expect(theirs(firing)).toEqual([{ status: 'firing', startsAt: seenAt, endsAt: '0001-01-01T00:00:00Z' }]);
    expect(ours(first)).toEqual(theirs(firing));

    await expect(notifier.send(resolve)).resolves.toEqual({ ok: true });
    await waitFor(() => received('resolved') !== undefined, 15_000, "Alertmanager's resolved webhook");
    const resolved = received('resolved') as AmWebhook;
    // Over when Flux's report came, not when meshdrift first told it (its resolvedAt).
    expect(resolve.resolved[0]?.resolvedAt).toBe(first.at);
    expect(resolved.alerts.map((a) => [a.status, Date.parse(a.endsAt)])).toEqual([['resolved', seenAt]]);
    expect(ours(resolve).map((a) => ({ ...a, endsAt: Date.parse(a.endsAt) }))).toEqual(theirs(resolved).map((a) => ({ ...a, endsAt: Date.parse(a.endsAt) })));
  });
});

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

async function startServer(handler: Handler): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, Buffer.concat(chunks).toString('utf8'), res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('alertmanager notifier answers', () => {
  const n = notification('prod', Date.now(), [finding('allow-checkout', 'prod', Date.now())]);

  it('posts a JSON array to <url>/api/v2/alerts, with credentials from the URL as basic auth', async () => {
    let seen: { path?: string | undefined; auth?: string | undefined; body?: unknown } = {};
    const server = await startServer((req, body, res) => {
      seen = { path: req.url, auth: req.headers.authorization, body: JSON.parse(body) as unknown };
      res.writeHead(200).end();
    });
    try {
      const url = server.url.replace('http://', 'http://meshdrift:s3cr3t-pass@');
      await expect(createAlertmanagerNotifier({ url: `${url}/am/`, timeoutMs: 2_000 }).send(n)).resolves.toEqual({ ok: true });
      expect(seen.path).toBe('/am/api/v2/alerts');
      expect(seen.auth).toBe(`Basic ${Buffer.from('meshdrift:s3cr3t-pass').toString('base64')}`);
      expect(Array.isArray(seen.body)).toBe(true);
    } finally {
      await server.close();
    }
  });

  it('maps 400 to not retryable, with what Alertmanager said, and never shows credentials', async () => {
    const server = await startServer((_req, _body, res) => {
      res.writeHead(400, { 'Content-Type': 'application/json' }).end('"start time must be before end time"');
    });
    try {
      const url = server.url.replace('http://', 'http://meshdrift:s3cr3t-pass@');
      const result = await createAlertmanagerNotifier({ url, timeoutMs: 2_000 }).send(n);
      expect(result).toEqual({
        ok: false,
        retryable: false,
        reason: `alertmanager ${server.url}: HTTP 400: start time must be before end time`,
      });
      expect(JSON.stringify(result)).not.toContain('s3cr3t');
    } finally {
      await server.close();
    }
  });

  it.each([500, 502, 503, 408, 429])('maps HTTP %i to retryable', async (status) => {
    const server = await startServer((_req, _body, res) => {
      res.writeHead(status, { 'Content-Type': 'application/json' }).end('{"code":500,"message":"store full"}');
    });
    try {
      expect(await createAlertmanagerNotifier({ url: server.url, timeoutMs: 2_000 }).send(n)).toEqual({
        ok: false,
        retryable: true,
        reason: `alertmanager ${server.url}: HTTP ${status}: store full`,
      });
    } finally {
      await server.close();
    }
  });

  it('maps a timeout to retryable', async () => {
    const server = await startServer(() => undefined);
    try {
      expect(await createAlertmanagerNotifier({ url: server.url, timeoutMs: 200 }).send(n)).toEqual({
        ok: false,
        retryable: true,
        reason: `alertmanager ${server.url}: request timed out`,
      });
    } finally {
      await server.close();
    }
  });

  it('maps a refused connection to retryable', async () => {
    const port = await freePort();
    expect(await createAlertmanagerNotifier({ url: `http://127.0.0.1:${port}`, timeoutMs: 2_000 }).send(n)).toEqual({
      ok: false,
      retryable: true,
      reason: `alertmanager http://127.0.0.1:${port}: request failed: ECONNREFUSED`,
    });
  });

  it('rejects a URL that is not http(s) when created', () => {
    expect(() => createAlertmanagerNotifier({ url: 'not a url' })).toThrow('alertmanager url is not a valid URL');
    expect(() => createAlertmanagerNotifier({ url: 'ftp://am:9093' })).toThrow(/must be http or https/);
  });
});
