import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createAppIndex, ignoreOf, ignoreRulesSchema, MAX_ENTRIES, MAX_RULES } from '../../../../src/sources/argocd/app-index.ts';
import { slim, slimApplicationSchema } from '../../../../src/sources/kube/slim.ts';

const VS = { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'bookinfo', name: 'reviews' };
const OWNER = { kind: 'Application', namespace: 'argocd', name: 'guestbook' };

describe('ignoreDifferences rules', () => {
  it("match as Argo CD matches them: group and kind equal or '*', empty group = core, name and namespace when set", () => {
    const rules = ignoreRulesSchema.parse([
      { group: 'networking.istio.io', kind: 'VirtualService', jsonPointers: ['/spec/http/0/route'] },
      { group: '*', kind: '*', managedFieldsManagers: ['flagger'] },
      { kind: 'VirtualService', jsonPointers: ['/core-only'] },
      { group: 'networking.istio.io', kind: 'VirtualService', name: 'ratings', jsonPointers: ['/other-name'] },
      { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'bookinfo', jqPathExpressions: ['.spec.http[].timeout'] },
    ]);
    expect(ignoreOf(rules, VS)).toEqual({ pointers: ['/spec/http/0/route'], managers: ['flagger'], jq: true });
    expect(ignoreOf(rules, { ...VS, group: '', kind: 'VirtualService' }).pointers).toEqual(['/core-only']);
  });

  it('are bounded and a malformed rule is dropped, never the list', () => {
    const many = Array.from({ length: MAX_RULES + 10 }, () => ({ kind: 'X', jsonPointers: Array.from({ length: MAX_ENTRIES + 5 }, (_, i) => `/a/${i}`) }));
    const parsed = ignoreRulesSchema.parse([{ group: 'g' }, 42, ...many]);
    expect(parsed).toHaveLength(MAX_RULES);
    expect(parsed[0]?.jsonPointers).toHaveLength(MAX_ENTRIES);
    expect(ignoreRulesSchema.parse('not a list')).toEqual([]);
    expect(ignoreRulesSchema.parse([{ kind: 'X', jsonPointers: ['/ok', 7, 'x'.repeat(2000)] }])[0]?.jsonPointers).toEqual(['/ok']);
  });
});

describe('the Application slim schema keeps ignoreDifferences', () => {
  it('from a real Application of the fixtures (none set: an empty list) and from a spec that has them', () => {
    const raw = JSON.parse(readFileSync(new URL('../../../../../shared/fixtures/argocd/app-synced-progressing-v3.json', import.meta.url), 'utf8')) as {
      spec: Record<string, unknown>;
    };
    const plain = slim(slimApplicationSchema, raw);
    expect(plain.ok && plain.object.spec?.ignoreDifferences).toEqual([]);
    raw.spec.ignoreDifferences = [{ group: 'apps', kind: 'Deployment', jsonPointers: ['/spec/replicas'], managedFieldsManagers: ['hpa'] }];
    const withRules = slim(slimApplicationSchema, raw);
    expect(withRules.ok && withRules.object.spec?.ignoreDifferences).toEqual([
      { group: 'apps', kind: 'Deployment', jsonPointers: ['/spec/replicas'], managedFieldsManagers: ['hpa'], jqPathExpressions: 0 },
    ]);
  });
});

describe('the app index lookup', () => {
  const app = (destination: Record<string, string>, project = 'payments') => ({
    metadata: { name: 'guestbook', namespace: 'argocd', labels: { team: 'a' } },
    spec: { project, destination },
  });

  it("prefers the app whose destination is the cluster the object is in; else the same cluster's app; else none", () => {
    const index = createAppIndex({ destinations: new Map([['https://10.0.0.7:6443', 'spoke']]) });
    index.put('hub', app({ server: 'https://kubernetes.default.svc' }, 'hub-project'));
    index.put('spoke-argocd', app({ server: 'https://10.0.0.7:6443' }, 'spoke-project'));
    expect(index.lookup('hub', OWNER)?.project).toBe('hub-project');
    expect(index.lookup('spoke', OWNER)).toMatchObject({ cluster: 'spoke-argocd', project: 'spoke-project' });
    expect(index.lookup('elsewhere', OWNER)).toBeUndefined();
    expect(index.lookup('hub', { ...OWNER, kind: 'Kustomization' })).toBeUndefined();
    index.remove('spoke-argocd', app({}));
    expect(index.lookup('spoke', OWNER)).toBeUndefined();
    expect(index.size()).toBe(1);
  });

  it('a destination named like the meshdrift cluster needs no mapping; an in-cluster app of another cluster is not the owner', () => {
    const index = createAppIndex();
    index.put('hub', app({ name: 'spoke' }));
    expect(index.lookup('spoke', OWNER)?.cluster).toBe('hub');
    const other = createAppIndex();
    other.put('hub', app({ name: 'in-cluster' }));
    expect(other.lookup('spoke', OWNER)).toBeUndefined();
  });
});
