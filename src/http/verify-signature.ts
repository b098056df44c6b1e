import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** Outcome of a request authentication check; `reason` never contains the key or expected value. */
export type VerifyResult = { ok: true } | { ok: false; reason: string };

// Flux signs with sha256 today and documents that the default "may change"; its verification
// example accepts these four (notification-controller docs/spec/v1beta3/providers.md).
const SIGNATURE_ALGORITHMS = ['sha224', 'sha256', 'sha384', 'sha512'] as const;
type SignatureAlgorithm = (typeof SIGNATURE_ALGORITHMS)[number];
const isSignatureAlgorithm = (s: string): s is SignatureAlgorithm => (SIGNATURE_ALGORITHMS as readonly string[]).includes(s);

const HEX = /^[0-9a-fA-F]+$/;

/**
 * Checks a Flux `generic-hmac` request: `X-Signature: <algo>=<hex>` = HMAC(key, raw body).
 * Call it on the raw bytes before any JSON parsing: Flux signs exactly what it sends.
 */
export function verifyFluxSignature(rawBody: Buffer, header: string | undefined, key: string): VerifyResult {
  // An empty key makes the HMAC computable by anyone; Flux itself refuses one (`NewForwarder`).
  if (key === '') return { ok: false, reason: 'no HMAC key configured' };
  const value = header?.trim() ?? '';
  if (value === '') return { ok: false, reason: 'missing X-Signature header' };
  const eq = value.indexOf('=');
  if (eq <= 0) return { ok: false, reason: 'malformed X-Signature header: expected <algorithm>=<hex digest>' };
  const algorithm = value.slice(0, eq).toLowerCase();
  const hex = value.slice(eq + 1);
  if (!isSignatureAlgorithm(algorithm)) {
    return { ok: false, reason: `unsupported signature algorithm ${JSON.stringify(algorithm.slice(0, 32))}` };
  }
  // Buffer.from(hex, 'hex') silently stops at the first non-hex character, so check first.
  if (!HEX.test(hex) || hex.length % 2 !== 0) return { ok: false, reason: 'malformed X-Signature header: digest is not hex' };
  const expected = createHmac(algorithm, key).update(rawBody).digest();
  const given = Buffer.from(hex, 'hex');
  // The digest length is public (it follows from the algorithm), so this early exit leaks nothing.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'signature mismatch' };
  return { ok: true };
}

/**
 * Checks `Authorization: Bearer <token>` (Flux `generic` providers can only send static headers).
 * Compares SHA-256 digests so neither content nor length of the token leaks through timing.
 */
export function verifyBearerToken(authorizationHeader: string | undefined, token: string): VerifyResult {
  if (token === '') return { ok: false, reason: 'no bearer token configured' };
  const value = authorizationHeader?.trim() ?? '';
  if (value === '') return { ok: false, reason: 'missing Authorization header' };
  const match = /^(\S+)\s+(.+)$/.exec(value);
  if (match?.[1] === undefined || match[2] === undefined || match[1].toLowerCase() !== 'bearer') {
    return { ok: false, reason: 'Authorization header is not of the form "Bearer <token>"' };
  }
  const given = createHash('sha256').update(match[2].trim()).digest();
  const expected = createHash('sha256').update(token).digest();
  if (!timingSafeEqual(given, expected)) return { ok: false, reason: 'invalid bearer token' };
  return { ok: true };
}
