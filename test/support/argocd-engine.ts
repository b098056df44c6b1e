import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/**
 * Argo CD's notifications engine, for tests: the real libraries for what they compute (expr for
 * `when`/`oncePer`, Go text/template + sprig for bodies: test/argocd-engine/main.go, built from
 * Debian's Go packages), and a replay of notifications-engine's notified-state rules in TypeScript
 * (`NotificationsReplay`). The rules replayed, with their sources, are in docs/argocd-notifications.md.
 */

const GO = '/usr/bin/go';
const GOCODE = '/usr/share/gocode/src/github.com';
const REQUIRED = [`${GOCODE}/antonmedv/expr`, `${GOCODE}/Masterminds/sprig`];
const SOURCE_DIR = fileURLToPath(new URL('../argocd-engine/', import.meta.url));

/** Why the engine cannot be built here, or undefined when it can. */
export function engineUnavailable(): string | undefined {
  if (!existsSync(GO)) return `${GO} is missing (Debian golang-go)`;
  const missing = REQUIRED.filter((p) => !existsSync(p));
  if (missing.length > 0) return `missing Go packages: ${missing.join(', ')} (Debian golang-github-antonmedv-expr-dev, golang-github-masterminds-sprig-dev)`;
  return undefined;
}

/** Skip locally with a clear reason; under CI=true a missing toolchain is a failure (.ci/install-packages installs it). */
export function engineSkipReason(): string | undefined {
  const why = engineUnavailable();
  if (why !== undefined && process.env.CI === 'true') throw new Error(`the Argo CD engine test needs Go under CI=true: ${why}`);
  if (why !== undefined) console.warn(`skipping real-engine Argo CD tests: ${why}`);
  return why;
}

interface Answer {
  value?: unknown;
  text?: string;
  error?: string;
}

export class ArgocdEngine {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly pending: Array<(a: Answer) => void> = [];
  private buffer = '';

  private readonly dir: string;

  private constructor(binary: string, dir: string) {
    this.dir = dir;
    this.child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) !== -1) {
        const line = this.buffer.slice(0, nl);
        this.buffer = this.buffer.slice(nl + 1);
        this.pending.shift()?.(JSON.parse(line) as Answer);
      }
    });
  }

  /** Builds test/argocd-engine with GO111MODULE=off GOPATH=/usr/share/gocode:<tmp> and starts it. */
  static start(): ArgocdEngine {
    const dir = mkdtempSync(join(tmpdir(), 'meshdrift-argocd-engine-'));
    const binary = join(dir, 'argocd-engine');
    const built = spawnSync(GO, ['build', '-o', binary, '.'], {
      cwd: SOURCE_DIR,
      env: { ...process.env, GO111MODULE: 'off', GOPATH: `/usr/share/gocode:${dir}`, GOCACHE: join(dir, 'cache'), GOFLAGS: '' },
      encoding: 'utf8',
      timeout: 240_000,
    });
    if (built.status !== 0) throw new Error(`go build of test/argocd-engine failed: ${built.stderr || built.error?.message}`);
    return new ArgocdEngine(binary, dir);
  }

  private ask(req: Record<string, unknown>): Promise<Answer> {
    return new Promise((resolve) => {
      this.pending.push(resolve);
      this.child.stdin.write(`${JSON.stringify(req)}\n`);
    });
  }

  /** expr.Compile: undefined when it parses, else the error. */
  async compileError(expr: string): Promise<string | undefined> {
    return (await this.ask({ op: 'compile', expr })).error;
  }

  /** expr.Run: a bool as is, anything else as Go's `%v`, or the error. */
  async evaluate(expr: string, vars: Record<string, unknown>): Promise<{ value?: unknown; error?: string }> {
    const a = await this.ask({ op: 'eval', expr, vars });
    return a.error === undefined ? { value: a.value } : { error: a.error };
  }

  /** A ConfigMap value parsed by Go's yaml.v3, as JSON. */
  async yaml(text: string): Promise<{ value?: unknown; error?: string }> {
    const a = await this.ask({ op: 'yaml', template: text });
    return a.error === undefined ? { value: a.value } : { error: a.error };
  }

  async render(template: string, vars: Record<string, unknown>): Promise<string> {
    const a = await this.ask({ op: 'render', template, vars });
    if (a.error !== undefined || a.text === undefined) throw new Error(`template: ${a.error ?? 'no text'}`);
    return a.text;
  }

  stop(): void {
    this.child.stdin.end();
    this.child.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// ── The shipped configuration ─────────────────────────────────────────────────────────────────

export interface Condition {
  when: string;
  oncePer?: string;
  send: string[];
}
export interface WebhookTemplate {
  method: string;
  path: string;
  body: string;
}
export interface NotificationsConfig {
  triggers: Record<string, Condition[]>;
  templates: Record<string, WebhookTemplate>;
}

/** Triggers and the meshdrift webhook templates from argocd-notifications-cm `data`. */
export function parseNotificationsConfig(data: Record<string, string>): NotificationsConfig {
  const triggers: Record<string, Condition[]> = {};
  const templates: Record<string, WebhookTemplate> = {};
  for (const [key, value] of Object.entries(data)) {
    if (key.startsWith('trigger.')) triggers[key.slice('trigger.'.length)] = parse(value) as Condition[];
    if (key.startsWith('template.')) {
      const t = parse(value) as { webhook?: { meshdrift?: WebhookTemplate } };
      if (t.webhook?.meshdrift) templates[key.slice('template.'.length)] = t.webhook.meshdrift;
    }
  }
  return { triggers, templates };
}

// ── notifications-engine's per-resource pass, replayed ────────────────────────────────────────

const sha1 = (s: string): string => createHash('sha1').update(s).digest('hex');

export interface Delivery {
  trigger: string;
  template: string;
  method: string;
  path: string;
  body: string;
}

/**
 * One Application's pass through the notifications controller (notifications-engine
 * pkg/controller/controller.go processResourceWithAPI + pkg/controller/state.go, Argo CD
 * notification_controller/controller/controller.go isAppSyncStatusRefreshed), with the
 * `notified.notifications.argoproj.io` annotation kept in `state`.
 */
export class NotificationsReplay {
  /** The annotation: key → unix seconds of the send. */
  readonly state = new Map<string, number>();
  /** Expression errors the engine would log (when/oncePer). */
  readonly errors: string[] = [];
  private clock = 1_700_000_000;

  private readonly engine: ArgocdEngine;
  private readonly config: NotificationsConfig;
  private readonly context: Record<string, unknown>;
  private readonly subscribed: readonly string[];

  /** `subscribed`: the triggers subscribed, each with the destination `meshdrift` (service) and recipient ''. */
  constructor(engine: ArgocdEngine, config: NotificationsConfig, context: Record<string, unknown>, subscribed: readonly string[]) {
    this.engine = engine;
    this.config = config;
    this.context = context;
    this.subscribed = subscribed;
  }

  /** Runs one pass; `deliver` posts a rendered body and says whether it succeeded (2xx). */
  async process(app: Record<string, unknown>, deliver: (d: Delivery) => Promise<boolean>): Promise<Delivery[]> {
    this.clock += 1;
    if (!isAppSyncStatusRefreshed(app)) return [];
    const sent: Delivery[] = [];
    for (const trigger of this.subscribed) {
      const conditions = this.config.triggers[trigger] ?? [];
      for (const [i, c] of conditions.entries()) {
        const key = `[${i}].${sha1(c.when)}`;
        const when = await this.engine.evaluate(c.when, { app });
        if (when.error !== undefined) this.errors.push(`${trigger} when: ${when.error}`);
        const triggered = when.value === true;
        let oncePer = '';
        if (triggered && c.oncePer !== undefined) {
          const o = await this.engine.evaluate(c.oncePer, { app });
          if (o.error !== undefined) this.errors.push(`${trigger} oncePer: ${o.error}`);
          else oncePer = String(o.value);
        }
        // StateItemKey(false, ns, trigger, result, dest): trigger:key:service:recipient, oncePer-prefixed.
        const stateKey = `${oncePer === '' ? '' : `${oncePer}:`}${trigger}:${key}:meshdrift:`;
        if (!triggered) {
          // SetAlreadyNotified(false): oncePer is '' here (not evaluated), so the unprefixed key goes.
          this.state.delete(stateKey);
          continue;
        }
        if (this.state.has(stateKey)) continue; // already notified
        this.state.set(stateKey, this.clock);
        for (const template of c.send) {
          const t = this.config.templates[template];
          if (t === undefined) throw new Error(`template ${template} has no meshdrift webhook`);
          const delivery: Delivery = {
            trigger,
            template,
            method: t.method,
            path: t.path,
            body: await this.engine.render(t.body, { app, context: this.context }),
          };
          sent.push(delivery);
          // HandleSendError → retry: SetAlreadyNotified(false), which keeps an oncePer key.
          if (!(await deliver(delivery)) && oncePer === '') this.state.delete(stateKey);
        }
      }
    }
    // Persist → truncate(100), oldest first.
    if (this.state.size > 100) {
      const oldest = [...this.state.entries()].sort((a, b) => a[1] - b[1]).slice(0, this.state.size - 100);
      for (const [k] of oldest) this.state.delete(k);
    }
    return sent;
  }

  /** The annotation as the controller would write it (JSON). */
  annotation(): string {
    return JSON.stringify(Object.fromEntries(this.state));
  }
}

/** Argo CD skips an app whose last operation finished after its last comparison. */
export function isAppSyncStatusRefreshed(app: Record<string, unknown>): boolean {
  const status = app['status'] as Record<string, unknown> | undefined;
  const op = status?.['operationState'] as Record<string, unknown> | undefined;
  if (op === undefined || typeof op['phase'] !== 'string') return true;
  if (!['Failed', 'Error', 'Succeeded'].includes(op['phase'])) return true;
  const finished = Date.parse(String(op['finishedAt'] ?? ''));
  if (!Number.isFinite(finished)) return false;
  const reconciled = Date.parse(String(status?.['reconciledAt'] ?? '')) || 0;
  const observed = Date.parse(String(status?.['observedAt'] ?? '')) || 0;
  return !(finished > reconciled && finished > observed);
}
