import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createRedisAuditTrail, type AuditEntry } from '../../src/remediate/audit.ts';
import { deleteKeys, redisUrl, testPrefix } from '../support/redis.ts';

let redis: Redis;
let prefix: string;

beforeEach(() => {
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  prefix = testPrefix('remediate-audit');
});

afterEach(async () => {
  await deleteKeys(redisUrl(), prefix);
  redis.disconnect();
});

function entry(i: number, over: Partial<AuditEntry> = {}): AuditEntry {
  return {
    kind: 'remediation',
    at: 1_700_000_000_000 + i,
    actor: 'meshdrift',
    action: 'argocd-sync',
    cluster: 'prod',
    owner: { kind: 'Application', namespace: 'argocd', name: `app-${i}` },
    resources: [{ group: 'networking.istio.io', kind: 'VirtualService', namespace: 'payments', name: 'payments' }],
    fingerprints: [`fp-${i}`],
    dryRun: true,
    outcome: 'dry-run',
    reason: `decision ${i}`,
    groupKey: 'g1',
    seq: i + 1,
    ...over,
  };
}

describe('redis audit trail', () => {
  it('appends to the stream and lists newest first, round-tripping every field', async () => {
    const audit = createRedisAuditTrail(redis, prefix, { now: () => Date.now() });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push(await audit.append(entry(i, i === 4 ? { dryRun: false, outcome: 'performed', groupKey: undefined, seq: undefined } : {})));
    expect(await redis.xlen(`${prefix}:audit`)).toBe(5);
    const page1 = await audit.list({ limit: 2 });
    expect(page1.map((r) => r.reason)).toEqual(['decision 4', 'decision 3']);
    expect(page1[0]).toEqual({ ...entry(4, { dryRun: false, outcome: 'performed' }), groupKey: undefined, seq: undefined, id: ids[4] });
    expect(page1[0]).not.toHaveProperty('groupKey');
    expect(page1[1]).toEqual({ ...entry(3), id: ids[3] });
    const page2 = await audit.list({ limit: 2, ...(page1[1] ? { before: page1[1].id } : {}) });
    expect(page2.map((r) => r.reason)).toEqual(['decision 2', 'decision 1']);
  });

  it('since: only records written at or after that time', async () => {
    const audit = createRedisAuditTrail(redis, prefix, { now: () => Date.now() });
    await audit.append(entry(0));
    await new Promise((r) => setTimeout(r, 20));
    const since = Date.now();
    await new Promise((r) => setTimeout(r, 5));
    await audit.append(entry(1));
    expect((await audit.list({ limit: 10, since })).map((r) => r.reason)).toEqual(['decision 1']);
  });

  it('trims by age (retention) and by length', async () => {
    const byAge = createRedisAuditTrail(redis, prefix, { now: () => Date.now(), retentionMs: 150 });
    await byAge.append(entry(0));
    await new Promise((r) => setTimeout(r, 250));
    await byAge.append(entry(1));
    expect((await byAge.list({ limit: 10 })).map((r) => r.reason)).toEqual(['decision 1']);

    const byLength = createRedisAuditTrail(redis, `${prefix}:len`, { now: () => Date.now(), maxLen: 10 });
    for (let i = 0; i < 400; i++) await byLength.append(entry(i));
    // MAXLEN ~ trims whole stream nodes: about 10, never fewer.
    const len = await redis.xlen(`${prefix}:len:audit`);
    expect(len).toBeGreaterThanOrEqual(10);
    expect(len).toBeLessThan(400);
  });

  it('leaves out entries it cannot parse, and rejects invalid entries on append', async () => {
    const audit = createRedisAuditTrail(redis, prefix, { now: () => Date.now() });
    await redis.xadd(`${prefix}:audit`, '*', 'at', 'x', 'something', 'else');
    await audit.append(entry(1));
    expect((await audit.list({ limit: 10 })).map((r) => r.reason)).toEqual(['decision 1']);
    await expect(audit.append({ ...entry(2), actor: '' })).rejects.toThrow();
  });
});
