import { describe, expect, it } from 'vitest';
import { remediationKeys } from '../../../src/remediate/keys.ts';
import { ownerKey } from '../../../src/model/owner.ts';

/** The remediator's Redis keys are persisted forms: byte-identical to what earlier versions wrote. */
describe('remediation key layout (golden)', () => {
  const keys = remediationKeys('meshdrift');
  const owner = ownerKey({ cluster: 'prod', tool: 'argocd', owner: { kind: 'Application', namespace: 'argocd', name: 'payments-mesh' } });

  it('builds every family as <prefix>:remediate:<family>:…', () => {
    expect(owner).toBe('prod/argocd/Application/argocd/payments-mesh');
    expect(keys.actions(owner)).toBe('meshdrift:remediate:actions:prod/argocd/Application/argocd/payments-mesh');
    expect(keys.history('fp-1')).toBe('meshdrift:remediate:history:fp-1');
    expect(keys.escalated('fp-1')).toBe('meshdrift:remediate:escalated:fp-1');
    expect(keys.defer(owner)).toBe('meshdrift:remediate:defer:prod/argocd/Application/argocd/payments-mesh');
    expect(keys.done('auto-sync', 'g1', 7, owner)).toBe('meshdrift:remediate:done:auto-sync:g1:7:prod/argocd/Application/argocd/payments-mesh');
    expect(keys.lock(owner)).toBe('meshdrift:remediate:lock:prod/argocd/Application/argocd/payments-mesh');
    expect(keys.latest('auto-sync', 'g1', owner)).toBe('meshdrift:remediate:latest:auto-sync:g1:prod/argocd/Application/argocd/payments-mesh');
    expect(keys.verdict('auto-sync:prod/argocd/Application/argocd/payments-mesh:1700000000000:abcd1234')).toBe(
      'meshdrift:remediate:verdict:auto-sync:prod/argocd/Application/argocd/payments-mesh:1700000000000:abcd1234',
    );
    expect(keys.escalation('auto-sync', owner)).toBe('meshdrift:remediate:escalation:auto-sync:prod/argocd/Application/argocd/payments-mesh');
  });
});
