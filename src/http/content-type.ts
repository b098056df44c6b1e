const JSON_MEDIA_TYPE = /^application\/(?:[a-z0-9!#$&^_.-]+\+)?json$/;
/** Content-Type values the full check below accepts, as senders usually spell them. */
const COMMON_JSON: ReadonlySet<string> = new Set(['application/json', 'application/json; charset=utf-8', 'application/json; charset=UTF-8']);

/**
 * Why a request's Content-Type rules out a JSON body, or undefined when it is fine. A missing header
 * is refused (415) unless `missingOk`: a web page can post a body without one (a Blob), so only a
 * request a credential protects may omit it, which is what Argo CD's webhook service does when its
 * `headers` list no Content-Type. JSON is UTF-8 (RFC 8259 §8.1), so another charset is refused
 * rather than misread.
 */
export function contentTypeProblem(contentType: string | undefined, missingOk: boolean): string | undefined {
  if (contentType === undefined || contentType.trim() === '') {
    return missingOk ? undefined : 'Content-Type is required: send application/json';
  }
  // What Flux and Argo CD send, as they send it: fine, without splitting it apart (every webhook).
  if (COMMON_JSON.has(contentType)) return undefined;
  const [type = '', ...params] = contentType.split(';').map((p) => p.trim().toLowerCase());
  const shown = (): string => JSON.stringify(contentType.slice(0, 64));
  if (!JSON_MEDIA_TYPE.test(type)) return `Content-Type ${shown()} is not supported: send application/json`;
  const charset = params
    .find((p) => p.startsWith('charset='))
    ?.slice('charset='.length)
    .replace(/^"|"$/g, '');
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') return `Content-Type ${shown()}: JSON must be sent as charset=utf-8`;
  return undefined;
}
