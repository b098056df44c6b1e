import { z } from 'zod';

/**
 * Alertmanager's `time_intervals` (docs/configuration.md `<time_interval_spec>`), for
 * `mute_time_intervals` / `active_time_intervals` on routes.
 *
 * A named interval holds a list of `time_intervals`; an instant is in the interval when ANY of them
 * matches. One entry matches when ALL its given fields match (an absent field matches anything),
 * evaluated on the wall clock of its `location` (IANA zone, default UTC):
 * - `times`: `HH:MM` ranges, start inclusive, end exclusive, `00:00`-`24:00`; a range cannot cross
 *   midnight (split it in two, as in Alertmanager).
 * - `weekdays`: `monday`, `monday:friday` (weeks run sunday..saturday, so `saturday:sunday` is an
 *   error: list the two days).
 * - `days_of_month`: `1`, `1:5`, `-3:-1` (negative counts from the month's end, -1 = last day),
 *   `1:-1`. Days past the end of a short month are clamped, as in Alertmanager.
 * - `months`: names or numbers, `january:march`, `1:3`, `december`.
 * - `years`: `2025`, `2025:2027`.
 * Names are case-insensitive; every range is inclusive.
 *
 * The schema keeps the YAML text as it is (so the policy round-trips); `compileTimeInterval` parses
 * it once into numbers and a cached `Intl.DateTimeFormat` for the zone. Resolution is one minute:
 * seconds never matter, as Alertmanager's ranges are in whole minutes.
 */

export class TimeIntervalError extends Error {
  override readonly name = 'TimeIntervalError';
}

const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'] as const;
const MONTHS = ['january', 'february', 'march', 'april', 'may', 'june', 'july', 'august', 'september', 'october', 'november', 'december'] as const;

const MINUTE_MS = 60_000;
const DAY_MINUTES = 1440;

interface Range {
  readonly begin: number;
  readonly end: number;
}

/** `HH:MM` → minutes since midnight (00:00-24:00). */
export function parseClockTime(text: string): number {
  const m = /^(\d\d):(\d\d)$/.exec(text);
  const hours = Number(m?.[1]);
  const minutes = Number(m?.[2]);
  if (!m || hours > 24 || minutes > 59 || (hours === 24 && minutes !== 0)) {
    throw new TimeIntervalError(`"${text}" is not a time (HH:MM, 00:00-24:00)`);
  }
  return hours * 60 + minutes;
}

function splitRange(text: string, what: string): [string, string] {
  const parts = text.trim().toLowerCase().split(':');
  if (parts.length === 1) return [parts[0] ?? '', parts[0] ?? ''];
  if (parts.length === 2 && parts[0] !== '' && parts[1] !== '') return [parts[0] ?? '', parts[1] ?? ''];
  throw new TimeIntervalError(`"${text}" is not a ${what} or a ${what} range (use a or a:b)`);
}

function parseInteger(text: string): number | null {
  return /^-?\d{1,9}$/.test(text) ? Number(text) : null;
}

export function parseWeekdayRange(text: string): Range {
  const [a, b] = splitRange(text, 'weekday');
  const day = (name: string): number => {
    const i = (WEEKDAYS as readonly string[]).indexOf(name);
    if (i < 0) throw new TimeIntervalError(`"${name}" is not a weekday (sunday, monday, …, saturday)`);
    return i;
  };
  const begin = day(a);
  const end = day(b);
  if (begin > end) {
    throw new TimeIntervalError(`"${text}": ${a} comes after ${b} (weeks run sunday to saturday; list "${a}:saturday" and "sunday:${b}" separately)`);
  }
  return { begin, end };
}

export function parseDayOfMonthRange(text: string): Range {
  const [a, b] = splitRange(text, 'day of month');
  const day = (s: string): number => {
    const n = parseInteger(s);
    if (n === null || n === 0 || n < -31 || n > 31) {
      throw new TimeIntervalError(`"${s}" is not a day of the month (1 to 31, or -1 to -31 counting from the end)`);
    }
    return n;
  };
  const begin = day(a);
  const end = day(b);
  if (begin < 0 && end > 0) throw new TimeIntervalError(`"${text}": the end day must be negative when the start day is`);
  // As Alertmanager: catch ranges that are empty in every month (taking 28 days as the shortest).
  const checkBegin = begin < 0 ? 28 + begin : begin;
  const checkEnd = end < 0 ? 28 + end : end;
  if (checkBegin > checkEnd) throw new TimeIntervalError(`"${text}": end day ${end} is always before start day ${begin}`);
  return { begin, end };
}

export function parseMonthRange(text: string): Range {
  const [a, b] = splitRange(text, 'month');
  const month = (s: string): number => {
    const i = (MONTHS as readonly string[]).indexOf(s);
    if (i >= 0) return i + 1;
    const n = parseInteger(s);
    if (n === null || n < 1 || n > 12) throw new TimeIntervalError(`"${s}" is not a month (january … december, or 1 to 12)`);
    return n;
  };
  const begin = month(a);
  const end = month(b);
  if (begin > end) throw new TimeIntervalError(`"${text}": end month ${b} is before start month ${a} (list "${a}:december" and "january:${b}" separately)`);
  return { begin, end };
}

export function parseYearRange(text: string): Range {
  const [a, b] = splitRange(text, 'year');
  const year = (s: string): number => {
    const n = parseInteger(s);
    if (n === null || n < 1 || n > 9999) throw new TimeIntervalError(`"${s}" is not a year (1 to 9999)`);
    return n;
  };
  const begin = year(a);
  const end = year(b);
  if (begin > end) throw new TimeIntervalError(`"${text}": end year ${end} is before start year ${begin}`);
  return { begin, end };
}

/** Checks an IANA zone name; returns it (canonical casing is left to Intl). */
export function checkLocation(name: string): string {
  // Intl also accepts offsets such as "+01:00"; Alertmanager (Go's LoadLocation) does not.
  if (!/^[A-Za-z]/.test(name)) throw new TimeIntervalError(`"${name}" is not an IANA time zone (e.g. Europe/Berlin, UTC)`);
  try {
    formatterFor(name);
  } catch {
    throw new TimeIntervalError(`"${name}" is not an IANA time zone (e.g. Europe/Berlin, UTC)`);
  }
  return name;
}

/** Turns a thrower into a zod refinement: the error's message becomes the issue. */
function checked(parse: (text: string) => unknown) {
  return z.string().superRefine((text, ctx) => {
    try {
      parse(text);
    } catch (err) {
      if (!(err instanceof TimeIntervalError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message });
    }
  });
}

function nonEmpty<T extends z.ZodType>(item: T, field: string, noun: string) {
  return z.array(item).min(1, `${field} is empty: omit the field to match any ${noun}`);
}

export const timeRangeSchema = z.strictObject({ start_time: checked(parseClockTime), end_time: checked(parseClockTime) }).superRefine((r, ctx) => {
  let start: number;
  let end: number;
  try {
    start = parseClockTime(r.start_time);
    end = parseClockTime(r.end_time);
  } catch {
    return; // already reported on the field
  }
  if (end <= start) {
    ctx.addIssue({
      code: 'custom',
      path: ['end_time'],
      message: `end_time "${r.end_time}" must be after start_time "${r.start_time}" (a range cannot cross midnight: split it into two)`,
    });
  }
});

export const timeIntervalEntrySchema = z.strictObject({
  times: nonEmpty(timeRangeSchema, 'times', 'time of day').optional(),
  weekdays: nonEmpty(checked(parseWeekdayRange), 'weekdays', 'weekday').optional(),
  days_of_month: nonEmpty(checked(parseDayOfMonthRange), 'days_of_month', 'day of the month').optional(),
  months: nonEmpty(checked(parseMonthRange), 'months', 'month').optional(),
  years: nonEmpty(checked(parseYearRange), 'years', 'year').optional(),
  /** IANA time zone the fields are read in; default UTC. */
  location: checked(checkLocation).optional(),
});

export const timeIntervalSchema = z.strictObject({
  name: z.string().min(1, 'a time interval needs a name'),
  time_intervals: z.array(timeIntervalEntrySchema).min(1, 'time_intervals needs at least one entry (an empty entry `{}` matches always)'),
});

/** The top-level `time_intervals:` list: names must be unique. */
export const timeIntervalsSchema = z.array(timeIntervalSchema).superRefine((list, ctx) => {
  const seen = new Set<string>();
  list.forEach((ti, i) => {
    if (seen.has(ti.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `time interval "${ti.name}" is defined twice` });
    seen.add(ti.name);
  });
});

export type TimeRangeSpec = z.infer<typeof timeRangeSchema>;
export type TimeIntervalEntrySpec = z.infer<typeof timeIntervalEntrySchema>;
export type TimeIntervalSpec = z.infer<typeof timeIntervalSchema>;

export interface CompiledTimeInterval {
  readonly name: string;
  /** True when the instant (epoch ms) is inside the interval. */
  contains(epochMs: number): boolean;
}

// ---------------------------------------------------------------------------------------------
// Wall clock in a zone

interface Wall {
  readonly year: number;
  readonly month: number; // 1-12
  readonly day: number; // 1-31
  readonly weekday: number; // 0 = sunday
  readonly minuteOfDay: number; // 0-1439
  readonly daysInMonth: number;
  /** Local wall time minus UTC, in ms (whole minutes in every zone since the 1970s). */
  readonly offsetMs: number;
}

interface ZoneClock {
  readonly format: Intl.DateTimeFormat;
  /** One-entry memo keyed by the epoch minute: routing asks many times about the same minute. */
  lastMinute: number;
  last: Wall | null;
}

const zones = new Map<string, ZoneClock>();

function formatterFor(zone: string): ZoneClock {
  let clock = zones.get(zone);
  if (!clock) {
    const format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
    });
    clock = { format, lastMinute: Number.NaN, last: null };
    zones.set(zone, clock);
  }
  return clock;
}

function wallClock(clock: ZoneClock, epochMs: number): Wall {
  const minute = Math.floor(epochMs / MINUTE_MS);
  if (minute === clock.lastMinute && clock.last) return clock.last;
  let year = 0;
  let month = 0;
  let day = 0;
  let hour = 0;
  let min = 0;
  for (const part of clock.format.formatToParts(minute * MINUTE_MS)) {
    switch (part.type) {
      case 'year':
        year = Number(part.value);
        break;
      case 'month':
        month = Number(part.value);
        break;
      case 'day':
        day = Number(part.value);
        break;
      case 'hour':
        hour = Number(part.value) % 24;
        break;
      case 'minute':
        min = Number(part.value);
        break;
      default:
        break;
    }
  }
  const localMidnight = Date.UTC(year, month - 1, day);
  const wall: Wall = {
    year,
    month,
    day,
    weekday: new Date(localMidnight).getUTCDay(),
    minuteOfDay: hour * 60 + min,
    daysInMonth: new Date(Date.UTC(year, month, 0)).getUTCDate(),
    offsetMs: localMidnight + (hour * 60 + min) * MINUTE_MS - minute * MINUTE_MS,
  };
  clock.lastMinute = minute;
  clock.last = wall;
  return wall;
}

// ---------------------------------------------------------------------------------------------
// Compilation

interface CompiledEntry {
  readonly clock: ZoneClock;
  readonly times: readonly Range[] | null; // minutes, end exclusive
  readonly weekdays: readonly Range[] | null;
  readonly daysOfMonth: readonly Range[] | null;
  readonly months: readonly Range[] | null;
  readonly years: readonly Range[] | null;
  /** Sorted minutes-of-day in (0, 1440] at which `times` may flip; always ends with 1440 (midnight). */
  readonly boundaries: readonly number[];
}

const entriesOf = new WeakMap<CompiledTimeInterval, readonly CompiledEntry[]>();

function inRanges(ranges: readonly Range[] | null, value: number): boolean {
  if (ranges === null) return true;
  for (const r of ranges) if (value >= r.begin && value <= r.end) return true;
  return false;
}

function inDaysOfMonth(ranges: readonly Range[] | null, day: number, daysInMonth: number): boolean {
  if (ranges === null) return true;
  for (const r of ranges) {
    const begin = r.begin < 0 ? daysInMonth + r.begin + 1 : r.begin;
    const end = r.end < 0 ? daysInMonth + r.end + 1 : r.end;
    if (begin > daysInMonth) continue; // e.g. 30:31 in February
    if (day >= begin && day <= Math.min(end, daysInMonth)) return true;
  }
  return false;
}

function entryContains(e: CompiledEntry, epochMs: number): boolean {
  const w = wallClock(e.clock, epochMs);
  if (e.times !== null) {
    let inside = false;
    for (const t of e.times) {
      if (w.minuteOfDay >= t.begin && w.minuteOfDay < t.end) {
        inside = true;
        break;
      }
    }
    if (!inside) return false;
  }
  return inDaysOfMonth(e.daysOfMonth, w.day, w.daysInMonth) && inRanges(e.months, w.month) && inRanges(e.weekdays, w.weekday) && inRanges(e.years, w.year);
}

function compileEntry(spec: TimeIntervalEntrySpec): CompiledEntry {
  const times =
    spec.times?.map((t): Range => {
      const begin = parseClockTime(t.start_time);
      const end = parseClockTime(t.end_time);
      if (end <= begin) throw new TimeIntervalError(`end_time "${t.end_time}" must be after start_time "${t.start_time}"`);
      return { begin, end };
    }) ?? null;
  const boundaries = new Set<number>([DAY_MINUTES]);
  for (const t of times ?? []) {
    if (t.begin > 0) boundaries.add(t.begin);
    boundaries.add(t.end);
  }
  return {
    clock: formatterFor(checkLocation(spec.location ?? 'UTC')),
    times,
    weekdays: spec.weekdays?.map(parseWeekdayRange) ?? null,
    daysOfMonth: spec.days_of_month?.map(parseDayOfMonthRange) ?? null,
    months: spec.months?.map(parseMonthRange) ?? null,
    years: spec.years?.map(parseYearRange) ?? null,
    boundaries: [...boundaries].sort((a, b) => a - b),
  };
}

/**
 * Compiles a time interval once. Throws TimeIntervalError (naming the interval) on anything the
 * schema would reject, so it is safe to call on unvalidated data too.
 */
export function compileTimeInterval(spec: TimeIntervalSpec): CompiledTimeInterval {
  let entries: CompiledEntry[];
  try {
    if (spec.time_intervals.length === 0) throw new TimeIntervalError('time_intervals needs at least one entry');
    entries = spec.time_intervals.map(compileEntry);
  } catch (err) {
    if (err instanceof TimeIntervalError) throw new TimeIntervalError(`time interval "${spec.name}": ${err.message}`);
    throw err;
  }
  const compiled: CompiledTimeInterval = {
    name: spec.name,
    contains(epochMs) {
      for (const e of entries) if (entryContains(e, epochMs)) return true;
      return false;
    },
  };
  entriesOf.set(compiled, entries);
  return compiled;
}

/** Compiles the top-level list into a map by name; throws TimeIntervalError on a duplicate name. */
export function compileTimeIntervals(specs: readonly TimeIntervalSpec[]): Map<string, CompiledTimeInterval> {
  const byName = new Map<string, CompiledTimeInterval>();
  for (const spec of specs) {
    if (byName.has(spec.name)) throw new TimeIntervalError(`time interval "${spec.name}" is defined twice`);
    byName.set(spec.name, compileTimeInterval(spec));
  }
  return byName;
}

// ---------------------------------------------------------------------------------------------
// Next change

export const NEXT_CHANGE_HORIZON_MS = 7 * 24 * 3_600_000;

/**
 * First instant after `from` at which one entry's value may change: the next `times` boundary or
 * local midnight on its wall clock, or a UTC-offset change (DST) before that, whichever is first.
 * Between two such instants the entry's wall-clock fields stay inside one boundary slot of one day,
 * so its value is constant.
 */
function nextCandidate(e: CompiledEntry, from: number): number {
  const w = wallClock(e.clock, from);
  const minuteStart = Math.floor(from / MINUTE_MS) * MINUTE_MS;
  let next = DAY_MINUTES;
  for (const b of e.boundaries) {
    if (b > w.minuteOfDay) {
      next = b;
      break;
    }
  }
  const candidate = minuteStart + (next - w.minuteOfDay) * MINUTE_MS;
  if (wallClock(e.clock, candidate).offsetMs === w.offsetMs) return candidate;
  // The offset changed on the way: find the first minute with the new offset (binary search).
  let lo = minuteStart; // old offset
  let hi = candidate; // new offset
  while (hi - lo > MINUTE_MS) {
    const mid = lo + Math.floor((hi - lo) / (2 * MINUTE_MS)) * MINUTE_MS;
    if (wallClock(e.clock, mid).offsetMs === w.offsetMs) lo = mid;
    else hi = mid;
  }
  return hi;
}

/**
 * The next instant after `epochMs` (and no later than `epochMs + horizonMs`) at which
 * `interval.contains` flips, or null if it keeps its value through the horizon.
 *
 * Resolution: one minute. The answer is the first whole minute (epoch ms divisible by 60 000) at
 * which the value differs — exact, because every boundary is a whole wall-clock minute and every
 * zone's offset since the 1970s is a whole number of minutes. It does not scan minutes: it jumps
 * from one candidate (a `times` boundary, local midnight, or a DST change, located by binary search)
 * to the next, so a week costs a few dozen `Intl` calls at most.
 */
export function nextChange(interval: CompiledTimeInterval, epochMs: number, horizonMs: number = NEXT_CHANGE_HORIZON_MS): number | null {
  const entries = entriesOf.get(interval);
  if (!entries) throw new TypeError('nextChange needs an interval made by compileTimeInterval');
  const limit = epochMs + horizonMs;
  const initial = interval.contains(epochMs);
  let at = epochMs;
  for (;;) {
    let candidate = Number.POSITIVE_INFINITY;
    for (const e of entries) candidate = Math.min(candidate, nextCandidate(e, at));
    if (candidate > limit) return null;
    if (interval.contains(candidate) !== initial) return candidate;
    at = candidate;
  }
}
