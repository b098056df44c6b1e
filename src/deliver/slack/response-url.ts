/**
 * Posts to a Slack interaction's `response_url` (ephemeral replies, message replacement). The URL
 * comes from the signed payload; `allowed` keeps a leaked signing secret from turning meshdrift
 * into a request relay (default: https://hooks.slack.com only).
 */
export type ResponseUrlPost = (responseUrl: string | undefined, body: Record<string, unknown>) => Promise<void>;

export const slackHooksOnly = (url: URL): boolean => url.protocol === 'https:' && url.hostname === 'hooks.slack.com';

export function createResponseUrlClient(opts: { timeoutMs: number; allowed?: (url: URL) => boolean }): ResponseUrlPost {
  const allowed = opts.allowed ?? slackHooksOnly;
  return async (responseUrl, body) => {
    if (responseUrl === undefined) throw new Error('no response_url in the payload');
    const url = new URL(responseUrl);
    if (!allowed(url)) throw new Error(`response_url host ${url.hostname} is not allowed`);
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(opts.timeoutMs),
    });
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new Error(`response_url answered HTTP ${res.status}`);
  };
}
