// Side by side with a real Alertmanager (issues #4 and #8): the notifications each sends to a
// webhook receiver for scripted drift with flapping, compressed in time, and the throughput of each
// for single-signal requests. Figures are printed, never asserted. docs/BENCHMARKS.md explains them.
//
// Time: 1 scripted minute = 1 real second (SCALE = 60; BENCH_FLAP_SCALE overrides). Every timer of
// both systems and of the emulated Prometheus is divided by the same factor.
//
// Four receivers are fed the same script at the same time:
//   meshdrift            pending_for 0 (createApp in-process, policy with a webhook receiver)
//   meshdrift+pending    pending_for 2m
//   alertmanager         /usr/bin/prometheus-alertmanager, alerts from an emulated Prometheus rule without `for`
//   alertmanager+for     a second Alertmanager, the emulated rule has `for: 2m` (Prometheus' equivalent of pending_for)
// meshdrift gets what Argo CD notifications would post: the Application (full resource snapshot)
// whenever the app's set of OutOfSync resources changes. Alertmanager gets what Prometheus would
// post: one alert per drifted resource, sent when it fires, re-sent every 1m (resend_delay) with
// endsAt = now + 4m, and when it resolves with endsAt = the resolve time, re-sent for 15m.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createApp, type App } from '../src/app.ts';
import { loadEnv } from '../src/config/env.ts';
import { createLogger } from '../src/log.ts';
import { startOwnRedis, type OwnRedis } from '../test/support/redis-server.ts';
import type { LoadRequest, LoadResult } from './flapping-loadgen.ts';
import { runLoadgen } from './loadgen-client.ts';
import { eventsOf, groundTruth, oneHour, resourceKey, tenMinutes, type Scenario, type ScriptedApp, type ScriptedResource } from './flapping-scenarios.ts';

const SCALE = Number(process.env.BENCH_FLAP_SCALE ?? 60); // scripted seconds per real second
const THROUGHPUT_N = Number(process.env.BENCH_FLAP_THROUGHPUT_N ?? 10000);
const THROUGHPUT_CONCURRENCY = 16;
const ALERTMANAGER_BIN = process.env.ALERTMANAGER_BIN ?? '/usr/bin/prometheus-alertmanager';
const DEADLINE_MS = 280_000; // hard stop for the whole run
// Optional: a directory to write each receiver's notifications to (scripted times), for inspection.
const DUMP_DIR = process.env.BENCH_FLAP_DUMP;
// Optional: run only these scenarios (comma-separated ids: 10min, 1h).
const ONLY = process.env.BENCH_FLAP_ONLY?.split(',');

/** Scripted seconds → real milliseconds. */
const real = (scriptedSeconds: number): number => (scriptedSeconds * 1000) / SCALE;
/** Real milliseconds → scripted seconds. */
const scripted = (realMs: number): number => (realMs * SCALE) / 1000;
/** A Go / meshdrift duration string for a scripted duration. */
const dur = (scriptedSeconds: number): string => `${Math.round(real(scriptedSeconds))}ms`;

// resolve_wait is meshdrift's only (its default, 30s); BENCH_FLAP_RESOLVE_WAIT (scripted seconds) changes it,
// e.g. 300 (= group_interval) for meshdrift before resolve_wait.
const TIMERS = { groupWait: 30, groupInterval: 300, repeatInterval: 4 * 3600, pendingFor: 120, resolveWait: Number(process.env.BENCH_FLAP_RESOLVE_WAIT ?? 30) };
// Prometheus: resend_delay 1m; firing alerts valid for 4 x max(resend_delay, eval interval); resolved
// alerts re-sent for 15m.
const PROM = { resend: 60, validFor: 240, resolvedRetention: 900 };
// After the script ends: long enough for a group_interval to pass and resolves to go out.
const TAIL = TIMERS.groupInterval + TIMERS.groupWait + 60;

type System = 'meshdrift' | 'meshdrift+pending' | 'alertmanager' | 'alertmanager+for';
const SYSTEMS: System[] = ['meshdrift', 'meshdrift+pending', 'alertmanager', 'alertmanager+for'];

// ---------------------------------------------------------------------------------------------
// Processes and servers, all on 127.0.0.1, all tracked for cleanup.

const children = new Set<ChildProcess>();
let ownRedis: OwnRedis | undefined;
const tempDirs = new Set<string>();

async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
  }
  children.delete(child);
}

interface Received {
  at: number; // wall ms
  body: Record<string, unknown>;
}

interface Recorder {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

/** A webhook receiver that records every POST body and answers 200. */
async function startRecorder(): Promise<Recorder> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      try {
        received.push({ at, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> });
      } catch {
        received.push({ at, body: {} });
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface RunningAlertmanager {
  url: string;
  stop(): Promise<void>;
}

async function startAlertmanager(config: string): Promise<RunningAlertmanager> {
  const dir = await mkdtemp(join(tmpdir(), 'meshdrift-bench-am-'));
  tempDirs.add(dir);
  const configFile = join(dir, 'alertmanager.yml');
  await writeFile(configFile, config);
  let lastError = '';
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawn(
      ALERTMANAGER_BIN,
      [
        `--web.listen-address=127.0.0.1:${port}`,
        '--cluster.listen-address=',
        `--storage.path=${join(dir, 'data')}`,
        `--config.file=${configFile}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    children.add(child);
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString('utf8')).slice(-4000);
    });
    const url = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 100 && child.exitCode === null; i++) {
      try {
        const res = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(500) });
        if (res.status === 200) {
          return {
            url,
            async stop() {
              await stopChild(child);
              await rm(dir, { recursive: true, force: true });
              tempDirs.delete(dir);
            },
          };
        }
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    lastError = stderr;
    await stopChild(child);
  }
  throw new Error(`alertmanager did not start: ${lastError.slice(-500)}`);
}

function alertmanagerConfig(webhookUrl: string): string {
  return `route:
  receiver: recorder
  group_by: [cluster, owner]
  group_wait: ${dur(TIMERS.groupWait)}
  group_interval: ${dur(TIMERS.groupInterval)}
  repeat_interval: ${dur(TIMERS.repeatInterval)}
receivers:
  - name: recorder
    webhook_configs:
      - url: '${webhookUrl}'
        send_resolved: true
`;
}

async function startMeshdrift(
  redis: OwnRedis,
  prefix: string,
  webhookUrl: string,
  pendingFor: number,
): Promise<{ app: App; url: string; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'meshdrift-bench-policy-'));
  tempDirs.add(dir);
  const policyFile = join(dir, 'policy.yaml');
  await writeFile(
    policyFile,
    `receivers:
  - name: recorder
    webhook:
      url: ${webhookUrl}
route:
  receiver: recorder
  group_by: [cluster, owner]
  group_wait: ${dur(TIMERS.groupWait)}
  group_interval: ${dur(TIMERS.groupInterval)}
  repeat_interval: ${dur(TIMERS.repeatInterval)}
  pending_for: ${dur(pendingFor)}
  resolve_wait: ${dur(TIMERS.resolveWait)}
`,
  );
  const raw: Record<string, string> = {
    PORT: '0',
    HOST: '127.0.0.1',
    REDIS_URL: redis.url,
    MESHDRIFT_KEY_PREFIX: prefix,
    MESHDRIFT_POLICY: policyFile,
    MESHDRIFT_LOG_LEVEL: 'silent',
    MESHDRIFT_ALLOW_UNAUTHENTICATED: 'true',
  };
  const app = createApp({ env: loadEnv(raw), processEnv: raw, registry: new Registry(), log: createLogger('silent') });
  await app.start();
  return {
    app,
    url: app.address().url,
    async stop() {
      await app.stop();
      await rm(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
    },
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

async function post(url: string, body: unknown): Promise<number> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5_000),
  });
  await res.arrayBuffer();
  return res.status;
}

// ---------------------------------------------------------------------------------------------
// The senders: Argo CD notifications (for meshdrift) and a Prometheus alerting rule (for Alertmanager).

function argocdBody(s: Scenario, app: ScriptedApp, drifted: ReadonlySet<ScriptedResource>, reconciledAt: number): unknown {
  const anyDrift = app.resources.some((r) => drifted.has(r));
  return {
    schema: 'meshdrift.argocd/v1',
    trigger: anyDrift ? 'on-meshdrift-state' : 'on-meshdrift-clean',
    cluster: s.cluster,
    app: {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'Application',
      metadata: { name: app.name, namespace: 'argocd', labels: { team: app.namespace } },
      spec: {
        project: app.project,
        destination: { name: s.cluster, namespace: app.namespace },
        source: { repoURL: `https://git.example.com/platform/${app.name}.git`, path: 'overlays/prod', targetRevision: 'main' },
      },
      status: {
        sync: { status: anyDrift ? 'OutOfSync' : 'Synced', revision: '9c1e4b7a2d3f5e6a7b8c9d0e1f2a3b4c5d6e7f80' },
        health: { status: 'Healthy' },
        resources: [
          ...app.clean.map((c) => ({
            ...(c.group ? { group: c.group } : {}),
            version: c.version,
            kind: c.kind,
            namespace: app.namespace,
            name: c.name,
            status: 'Synced',
          })),
          ...app.resources.map((r) => ({
            group: r.group,
            version: r.version,
            kind: r.kind,
            namespace: r.namespace,
            name: r.name,
            status: drifted.has(r) ? 'OutOfSync' : 'Synced',
          })),
        ],
        // Real wall time with ms: snapshots of one app are strictly ordered (older ones are stale).
        reconciledAt: new Date(reconciledAt).toISOString(),
      },
    },
  };
}

interface PromAlert {
  labels: Record<string, string>;
  state: 'pending' | 'firing' | 'resolved';
  episode: number;
  firedAt: number;
  resolvedAt: number;
  lastSent: number;
}

/** What a Prometheus alerting rule over "resource is OutOfSync" would send (rules/alerting.go). */
class PrometheusEmulator {
  private readonly alerts = new Map<string, PromAlert>();
  private readonly url: string;
  private readonly forSeconds: number;
  constructor(url: string, forSeconds: number) {
    this.url = url;
    this.forSeconds = forSeconds;
  }

  private wire(a: PromAlert, now: number): unknown {
    return {
      labels: a.labels,
      annotations: { summary: `${a.labels.kind} ${a.labels.namespace}/${a.labels.name} is OutOfSync in ${a.labels.owner}` },
      startsAt: new Date(a.firedAt).toISOString(),
      endsAt: new Date(a.state === 'resolved' ? a.resolvedAt : now + real(PROM.validFor)).toISOString(),
    };
  }

  private async send(list: PromAlert[], now: number): Promise<void> {
    if (list.length === 0) return;
    for (const a of list) a.lastSent = now;
    const status = await post(
      `${this.url}/api/v2/alerts`,
      list.map((a) => this.wire(a, now)),
    );
    if (status !== 200) throw new Error(`alertmanager answered ${status}`);
  }

  /** The rule's expression turned true (drifted) or false for one resource. */
  async change(key: string, labels: Record<string, string>, drifted: boolean, episode: number, now: number): Promise<void> {
    const a = this.alerts.get(key);
    if (drifted) {
      // A resolved alert that becomes active again is a new alert (rules/alerting.go Eval).
      const fresh: PromAlert = { labels, state: 'pending', episode, firedAt: 0, resolvedAt: 0, lastSent: 0 };
      this.alerts.set(key, fresh);
      if (this.forSeconds === 0) await this.fire(key, episode, now);
      return;
    }
    if (a === undefined) return;
    if (a.state === 'pending') {
      this.alerts.delete(key); // pending alerts are never sent
    } else if (a.state === 'firing') {
      a.state = 'resolved';
      a.resolvedAt = now;
      await this.send([a], now);
    }
  }

  /** `for` elapsed for this episode: pending → firing (if it is still the same episode). */
  async fire(key: string, episode: number, now: number): Promise<void> {
    const a = this.alerts.get(key);
    if (a === undefined || a.state !== 'pending' || a.episode !== episode) return;
    a.state = 'firing';
    a.firedAt = now;
    await this.send([a], now);
  }

  /** Every resend_delay: firing alerts and recently resolved ones, again. */
  async resend(now: number): Promise<void> {
    const due: PromAlert[] = [];
    for (const [key, a] of this.alerts) {
      if (a.state === 'resolved' && now - a.resolvedAt > real(PROM.resolvedRetention)) this.alerts.delete(key);
      else if (a.state !== 'pending') due.push(a);
    }
    await this.send(due, now);
  }
}

// ---------------------------------------------------------------------------------------------
// One scenario, run against all four systems at once.

interface Episode {
  key: string;
  resource: ScriptedResource;
  index: number;
  start: number; // wall ms when the drift was posted
  end: number; // wall ms when the resolve was posted; Infinity if never
}

interface Note {
  at: number;
  groupKey: string;
  status: string;
  reason: string;
  alerts: Array<{ key: string; status: string; startsAt: number }>;
}

interface Figures {
  total: number;
  firing: number;
  resolved: number;
  reasons: Record<string, number>;
  perIncident: number;
  incidentsNotified: number;
  flapsNotified: number;
  notesMentioningFlaps: number;
  criticalTtfn: number | null; // scripted seconds
  criticalBlipsPaged: number;
}

interface ScenarioResult {
  scenario: Scenario;
  truth: ReturnType<typeof groundTruth>;
  figures: Record<System, Figures>;
  realMs: number;
  rawReasonField: boolean;
}

async function runScenario(s: Scenario, redis: OwnRedis): Promise<ScenarioResult> {
  const recorders = {} as Record<System, Recorder>;
  for (const sys of SYSTEMS) recorders[sys] = await startRecorder();
  const stops: Array<() => Promise<void>> = Object.values(recorders).map((r) => () => r.close());
  const md = await startMeshdrift(redis, `bench-flap-${s.id}-0`, recorders.meshdrift.url, 0);
  stops.push(md.stop);
  const mdPending = await startMeshdrift(redis, `bench-flap-${s.id}-p`, recorders['meshdrift+pending'].url, TIMERS.pendingFor);
  stops.push(mdPending.stop);
  const am = await startAlertmanager(alertmanagerConfig(recorders.alertmanager.url));
  stops.push(am.stop);
  const amFor = await startAlertmanager(alertmanagerConfig(recorders['alertmanager+for'].url));
  stops.push(amFor.stop);

  const episodes: Episode[] = [];
  const open = new Map<string, Episode>();
  try {
    const prom = new PrometheusEmulator(am.url, 0);
    const promFor = new PrometheusEmulator(amFor.url, TIMERS.pendingFor);
    const drifted = new Set<ScriptedResource>();
    const episodeCount = new Map<ScriptedResource, number>();
    const labelsOf = (app: ScriptedApp, r: ScriptedResource): Record<string, string> => ({
      alertname: 'MeshDrift',
      cluster: s.cluster,
      owner: app.name,
      namespace: r.namespace,
      kind: r.kind,
      name: r.name,
      severity: r.severity,
    });

    // The timeline: script changes, Prometheus resends, and `for` expiries, in scripted seconds.
    type Action = { at: number; order: number; run: () => Promise<void> };
    const actions: Action[] = [];
    let lastReconciled = 0;
    for (const ev of eventsOf(s)) {
      actions.push({
        at: ev.at,
        order: 0,
        run: async () => {
          const now = Date.now();
          const promSends: Array<Promise<void>> = [];
          for (const { resource, drifted: on } of ev.changes) {
            const key = resourceKey(ev.app.name, resource.kind, resource.namespace, resource.name);
            if (on) {
              drifted.add(resource);
              const index = episodeCount.get(resource) ?? 0;
              episodeCount.set(resource, index + 1);
              const e: Episode = { key, resource, index, start: now, end: Infinity };
              episodes.push(e);
              open.set(key, e);
              promSends.push(prom.change(key, labelsOf(ev.app, resource), true, index, now), promFor.change(key, labelsOf(ev.app, resource), true, index, now));
              const fireAt = ev.at + TIMERS.pendingFor;
              if (fireAt <= s.duration + TAIL) {
                schedule({ at: fireAt, order: 1, run: () => promFor.fire(key, index, Date.now()) });
              }
            } else {
              drifted.delete(resource);
              const e = open.get(key);
              if (e) e.end = now;
              open.delete(key);
              promSends.push(prom.change(key, labelsOf(ev.app, resource), false, -1, now), promFor.change(key, labelsOf(ev.app, resource), false, -1, now));
            }
          }
          const reconciledAt = Math.max(now, lastReconciled + 1);
          lastReconciled = reconciledAt;
          const body = argocdBody(s, ev.app, drifted, reconciledAt);
          const statuses = await Promise.all([
            post(`${md.url}/webhooks/argocd`, body),
            post(`${mdPending.url}/webhooks/argocd`, body),
            ...promSends.map((p) => p.then(() => 202)),
          ]);
          if (statuses.some((st) => st !== 202)) throw new Error(`meshdrift answered ${statuses.join(',')}`);
        },
      });
    }
    for (let t = PROM.resend; t <= s.duration + TAIL; t += PROM.resend) {
      actions.push({ at: t, order: 2, run: async () => void (await Promise.all([prom.resend(Date.now()), promFor.resend(Date.now())])) });
    }
    const queue = actions.sort((a, b) => a.at - b.at || a.order - b.order);
    function schedule(a: Action): void {
      const i = queue.findIndex((q) => q.at > a.at || (q.at === a.at && q.order > a.order));
      queue.splice(i === -1 ? queue.length : i, 0, a);
    }

    const t0 = performance.now();
    const wall0 = Date.now();
    let lag = 0;
    while (queue.length > 0) {
      const a = queue.shift();
      if (a === undefined) break;
      const due = t0 + real(a.at);
      await sleep(due - performance.now());
      lag = Math.max(lag, performance.now() - due);
      await a.run();
    }
    await sleep(t0 + real(s.duration + TAIL) - performance.now());
    const realMs = performance.now() - t0;
    if (lag > 100) process.stderr.write(`  (driver lagged up to ${lag.toFixed(0)} ms real = ${scripted(lag).toFixed(0)} scripted s)\n`);

    const truth = groundTruth(s);
    const figures = {} as Record<System, Figures>;
    let rawReasonField = false;
    for (const sys of SYSTEMS) {
      const notes = recorders[sys].received.map(toNote);
      rawReasonField ||= sys.startsWith('alertmanager') && recorders[sys].received.some((r) => typeof r.body.notification_reason === 'string');
      figures[sys] = analyse(notes, episodes, truth, sys.startsWith('alertmanager') && !rawReasonField);
      if (DUMP_DIR !== undefined) {
        const at = (ms: number) => fmtTime(scripted(ms - wall0));
        const lines = notes.map(
          (n) => `${at(n.at)} ${n.groupKey} ${n.status} ${n.reason}: ${n.alerts.map((a) => `${a.key} ${a.status} since ${at(a.startsAt)}`).join('; ')}`,
        );
        await mkdir(DUMP_DIR, { recursive: true });
        await writeFile(join(DUMP_DIR, `${s.id}-${sys}.txt`), `${lines.join('\n')}\n`);
      }
    }
    return { scenario: s, truth, figures, realMs, rawReasonField };
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  }
}

/** Payload → resources, status and reason (meshdrift sends notification_reason; AM 0.25 does not). */
function toNote(r: Received): Note {
  const b = r.body;
  const alerts = Array.isArray(b.alerts) ? (b.alerts as Array<{ labels?: Record<string, string>; status?: string; startsAt?: string }>) : [];
  const appName = (labels: Record<string, string>): string => labels.owner ?? '';
  return {
    at: r.at,
    groupKey: String(b.groupKey ?? ''),
    status: String(b.status ?? ''),
    reason: typeof b.notification_reason === 'string' ? b.notification_reason : '',
    alerts: alerts.map((a) => {
      const l = a.labels ?? {};
      return { key: resourceKey(appName(l), l.kind ?? '', l.namespace ?? '', l.name ?? ''), status: a.status ?? '', startsAt: Date.parse(a.startsAt ?? '') };
    }),
  };
}

/**
 * Alertmanager 0.25's webhook has no notification_reason, so it is derived from consecutive
 * payloads of a group the way its dedup stage decides (notify/dedup_stage.go needsUpdate), with
 * meshdrift's names: first, new-findings, some-resolved, resolved, repeat.
 */
function deriveReasons(notes: Note[]): void {
  const lastFiring = new Map<string, Set<string>>();
  for (const n of notes) {
    const firing = new Set(n.alerts.filter((a) => a.status === 'firing').map((a) => a.key));
    const prev = lastFiring.get(n.groupKey);
    if (n.status === 'resolved') n.reason = 'resolved';
    else if (prev === undefined || prev.size === 0) n.reason = 'first';
    else if ([...firing].some((k) => !prev.has(k))) n.reason = 'new-findings';
    else if (n.alerts.some((a) => a.status === 'resolved')) n.reason = 'some-resolved';
    else n.reason = 'repeat';
    lastFiring.set(n.groupKey, firing);
  }
}

/**
 * What the receiver saw, walking its notifications in order and keeping each resource's last
 * delivered status:
 * - a flap reached the receiver when a flapping resource was delivered as resolved and later as
 *   firing again (one per such re-fire), or when a blip was mentioned at all (one per blip);
 * - a notification is flap noise when it carries a blip, such a re-fire, or the resolve a re-fire
 *   later undid;
 * - an incident was notified when its resource (steady or flapping) was delivered as firing.
 */
function analyse(notes: Note[], episodes: Episode[], truth: ReturnType<typeof groundTruth>, derive: boolean): Figures {
  if (derive) deriveReasons(notes);
  const reasons: Record<string, number> = {};
  for (const n of notes) reasons[n.reason] = (reasons[n.reason] ?? 0) + 1;
  const resourceOf = new Map(episodes.map((e) => [e.key, e.resource]));
  const critical = episodes.find((e) => e.resource.severity === 'critical' && e.resource.behaviour === 'steady');
  const lastStatus = new Map<string, string>();
  const lastResolveNote = new Map<string, number>();
  const noiseNotes = new Set<number>();
  const blipsSeen = new Set<string>();
  const incidentKeys = new Set<string>();
  let refires = 0;
  let criticalTtfn: number | null = null;
  let criticalBlipsPaged = 0;
  notes.forEach((n, i) => {
    for (const a of n.alerts) {
      const r = resourceOf.get(a.key);
      if (r === undefined) continue;
      if (r.behaviour === 'blip') {
        noiseNotes.add(i);
        blipsSeen.add(`${a.key}@${a.startsAt}`);
        if (a.status === 'firing' && r.severity === 'critical' && lastStatus.get(a.key) !== 'firing') criticalBlipsPaged++;
      } else if (a.status === 'firing') {
        incidentKeys.add(a.key);
        if (r.behaviour === 'flapping' && lastStatus.get(a.key) === 'resolved') {
          refires++;
          noiseNotes.add(i);
          const undone = lastResolveNote.get(a.key);
          if (undone !== undefined) noiseNotes.add(undone);
        }
      } else if (a.status === 'resolved') {
        lastResolveNote.set(a.key, i);
      }
      if (critical !== undefined && a.key === critical.key && a.status === 'firing' && criticalTtfn === null) criticalTtfn = scripted(n.at - critical.start);
      lastStatus.set(a.key, a.status);
    }
  });
  return {
    total: notes.length,
    firing: notes.filter((n) => n.status === 'firing').length,
    resolved: notes.filter((n) => n.status === 'resolved').length,
    reasons,
    perIncident: notes.length / truth.incidents,
    incidentsNotified: incidentKeys.size,
    flapsNotified: refires + blipsSeen.size,
    notesMentioningFlaps: noiseNotes.size,
    criticalTtfn,
    criticalBlipsPaged,
  };
}

// ---------------------------------------------------------------------------------------------
// Throughput: N single-signal requests to each, concurrency 16, load generator in its own process.

function loadgen(req: LoadRequest): Promise<LoadResult> {
  return runLoadgen(req, { track: children });
}

async function runThroughput(redis: OwnRedis): Promise<Array<[string, LoadResult]>> {
  const out: Array<[string, LoadResult]> = [];
  const warmup = Math.min(1000, Math.ceil(THROUGHPUT_N / 5));
  // meshdrift: the whole service in-process (workers included), group_wait 1h so nothing is sent.
  const raw: Record<string, string> = {
    PORT: '0',
    HOST: '127.0.0.1',
    REDIS_URL: redis.url,
    MESHDRIFT_KEY_PREFIX: 'bench-flap-tp',
    MESHDRIFT_GROUP_WAIT: '1h',
    MESHDRIFT_LOG_LEVEL: 'silent',
    MESHDRIFT_ALLOW_UNAUTHENTICATED: 'true',
  };
  const app = createApp({ env: loadEnv(raw), processEnv: raw, registry: new Registry(), log: createLogger('silent') });
  await app.start();
  try {
    out.push([
      'meshdrift  POST /webhooks/flux (1 HelmRelease DriftDetected, 1 object)',
      await loadgen({
        target: 'meshdrift-flux',
        url: `${app.address().url}/webhooks/flux`,
        count: THROUGHPUT_N,
        warmup,
        concurrency: THROUGHPUT_CONCURRENCY,
        runId: 'md',
      }),
    ]);
  } finally {
    await app.stop();
  }
  // Alertmanager: same group_by, group_wait 1h so nothing is sent either.
  const recorder = await startRecorder();
  const am = await startAlertmanager(
    alertmanagerConfig(recorder.url)
      .replace(/group_wait: .*/, 'group_wait: 1h')
      .replace(/group_interval: .*/, 'group_interval: 1h')
      .replace(/repeat_interval: .*/, 'repeat_interval: 4h'),
  );
  try {
    out.push([
      'alertmanager  POST /api/v2/alerts (1 alert)',
      await loadgen({ target: 'alertmanager', url: `${am.url}/api/v2/alerts`, count: THROUGHPUT_N, warmup, concurrency: THROUGHPUT_CONCURRENCY, runId: 'am' }),
    ]);
  } finally {
    await am.stop();
    await recorder.close();
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Printing.

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `  ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')}`;
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

const fmtTime = (s: number | null): string => {
  if (s === null) return 'never';
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - m * 60)).padStart(2, '0')}s`;
};

function printScenario(r: ScenarioResult): void {
  const { truth, figures: f } = r;
  const reasons = ['first', 'new-findings', 'severity-raised', 'some-resolved', 'resolved', 'repeat'];
  const extra = [...new Set(SYSTEMS.flatMap((s) => Object.keys(f[s].reasons)))].filter((k) => !reasons.includes(k));
  const cols = (fn: (x: Figures) => string) => SYSTEMS.map((s) => fn(f[s]));
  const rows: string[][] = [
    ['notifications delivered', ...cols((x) => String(x.total))],
    ['  status firing', ...cols((x) => String(x.firing))],
    ['  status resolved', ...cols((x) => String(x.resolved))],
    ...[...reasons, ...extra].map((k) => [`  reason ${k || '(none)'}`, ...cols((x) => String(x.reasons[k] ?? 0))]),
    [`notifications per real incident (${truth.incidents})`, ...cols((x) => x.perIncident.toFixed(2))],
    [`incidents notified (of ${truth.incidents})`, ...cols((x) => String(x.incidentsNotified))],
    [`flaps that reached the receiver (of ${truth.flaps})`, ...cols((x) => String(x.flapsNotified))],
    ['notifications caused by flaps (noise)', ...cols((x) => String(x.notesMentioningFlaps))],
    ['critical blips sent as firing (a page)', ...cols((x) => String(x.criticalBlipsPaged))],
    ['first notice of the critical AuthorizationPolicy', ...cols((x) => fmtTime(x.criticalTtfn))],
  ];
  process.stdout.write(
    `\n${r.scenario.title}: ${r.scenario.apps.length} apps, ${truth.episodes} drift episodes, ${truth.incidents} real incidents, ${truth.flaps} flaps; ${(r.realMs / 1000).toFixed(1)} s real\n`,
  );
  process.stdout.write(`${table(['', 'meshdrift', 'md pending_for 2m', 'alertmanager', 'am + for: 2m'], rows)}\n`);
  const ratio = (a: System, b: System) => (f[b].total === 0 ? 'n/a' : (f[a].total / f[b].total).toFixed(2));
  process.stdout.write(
    `  ratios (notifications): meshdrift/alertmanager ${ratio('meshdrift', 'alertmanager')}, ` +
      `md pending_for 2m / alertmanager ${ratio('meshdrift+pending', 'alertmanager')}, ` +
      `md pending_for 2m / am + for: 2m ${ratio('meshdrift+pending', 'alertmanager+for')}\n`,
  );
  if (!r.rawReasonField)
    process.stdout.write('  (Alertmanager 0.25 sends no notification_reason: its reasons are derived from consecutive payloads of a group)\n');
}

async function main(): Promise<void> {
  if (!existsSync(ALERTMANAGER_BIN)) throw new Error(`${ALERTMANAGER_BIN} is missing (apt-get install prometheus-alertmanager)`);
  const started = Date.now();
  process.stdout.write(
    `meshdrift vs Alertmanager, flapping drift (node ${process.version}, ${ALERTMANAGER_BIN})\n` +
      `time scale: 1 scripted minute = ${(60 / SCALE).toFixed(2)} real s; timers group_wait ${dur(TIMERS.groupWait)}, group_interval ${dur(TIMERS.groupInterval)}, repeat_interval ${dur(TIMERS.repeatInterval)}, pending_for/for ${dur(TIMERS.pendingFor)} (real)\n`,
  );
  const redis = await startOwnRedis();
  ownRedis = redis;
  try {
    for (const s of [tenMinutes, oneHour].filter((x) => ONLY === undefined || ONLY.includes(x.id))) printScenario(await runScenario(s, redis));
    if (THROUGHPUT_N > 0) {
      const tp = await runThroughput(redis);
      process.stdout.write(
        `\nthroughput: ${THROUGHPUT_N} single-signal POSTs each (after a warm-up), ${THROUGHPUT_CONCURRENCY} concurrent, load generator in a separate node process\n`,
      );
      process.stdout.write(
        `${table(
          ['', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'statuses'],
          tp.map(([k, v]) => [
            k,
            ((v.count / v.ms) * 1000).toFixed(0),
            v.p50.toFixed(1),
            v.p99.toFixed(1),
            v.max.toFixed(1),
            Object.entries(v.statuses)
              .map(([s, n]) => `${s}x${n}`)
              .join(' '),
          ]),
        )}\n`,
      );
      const [md, am] = tp.map(([, v]) => (v.count / v.ms) * 1000);
      if (md !== undefined && am !== undefined) process.stdout.write(`  ratio meshdrift/alertmanager req/s: ${(md / am).toFixed(2)}\n`);
    }
  } finally {
    await redis.stop();
  }
  process.stdout.write(`\ntotal ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
}

async function cleanup(): Promise<void> {
  await Promise.all([...children].map((c) => stopChild(c).catch(() => undefined)));
  await ownRedis?.stop().catch(() => undefined);
  await Promise.all([...tempDirs].map((d) => rm(d, { recursive: true, force: true }).catch(() => undefined)));
}

const deadline = setTimeout(() => {
  process.stderr.write(`bench exceeded ${DEADLINE_MS / 1000} s, stopping\n`);
  void cleanup().finally(() => process.exit(2));
}, DEADLINE_MS);
deadline.unref();

main().then(
  async () => {
    await cleanup();
    process.exit(0);
  },
  async (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    await cleanup();
    process.exit(1);
  },
);
