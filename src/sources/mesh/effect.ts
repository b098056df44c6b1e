import { z } from 'zod';
import { redactText } from '../../model/redact.ts';
import { BIDI_CHARS, CONTROL_CHARS, INVISIBLE_CHARS } from '../../model/text-chars.ts';

/**
 * "Not in effect" (issue #16 part 5): Git and the GitOps tool agree on a mesh object, but the mesh
 * does not apply it. The controller that serves the object says so in its `status`:
 *
 * - Gateway API routes (HTTPRoute, GRPCRoute, TLSRoute, TCPRoute, UDPRoute): one
 *   `status.parents[]` entry per parent (Gateway, or Service for mesh routes) with conditions
 *   `Accepted` (False: NotAllowedByListeners, NoMatchingListenerHostname, NoMatchingParent,
 *   UnsupportedValue), `ResolvedRefs` (False: RefNotPermitted, InvalidKind, BackendNotFound,
 *   UnsupportedProtocol) and `PartiallyInvalid` (True: invalid rules dropped, message "Dropped
 *   Rule…", or the whole route kept at its last good generation, message "Fall Back…")
 *   (kubernetes-sigs/gateway-api apis/v1/shared_types.go, RouteConditionType).
 * - Gateway API Gateway / ListenerSet: `status.conditions` `Accepted` and `Programmed`; GatewayClass:
 *   `Accepted` (apis/v1/gateway_types.go, gatewayclass_types.go).
 * - Linkerd: policy.linkerd.io HTTPRoute uses the Gateway API route status (parentRef a Server or a
 *   Service, controllerName `linkerd.io/policy-controller`); HTTPLocalRateLimitPolicy and
 *   EgressNetwork carry `status.conditions` `Accepted`. Linkerd writes no observedGeneration
 *   (linkerd/linkerd2 policy-controller/k8s/status/src/index.rs, `no_matching_parent()` …).
 * - Istio (only when istiod writes status: PILOT_ENABLE_STATUS, `enableAnalysis`):
 *   `status.validationMessages[]` `{type: {code}, level: ERROR|WARNING|INFO, documentationUrl}`
 *   with `status.observedGeneration` as a string (protojson int64), or the older
 *   `{code, level: Error, message}` shape; and a `Reconciled` condition (False while istiod has not
 *   pushed the generation to every proxy: `stillPropagating`, `61/122 complete`)
 *   (istio/istio.io content/en/docs/ops/diagnostic-tools/istioctl-analyze/index.md;
 *   https://istio.io/latest/docs/reference/config/config-status/).
 *
 * A condition whose observedGeneration is older than the object's metadata.generation speaks of a
 * previous spec: the controller has not evaluated this one yet, so it raises nothing (the object
 * counts as in effect until its controller says otherwise about the current spec).
 *
 * Everything here is pure. `slimMeshStatusSchema` keeps only these parts of a status, bounded in
 * count and length, for the mesh watch's cache; `notInEffect` reads a slim (or raw) status and
 * returns one short, single-line, bounded reason, or null when the object is in effect (or its
 * status says nothing). Status text is written by controllers, but from values anyone who can write
 * the object chooses (hostnames, names): the reason keeps at most a bounded part of a message,
 * with credentials in it masked (model/redact.ts `redactText`) and control, bidi and invisible
 * characters removed. Its caller, the mesh watch, is to send an
 * object with a reason as a resource in state `NotInEffect`, the reason as its `detail`
 * (model/signal.ts), and as `InSync` once the reason is gone, which resolves the finding.
 */

/** Longest reason `notInEffect` returns (characters). */
export const MAX_NOT_IN_EFFECT_REASON = 300;
/** Longest part of a controller's message quoted in a reason. */
const MAX_QUOTED_MESSAGE = 160;

const MAX_PARENTS = 32; // Gateway API: RouteStatus.parents MaxItems=32
const MAX_CONDITIONS = 16; // Gateway API: MaxItems=8; Istio has no bound
const MAX_VALIDATION_MESSAGES = 16;

/** A string from the wire, cut to `max` UTF-16 units (never inside a surrogate pair); else dropped. */
function text(max: number) {
  return z.preprocess((v) => (typeof v === 'string' ? cut(v, max) : undefined), z.string().max(max).optional());
}

function cut(s: string, max: number): string {
  if (s.length <= max) return s;
  const c = s.slice(0, max);
  return /[\uD800-\uDBFF]$/.test(c) ? c.slice(0, -1) : c;
}

/** A generation: an integer, or the decimal string protojson writes for int64 (Istio); else dropped. */
const generationSchema = z.preprocess((v) => {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && /^\d{1,15}$/.test(v)) return Number(v);
  return undefined;
}, z.number().int().nonnegative().optional());

/**
 * An array from the wire: at most `max` items kept, an item that does not parse dropped (one odd
 * condition must not hide the others), anything else than an array dropped.
 */
function boundedArray<T extends z.ZodType>(item: T, max: number) {
  return z.preprocess(
    (v) => (Array.isArray(v) ? v.slice(0, max) : undefined),
    z
      .array(item.nullable().catch(null))
      .max(max)
      .transform((xs) => xs.filter((x): x is NonNullable<typeof x> => x !== null))
      .optional(),
  );
}

const conditionSchema = z.object({
  type: text(64).pipe(z.string().min(1)),
  status: text(16).pipe(z.string()),
  reason: text(128),
  message: text(512),
  observedGeneration: generationSchema,
});
export type SlimMeshCondition = z.infer<typeof conditionSchema>;

const parentRefSchema = z.object({
  group: text(253),
  kind: text(63),
  namespace: text(63),
  name: text(253).pipe(z.string().min(1)),
  sectionName: text(253),
  port: z.number().int().min(0).max(65535).optional().catch(undefined),
});

const parentStatusSchema = z.object({
  parentRef: parentRefSchema,
  controllerName: text(253),
  conditions: boundedArray(conditionSchema, MAX_CONDITIONS),
});

/** Istio `AnalysisMessageBase` (current shape) or the older `{code, level, message}` one. */
const validationMessageSchema = z.object({
  type: z
    .object({ code: text(16), name: text(64) })
    .optional()
    .catch(undefined),
  code: text(16),
  level: z
    .union([text(16).pipe(z.string()), z.number().int()])
    .optional()
    .catch(undefined),
  message: text(512),
});

/**
 * The parts of a mesh object's `status` that `notInEffect` reads, bounded: at most 32 parents, 16
 * conditions each, 16 validation messages; messages cut to 512 characters, names to 253. Unknown
 * keys are dropped; a part that does not parse is dropped, never the whole status.
 */
export const slimMeshStatusSchema = z
  .object({
    observedGeneration: generationSchema,
    conditions: boundedArray(conditionSchema, MAX_CONDITIONS),
    parents: boundedArray(parentStatusSchema, MAX_PARENTS),
    validationMessages: boundedArray(validationMessageSchema, MAX_VALIDATION_MESSAGES),
  })
  .catch({});
export type SlimMeshStatus = z.infer<typeof slimMeshStatusSchema>;

/** A mesh object as `notInEffect` needs it: its API group, kind, metadata.generation and status. */
export interface MeshStatusSubject {
  group: string;
  kind: string;
  generation?: number;
  status?: unknown;
}

const GATEWAY_GROUPS: ReadonlySet<string> = new Set(['gateway.networking.k8s.io', 'gateway.networking.x-k8s.io']);
const GATEWAY_ROUTE_KINDS: ReadonlySet<string> = new Set(['HTTPRoute', 'GRPCRoute', 'TLSRoute', 'TCPRoute', 'UDPRoute']);
const GATEWAY_KINDS: ReadonlySet<string> = new Set(['Gateway', 'ListenerSet', 'XListenerSet']);
const LINKERD_POLICY_GROUP = 'policy.linkerd.io';
const LINKERD_ACCEPTED_KINDS: ReadonlySet<string> = new Set(['HTTPLocalRateLimitPolicy', 'EgressNetwork']);

/**
 * Why a mesh object is not in effect, from its status; null when it is, when its controller has not
 * evaluated its current generation yet, or when its kind writes no such status. Pure.
 */
export function notInEffect(obj: MeshStatusSubject): { reason: string } | null {
  if (obj.status === undefined || obj.status === null) return null;
  const status = slimMeshStatusSchema.parse(obj.status);
  const problems = problemsOf(obj, status);
  if (problems.length === 0) return null;
  const [first, ...rest] = problems;
  const more = rest.length > 0 ? ` (+${rest.length} more)` : '';
  return { reason: `${cutWithEllipsis(first ?? '', MAX_NOT_IN_EFFECT_REASON - more.length)}${more}` };
}

function problemsOf(obj: MeshStatusSubject, status: SlimMeshStatus): string[] {
  const { group, kind, generation } = obj;
  if (GATEWAY_GROUPS.has(group)) {
    if (GATEWAY_ROUTE_KINDS.has(kind)) return routeProblems(status, generation);
    if (GATEWAY_KINDS.has(kind)) return conditionProblems(status.conditions, generation, ['Accepted', 'Programmed']);
    if (kind === 'GatewayClass') return conditionProblems(status.conditions, generation, ['Accepted']);
    return [];
  }
  if (group === LINKERD_POLICY_GROUP) {
    if (kind === 'HTTPRoute') return routeProblems(status, generation);
    if (LINKERD_ACCEPTED_KINDS.has(kind)) return conditionProblems(status.conditions, generation, ['Accepted']);
    return [];
  }
  if (group === 'istio.io' || group.endsWith('.istio.io')) return istioProblems(status, generation);
  return [];
}

/** The condition speaks of the current spec: no observedGeneration (Linkerd), or not older than it. */
function current(observed: number | undefined, generation: number | undefined): boolean {
  return observed === undefined || generation === undefined || observed >= generation;
}

function routeProblems(status: SlimMeshStatus, generation: number | undefined): string[] {
  const out: string[] = [];
  for (const parent of status.parents ?? []) {
    const where = parentName(parent.parentRef);
    for (const c of parent.conditions ?? []) {
      if (!current(c.observedGeneration, generation)) continue;
      if (c.type === 'Accepted' && c.status === 'False') out.push(`not accepted by ${where}${detail(c)}`);
      else if (c.type === 'ResolvedRefs' && c.status === 'False') out.push(`references not resolved for ${where}${detail(c)}`);
      else if (c.type === 'PartiallyInvalid' && c.status === 'True') out.push(`partly invalid for ${where}${detail(c)}`);
    }
  }
  return out;
}

function conditionProblems(conditions: readonly SlimMeshCondition[] | undefined, generation: number | undefined, types: readonly string[]): string[] {
  const out: string[] = [];
  for (const c of conditions ?? []) {
    if (!types.includes(c.type) || c.status !== 'False' || !current(c.observedGeneration, generation)) continue;
    out.push(`${c.type === 'Programmed' ? 'not programmed' : 'not accepted'}${detail(c)}`);
  }
  return out;
}

function istioProblems(status: SlimMeshStatus, generation: number | undefined): string[] {
  const out: string[] = [];
  // validationMessages are about the generation in status.observedGeneration (when written).
  if (current(status.observedGeneration, generation)) {
    for (const m of status.validationMessages ?? []) {
      if (!isErrorLevel(m.level)) continue;
      const code = clean(m.type?.code ?? m.code ?? '');
      const name = clean(m.type?.name ?? '');
      const id = [code, name === '' ? '' : `(${name})`].filter((s) => s !== '').join(' ');
      const message = m.message === undefined ? '' : quoted(m.message);
      out.push(`istiod analysis error${id === '' ? '' : ` ${id}`}${message === '' ? '' : `: ${message}`}`);
    }
  }
  for (const c of status.conditions ?? []) {
    if (c.type !== 'Reconciled' || c.status !== 'False') continue;
    if (!current(c.observedGeneration ?? status.observedGeneration, generation)) continue;
    out.push(`not reconciled by istiod${detail(c)}`);
  }
  return out;
}

/** ERROR in the current shape, `Error` in the older one, 3 as the protobuf enum number. */
function isErrorLevel(level: string | number | undefined): boolean {
  if (typeof level === 'number') return level === 3;
  return level !== undefined && level.toUpperCase() === 'ERROR';
}

/** `Gateway infra/public (listener https)`: the parent's kind (Gateway by default), namespace, name, section. */
function parentName(ref: z.infer<typeof parentRefSchema>): string {
  const kind = clean(ref.kind ?? '') || 'Gateway';
  const ns = clean(ref.namespace ?? '');
  const name = `${ns === '' ? '' : `${ns}/`}${clean(ref.name)}`;
  const section = clean(ref.sectionName ?? '');
  const port = ref.port === undefined ? '' : ` port ${ref.port}`;
  return `${kind} ${name}${section === '' ? '' : ` (${kind === 'Gateway' ? 'listener' : 'section'} ${section})`}${port}`;
}

/** `: BackendNotFound: service "x" not found`, the message cut to a bounded quote. */
function detail(c: SlimMeshCondition): string {
  const reason = clean(c.reason ?? '');
  const message = c.message === undefined ? '' : quoted(c.message);
  return [reason, message]
    .filter((s) => s !== '')
    .map((s) => `: ${s}`)
    .join('');
}

/**
 * A controller's message as quoted in a reason: secret-looking shapes masked first (a JWT cut in
 * two would no longer look like one), then one clean, bounded line.
 */
function quoted(message: string): string {
  return cutWithEllipsis(clean(redactText(message)), MAX_QUOTED_MESSAGE);
}

const LINE_BREAKS = /[\r\n\t\v\f\u0085\u2028\u2029]+/gu;
const HIDDEN = new RegExp(`[${CONTROL_CHARS}${BIDI_CHARS}${INVISIBLE_CHARS}]`, 'gu');
// With the u flag a surrogate pair is one code point: this matches only halves of none.
const LONE_SURROGATE = /[\uD800-\uDFFF]/gu;

/** One line: line breaks as a space, control, bidi and invisible characters removed, spaces collapsed. */
function clean(s: string): string {
  return s.replace(LINE_BREAKS, ' ').replace(HIDDEN, '').replace(LONE_SURROGATE, '').replace(/ {2,}/g, ' ').trim();
}

function cutWithEllipsis(s: string, max: number): string {
  if (s.length <= max) return s;
  return `${cut(s, max - 1)}…`;
}
