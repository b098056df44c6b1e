/**
 * Redaction of Kubernetes objects before anything about them leaves the process (issues #16, #17).
 * What is removed or masked, and why, is in docs/mesh.md ("Redaction"); in short:
 * - dropped: core `Secret` `data`/`stringData`, `metadata.managedFields`, the kubectl
 *   `last-applied-configuration` annotation (it repeats the whole object, secrets included);
 * - masked by key: a key that names a credential (`authorization`, `cookie`, `token`, `password`,
 *   `secret`, `apikey`, `private`, `credential`…), anywhere, header names included; and the value
 *   beside a `name`/`key` that names one (`{name: Authorization, value: …}`: Gateway API header
 *   matches and modifiers, env vars);
 * - masked by value: JWTs, `Bearer `/`Basic ` credentials, PEM blocks, URLs with a password, secret
 *   query parameters, long high-entropy tokens;
 * - opaque: an `EnvoyFilter`'s `spec.configPatches` (free-form Envoy config: Lua, headers, keys).
 * A masked value is replaced by {@link MASKED}: never its value, nor a hash of it. Pure and bounded:
 * depth and node budgets stop hostile input (what is beyond them becomes {@link TRUNCATED}).
 */

/** What replaces a masked value. */
export const MASKED = 'MASKED';
/** What replaces a part of an object beyond the depth or size budget. */
export const TRUNCATED = '«truncated»';
/** Deepest nesting walked; kube objects are far shallower (an Istio VirtualService is about 10). */
export const MAX_REDACT_DEPTH = 48;
/** Most nodes (objects, arrays, values) walked in one object; the rest is {@link TRUNCATED}. */
export const MAX_REDACT_NODES = 50_000;
/** Longest string scanned for secret shapes; a longer one is masked whole (it could hide anything). */
export const MAX_SCANNED_STRING = 256 * 1024;

/** A resource's API group (`''` for core) and kind. */
export interface KindRef {
  group: string;
  kind: string;
}

export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/** Key fragments that name a credential (lower case, matched anywhere in the key). */
const SENSITIVE_KEY =
  /authorization|authentication|cookie|token|passw(?:or)?d|secret|api[-_.]?key|private|credential|bearer|signature|session[-_]?id|access[-_]?key|x-amz-security/;
/**
 * camelCase fields that name a Secret or point at one without holding it (`credentialName`,
 * `secretName`, `tokenSecretRef`, `passwordRef`): the reference is not the secret and saying
 * which one changed matters. Header names (hyphens) never match this.
 */
const REFERENCE_KEY = /^[a-z][a-zA-Z0-9]*(?:Name|Ref|Refs|Namespace|Path|File)$/;
/** Mesh fields whose name contains a fragment above but which hold configuration, not a credential. */
const NOT_SENSITIVE = new Set(['httpCookie', 'forwardOriginalToken', 'outputClaimToHeaders', 'fromCookies']);
/**
 * The value fields beside a `name`/`key` (Gateway API HTTPHeaderMatch and HTTPHeaderFilter, Consul
 * header matches, Istio AuthorizationPolicy `when` conditions, env vars): masked when that name is
 * a credential's.
 */
const PAIR_VALUES = new Set(['value', 'values', 'notValues', 'exact', 'prefix', 'suffix', 'regex', 'contains', 'stringValue', 'default']);

/** True for a key that names a credential: its value is masked wherever it appears. */
export function isSensitiveKey(key: string): boolean {
  if (NOT_SENSITIVE.has(key) || REFERENCE_KEY.test(key)) return false;
  return SENSITIVE_KEY.test(key.toLowerCase());
}

const JWT = /\bey[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/;
/** A whole value that is an HTTP auth scheme and one credential: an `Authorization` header's value. */
const AUTH_VALUE = /^\s*(?:bearer|basic|digest|negotiate|token)\s+\S{4,}\s*$/i;
/** An auth scheme with a credential inside free text: the credential must look generated, not prose. */
const AUTH_SCHEME = /\b(?:bearer|basic)\s+([A-Za-z0-9._~+/=-]{8,})/gi;
const PEM = /-----BEGIN [A-Z0-9 ]{1,64}-----/;
const URL_PASSWORD = /[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i;
const SECRET_PARAM =
  /[?&;](?:access_token|id_token|refresh_token|token|api[-_]?key|apikey|password|passwd|secret|client_secret|sig|signature|x-amz-signature)=[^&\s]/i;
/** Runs of token characters long enough to be a generated credential. */
const LONG_RUN = /[A-Za-z0-9+/_=-]{32,}/g;

/** Shannon entropy in bits per character. */
function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

/**
 * A run that looks generated: upper case, lower case and digits mixed, and more than 4.2 bits of
 * entropy per character. Hex digests, UUIDs and kebab-case names (one case) and hostnames (dots
 * break the run) stay readable.
 */
function isHighEntropy(run: string): boolean {
  if (!/[A-Z]/.test(run) || !/[a-z]/.test(run) || !/[0-9]/.test(run)) return false;
  return entropy(run) > 4.2;
}

function hasHighEntropyRun(s: string): boolean {
  for (const m of s.matchAll(LONG_RUN)) if (isHighEntropy(m[0])) return true;
  return false;
}

/** True for a string that holds a credential by its shape (JWT, auth scheme, PEM, URL password, token). */
export function isSecretValue(s: string): boolean {
  if (s.length > MAX_SCANNED_STRING) return true;
  return JWT.test(s) || AUTH_VALUE.test(s) || PEM.test(s) || URL_PASSWORD.test(s) || SECRET_PARAM.test(s) || hasAuthScheme(s) || hasHighEntropyRun(s);
}

/** `Bearer x` / `Basic x` where x has a digit, a symbol or mixed case: a credential, not "Basic authentication". */
function looksGenerated(credential: string): boolean {
  return /[0-9+/=_.~-]/.test(credential) || (/[A-Z]/.test(credential.slice(1)) && /[a-z]/.test(credential));
}

function hasAuthScheme(s: string): boolean {
  for (const m of s.matchAll(AUTH_SCHEME)) if (looksGenerated(m[1] ?? '')) return true;
  return false;
}

/** Credential shapes in free text and what replaces each (`$1` keeps the part before the credential). */
const TEXT_SHAPES: readonly (readonly [RegExp, string])[] = [
  [/-----BEGIN [A-Z0-9 ]{1,64}-----[\s\S]*?(?:-----END [A-Z0-9 ]{1,64}-----|$)/g, MASKED],
  [new RegExp(JWT.source, 'g'), MASKED],
  [/([a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:)[^/\s@]+@/gi, `$1${MASKED}@`],
  [
    /([?&;](?:access_token|id_token|refresh_token|token|api[-_]?key|apikey|password|passwd|secret|client_secret|sig|signature|x-amz-signature)=)[^&\s]+/gi,
    `$1${MASKED}`,
  ],
];

/**
 * Free text (an error message, a condition message, an event) with every credential-shaped part
 * replaced by {@link MASKED}: PEM blocks, JWTs, `Bearer …`, a URL's password, secret query
 * parameters, long high-entropy tokens. The rest of the text is kept.
 */
export function redactText(s: string): string {
  if (s.length > MAX_SCANNED_STRING) return MASKED;
  let out = s;
  for (const [re, replacement] of TEXT_SHAPES) out = out.replace(re, replacement);
  out = out.replace(AUTH_SCHEME, (m: string, credential: string) => (looksGenerated(credential) ? `${m.slice(0, m.length - credential.length)}${MASKED}` : m));
  return out.replace(LONG_RUN, (run) => (isHighEntropy(run) ? MASKED : run));
}

/** How the value at one key of an object is treated: left out, masked whole, or walked. */
export type Treatment = 'drop' | 'mask' | 'walk';

/** Keys and indexes from an object's root. */
export type Path = readonly (string | number)[];

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A core `Secret`: by the reference at the top, or by its own apiVersion/kind anywhere (a List's item). */
function isSecretObject(obj: Record<string, unknown>, path: Path, ref: KindRef): boolean {
  if (path.length === 0 && ref.group === '' && ref.kind === 'Secret') return true;
  return obj['kind'] === 'Secret' && obj['apiVersion'] === 'v1';
}

function isEnvoyFilterPatches(path: Path, key: string, ref: KindRef): boolean {
  return ref.kind === 'EnvoyFilter' && ref.group === 'networking.istio.io' && key === 'configPatches' && path.length === 1 && path[0] === 'spec';
}

/** The object names a credential in its `name` or `key` (a header match, a header to set, an env var). */
function namesCredential(obj: Record<string, unknown>): boolean {
  const name = obj['name'] ?? obj['key'];
  return typeof name === 'string' && SENSITIVE_KEY.test(name.toLowerCase());
}

/**
 * How redaction treats `obj[key]`, where `path` leads to `obj`. `others` are the same object on the
 * other side of a comparison (a diff masks a pair when either side names a credential).
 */
export function treatmentOf(path: Path, obj: Record<string, unknown>, key: string, ref: KindRef, ...others: unknown[]): Treatment {
  if (path.length === 1 && path[0] === 'metadata' && key === 'managedFields') return 'drop';
  if (path.length === 2 && path[0] === 'metadata' && path[1] === 'annotations' && key === LAST_APPLIED_ANNOTATION) return 'drop';
  if ((key === 'data' || key === 'stringData') && isSecretObject(obj, path, ref)) return 'drop';
  if (isEnvoyFilterPatches(path, key, ref)) return 'mask';
  const value = obj[key];
  if (typeof value === 'boolean' || value === null) return 'walk';
  if (isSensitiveKey(key)) return 'mask';
  if (PAIR_VALUES.has(key) && [obj, ...others].some((o) => isPlainObject(o) && namesCredential(o))) return 'mask';
  return 'walk';
}

interface Budget {
  nodes: number;
}

function redactNode(value: unknown, path: (string | number)[], ref: KindRef, budget: Budget): unknown {
  if (typeof value === 'string') return isSecretValue(value) ? MASKED : value;
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return value;
  if (typeof value !== 'object') return undefined;
  if (path.length >= MAX_REDACT_DEPTH || --budget.nodes < 0) return TRUNCATED;
  if (Array.isArray(value)) {
    return value.map((item, i) => {
      path.push(i);
      const out = redactNode(item, path, ref, budget);
      path.pop();
      return out === undefined ? null : out;
    });
  }
  const obj = value as Record<string, unknown>;
  const entries: [string, unknown][] = [];
  for (const key of Object.keys(obj)) {
    const t = treatmentOf(path, obj, key, ref);
    if (t === 'drop') continue;
    if (t === 'mask') {
      entries.push([key, MASKED]);
      continue;
    }
    path.push(key);
    const out = redactNode(obj[key], path, ref, budget);
    path.pop();
    if (out !== undefined) entries.push([key, out]);
  }
  // fromEntries defines own properties: a hostile `__proto__` key stays a plain key.
  return Object.fromEntries(entries);
}

/**
 * A redacted deep copy of the part of an object found at `path` (the keys and indexes from the
 * object's root: the rules depend on where a value sits, e.g. EnvoyFilter `spec.configPatches`).
 */
export function redactAt(value: unknown, path: Path, ref: KindRef): unknown {
  return redactNode(value, [...path], ref, { nodes: MAX_REDACT_NODES });
}

/**
 * A redacted deep copy of a Kubernetes object (`ref` is its API group, `''` for core, and kind):
 * Secret data, managedFields and last-applied-configuration dropped, credentials masked as
 * {@link MASKED}, EnvoyFilter patches opaque, anything beyond the depth or size budget
 * {@link TRUNCATED}. The input is not changed.
 */
export function redactObject(obj: unknown, ref: KindRef): unknown {
  return redactNode(obj, [], ref, { nodes: MAX_REDACT_NODES });
}
