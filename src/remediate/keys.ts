/**
 * The remediator's Redis key layout: every key family it keeps, built here and nowhere else
 * (`<prefix>:remediate:<family>:…`). Persisted forms: byte-identical to what earlier versions wrote
 * (pinned by test/unit/remediate/keys.test.ts). `ownerKey` is model/owner.ts `ownerKey`.
 */
export interface RemediationKeys {
  /** Sorted set of an owner's actions (score: when), for the rate limit. */
  actions(ownerKey: string): string;
  /** Sorted set of the actions that touched a finding, for the flap breaker and verify window. */
  history(fingerprint: string): string;
  /** When a finding's flap breaker tripped (a string, PX flap window). */
  escalated(fingerprint: string): string;
  /** Hash of an owner's consecutive deferrals: `first` (epoch ms) and `n`. */
  defer(ownerKey: string): string;
  /** One receiver's decision for one notification and owner is final (no repeat on retry). */
  done(receiver: string, groupKey: string, seq: number, ownerKey: string): string;
  /** One remediation of an owner at a time, across replicas (token, PX). */
  lock(ownerKey: string): string;
  /** The newest notification seq seen per receiver, group and owner (latest wins). */
  latest(receiver: string, groupKey: string, ownerKey: string): string;
  /** An action's verify verdict, once, whichever replica gets there first. */
  verdict(actionId: string): string;
  /** The escalation open for one receiver and owner (remediate/escalation.ts; JSON, PX 7 days, or 1 day once resolved). */
  escalation(receiver: string, ownerKey: string): string;
}

export function remediationKeys(prefix: string): RemediationKeys {
  const k = (...parts: string[]): string => [prefix, 'remediate', ...parts].join(':');
  return {
    actions: (ownerKey) => k('actions', ownerKey),
    history: (fingerprint) => k('history', fingerprint),
    escalated: (fingerprint) => k('escalated', fingerprint),
    defer: (ownerKey) => k('defer', ownerKey),
    done: (receiver, groupKey, seq, ownerKey) => k('done', receiver, groupKey, String(seq), ownerKey),
    lock: (ownerKey) => k('lock', ownerKey),
    latest: (receiver, groupKey, ownerKey) => k('latest', receiver, groupKey, ownerKey),
    verdict: (actionId) => k('verdict', actionId),
    escalation: (receiver, ownerKey) => k('escalation', receiver, ownerKey),
  };
}
