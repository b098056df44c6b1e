import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { BUILTIN_INHIBIT_RULES } from '../../../src/config/load.ts';
import { compileInhibitRules, findInhibition } from '../../../src/route/inhibit.ts';
import { createLogger } from '../../../src/log.ts';
import type { Signal } from '../../../src/model/signal.ts';
import { reachabilitySignal, startReachabilityMonitor, type ReachabilityReading } from '../../../src/sources/reachability.ts';
import { clusterReachability } from '../../../src/sources/kube/sources.ts';
import type { IngestOutcome } from '../../../src/track/ingest.ts';

const log = createLogger('silent');
const ok: IngestOutcome = { outcome: 'tracked', groups: [], findings: 0 };

describe('reachability signals', () => {
  it('an unreachable cluster is one Unreachable pseudo-resource, observed when it went down; a reachable one lists nothing', () => {
    const down = reachabilitySignal({ cluster: 'west', kind: 'Cluster', name: 'west', reachable: false, since: 1_000, detail: 'connect ECONNREFUSED' }, 5_000);
    expect(down).toMatchObject({
      source: 'meshdrift',
      cluster: 'west',
      owner: { kind: 'Cluster', namespace: '', name: 'west' },
      completeness: 'snapshot',
      observedAt: 1_000,
      resources: [{ group: 'meshdrift.io', kind: 'Cluster', namespace: '', name: 'west', state: 'Unreachable', detail: 'connect ECONNREFUSED' }],
    });
    const up = reachabilitySignal({ cluster: 'west', kind: 'Cluster', name: 'west', reachable: true }, 5_000);
    expect(up).toMatchObject({ owner: down.owner, completeness: 'snapshot', observedAt: 5_000, resources: [] });
  });

  it('a cluster is unreachable only when every watch is down for longer than the threshold', () => {
    expect(clusterReachability({ name: 'a', state: 'up' }, 10_000, 1_000).reachable).toBe(true);
    expect(clusterReachability({ name: 'a', state: 'down', since: 9_500 }, 10_000, 1_000).reachable).toBeUndefined();
    expect(clusterReachability({ name: 'a', state: 'degraded', since: 0 }, 10_000, 1_000).reachable).toBeUndefined();
    const down = clusterReachability({ name: 'a', state: 'down', since: 8_000, lastError: 'x'.repeat(500) }, 10_000, 1_000);
    expect(down).toMatchObject({ reachable: false, since: 8_000 });
    expect(down.detail?.startsWith('no watch on cluster a has worked since 1970-01-01T00:00:08.000Z: xxx')).toBe(true);
    expect(down.detail?.length).toBeLessThan(300);
  });
});

describe('the reachability monitor', () => {
  it('reports each change once, and a failed report again at the next check', async () => {
    let readings: ReachabilityReading[] = [{ cluster: 'west', kind: 'Cluster', name: 'west', reachable: undefined }];
    const sent: Signal[] = [];
    let fail = false;
    const monitor = startReachabilityMonitor({
      read: () => readings,
      ingest: async (s) => {
        if (fail) throw new Error('redis is reconnecting');
        sent.push(s);
        return ok;
      },
      log,
      everyMs: 60_000,
    });
    await monitor.check();
    expect(sent).toEqual([]);

    readings = [{ cluster: 'west', kind: 'Cluster', name: 'west', reachable: true }];
    await monitor.check();
    await monitor.check();
    expect(sent.map((s) => s.resources.length)).toEqual([0]);

    readings = [{ cluster: 'west', kind: 'Cluster', name: 'west', reachable: false, since: 1 }];
    fail = true;
    await monitor.check();
    expect(sent).toHaveLength(1);
    fail = false;
    await monitor.check();
    await monitor.check();
    expect(sent.map((s) => s.resources.map((r) => r.state))).toEqual([[], ['Unreachable']]);

    // Degraded or just failed: nothing new to say.
    readings = [{ cluster: 'west', kind: 'Cluster', name: 'west', reachable: undefined }];
    await monitor.check();
    expect(sent).toHaveLength(2);
    await monitor.stop();
  });
});

describe('the reachability monitor while Redis is down', () => {
  it('logs a failing report once per run of failures, not at every check', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(
          ...chunk
            .toString()
            .split('\n')
            .filter((l) => l !== ''),
        );
        cb();
      },
    });
    let fail = true;
    const monitor = startReachabilityMonitor({
      read: () => [{ cluster: 'west', kind: 'Cluster', name: 'west', reachable: false, since: 1 }],
      ingest: async () => {
        if (fail) throw new Error('redis is reconnecting');
        return ok;
      },
      log: createLogger('error', sink),
      everyMs: 60_000,
    });
    for (let i = 0; i < 4; i++) await monitor.check();
    expect(lines.filter((l) => l.includes('could not record reachability'))).toHaveLength(1);
    fail = false;
    await monitor.check();
    fail = true;
    await monitor.stop();
    expect(lines.filter((l) => l.includes('could not record reachability'))).toHaveLength(1);
  });
});

describe('the built-in inhibit rules', () => {
  const rules = compileInhibitRules(BUILTIN_INHIBIT_RULES);
  const finding = (labels: Record<string, string>) => ({
    cluster: 'west',
    tool: 'argocd',
    project: 'mesh',
    owner_kind: 'Application',
    owner_namespace: 'argocd',
    owner: 'payments-mesh',
    group: 'networking.istio.io',
    kind: 'VirtualService',
    namespace: 'payments',
    name: 'payments',
    state: 'Modified',
    category: 'traffic',
    mesh: 'istio',
    severity: 'high',
    ...labels,
  });
  const cluster = {
    id: 'cluster',
    labels: finding({
      tool: 'meshdrift',
      owner_kind: 'Cluster',
      owner_namespace: '',
      owner: 'west',
      group: 'meshdrift.io',
      kind: 'Cluster',
      namespace: '',
      name: 'west',
      state: 'Unreachable',
      project: '',
    }),
  };
  const app = {
    id: 'app',
    labels: finding({ group: 'argoproj.io', kind: 'Application', namespace: 'argocd', name: 'payments-mesh', state: 'Unreachable', category: 'non-mesh' }),
  };

  it('an unreachable cluster holds back every other finding of that cluster, whatever its tool, and nothing elsewhere', () => {
    expect(findInhibition(finding({}), [cluster], rules)?.rule).toBe('meshdrift:cluster-unreachable');
    expect(findInhibition(finding({ tool: 'flux', owner_kind: 'Kustomization' }), [cluster], rules)?.rule).toBe('meshdrift:cluster-unreachable');
    expect(findInhibition(app.labels, [cluster], rules)?.rule).toBe('meshdrift:cluster-unreachable');
    expect(findInhibition(finding({ cluster: 'east' }), [cluster], rules)).toBeNull();
    expect(findInhibition(cluster.labels, [cluster], rules, 'cluster')).toBeNull();
  });

  it('an Argo CD API meshdrift cannot poll holds back nothing: webhooks may still tell the truth', () => {
    const api = { id: 'api', labels: { ...cluster.labels, owner_kind: 'ArgoCD', owner: 'argocd.example.com', kind: 'ArgoCD', name: 'argocd.example.com' } };
    expect(findInhibition(finding({}), [api], rules)).toBeNull();
  });

  it("an app Argo CD cannot compare holds back that app's other findings only", () => {
    expect(findInhibition(finding({}), [app], rules)?.rule).toBe('meshdrift:app-unreachable');
    expect(findInhibition(finding({ owner: 'checkout-mesh' }), [app], rules)).toBeNull();
    expect(findInhibition(finding({ cluster: 'east' }), [app], rules)).toBeNull();
    expect(findInhibition(app.labels, [app], rules, 'app')).toBeNull();
  });
});
