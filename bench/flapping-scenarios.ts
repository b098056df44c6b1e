// The scripted drift of bench/flapping.ts: deterministic, in scripted seconds, no randomness.
// Each resource has a list of drift episodes [start, end) during which Argo CD reports it OutOfSync;
// outside them it is Synced. `kind` of a resource says what an operator should make of it:
//   steady    one real incident: drifts once and stays drifted (it may resolve for good)
//   flapping  one real incident: OutOfSync <-> Synced over and over (e.g. a controller or a
//             script fighting Argo CD's self-heal); every episode after the first is a flap
//   blip      no incident: drifted for less than pending_for, once (a sync in progress, a
//             hand edit reverted at once); its one episode is a flap

export type ResourceKind = 'steady' | 'flapping' | 'blip';

export interface ScriptedResource {
  group: string;
  version: string;
  kind: string;
  namespace: string;
  name: string;
  /** The severity meshdrift's default matrix gives it (OutOfSync on a live object = Modified). */
  severity: 'critical' | 'high' | 'medium';
  behaviour: ResourceKind;
  /** Drift episodes, [start, end) in scripted seconds; end = Infinity: still drifted at the end. */
  episodes: Array<[number, number]>;
}

export interface ScriptedApp {
  name: string;
  namespace: string;
  project: string;
  /** Resources that never drift, so snapshots look like real ones. */
  clean: Array<{ group?: string; version: string; kind: string; name: string }>;
  resources: ScriptedResource[];
}

export interface Scenario {
  id: string;
  title: string;
  cluster: string;
  /** Scripted seconds the script runs. */
  duration: number;
  apps: ScriptedApp[];
}

const m = (minutes: number, seconds = 0): number => minutes * 60 + seconds;

/** Episodes of `drifted` seconds every `period` seconds, from `from` until `until`. */
function flap(from: number, until: number, drifted: number, period: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let t = from; t < until; t += period) out.push([t, Math.min(t + drifted, until)]);
  return out;
}

const core = (kind: string, name: string) => ({ version: 'v1', kind, name });
const apps = (name: string) => ({ group: 'apps', version: 'v1', kind: 'Deployment', name });

const ISTIO_NET = 'networking.istio.io';
const ISTIO_SEC = 'security.istio.io';
const ISTIO_TEL = 'telemetry.istio.io';
const GATEWAY = 'gateway.networking.k8s.io';

/** Issue #4: a 10-minute flapping scenario. */
export const tenMinutes: Scenario = {
  id: '10min',
  title: '10-minute flapping scenario (issue #4)',
  cluster: 'prod-eu-1',
  duration: m(10),
  apps: [
    {
      name: 'payments-mesh',
      namespace: 'payments',
      project: 'mesh-prod',
      clean: [core('Service', 'payments'), apps('payments')],
      resources: [
        // The incident: an AuthorizationPolicy opened by hand, put back at 8:30.
        {
          group: ISTIO_SEC,
          version: 'v1',
          kind: 'AuthorizationPolicy',
          namespace: 'payments',
          name: 'payments-allow-frontend',
          severity: 'critical',
          behaviour: 'steady',
          episodes: [[m(0, 30), m(8, 30)]],
        },
        // A ticket: tracing sampling changed by hand, still drifted at the end.
        {
          group: ISTIO_TEL,
          version: 'v1',
          kind: 'Telemetry',
          namespace: 'payments',
          name: 'payments-tracing',
          severity: 'medium',
          behaviour: 'steady',
          episodes: [[m(1), Infinity]],
        },
      ],
    },
    {
      name: 'checkout-mesh',
      namespace: 'checkout',
      project: 'mesh-prod',
      clean: [core('Service', 'checkout'), apps('checkout')],
      resources: [
        // Fast flapping: 20 s OutOfSync, 20 s Synced, from 1:00 to 7:00 (9 episodes).
        {
          group: ISTIO_NET,
          version: 'v1',
          kind: 'VirtualService',
          namespace: 'checkout',
          name: 'checkout',
          severity: 'high',
          behaviour: 'flapping',
          episodes: flap(m(1), m(7), 20, 40),
        },
        // A blip: 30 s at 3:00.
        {
          group: ISTIO_NET,
          version: 'v1',
          kind: 'DestinationRule',
          namespace: 'checkout',
          name: 'checkout',
          severity: 'high',
          behaviour: 'blip',
          episodes: [[m(3), m(3, 30)]],
        },
      ],
    },
    {
      name: 'reviews-mesh',
      namespace: 'bookinfo',
      project: 'mesh-prod',
      clean: [core('Service', 'reviews'), apps('reviews-v1')],
      resources: [
        // Slow flapping: 3 min OutOfSync, 1 min Synced, 3 min OutOfSync, then fixed at 9:00.
        {
          group: ISTIO_NET,
          version: 'v1',
          kind: 'DestinationRule',
          namespace: 'bookinfo',
          name: 'reviews',
          severity: 'high',
          behaviour: 'flapping',
          episodes: [
            [m(2), m(5)],
            [m(6), m(9)],
          ],
        },
      ],
    },
  ],
};

/** Issue #8: an hour of drift with flapping. */
export const oneHour: Scenario = {
  id: '1h',
  title: 'an hour of drift with flapping (issue #8)',
  cluster: 'prod-eu-1',
  duration: m(60),
  apps: [
    {
      name: 'payments-mesh',
      namespace: 'payments',
      project: 'mesh-prod',
      clean: [core('Service', 'payments'), apps('payments'), { group: ISTIO_NET, version: 'v1', kind: 'VirtualService', name: 'payments' }],
      resources: [
        {
          group: ISTIO_SEC,
          version: 'v1',
          kind: 'AuthorizationPolicy',
          namespace: 'payments',
          name: 'payments-allow-frontend',
          severity: 'critical',
          behaviour: 'steady',
          episodes: [[m(5), m(41)]],
        },
        // A critical blip: mTLS relaxed for 40 s during a debugging session.
        {
          group: ISTIO_SEC,
          version: 'v1',
          kind: 'PeerAuthentication',
          namespace: 'payments',
          name: 'default',
          severity: 'critical',
          behaviour: 'blip',
          episodes: [[m(24), m(24, 40)]],
        },
      ],
    },
    {
      name: 'checkout-mesh',
      namespace: 'checkout',
      project: 'mesh-prod',
      clean: [core('Service', 'checkout'), apps('checkout')],
      resources: [
        // A controller fights self-heal: 90 s OutOfSync, 60 s Synced, from 2:00; fixed at 50:00.
        {
          group: ISTIO_NET,
          version: 'v1',
          kind: 'VirtualService',
          namespace: 'checkout',
          name: 'checkout',
          severity: 'high',
          behaviour: 'flapping',
          episodes: flap(m(2), m(50), 90, 150),
        },
        {
          group: ISTIO_NET,
          version: 'v1',
          kind: 'DestinationRule',
          namespace: 'checkout',
          name: 'checkout',
          severity: 'high',
          behaviour: 'blip',
          episodes: [[m(33), m(33, 45)]],
        },
      ],
    },
    {
      name: 'edge-routes',
      namespace: 'edge',
      project: 'mesh-prod',
      clean: [{ group: GATEWAY, version: 'v1', kind: 'Gateway', name: 'public' }],
      resources: [
        // Fast flapping, every episode shorter than pending_for: 20 s OutOfSync each minute, 15:00-45:00.
        {
          group: GATEWAY,
          version: 'v1',
          kind: 'HTTPRoute',
          namespace: 'edge',
          name: 'storefront',
          severity: 'high',
          behaviour: 'flapping',
          episodes: flap(m(15), m(45), 20, 60),
        },
      ],
    },
    {
      name: 'mesh-observability',
      namespace: 'istio-system',
      project: 'mesh-platform',
      clean: [core('ConfigMap', 'istio')],
      resources: [
        {
          group: ISTIO_TEL,
          version: 'v1',
          kind: 'Telemetry',
          namespace: 'istio-system',
          name: 'mesh-default',
          severity: 'medium',
          behaviour: 'steady',
          episodes: [[m(10), Infinity]],
        },
      ],
    },
    {
      name: 'reviews-mesh',
      namespace: 'bookinfo',
      project: 'mesh-prod',
      clean: [core('Service', 'reviews'), apps('reviews-v1')],
      resources: [
        {
          group: ISTIO_NET,
          version: 'v1',
          kind: 'VirtualService',
          namespace: 'bookinfo',
          name: 'ratings',
          severity: 'high',
          behaviour: 'steady',
          episodes: [[m(12), m(28)]],
        },
        {
          group: ISTIO_NET,
          version: 'v1',
          kind: 'DestinationRule',
          namespace: 'bookinfo',
          name: 'reviews',
          severity: 'high',
          behaviour: 'blip',
          episodes: [[m(52), m(52, 30)]],
        },
      ],
    },
  ],
};

/** One scripted change: at `at`, these resources of this app become drifted (or not). */
export interface ScriptEvent {
  at: number;
  app: ScriptedApp;
  changes: Array<{ resource: ScriptedResource; drifted: boolean }>;
}

/** The scenario's changes in time order, one event per (time, app). */
export function eventsOf(s: Scenario): ScriptEvent[] {
  const byKey = new Map<string, ScriptEvent>();
  for (const app of s.apps) {
    for (const resource of app.resources) {
      for (const [start, end] of resource.episodes) {
        for (const [at, drifted] of [
          [start, true],
          [end, false],
        ] as const) {
          if (!Number.isFinite(at) || at > s.duration) continue;
          const key = `${at}\u0000${app.name}`;
          const ev = byKey.get(key) ?? { at, app, changes: [] };
          ev.changes.push({ resource, drifted });
          byKey.set(key, ev);
        }
      }
    }
  }
  return [...byKey.values()].sort((a, b) => a.at - b.at || a.app.name.localeCompare(b.app.name));
}

/** Real incidents (steady and flapping resources) and flaps (re-drifts of flappers, and blips). */
export function groundTruth(s: Scenario): { incidents: number; flaps: number; episodes: number } {
  let incidents = 0;
  let flaps = 0;
  let episodes = 0;
  for (const app of s.apps) {
    for (const r of app.resources) {
      episodes += r.episodes.length;
      if (r.behaviour === 'blip') flaps += r.episodes.length;
      else {
        incidents++;
        if (r.behaviour === 'flapping') flaps += r.episodes.length - 1;
      }
    }
  }
  return { incidents, flaps, episodes };
}

export const resourceKey = (app: string, kind: string, namespace: string, name: string): string => `${app}/${kind}/${namespace}/${name}`;
