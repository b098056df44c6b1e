import { describe, expect, it } from 'vitest';
import { policySchema } from '../../../src/config/policy.ts';
import { policyWarnings } from '../../../src/config/warnings.ts';

const receivers = [
  { name: 'log', console: {} },
  { name: 'auto', remediate: { action: 'argocd-sync', argocd: { url: 'https://argocd.example.com', token_env: 'T' } } },
];
const warningsOf = (route: unknown): string[] => policyWarnings(policySchema.parse({ receivers, route }));

describe('policyWarnings: a remediate route without a category matcher', () => {
  it('warns about a remediate route that does not say which categories it sends', () => {
    const w = warningsOf({ receiver: 'log', routes: [{ matchers: ['cluster="prod"'], receiver: 'auto' }] });
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/^route\.routes\[0\]: sends to remediate receiver "auto" without a category matcher/);
  });
  it('is quiet when the route or an ancestor matches on category (any operator)', () => {
    expect(warningsOf({ receiver: 'log', routes: [{ matchers: ['category="traffic"'], receiver: 'auto' }] })).toEqual([]);
    expect(warningsOf({ receiver: 'log', routes: [{ matchers: ['category!~"non-mesh"'], receiver: 'auto' }] })).toEqual([]);
    expect(warningsOf({ receiver: 'log', routes: [{ matchers: ['category=~"traffic|security"'], routes: [{ receiver: 'auto' }] }] })).toEqual([]);
  });
  it('warns about the root route sending to a remediate receiver, and says nothing of other receivers', () => {
    expect(warningsOf({ receiver: 'auto' })).toHaveLength(1);
    expect(warningsOf({ receiver: 'log', routes: [{ matchers: ['cluster="prod"'], receiver: 'log' }] })).toEqual([]);
  });
});
