import { z } from 'zod';

/**
 * The AdmissionReview (`admission.k8s.io/v1`) the API server posts to a validating webhook, as far
 * as the recorder reads it, and the one answer it gives. Everything from the wire is hostile
 * (anyone who reaches the listener can post): strings and lists are bounded, the objects are
 * parsed as JSON of bounded size by the listener and read further only through these schemas and
 * the redaction (model/redact.ts). Shapes: kubernetes.io/docs/reference/access-authn-authz/
 * extensible-admission-controllers ("Request", "Response").
 */

const name = z.string().max(253);
const jsonObject = z.record(z.string(), z.unknown());

export const admissionRequestSchema = z.object({
  /** Identifies this request; the response must echo it. */
  uid: z.string().min(1).max(128),
  kind: z.object({ group: name, version: z.string().max(63), kind: z.string().min(1).max(63) }),
  resource: z.object({ group: name, version: z.string().max(63), resource: z.string().max(253) }),
  subResource: z.string().max(253).optional(),
  name: name.optional(),
  namespace: z.string().max(63).optional(),
  operation: z.enum(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']),
  userInfo: z.object({
    username: z.string().max(1024).optional(),
    uid: z.string().max(256).optional(),
    groups: z.array(z.string().max(1024)).max(256).optional(),
    extra: z.record(z.string().max(256), z.array(z.string().max(1024)).max(64)).optional(),
  }),
  object: jsonObject.nullable().optional(),
  oldObject: jsonObject.nullable().optional(),
  dryRun: z.boolean().optional(),
  /** CreateOptions, UpdateOptions or DeleteOptions; `fieldManager` names the client's field manager. */
  options: z
    .object({ fieldManager: z.string().max(128).optional() })
    .loose()
    .nullable()
    .optional(),
});
export type AdmissionRequest = z.infer<typeof admissionRequestSchema>;

export const admissionReviewSchema = z.object({
  apiVersion: z.literal('admission.k8s.io/v1'),
  kind: z.literal('AdmissionReview'),
  request: admissionRequestSchema,
});

/** The one answer: allowed, never a patch, whatever happened inside. */
export function allowResponse(uid: string): string {
  return JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } });
}

const UID = /^[A-Za-z0-9._:-]{1,128}$/;

/** `request.uid` of a parsed body, if it is one. */
export function uidOf(body: unknown): string | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const request = (body as { request?: unknown }).request;
  if (request === null || typeof request !== 'object') return undefined;
  const uid = (request as { uid?: unknown }).uid;
  return typeof uid === 'string' && UID.test(uid) ? uid : undefined;
}

/**
 * The request uid of a body that is not JSON (cut short, garbled): the first `"uid":"…"` after
 * `"request"`. The API server writes `request.uid` first (its Go struct order), so this finds the
 * request's, not an object's, in what it sends; from anything else it is only a best effort, and
 * the answer is an allow either way.
 */
export function uidFromText(text: string): string | undefined {
  const at = text.indexOf('"request"');
  if (at === -1) return undefined;
  const m = /"uid"\s*:\s*"([A-Za-z0-9._:-]{1,128})"/.exec(text.slice(at, at + 4096));
  return m?.[1];
}
