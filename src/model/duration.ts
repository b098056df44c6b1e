import { z } from 'zod';

/**
 * Parses Prometheus-style durations: `500ms`, `10s`, `5m`, `4h`, `1d`, `1h30m`, or a bare number of
 * seconds. Returns milliseconds, or null for anything else.
 */
export function parseDuration(text: string): number | null {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gy;
  let total = 0;
  let consumed = 0;
  for (const m of trimmed.matchAll(re)) {
    total += Number(m[1]) * (units[m[2] ?? ''] ?? Number.NaN);
    consumed += m[0].length;
  }
  if (consumed === 0 || consumed !== trimmed.length || !Number.isFinite(total)) return null;
  return Math.round(total);
}

/** A duration in the policy file (route timings, remediation windows): milliseconds, or an issue naming the text. */
export const policyDurationSchema = z.string().transform((text, ctx) => {
  const ms = parseDuration(text);
  if (ms === null) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration (use e.g. 30s, 5m, 4h)` });
    return z.NEVER;
  }
  return ms;
});
