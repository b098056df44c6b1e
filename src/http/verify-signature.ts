import { createHash, createHmac, type KeyObject, timingSafeEqual } from 'node:crypto';
import { SLACK_MAX_SKEW_SECONDS } from '../deliver/slack/replay-guard.ts';

export { SLACK_MAX_SKEW_SECONDS };

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
export function verifyFluxSignature(rawBody: Buffer, header: string | undefined, key: string | KeyObject): VerifyResult {
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

/** The SHA-256 digest tokens are compared by (computed once per configured token). */
export const tokenDigest = (token: string): Buffer => createHash('sha256').update(token).digest();

/**
 * The token of `Authorization: Bearer <token>`, or why the header is not one. Its digest is what
 * {@link verifyBearerToken} and sender credentials compare.
 */
export function bearerDigest(authorizationHeader: string | undefined): { ok: true; digest: Buffer } | { ok: false; reason: string } {
  const value = authorizationHeader?.trim() ?? '';
  if (value === '') return { ok: false, reason: 'missing Authorization header' };
  const match = /^(\S+)\s+(.+)$/.exec(value);
  if (match?.[1] === undefined || match[2] === undefined || match[1].toLowerCase() !== 'bearer') {
    return { ok: false, reason: 'Authorization header is not of the form "Bearer <token>"' };
  }
  return { ok: true, digest: tokenDigest(match[2].trim()) };
}

/**
 * Checks `Authorization: Bearer <token>` (Flux `generic` providers can only send static headers).
 * Compares SHA-256 digests so neither content nor length of the token leaks through timing.
 */
export function verifyBearerToken(authorizationHeader: string | undefined, token: string): VerifyResult {
  if (token === '') return { ok: false, reason: 'no bearer token configured' };
  const given = bearerDigest(authorizationHeader);
  if (!given.ok) return given;
  if (!timingSafeEqual(given.digest, tokenDigest(token))) return { ok: false, reason: 'invalid bearer token' };
  return { ok: true };
}

// ---------------------------------------------------------------------------------------------
// Slack request signature (routing.md §5, bolt-js verify-request.ts, stricter: future timestamps are rejected)
// ---------------------------------------------------------------------------------------------

type SlackHeaders = Readonly<Record<string, string | readonly string[] | undefined>>;

function headerOf(headers: SlackHeaders, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) {
    if (k.toLowerCase() !== lower) continue;
    return typeof v === 'string' ? v : v?.[0];
  }
  return undefined;
}

const SIGNATURE = /^v0=([0-9a-f]{64})$/i;

/**
 * A verified Slack request, with the key a replay guard remembers it by: a hash of the signed
 * (timestamp, body) pair, not of the header text. The header's encoding (hex case, `V0=`, spaces)
 * is the sender's choice; what was signed is not, so every spelling of one click is one key.
 */
export type SlackVerifyResult = { ok: true; replayKey: string } | { ok: false; reason: string };

/** The replay key of a verified request: SHA-256 over the timestamp (as a number) and the body's SHA-256. */
export function slackReplayKey(timestampSeconds: number, rawBody: Buffer): string {
  const bodyHash = createHash('sha256').update(rawBody).digest('hex');
  return createHash('sha256').update(`v0:${timestampSeconds}:${bodyHash}`).digest('hex');
}

/**
 * Checks a Slack request: `X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:" + ts + ":" + body)>`
 * with `X-Slack-Request-Timestamp` (Unix seconds) within {@link SLACK_MAX_SKEW_SECONDS} of `now`
 * (epoch ms), old or ahead. Over the raw bytes, before any parsing; compares in constant time.
 * The reason never contains the secret or the expected signature.
 */
export function verifySlackRequest(rawBody: Buffer, headers: SlackHeaders, signingSecret: string, now: number): SlackVerifyResult {
  if (signingSecret === '') return { ok: false, reason: 'no Slack signing secret configured' };
  const tsText = headerOf(headers, 'x-slack-request-timestamp')?.trim() ?? '';
  if (tsText === '') return { ok: false, reason: 'missing X-Slack-Request-Timestamp header' };
  if (!/^\d{1,12}$/.test(tsText)) return { ok: false, reason: 'malformed X-Slack-Request-Timestamp header: expected Unix seconds' };
  const skew = Math.floor(now / 1000) - Number(tsText);
  if (skew > SLACK_MAX_SKEW_SECONDS) return { ok: false, reason: `request timestamp is ${skew}s old (more than ${SLACK_MAX_SKEW_SECONDS}s): possible replay` };
  if (-skew > SLACK_MAX_SKEW_SECONDS) return { ok: false, reason: `request timestamp is ${-skew}s in the future (more than ${SLACK_MAX_SKEW_SECONDS}s)` };
  const sigText = headerOf(headers, 'x-slack-signature')?.trim() ?? '';
  if (sigText === '') return { ok: false, reason: 'missing X-Slack-Signature header' };
  const match = SIGNATURE.exec(sigText);
  if (match?.[1] === undefined) return { ok: false, reason: 'malformed X-Slack-Signature header: expected v0=<64 hex digits>' };
  const expected = createHmac('sha256', signingSecret).update(`v0:${tsText}:`).update(rawBody).digest();
  const given = Buffer.from(match[1], 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'signature mismatch' };
  return { ok: true, replayKey: slackReplayKey(Number(tsText), rawBody) };
}
