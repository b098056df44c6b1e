import { describe, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createRedisSlackMessageStore } from '../../../src/deliver/slack/message-store.ts';
import { fingerprintOf, groupKeyOf } from '../../../src/model/fingerprint.ts';
import { jobIdOf } from '../../../src/queue/job-ids.ts';
import { clusterOwnerId, clusterOwnerPath, ownerKey, ownerLabel, ownerPath } from '../../../src/model/owner.ts';
import { createRedisFluxRevisionStore } from '../../../src/sources/flux/revision-store.ts';
import { ownerGroupsKey } from '../../../src/track/keys.ts';

/**
 * Golden values: the owner's string forms and the Redis keys and job ids built from them, as the
 * code wrote them before they had one home (noteOwnerKey in deliver/slack/, ownerKey in remediate/,
 * scopeKey in track/, an inline join in queue/, three private helpers in sources/). They are
 * persisted: a changed byte orphans stored state or lets a job run twice. Do not update them.
 */
const plain = { cluster: 'prod-eu-1', tool: 'argocd', owner: { kind: 'Application', namespace: 'argocd', name: 'payments-mesh' } };
// Characters each form must keep as they were: '/', '%', space, non-ASCII, ':', '#', '?', empty namespace.
const odd = { cluster: 'c.1_x', tool: 'flux', owner: { kind: 'Kustomization', namespace: '', name: 'a/b %2F ü:x#y?z' } };

/** A Redis stand-in that records each command and answers null. */
function recordingRedis(): { redis: Redis; calls: unknown[][] } {
  const calls: unknown[][] = [];
  const redis = new Proxy(
    {},
    {
      get:
        (_t, command) =>
        (...args: unknown[]) => (calls.push([command, ...args]), Promise.resolve(null)),
    },
  );
  return { redis: redis as Redis, calls };
}

describe('owner string forms (golden)', () => {
  it('ownerKey: parts URI-encoded, joined by /', () => {
    expect(ownerKey(plain)).toBe('prod-eu-1/argocd/Application/argocd/payments-mesh');
    expect(ownerKey(odd)).toBe('c.1_x/flux/Kustomization//a%2Fb%20%252F%20%C3%BC%3Ax%23y%3Fz');
  });
  it('ownerPath: parts as they are', () => {
    expect(ownerPath(plain)).toBe('prod-eu-1/argocd/Application/argocd/payments-mesh');
    expect(ownerPath(odd)).toBe('c.1_x/flux/Kustomization//a/b %2F ü:x#y?z');
  });
  it('clusterOwnerId and clusterOwnerPath: no tool', () => {
    expect(clusterOwnerId(odd.cluster, odd.owner)).toBe('c.1_x\u0000Kustomization\u0000\u0000a/b %2F ü:x#y?z');
    expect(clusterOwnerPath(odd.cluster, odd.owner)).toBe('c.1_x/Kustomization//a/b %2F ü:x#y?z');
  });
  it('ownerLabel: kind namespace/name', () => {
    expect(ownerLabel(plain)).toBe('Application argocd/payments-mesh');
    expect(ownerLabel(odd)).toBe('Kustomization a/b %2F ü:x#y?z');
  });
});

describe('persisted forms built from the owner (golden)', () => {
  it('the owner → groups set key (track)', () => {
    expect(ownerGroupsKey('md', ownerPath(plain))).toBe('md:owner-groups:76f07a6bf2189a85bfaa9ccc162573da');
    expect(ownerGroupsKey('md', ownerPath(odd))).toBe('md:owner-groups:18c2cb59142739c57e7afdd9698ef9ba');
  });
  it('the remediation job id and its deduplication id (queue/queues.ts enqueueRemediation)', () => {
    expect(jobIdOf('remediate', 'g'.repeat(32), 7, 'fix', ownerPath(plain), 'U1')).toBe('remediate-ce6a7ba9948f28a025687f4140d1c57e');
    expect(jobIdOf('remediate-owner', 'fix', ownerPath(plain))).toBe('remediate-owner-0227479e913feab8cb4a5843f9bf6ab7');
    expect(jobIdOf('remediate', 'g'.repeat(32), 7, 'fix', ownerPath(odd), 'U1')).toBe('remediate-3211785b8105a60738be4075bd48ca7f');
    expect(jobIdOf('remediate-owner', 'fix', ownerPath(odd))).toBe('remediate-owner-549456e3d3285fd61db13a6c9428e08b');
  });
  it('the Slack receiver owner → message index key', async () => {
    const { redis, calls } = recordingRedis();
    const store = createRedisSlackMessageStore(redis, 'md:receiver:slack');
    await store.setOwnerGroup(ownerKey(odd), 'g1');
    await store.groupOfOwner(ownerKey(plain));
    expect(calls).toEqual([
      ['set', 'md:receiver:slack:slack:owner:c.1_x/flux/Kustomization//a%2Fb%20%252F%20%C3%BC%3Ax%23y%3Fz', 'g1', 'EX', 604800],
      ['get', 'md:receiver:slack:slack:owner:prod-eu-1/argocd/Application/argocd/payments-mesh'],
    ]);
  });
  it('the Flux revision memory key', async () => {
    const { redis, calls } = recordingRedis();
    await createRedisFluxRevisionStore(redis, 'md').seed(odd.cluster, odd.owner, 'main@sha1:abc', 1_000);
    expect(calls.find((c) => c[0] === 'set')?.slice(0, 2)).toEqual(['set', 'md:flux:revision:6606c80ed9c2756ee5aa95b5a456ac07']);
  });
  it('fingerprints and group keys', () => {
    const vs = { group: 'networking.istio.io', kind: 'VirtualService', namespace: 'payments', name: 'payments' };
    expect(fingerprintOf('prod-eu-1', 'argocd', plain.owner, vs)).toBe('1e138708c8974ba0f51a3e7ccab5091d');
    expect(groupKeyOf('route', { cluster: 'prod', owner: 'payments' })).toBe('31c7f8de76488734a2681ba9667855d5');
    expect(groupKeyOf('route', { cluster: 'prod', owner: 'payments' }, 'slack')).toBe('52ff87b12747b8c018e368833c105ae4');
  });
});
