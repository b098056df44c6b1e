import type { LoadedPolicy } from '../config/load.ts';
import { findingLabels } from '../model/finding.ts';
import { findInhibition } from '../route/inhibit.ts';
import type { CompiledRoute } from '../route/route.ts';
import { nextSilenceChange, silencedBy } from '../route/silence.ts';
import { nextChange, type CompiledTimeInterval } from '../route/time-interval.ts';
import type { FlushContext, Mute } from './decide.ts';
import type { GroupState } from './group-state.ts';
import { resolveGroupRoute } from './grouping.ts';
import type { InhibitSourceStore } from './inhibit-sources.ts';
import type { SilenceStore } from './silence-store.ts';

/**
 * Whether a route is muted now by its time intervals (Alertmanager's mute_time_intervals and
 * active_time_intervals), and until when. Pure.
 */
export function routeMute(route: CompiledRoute | undefined, intervals: ReadonlyMap<string, CompiledTimeInterval>, now: number): Mute {
  if (!route) return { muted: false };
  const mutes = route.muteTimeIntervals.map((n) => intervals.get(n)).filter((i): i is CompiledTimeInterval => i !== undefined);
  const actives = route.activeTimeIntervals.map((n) => intervals.get(n)).filter((i): i is CompiledTimeInterval => i !== undefined);
  const inMute = mutes.filter((i) => i.contains(now));
  const outsideActive = actives.length > 0 && !actives.some((i) => i.contains(now));
  if (inMute.length === 0 && !outsideActive) return { muted: false };
  // Muted until every reason ends: the latest end of the mutes, or the next start of an active one.
  const ends = [...inMute.map((i) => nextChange(i, now)), ...(outsideActive ? actives.map((i) => nextChange(i, now)) : [])];
  const known = ends.filter((t): t is number => t !== null);
  const until = outsideActive ? Math.min(...known) : Math.max(...known);
  return { muted: true, ...(known.length > 0 && Number.isFinite(until) ? { until } : {}) };
}

export interface FlushContextDeps {
  policy: () => LoadedPolicy;
  silences: Pick<SilenceStore, 'compiled'>;
  inhibitSources: Pick<InhibitSourceStore, 'list'>;
}

/**
 * What a group's flush needs from outside: active silences (one small read while they have not
 * changed) and inhibition sources (one read, skipped when no rule needs them) and the route's time
 * intervals.
 */
export function createFlushContext(deps: FlushContextDeps): (state: GroupState, now: number) => Promise<FlushContext> {
  return async (state, now) => {
    const policy = deps.policy();
    // By the route's identity, or what the group's findings match now (a group stored under a
    // positional id, or whose route was edited or removed): never by position.
    const { route } = resolveGroupRoute(policy.classify.route, state.labels, Object.values(state.findings));
    const [silences, sources] = await Promise.all([
      // Compiled once per change of the silences, by the store; expired ones are never read.
      deps.silences.compiled(now),
      policy.inhibitRules.length > 0 ? deps.inhibitSources.list() : Promise.resolve([]),
    ]);
    const compiled = silences;
    return {
      now,
      routeMuted: routeMute(route, policy.timeIntervals, now),
      mute: (f) => {
        const labels = findingLabels(f);
        if (compiled.length > 0 && silencedBy(labels, compiled, now) !== null) {
          const until = nextSilenceChange(compiled, labels, now);
          return { muted: true, ...(until === null ? {} : { until }) };
        }
        if (sources.length > 0 && findInhibition(labels, sources, policy.inhibitRules, f.fingerprint) !== null) {
          // Re-checked at group_interval: the source may resolve in another group at any time.
          return { muted: true };
        }
        return { muted: false };
      },
    };
  };
}
