import type { SignalOutcome } from '../metrics.ts';

/** An error with the HTTP answer it deserves; the one mapper in server.ts turns it into a response. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  readonly status: number;
  readonly outcome: SignalOutcome;
  constructor(status: number, message: string, outcome: SignalOutcome) {
    super(message);
    this.status = status;
    this.outcome = outcome;
  }
}

export const badRequest = (message: string): HttpError => new HttpError(400, message, 'invalid');
export const unauthorized = (message: string): HttpError => new HttpError(401, message, 'unauthorized');
export const forbidden = (message: string): HttpError => new HttpError(403, message, 'forbidden');
export const unavailable = (message: string): HttpError => new HttpError(503, message, 'unavailable');
export const unsupportedMediaType = (message: string): HttpError => new HttpError(415, message, 'invalid');
export const payloadTooLarge = (message: string): HttpError => new HttpError(413, message, 'too_large');
export const requestTimeout = (message: string): HttpError => new HttpError(408, message, 'invalid');

// fatal: a byte sequence that is not UTF-8 is an error. Buffer#toString would replace it with
// U+FFFD, so two different bodies could parse to the same event and the reply would hide why.
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses JSON from a raw body, as a 400 that says where it broke. */
export function parseJsonBody(raw: Buffer): unknown {
  if (raw.length === 0) throw badRequest('empty body: expected a JSON object');
  let text: string;
  try {
    text = utf8.decode(raw);
  } catch {
    throw badRequest('body is not valid UTF-8 (JSON is sent as UTF-8, RFC 8259 §8.1)');
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw badRequest(`malformed JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** zod issues as one line each: `app.metadata.name: expected string, received undefined`. */
export function describeIssues(issues: ReadonlyArray<{ path: ReadonlyArray<PropertyKey>; message: string }>): string {
  return issues
    .slice(0, 5)
    .map((i) => `${i.path.map(String).join('.') || '(body)'}: ${i.message}`)
    .join('; ');
}
