import { createHmac } from 'node:crypto';
import type { AdmissionUser } from '../../track/admission-store.ts';
import type { AdmissionRequest } from './review.ts';

/**
 * What the recorder keeps of `userInfo` (usernames and groups are personal data):
 * - `keep`: as the API server sent it;
 * - `hash`: `sha256:` + HMAC-SHA256(key, value) in hex. Keyed, because a plain hash of an email
 *   address or a user name is reversed by hashing a list of likely names; the key stays in
 *   meshdrift's Secret. The same person gets the same hash, so records stay joinable;
 * - `drop`: not kept at all (a finding then says a person, name withheld).
 * The GitOps controllers' names (configuration, not people) are always kept. `uid` and `extra` are
 * kept only when `details` says so, and then under the username's rule.
 */
export type KeepRule = 'keep' | 'hash' | 'drop';

export interface UserPolicy {
  usernames: KeepRule;
  groups: KeepRule;
  /** Required when a rule is `hash`. */
  hashKey?: string | undefined;
  details: boolean;
  gitopsUsers: ReadonlySet<string>;
}

const MAX_GROUPS = 32;
const MAX_EXTRA_KEYS = 16;
const MAX_EXTRA_VALUES = 8;
const MAX_TEXT = 256;

/** A value under a rule; undefined when dropped. */
export function applyRule(value: string, rule: KeepRule, key: string | undefined): string | undefined {
  if (rule === 'drop') return undefined;
  if (rule === 'hash') {
    if (key === undefined) throw new Error('a hash key is required to hash');
    return `sha256:${createHmac('sha256', key).update(value).digest('hex')}`;
  }
  return value.length > MAX_TEXT ? value.slice(0, MAX_TEXT) : value;
}

function keptExtra(extra: Record<string, string[]>, rule: KeepRule, key: string | undefined): Record<string, string[]> | undefined {
  const out: Record<string, string[]> = {};
  for (const [k, values] of Object.entries(extra).slice(0, MAX_EXTRA_KEYS)) {
    const kept = values.slice(0, MAX_EXTRA_VALUES).flatMap((v) => applyRule(v, rule, key) ?? []);
    if (kept.length > 0) out[k.slice(0, 128)] = kept;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/** Whether the request was made by a GitOps controller (its writes are GitOps writes). */
export function isGitOpsUser(req: AdmissionRequest, policy: UserPolicy): boolean {
  return req.userInfo.username !== undefined && policy.gitopsUsers.has(req.userInfo.username);
}

/** The user as the record keeps it. */
export function keptUser(req: AdmissionRequest, policy: UserPolicy): AdmissionUser {
  const info = req.userInfo;
  const gitops = isGitOpsUser(req, policy);
  const nameRule: KeepRule = gitops ? 'keep' : policy.usernames;
  const username = info.username === undefined || info.username === '' ? undefined : applyRule(info.username, nameRule, policy.hashKey);
  const groups = (info.groups ?? []).slice(0, MAX_GROUPS).flatMap((g) => applyRule(g, gitops ? 'keep' : policy.groups, policy.hashKey) ?? []);
  const uid = policy.details && info.uid ? applyRule(info.uid, nameRule, policy.hashKey) : undefined;
  const extra = policy.details && info.extra ? keptExtra(info.extra, nameRule, policy.hashKey) : undefined;
  return {
    ...(username === undefined ? {} : { username }),
    ...(groups.length === 0 ? {} : { groups }),
    ...(uid === undefined ? {} : { uid: uid.slice(0, 128) }),
    ...(extra === undefined ? {} : { extra }),
  };
}
