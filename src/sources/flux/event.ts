import { z } from 'zod';

/**
 * Severities Flux knows. Unknown strings are still accepted: the field is not an enum on the wire
 * and a newer controller must not make every event a 400.
 */
export type FluxSeverity = 'info' | 'error' | 'trace' | (string & {});

/**
 * The event notification-controller posts to `generic` / `generic-hmac` providers
 * (Go `eventv1.Event`, fluxcd/pkg `apis/event/v1beta1`). Unknown fields are stripped.
 */
export const fluxEventSchema = z.object({
  /** The Flux object (Kustomization, HelmRelease, GitRepository...), never the drifted resource. */
  involvedObject: z.object({
    kind: z.string().min(1, 'must not be empty'),
    namespace: z.string(),
    name: z.string().min(1, 'must not be empty'),
    uid: z.string().optional(),
    apiVersion: z.string().optional(),
    resourceVersion: z.string().optional(),
  }),
  severity: z.string().transform((s): FluxSeverity => s),
  /** RFC 3339; kept as a string so an odd timestamp does not cost us the event. */
  timestamp: z.string(),
  message: z.string(),
  reason: z.string(),
  metadata: z.record(z.string(), z.string()).optional(),
  reportingController: z.string().optional(),
  reportingInstance: z.string().optional(),
});
export type FluxEvent = z.infer<typeof fluxEventSchema>;

export type ParseFluxEventResult = { ok: true; event: FluxEvent } | { ok: false; error: string };

const MAX_REPORTED_ISSUES = 10;

/** Validates an already JSON-parsed body; `error` names each failing path, e.g. `involvedObject.kind: expected string, received undefined`. */
export function parseFluxEvent(input: unknown): ParseFluxEventResult {
  const result = fluxEventSchema.safeParse(input);
  if (result.success) return { ok: true, event: result.data };
  const issues = result.error.issues;
  const lines = issues.slice(0, MAX_REPORTED_ISSUES).map((i) => `${formatPath(i.path)}: ${i.message.replace(/^Invalid input: /, '')}`);
  if (issues.length > MAX_REPORTED_ISSUES) lines.push(`(${issues.length - MAX_REPORTED_ISSUES} more)`);
  return { ok: false, error: lines.join('; ') };
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  if (path.length === 0) return '(root)';
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (typeof segment === 'string' && /^[A-Za-z_$][\w$]*$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    // Metadata keys such as `kustomize.toolkit.fluxcd.io/revision` would be ambiguous when dotted.
    else out += `[${JSON.stringify(String(segment))}]`;
  }
  return out;
}

// notification-controller forwards keys unprefixed (since 2022-03); controllers send them prefixed,
// and the upstream docs still show the prefixed form, so both are read (flux.md §1.2).
const REVISION_KEYS = ['revision', 'kustomize.toolkit.fluxcd.io/revision', 'helm.toolkit.fluxcd.io/revision'] as const;

/** The revision the event is about (`main@sha1:...`, `master/<sha>`, a chart version), if any. */
export function fluxRevisionOf(event: FluxEvent): string | undefined {
  const metadata = event.metadata;
  if (metadata === undefined) return undefined;
  for (const key of REVISION_KEYS) {
    const value = metadata[key];
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}
