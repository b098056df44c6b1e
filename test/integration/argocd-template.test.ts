import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { App } from '../../src/app.ts';
import { renderArgoCdTemplate } from '../support/argocd-template.ts';
import { readFixture } from '../support/fixtures.ts';
import { redisUrl, testPrefix } from '../support/redis.ts';
import { postArgocd, startService, stopService } from '../support/service.ts';

// deploy/argocd is what users apply: render its templates against the real fixtures and post the
// result, as Argo CD's notifications controller would.
const CM = parse(readFileSync(new URL('../../deploy/argocd/argocd-notifications-cm.yaml', import.meta.url), 'utf8')) as { data: Record<string, string> };
const bodyTemplate = (name: string): string => {
  const t = parse(CM.data[`template.${name}`] ?? '') as { webhook: { meshdrift: { method: string; path: string; body: string } } };
  expect(t.webhook.meshdrift.method).toBe('POST');
  expect(t.webhook.meshdrift.path).toBe('/webhooks/argocd');
  return t.webhook.meshdrift.body;
};
const context = parse(CM.data.context ?? '') as Record<string, unknown>;

const FIXTURES = [
  ['synthetic-app-outofsync-istio-gatewayapi-v3.json', 'meshdrift-state', 4],
  ['app-outofsync-requirespruning-v3.json', 'meshdrift-state', 2],
  ['app-outofsync-syncfailed-missing-v2.json', 'meshdrift-state', 1],
  ['app-synced-healthy-appset-owned.json', 'meshdrift-clean', 0],
  ['app-synced-progressing-v3.json', 'meshdrift-state', 0],
] as const;

let svc: (App & { url: string }) | undefined;
let prefix: string;
beforeEach(async () => {
  prefix = testPrefix('tmpl');
  svc = await startService({ redisUrl: redisUrl(), prefix });
});
afterEach(async () => stopService(svc, redisUrl(), prefix));

describe('the shipped argocd-notifications templates', () => {
  it('subscribes both triggers to the meshdrift webhook service with a bearer token from the secret', () => {
    expect(CM.data['service.webhook.meshdrift']).toContain('Bearer $meshdrift-token');
    expect(CM.data.subscriptions).toContain('on-meshdrift-state');
    expect(CM.data.subscriptions).toContain('on-meshdrift-clean');
  });

  it.each(FIXTURES)('%s rendered with template %s is accepted with %d findings', async (file, template, findings) => {
    const body = renderArgoCdTemplate(bodyTemplate(template), { app: readFixture(`argocd/${file}`), context });
    const parsed = JSON.parse(body) as { cluster: string; app: { metadata: Record<string, unknown> } };
    expect(parsed.cluster).toBe('prod-eu-1');
    expect(parsed.app.metadata).not.toHaveProperty('managedFields');
    const res = await postArgocd(svc?.url ?? '', body);
    expect(res.status).toBe(202);
    expect(((await res.json()) as { findings: number }).findings).toBe(findings);
  });
});
