import { z } from 'zod';

/** Severities, most severe first. The order is the ranking. */
export const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'] as const;
export const severitySchema = z.enum(SEVERITIES);
export type Severity = z.infer<typeof severitySchema>;

/** 0 for critical … 4 for info: lower is more severe. */
export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}

/** The most severe of the given severities; `info` for none. */
export function highestSeverity(severities: Iterable<Severity>): Severity {
  let best: Severity = 'info';
  for (const s of severities) if (severityRank(s) < severityRank(best)) best = s;
  return best;
}

/** One step less severe, never below `info`. */
export function lowerSeverity(severity: Severity): Severity {
  return SEVERITIES[Math.min(severityRank(severity) + 1, SEVERITIES.length - 1)] ?? 'info';
}
