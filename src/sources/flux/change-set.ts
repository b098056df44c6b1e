/**
 * Parsers for the object lines Flux controllers put into event messages. Lines carry Kind but
 * never the API group (flux.md §0.3); the caller resolves that.
 */

/** Server-side apply change-set actions (fluxcd/pkg `ssa`); `unchanged`/`skipped` never reach events. */
export const SSA_ACTIONS = ['created', 'configured', 'deleted', 'unknown'] as const;
export type SsaAction = (typeof SSA_ACTIONS)[number];

/** helm-controller drift summary actions (`internal/diff/summarize.go`). */
export const HELM_DRIFT_ACTIONS = ['changed', 'removed', 'excluded'] as const;
export type HelmDriftAction = (typeof HELM_DRIFT_ACTIONS)[number];

/**
 * `failed`: a helm-controller drift-correction error line, `Kind/ns/name creation failure: <err>` or
 * `... patch failure: <err>` (`internal/action/diff.go` `ApplyDiff`).
 */
export type ChangeSetAction = SsaAction | HelmDriftAction | 'failed';

/** One object line of a Flux event message. */
export interface ChangeSetEntry {
  kind: string;
  /** '' for cluster-scoped objects. */
  namespace: string;
  name: string;
  action: ChangeSetAction;
  /** `0 additions, 1 changes, 0 removals` for `changed`; `patch failure: <err>` for `failed`. */
  detail?: string;
}

// Subject = `Kind/namespace/name` or `Kind/name` (pkg `ssa/utils/fmt.go` FmtObjMetadata). Kind must
// start upper-case: pre-SSA kubectl-style lines (`deployment.apps/name configured`, flux2#626) would
// otherwise be read as a cluster-scoped kind `deployment.apps`.
const LINE = /^([A-Z][A-Za-z0-9-]*)\/(?:([^/\s]+)\/)?([^/\s]+) (.+)$/;
const CHANGED = /^changed \(([^()]*)\)$/;
const FAILURE = /^((?:creation|patch) failure: .*)$/s;

const isSsaAction = (s: string): s is SsaAction => (SSA_ACTIONS as readonly string[]).includes(s);

/** Parses one object line; `undefined` for anything else (headers, error text, blank lines). */
export function parseChangeSetLine(line: string): ChangeSetEntry | undefined {
  const match = LINE.exec(line.trim());
  if (match === null) return undefined;
  const [, kind, namespace, name, rest] = match;
  if (kind === undefined || name === undefined || rest === undefined) return undefined;
  const subject = { kind, namespace: namespace ?? '', name };
  if (isSsaAction(rest) || rest === 'removed' || rest === 'excluded') return { ...subject, action: rest };
  const changed = CHANGED.exec(rest);
  if (changed?.[1] !== undefined) return { ...subject, action: 'changed', detail: changed[1] };
  const failure = FAILURE.exec(rest);
  if (failure?.[1] !== undefined) return { ...subject, action: 'failed', detail: failure[1] };
  return undefined;
}

/** Parses every line of a message; `skipped` counts the non-blank lines that did not parse. */
export function parseChangeSet(lines: string | readonly string[]): { entries: ChangeSetEntry[]; skipped: number } {
  const list = typeof lines === 'string' ? lines.split('\n') : lines;
  const entries: ChangeSetEntry[] = [];
  let skipped = 0;
  for (const line of list) {
    if (line.trim() === '') continue;
    const entry = parseChangeSetLine(line);
    if (entry === undefined) skipped++;
    else entries.push(entry);
  }
  return { entries, skipped };
}
