import { describe, expect, it } from 'vitest';
import { ownerRefSchema, resourceRefSchema, signalIdentityIssue, type Signal } from '../../../src/model/signal.ts';

// Issue #12 item 13: identities that cannot collide or lie. Kubernetes names cannot hold these
// characters, so refusing them at the edge costs nothing.

const signal = (over: Partial<Pick<Signal, 'cluster' | 'owner' | 'resources'>> = {}): Pick<Signal, 'cluster' | 'owner' | 'resources'> => ({
  cluster: 'prod-eu',
  owner: { kind: 'Application', namespace: 'argocd', name: 'payments' },
  resources: [
    { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'payments', name: 'payments', state: 'Modified' },
    { group: '', kind: 'Service', namespace: 'payments', name: 'payments-v2', state: 'InSync' },
  ],
  ...over,
});

describe('signalIdentityIssue', () => {
  it('accepts ordinary identities, cluster-scoped resources and the core group', () => {
    expect(signalIdentityIssue(signal())).toBeNull();
    expect(signalIdentityIssue(signal({ resources: [{ group: '', kind: 'Namespace', namespace: '', name: 'payments', state: 'Modified' }] }))).toBeNull();
  });

  it.each<[string, Partial<Pick<Signal, 'cluster' | 'owner' | 'resources'>>, string, string]>([
    [
      'a NUL in a resource name (two names differing by it would collapse)',
      {
        resources: [
          { group: '', kind: 'Service', namespace: 'p', name: 'a', state: 'Modified' },
          { group: '', kind: 'Service', namespace: 'p', name: 'a\u0000', state: 'Modified' },
        ],
      },
      'resources.1.name',
      'U+0000 at 1',
    ],
    [
      'a newline in a namespace',
      { resources: [{ group: '', kind: 'Service', namespace: 'p\nFAKE', name: 'a', state: 'Modified' }] },
      'resources.0.namespace',
      'U+000A at 1',
    ],
    ['DEL in a kind', { resources: [{ group: '', kind: 'Serv\u007Fice', namespace: 'p', name: 'a', state: 'Modified' }] }, 'resources.0.kind', 'U+007F at 4'],
    [
      'a C1 control in a group',
      { resources: [{ group: 'x\u009B', kind: 'Service', namespace: 'p', name: 'a', state: 'Modified' }] },
      'resources.0.group',
      'U+009B at 1',
    ],
    ['a bidi override in the owner name', { owner: { kind: 'Application', namespace: 'argocd', name: 'pay\u202Ements' } }, 'owner.name', 'U+202E at 3'],
    [
      'a bidi isolate in the owner namespace',
      { owner: { kind: 'Application', namespace: '\u2066argocd', name: 'payments' } },
      'owner.namespace',
      'U+2066 at 0',
    ],
    ['an ALM in the owner kind', { owner: { kind: 'Appli\u061Ccation', namespace: 'argocd', name: 'payments' } }, 'owner.kind', 'U+061C at 5'],
    ['a zero-width space in the cluster', { cluster: 'prod\u200B' }, 'cluster', 'U+200B at 4'],
    [
      'a BOM in a resource name',
      { resources: [{ group: '', kind: 'Service', namespace: 'p', name: '\uFEFFa', state: 'Modified' }] },
      'resources.0.name',
      'U+FEFF at 0',
    ],
    [
      'a word joiner in a resource name',
      { resources: [{ group: '', kind: 'Service', namespace: 'p', name: 'a\u2060b', state: 'Modified' }] },
      'resources.0.name',
      'U+2060 at 1',
    ],
  ])('refuses %s, naming the field and the character (not the value)', (_name, over, field, where) => {
    expect(signalIdentityIssue(signal(over))).toEqual({ field, reason: `must not contain control, bidi or zero-width characters (${where})` });
  });

  it('the ref schemas refuse the same, wherever they parse (stored state, queue payloads, audit)', () => {
    expect(ownerRefSchema.safeParse({ kind: 'Application', namespace: 'argocd', name: 'a\u0000' }).success).toBe(false);
    expect(resourceRefSchema.safeParse({ group: '', kind: 'Service', namespace: 'p', name: 'a\u200D' }).success).toBe(false);
    expect(resourceRefSchema.safeParse({ group: '', kind: 'Service', namespace: 'p', name: 'café-日本' }).success).toBe(true);
  });
});
