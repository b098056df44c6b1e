import { z } from 'zod';
import { parseDuration } from '../model/duration.ts';
import { ALERTNAME } from '../model/finding.ts';
import { compileMatcher, matchesAll, matcherSpecSchema, MatcherError, parseMatcher, type Matcher, type MatcherSpec } from './matcher.ts';

/**
 * Silences, as in Alertmanager: a set of matchers and a time window. A finding whose labels match
 * every matcher of an active silence is not notified (issue #4). Everything here is pure; the
 * store is track/silence-store.ts and the lifecycle asks `silencedBy` and `nextSilenceChange`.
 *
 * A silence is active on the half-open window [startsAt, endsAt): expiring one at `now` sets
 * `endsAt = now`, so it is expired from that very instant.
 */

const MAX_MATCHERS = 64;
const MAX_TEXT = 4096;

const isoDateTime = z.iso.datetime({ offset: true, error: 'expected an ISO 8601 date-time such as 2026-05-01T12:00:00Z' });

// Regex matchers must compile; a stored silence with a broken regex is corrupt, not trusted.
const compilableMatcherSchema = matcherSpecSchema.superRefine((spec, ctx) => {
  try {
    compileMatcher(spec);
  } catch (err) {
    ctx.issues.push({ code: 'custom', message: err instanceof Error ? err.message : String(err), input: spec, path: ['value'] });
  }
});

// Not strict: a field added by a newer meshdrift is dropped rather than making the silence unreadable.
export const silenceSchema = z
  .object({
    id: z.string().min(1),
    matchers: z.array(compilableMatcherSchema).min(1).max(MAX_MATCHERS),
    startsAt: isoDateTime,
    endsAt: isoDateTime,
    createdBy: z.string().min(1).max(MAX_TEXT),
    comment: z.string().min(1).max(MAX_TEXT),
    createdAt: isoDateTime,
  })
  // Created silences have endsAt > startsAt; expiring a pending one sets both to the same instant
  // (as Alertmanager does), which is the only way they become equal.
  .refine((s) => Date.parse(s.endsAt) >= Date.parse(s.startsAt), { message: 'endsAt must not be before startsAt', path: ['endsAt'] });
/** A silence as stored and returned by the API. Times are ISO 8601 strings (UTC). */
export type Silence = z.infer<typeof silenceSchema>;

export type SilenceState = 'pending' | 'active' | 'expired';

/** Where a silence stands at `now`: pending before startsAt, active until endsAt, expired from then on. */
export function silenceState(s: Pick<Silence, 'startsAt' | 'endsAt'>, now: number): SilenceState {
  if (now < Date.parse(s.startsAt)) return 'pending';
  if (now < Date.parse(s.endsAt)) return 'active';
  return 'expired';
}

// One matcher in a create request: the text form (`namespace="payments"`) or the object form.
const matcherInputSchema = z.unknown().transform((value, ctx): MatcherSpec => {
  let spec: MatcherSpec;
  if (typeof value === 'string') {
    try {
      spec = parseMatcher(value);
    } catch (err) {
      ctx.issues.push({ code: 'custom', message: err instanceof Error ? err.message : String(err), input: value });
      return z.NEVER;
    }
  } else {
    const parsed = matcherSpecSchema.safeParse(value);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        ctx.issues.push({ code: 'custom', message: issue.message, input: value, path: issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p)) });
      }
      return z.NEVER;
    }
    spec = parsed.data;
  }
  try {
    compileMatcher(spec);
  } catch (err) {
    ctx.issues.push({ code: 'custom', message: err instanceof MatcherError ? err.message : String(err), input: value });
    return z.NEVER;
  }
  return spec;
});

const durationInputSchema = z.string().transform((text, ctx): number => {
  const ms = parseDuration(text);
  if (ms === null || ms <= 0) {
    ctx.issues.push({ code: 'custom', message: `"${text.slice(0, 40)}" is not a positive duration (use e.g. 30m, 2h, 1d, 1h30m)`, input: text });
    return z.NEVER;
  }
  return ms;
});

const nonEmptyText = (field: string) =>
  z
    .string({ error: `${field} is required (a non-empty string)` })
    .trim()
    .min(1, `${field} must not be empty`)
    .max(MAX_TEXT, `${field} is longer than ${MAX_TEXT} characters`);

const matchesEmpty = (spec: MatcherSpec): boolean => {
  try {
    return compileMatcher(spec).matches({});
  } catch {
    return false;
  }
};

/**
 * The body of a create request, before `now` is known. Matchers may be strings (`severity=~"high|critical"`)
 * or `{name, op, value}` objects; give `endsAt` or `duration` (`1h`, `2d`), not both.
 */
export const silenceInputSchema = z
  .strictObject({
    matchers: z
      .array(matcherInputSchema, { error: 'matchers is required: a list such as ["namespace=\\"payments\\""]' })
      .min(1, 'give at least one matcher')
      .max(MAX_MATCHERS, `at most ${MAX_MATCHERS} matchers`),
    startsAt: isoDateTime.optional(),
    endsAt: isoDateTime.optional(),
    duration: durationInputSchema.optional(),
    createdBy: nonEmptyText('createdBy'),
    comment: nonEmptyText('comment'),
  })
  .superRefine((input, ctx) => {
    if (input.endsAt !== undefined && input.duration !== undefined) {
      ctx.issues.push({ code: 'custom', message: 'give endsAt or duration, not both', input, path: ['duration'] });
    } else if (input.endsAt === undefined && input.duration === undefined) {
      ctx.issues.push({ code: 'custom', message: 'endsAt is required (or give a duration such as 2h)', input, path: ['endsAt'] });
    }
    // A silence whose matchers all match the empty string would silence every finding.
    if (input.matchers.length > 0 && input.matchers.every(matchesEmpty)) {
      ctx.issues.push({
        code: 'custom',
        message: 'at least one matcher must not match the empty string (this silence would match everything)',
        input,
        path: ['matchers'],
      });
    }
  });
/** A create request as parsed: matchers are specs, times still as given. */
export type SilenceInput = z.output<typeof silenceInputSchema>;

/** A silence about to be created: everything but the id and creation time, which the store assigns. */
export type NewSilence = Omit<Silence, 'id' | 'createdAt'>;

/**
 * What one silence may hold (issue #12): each from an environment variable, named in the error a
 * request past it gets. The stored form's hard caps (MAX_MATCHERS, MAX_TEXT) stay above these, so
 * lowering a limit never makes stored silences unreadable.
 */
export interface SilenceLimits {
  maxMatchers: number;
  /** Longest label name or value of one matcher. */
  maxValueLength: number;
  maxCommentLength: number;
  maxCreatedByLength: number;
  /** Longest endsAt - startsAt, ms. */
  maxDurationMs: number;
}

export const DEFAULT_SILENCE_LIMITS: SilenceLimits = {
  maxMatchers: 32,
  maxValueLength: 1024,
  maxCommentLength: 1024,
  maxCreatedByLength: 256,
  maxDurationMs: 90 * 86_400_000,
};

/** Which limit a refused silence was past: the `limit` label of meshdrift_limit_hits_total. */
export type SilenceLimitName = 'silence_size' | 'silence_duration';

/** A parse result whose error names each bad field (`matchers.0: …; endsAt: …`). */
export type SilenceInputResult = { ok: true; silence: NewSilence } | { ok: false; error: string; limit?: SilenceLimitName };

const days = (ms: number): string =>
  ms % 86_400_000 === 0 ? `${ms / 86_400_000}d` : ms % 3_600_000 === 0 ? `${ms / 3_600_000}h` : `${Math.round(ms / 60_000)}m`;

/** The first size limit `input` is past, as an error naming the field and the variable. */
function sizeProblem(input: SilenceInput, limits: SilenceLimits): string | null {
  if (input.matchers.length > limits.maxMatchers)
    return `matchers: at most ${limits.maxMatchers} matchers (MESHDRIFT_SILENCE_MAX_MATCHERS), got ${input.matchers.length}`;
  for (const [i, m] of input.matchers.entries()) {
    if (m.name.length > limits.maxValueLength || m.value.length > limits.maxValueLength) {
      return `matchers.${i}: label names and values are at most ${limits.maxValueLength} characters (MESHDRIFT_SILENCE_MAX_VALUE_LENGTH)`;
    }
  }
  if (input.comment.length > limits.maxCommentLength)
    return `comment: at most ${limits.maxCommentLength} characters (MESHDRIFT_SILENCE_MAX_COMMENT_LENGTH), got ${input.comment.length}`;
  if (input.createdBy.length > limits.maxCreatedByLength)
    return `createdBy: at most ${limits.maxCreatedByLength} characters (MESHDRIFT_SILENCE_MAX_CREATED_BY_LENGTH), got ${input.createdBy.length}`;
  return null;
}

function issuesText(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.map(String).join('.') || '(body)'}: ${i.message}`)
    .join('; ');
}

/**
 * Parses a create request at `now`: startsAt defaults to now, `duration` counts from startsAt,
 * and endsAt must be after startsAt and in the future (a silence that never applies is a mistake).
 */
export function parseSilenceInput(body: unknown, now: number, limits: SilenceLimits = DEFAULT_SILENCE_LIMITS): SilenceInputResult {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, error: '(body): expected a JSON object' };
  const parsed = silenceInputSchema.safeParse(body);
  if (!parsed.success) {
    // Past the hard caps of the schema (64 matchers, 4096 characters): a size limit too.
    const tooBig = parsed.error.issues.some((i) => i.code === 'too_big');
    return { ok: false, error: issuesText(parsed.error.issues), ...(tooBig ? { limit: 'silence_size' as const } : {}) };
  }
  const input = parsed.data;
  const size = sizeProblem(input, limits);
  if (size !== null) return { ok: false, error: size, limit: 'silence_size' };
  const startsAt = input.startsAt === undefined ? now : Date.parse(input.startsAt);
  const endsAt = input.endsAt !== undefined ? Date.parse(input.endsAt) : startsAt + (input.duration ?? 0);
  if (endsAt <= startsAt)
    return {
      ok: false,
      error: `${input.endsAt !== undefined ? 'endsAt' : 'duration'}: the silence must end after it starts (${new Date(startsAt).toISOString()})`,
    };
  if (endsAt <= now)
    return { ok: false, error: `${input.endsAt !== undefined ? 'endsAt' : 'duration'}: the silence would already be over; endsAt must be in the future` };
  if (!Number.isFinite(endsAt) || endsAt > 8.64e15) return { ok: false, error: 'endsAt: too far in the future' };
  if (endsAt - startsAt > limits.maxDurationMs) {
    return {
      ok: false,
      error: `${input.endsAt !== undefined ? 'endsAt' : 'duration'}: a silence lasts at most ${days(limits.maxDurationMs)} (MESHDRIFT_SILENCE_MAX_DURATION)`,
      limit: 'silence_duration',
    };
  }
  return {
    ok: true,
    silence: {
      matchers: input.matchers,
      startsAt: new Date(startsAt).toISOString(),
      endsAt: new Date(endsAt).toISOString(),
      createdBy: input.createdBy,
      comment: input.comment,
    },
  };
}

/** A silence ready for matching: matchers compiled and times as epoch ms, done once per batch. */
export interface CompiledSilence {
  readonly id: string;
  readonly startsAt: number;
  readonly endsAt: number;
  readonly matchers: readonly Matcher[];
}

/**
 * Compiles silences once (regexes included) for many `silencedBy` calls. Input comes from the
 * store, which validated every regex; one that still fails to compile is left out rather than
 * stopping every notification.
 */
export function compileSilences(silences: readonly Silence[]): CompiledSilence[] {
  const compiled: CompiledSilence[] = [];
  for (const s of silences) {
    try {
      compiled.push({ id: s.id, startsAt: Date.parse(s.startsAt), endsAt: Date.parse(s.endsAt), matchers: s.matchers.map(compileMatcher) });
    } catch {
      // Unreachable for validated silences (silenceSchema compiles each regex).
    }
  }
  return compiled;
}

/** A finding's labels as silences see them: with `alertname="MeshDrift"` unless a rule set another. */
export function silenceLabels(labels: Readonly<Record<string, string | undefined>>): Readonly<Record<string, string | undefined>> {
  return Object.hasOwn(labels, 'alertname') ? labels : { alertname: ALERTNAME, ...labels };
}

/** Ids of every silence active at `now` whose matchers all match `labels` (as Alertmanager's `silencedBy`). */
export function silencesOf(labels: Readonly<Record<string, string | undefined>>, compiled: readonly CompiledSilence[], now: number): string[] {
  const l = silenceLabels(labels);
  return compiled.filter((s) => now >= s.startsAt && now < s.endsAt && matchesAll(s.matchers, l)).map((s) => s.id);
}

/** Id of the first silence active at `now` whose matchers all match `labels`, or null. */
export function silencedBy(labels: Readonly<Record<string, string | undefined>>, compiled: readonly CompiledSilence[], now: number): string | null {
  const l = silenceLabels(labels);
  for (const s of compiled) {
    if (now >= s.startsAt && now < s.endsAt && matchesAll(s.matchers, l)) return s.id;
  }
  return null;
}

/**
 * The next instant after `now` at which a silence matching `labels` starts or ends, or null: the
 * lifecycle wakes up then, to notify what a lapsing silence uncovers or hold what a new one covers.
 */
export function nextSilenceChange(compiled: readonly CompiledSilence[], labels: Readonly<Record<string, string | undefined>>, now: number): number | null {
  let next: number | null = null;
  for (const s of compiled) {
    const at = s.startsAt > now ? s.startsAt : s.endsAt > now ? s.endsAt : null;
    if (at === null || (next !== null && at >= next)) continue;
    if (matchesAll(s.matchers, silenceLabels(labels))) next = at;
  }
  return next;
}
