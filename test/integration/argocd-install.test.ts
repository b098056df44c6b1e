import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';

// Issue #13 item 5: following the install docs on an Argo CD that already has notifications
// (`context` with their argocdUrl, Slack `subscriptions`, their own services) keeps all of it.
// The patches are applied with the real `kubectl patch --local` (no cluster needed).
const KUBECTL = '/usr/bin/kubectl';
const missing = !existsSync(KUBECTL);
if (missing && process.env.CI === 'true') throw new Error(`${KUBECTL} is required under CI=true (.ci/install-packages installs kubernetes-client)`);
if (missing) console.warn(`skipping kubectl patch checks: ${KUBECTL} is missing (Debian kubernetes-client)`);

const file = (name: string): string => readFileSync(new URL(`../../deploy/argocd/${name}`, import.meta.url), 'utf8');
type Obj = Record<string, unknown>;
const OURS = (parse(file('argocd-notifications-cm.yaml')) as { data: Record<string, string> }).data;

const THEIR_CONTEXT = 'argocdUrl: https://argocd.corp.example\nenvironment: prod\n';
const THEIR_SUBSCRIPTIONS = '- recipients: [slack:platform-alerts]\n  triggers: [on-sync-failed, on-health-degraded]\n';
const THEIR_SERVICE = 'token: $slack-token\n';

const dir = mkdtempSync(join(tmpdir(), 'meshdrift-argocd-install-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `kubectl patch --local -f <existing> --type <type> --patch-file <ours> -o json`. */
function patchLocal(existing: Obj, patchFile: string, type: 'merge' | 'strategic'): Obj {
  const target = join(dir, `existing-${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(target, stringify(existing));
  const out = spawnSync(KUBECTL, ['patch', '--local', '-f', target, '--type', type, '--patch-file', fileURLPath(patchFile), '-o', 'json'], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (out.status !== 0) throw new Error(`kubectl patch failed: ${out.stderr}`);
  return JSON.parse(out.stdout) as Obj;
}
const fileURLPath = (name: string): string => new URL(`../../deploy/argocd/${name}`, import.meta.url).pathname;

describe.skipIf(missing)('install on an Argo CD that already has notifications', () => {
  const existingCm = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'argocd-notifications-cm', namespace: 'argocd', labels: { 'app.kubernetes.io/part-of': 'argocd' } },
    data: { context: THEIR_CONTEXT, subscriptions: THEIR_SUBSCRIPTIONS, 'service.slack': THEIR_SERVICE, 'trigger.on-sync-failed': '- when: x\n  send: [y]\n' },
  };

  it.each(['merge', 'strategic'] as const)('plain ConfigMap, `kubectl patch --type %s`: our keys are added, theirs kept byte for byte', (type) => {
    const result = patchLocal(existingCm, 'argocd-notifications-cm.yaml', type) as { data: Record<string, string>; metadata: Obj };
    expect(result.data['context']).toBe(THEIR_CONTEXT);
    expect(result.data['subscriptions']).toBe(THEIR_SUBSCRIPTIONS);
    expect(result.data).toEqual({ ...existingCm.data, ...OURS });
    expect(result.metadata['labels']).toEqual(existingCm.metadata.labels);
  });

  it("AppProject subscription: two annotations added, the project's own annotations kept", () => {
    const project = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'AppProject',
      metadata: {
        name: 'payments',
        namespace: 'argocd',
        annotations: { 'notifications.argoproj.io/subscribe.on-sync-failed.slack': 'payments-alerts', owner: 'team-payments' },
      },
      spec: { sourceRepos: ['*'] },
    };
    const result = patchLocal(project, 'appproject-subscriptions.patch.yaml', 'merge') as { metadata: { annotations: Record<string, string> }; spec: Obj };
    expect(result.metadata.annotations).toEqual({
      ...project.metadata.annotations,
      'notifications.argoproj.io/subscribe.on-meshdrift-state.meshdrift': '',
      'notifications.argoproj.io/subscribe.on-meshdrift-clean.meshdrift': '',
    });
    expect(result.spec).toEqual(project.spec);
  });

  it('Argo CD Operator NotificationsConfiguration: services, triggers and templates merged, subscriptions kept', () => {
    const cr = {
      apiVersion: 'argoproj.io/v1alpha1',
      kind: 'NotificationsConfiguration',
      metadata: { name: 'default-notifications-configuration', namespace: 'argocd' },
      spec: {
        services: { 'service.slack': THEIR_SERVICE },
        triggers: { 'trigger.on-sync-failed': '- when: x\n  send: [y]\n' },
        templates: { 'template.app-sync-failed': 'message: failed\n' },
        subscriptions: { subscriptions: THEIR_SUBSCRIPTIONS },
      },
    };
    const result = patchLocal(cr, 'notificationsconfiguration.patch.yaml', 'merge') as { spec: Record<string, Record<string, string>> };
    expect(result.spec['subscriptions']).toEqual(cr.spec.subscriptions);
    const pick = (prefix: string) => Object.fromEntries(Object.entries(OURS).filter(([k]) => k.startsWith(prefix)));
    expect(result.spec['services']).toEqual({ ...cr.spec.services, ...pick('service.') });
    expect(result.spec['triggers']).toEqual({ ...cr.spec.triggers, ...pick('trigger.') });
    expect(result.spec['templates']).toEqual({ ...cr.spec.templates, ...pick('template.') });
  });
});

// Helm is not available offline: its values merge (chartutil.CoalesceTables: maps merge key by key,
// anything else from the later file wins) and the chart's configmap template
// (argo-helm charts/argo-cd/templates/argocd-notifications/configmap.yaml: context from argocdUrl +
// notifications.context, then each notifiers/templates/triggers entry as a key, subscriptions as
// one key) are replayed here.
function coalesce(base: unknown, over: unknown): unknown {
  const isMap = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (!isMap(base) || !isMap(over)) return over === undefined ? base : over;
  const out: Obj = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = coalesce(base[k], v);
  return out;
}
function chartConfigMapData(values: { notifications: Obj }): Record<string, string> {
  const n = values.notifications as {
    argocdUrl?: string;
    context?: Obj;
    notifiers?: Record<string, string>;
    templates?: Record<string, string>;
    triggers?: Record<string, string>;
    subscriptions?: unknown[];
  };
  const data: Record<string, string> = { context: stringify({ argocdUrl: n.argocdUrl ?? null, ...n.context }) };
  Object.assign(data, n.notifiers ?? {}, n.templates ?? {}, n.triggers ?? {});
  if (n.subscriptions !== undefined && n.subscriptions.length > 0) data['subscriptions'] = stringify(n.subscriptions);
  return data;
}

describe('argo-cd Helm chart values', () => {
  const ours = parse(file('helm-values.yaml')) as { notifications: Obj };

  it("set only notifiers, triggers and templates (maps Helm merges), with the ConfigMap's exact text", () => {
    expect(Object.keys(ours.notifications).sort()).toEqual(['notifiers', 'templates', 'triggers']);
    expect(chartConfigMapData(ours)).toEqual({ context: 'argocdUrl: null\n', ...OURS });
  });

  it("merged after a user's values, keep their context, subscriptions and services", () => {
    const theirs = {
      notifications: {
        argocdUrl: 'https://argocd.corp.example',
        context: { environment: 'prod' },
        notifiers: { 'service.slack': THEIR_SERVICE },
        subscriptions: [{ recipients: ['slack:platform-alerts'], triggers: ['on-sync-failed'] }],
      },
    };
    const data = chartConfigMapData(coalesce(theirs, ours) as { notifications: Obj });
    expect(data).toEqual({ ...chartConfigMapData(theirs), ...OURS });
    expect(parse(data['subscriptions'] ?? '')).toEqual(theirs.notifications.subscriptions);
    expect(parse(data['context'] ?? '')).toEqual({ argocdUrl: 'https://argocd.corp.example', environment: 'prod' });
  });
});

describe('the Operator patch', () => {
  it("carries the ConfigMap's exact text and no subscriptions", () => {
    const spec = (parse(file('notificationsconfiguration.patch.yaml')) as { spec: Record<string, Record<string, string>> }).spec;
    expect(Object.keys(spec).sort()).toEqual(['services', 'templates', 'triggers']);
    expect({ ...spec['services'], ...spec['triggers'], ...spec['templates'] }).toEqual(OURS);
  });
});
