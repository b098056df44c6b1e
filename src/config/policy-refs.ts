import { MatcherError, compileMatcher, parseMatchers } from '../route/matcher.ts';

/**
 * The cross-reference layer of the policy check (as Alertmanager's checkReceiver): receivers named
 * twice, routes naming undefined receivers or time intervals, route names used twice, bad
 * matchers, receivers' environment variables. It reads the parsed YAML as it is, not the schema's
 * output, so that it runs even when the schema layer found errors elsewhere in the file: `meshdrift
 * validate` reports every mistake of a file in one run (issue #19), not one layer at a time.
 * Anything of the wrong shape is skipped here: the schema layer reports it.
 */

export type Path = (string | number)[];
/** Reports an error at a path of the file (`col`: the column inside the value, for a matcher). */
export type At = (path: Path, message: string, key?: string, col?: number) => void;

const RECEIVER_TYPES = ['slack', 'pagerduty', 'alertmanager', 'webhook', 'remediate', 'console'] as const;

function record(v: unknown): Record<string, unknown> | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export function pathText(path: readonly PropertyKey[]): string {
  // An empty key is shown as "" so the message still says where.
  const key = (p: PropertyKey): string => (p === '' ? '""' : String(p));
  return path.reduce<string>((acc, p) => (typeof p === 'number' ? `${acc}[${p}]` : acc === '' ? key(p) : `${acc}.${key(p)}`), '');
}

/** The environment variables a receiver reads (its secrets), with the schema's default for Slack's token. */
function receiverVariables(r: Record<string, unknown>): string[] {
  const slack = record(r.slack);
  const pagerduty = record(r.pagerduty);
  const webhook = record(r.webhook);
  const names = [
    slack === undefined ? undefined : (text(slack.token_env) ?? 'SLACK_BOT_TOKEN'),
    text(pagerduty?.routing_key_env),
    text(webhook?.url_env),
    text(webhook?.hmac_key_env),
  ];
  return names.filter((v): v is string => v !== undefined);
}

function checkReceivers(raw: Record<string, unknown>, at: At, env: NodeJS.ProcessEnv | undefined): Map<string, number> {
  const names = new Map<string, number>();
  list(raw.receivers).forEach((entry, i) => {
    const r = record(entry);
    const name = text(r?.name);
    if (r === undefined || name === undefined) return;
    if (names.has(name)) at(['receivers', i, 'name'], `receiver "${name}" is defined twice (first at receivers[${names.get(name) ?? 0}])`);
    else names.set(name, i);
    if (env === undefined) return;
    const type = RECEIVER_TYPES.find((t) => r[t] !== undefined) ?? 'console';
    for (const variable of receiverVariables(r)) {
      if ((env[variable] ?? '').trim() === '')
        at(['receivers', i], `receiver "${name}" (${type}) needs the environment variable ${variable}, which is not set`);
    }
  });
  return names;
}

function checkRootRoute(route: Record<string, unknown>, at: At): void {
  if (route.receiver === undefined) at(['route'], 'the root route needs a `receiver` (it catches every finding no child route takes)');
  if (list(route.matchers).length > 0) at(['route', 'matchers'], 'the root route matches everything: put matchers on child routes');
  for (const key of ['mute_time_intervals', 'active_time_intervals'] as const) {
    if (list(route[key]).length > 0) at(['route', key], `not allowed on the root route (as in Alertmanager): put ${key} on child routes`);
  }
  if (route.name !== undefined) at(['route', 'name'], 'the root route is always `route`: name child routes only');
}

interface RouteRefs {
  receivers: ReadonlyMap<string, number>;
  intervals: ReadonlySet<string>;
  /** Route names seen, and the path where first. */
  routeNames: Map<string, string>;
}

function checkRoute(route: Record<string, unknown>, path: Path, refs: RouteRefs, at: At): void {
  const name = text(route.name);
  if (name !== undefined && path.length > 1) {
    const first = refs.routeNames.get(name);
    if (first !== undefined) at([...path, 'name'], `route name "${name}" is used twice (first at ${first}); route names must be unique`);
    else refs.routeNames.set(name, pathText(path));
  }
  const receiver = text(route.receiver);
  if (receiver !== undefined && !refs.receivers.has(receiver)) at([...path, 'receiver'], `undefined receiver "${receiver}" (define it under receivers)`);
  for (const key of ['mute_time_intervals', 'active_time_intervals'] as const) {
    list(route[key]).forEach((interval, i) => {
      if (typeof interval === 'string' && !refs.intervals.has(interval))
        at([...path, key, i], `undefined time interval "${interval}" (define it under time_intervals)`);
    });
  }
  list(route.matchers).forEach((m, i) => {
    if (typeof m !== 'string') return;
    try {
      for (const spec of parseMatchers(m)) compileMatcher(spec);
    } catch (err) {
      if (err instanceof MatcherError) at([...path, 'matchers', i], err.message, undefined, err.col);
      else at([...path, 'matchers', i], String(err));
    }
  });
  list(route.routes).forEach((child, i) => {
    const r = record(child);
    if (r !== undefined) checkRoute(r, [...path, 'routes', i], refs, at);
  });
}

/** A remediate receiver's `escalate_to` names receivers that tell people: defined, and not remediate ones (issue #22). */
function checkEscalations(raw: Record<string, unknown>, names: ReadonlyMap<string, number>, at: At): void {
  const receivers = list(raw.receivers);
  receivers.forEach((entry, i) => {
    list(record(record(entry)?.remediate)?.escalate_to).forEach((target, j) => {
      const name = text(target);
      if (name === undefined) return;
      const index = names.get(name);
      const path: Path = ['receivers', i, 'remediate', 'escalate_to', j];
      if (index === undefined) at(path, `undefined receiver "${name}" (define it under receivers)`);
      else if (record(receivers[index])?.remediate !== undefined) at(path, `receiver "${name}" is a remediate receiver: escalate to one that tells people`);
    });
  });
}

/** Reports every cross-reference error of the parsed policy `raw` (whatever the schema said of it). */
export function checkReferences(raw: unknown, at: At, env?: NodeJS.ProcessEnv): void {
  const policy = record(raw);
  if (policy === undefined) return;
  const receivers = checkReceivers(policy, at, env);
  checkEscalations(policy, receivers, at);
  const route = record(policy.route);
  if (route === undefined) return;
  checkRootRoute(route, at);
  const intervals = new Set(
    list(policy.time_intervals)
      .map((t) => text(record(t)?.name))
      .filter((n): n is string => n !== undefined),
  );
  checkRoute(route, ['route'], { receivers, intervals, routeNames: new Map() }, at);
}

/** ` (receiver "name")` for an error under receivers[i], so that it names the receiver, not only its index. */
export function receiverNameOf(raw: unknown, path: readonly PropertyKey[]): string {
  if (path[0] !== 'receivers' || typeof path[1] !== 'number') return '';
  const name = text(record(list(record(raw)?.receivers)[path[1]])?.name);
  return name === undefined ? '' : ` (receiver "${name}")`;
}
