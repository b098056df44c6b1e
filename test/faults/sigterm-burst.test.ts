import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisTrackStore } from '../../src/track/redis-store.ts';
import { groupRedisKey } from '../../src/track/keys.ts';
import { meshAppBody } from '../support/argocd.ts';
import { deleteKeys, redisUrl, testPrefix, waitFor } from '../support/redis.ts';
import { startReplica, type Replica } from '../support/replica.ts';
import { ARGOCD_TOKEN, postArgocd } from '../support/service.ts';

// Issue #12 item 10: SIGTERM to a `meshdrift serve` child in the middle of a burst of webhooks.
// Each webhook's app has four drifted kinds and the policy groups by kind, so each ingest commits
// four groups. Nothing answered 202 may be lost (all four groups in Redis), no ingest may stop
// half-way (an app has all four groups or none), requests after the SIGTERM get a 503 or a refused
// connection, and the process exits 0 on its own within the grace period.
const GRACE = '10s';
const SENDERS = 24;
const KINDS = 4;

const prefix = testPrefix('sigterm');
let dir: string;
let replica: Replica;

beforeAll(async () => {
  dir = mkdtempSync(`${tmpdir()}/meshdrift-sigterm-`);
  const policy = `${dir}/policy.yaml`;
  writeFileSync(
    policy,
    ['receivers:', '  - name: ops-console', '    console: {}', 'route:', '  receiver: ops-console', '  group_by: [cluster, owner, kind]', ''].join('\n'),
  );
  replica = await startReplica('sigterm', {
    REDIS_URL: redisUrl(),
    MESHDRIFT_KEY_PREFIX: prefix,
    MESHDRIFT_CLUSTER: 'test-cluster',
    MESHDRIFT_ARGOCD_TOKEN: ARGOCD_TOKEN,
    MESHDRIFT_POLICY: policy,
    // No flush runs during the test: the groups stay as the ingests left them.
    MESHDRIFT_GROUP_WAIT: '1h',
    MESHDRIFT_SHUTDOWN_GRACE: GRACE,
  });
}, 60_000);

afterAll(async () => {
  await replica?.kill9();
  await deleteKeys(redisUrl(), prefix);
  rmSync(dir, { recursive: true, force: true });
});

interface Sent {
  app: string;
  afterTerm: boolean;
  status: number | 'refused' | 'reset';
  groups: string[];
}

function appBody(name: string): unknown {
  const body = meshAppBody() as { app: { metadata: { name: string } } };
  body.app.metadata.name = name;
  return body;
}

describe('SIGTERM in the middle of a burst of webhooks', () => {
  it('loses nothing answered 202, cuts no ingest half-way, refuses what comes after, and exits 0', async () => {
    const sent: Sent[] = [];
    let termAt: number | undefined;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      replica.child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    let gone = false;
    void exited.then(() => (gone = true));

    const sender = async (s: number): Promise<void> => {
      for (let k = 0; !gone; k++) {
        const app = `term-app-${s}-${k}`;
        const afterTerm = termAt !== undefined;
        try {
          const res = await postArgocd(replica.url, appBody(app));
          const body = (await res.json().catch(() => ({}))) as { groups?: string[] };
          sent.push({ app, afterTerm, status: res.status, groups: body.groups ?? [] });
        } catch (err) {
          const code = (err as { cause?: { code?: string } }).cause?.code;
          sent.push({ app, afterTerm, status: code === 'ECONNREFUSED' ? 'refused' : 'reset', groups: [] });
          if (code === 'ECONNREFUSED') await new Promise((r) => setTimeout(r, 20));
        }
      }
    };
    const senders = Array.from({ length: SENDERS }, (_, s) => sender(s));

    await waitFor(() => sent.filter((x) => x.status === 202).length >= 100, 60_000, '100 webhooks accepted');
    termAt = Date.now();
    replica.child.kill('SIGTERM');
    const timer = setTimeout(() => replica.child.kill('SIGKILL'), 10_000 + 10_000);
    const exit = await exited;
    clearTimeout(timer);
    await Promise.all(senders);

    const accepted = sent.filter((x) => x.status === 202);
    const afterTerm = sent.filter((x) => x.afterTerm);
    console.log(
      `[sigterm-burst] ${sent.length} sent, ${accepted.length} accepted (${accepted.filter((x) => x.afterTerm).length} of them sent after SIGTERM); after SIGTERM: ` +
        `${afterTerm.filter((x) => x.status === 503).length} 503, ${afterTerm.filter((x) => x.status === 'refused').length} refused, ${afterTerm.filter((x) => x.status === 'reset').length} reset; ` +
        `exit ${exit.code ?? exit.signal} after ${Date.now() - termAt} ms`,
    );
    expect(exit).toEqual({ code: 0, signal: null });
    expect(replica.log()).toMatch(/"msg":"stopped"/);
    // Nothing else than 202, 503 or no connection.
    expect(sent.every((x) => x.status === 202 || x.status === 503 || x.status === 'refused' || x.status === 'reset')).toBe(true);
    expect(afterTerm.some((x) => x.status === 503 || x.status === 'refused')).toBe(true);

    const redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
    try {
      // Every 202 is committed in all its groups.
      for (const x of accepted) {
        expect(x.groups).toHaveLength(KINDS);
        for (const g of x.groups) expect(await redis.exists(groupRedisKey(prefix, g)), `${x.app} group ${g}`).toBe(1);
      }
      // No ingest stopped half-way: each app has all its groups or none.
      const store = createRedisTrackStore({ redis, keyPrefix: prefix });
      const perApp = new Map<string, number>();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:group:*`, 'COUNT', 500);
        cursor = next;
        for (const key of keys) {
          const state = await store.get(key.slice(`${prefix}:group:`.length));
          if (state) perApp.set(state.labels.owner.name, (perApp.get(state.labels.owner.name) ?? 0) + 1);
        }
      } while (cursor !== '0');
      const partial = [...perApp].filter(([, n]) => n !== KINDS);
      expect(partial).toEqual([]);
      expect(perApp.size).toBeGreaterThanOrEqual(accepted.length);
    } finally {
      redis.disconnect();
    }
  }, 120_000);
});
