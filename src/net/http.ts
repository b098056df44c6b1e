import axios, { isAxiosError, type AxiosInstance, type AxiosRequestConfig, type AxiosResponse, type CreateAxiosDefaults } from 'axios';

/**
 * The one HTTP client of meshdrift's outbound calls (issue #14): the axios settings, the status →
 * retryable table, transport failures named by code, and the redaction of secrets and URLs in
 * reasons. Used by the receivers (deliver/), the remediation clients (remediate/) and the Argo CD
 * API source (sources/argocd/): a floor below all of them (scripts/check-layers.mjs).
 */

/** What a call ended in: done, or failed (retryable or not) with a reason safe to show. A delivery's SendResult. */
export type HttpResult = { ok: true } | { ok: false; retryable: boolean; reason: string; retryAfterMs?: number };

/** Builds a failed {@link HttpResult} from a reason (each notifier adds its prefix and redaction). */
export type Fail = (retryable: boolean, reason: string) => HttpResult;

/** What a server answered to {@link postText}: its status, body text ('' when not text) and headers. */
export interface HttpAnswer {
  status: number;
  text: string;
  headers: AxiosResponse['headers'];
}

/** A request that got no answer: why, named by its code only ({@link transportFailure}). */
export interface TransportFailure {
  failure: string;
}

/** The most characters a failure reason keeps. */
export const MAX_REASON = 500;

/** The hint for a redirect, which the HTTP notifiers never follow. */
export const REDIRECT_HINT = ' (redirects are not followed; check the URL)';

/**
 * An axios client for a notifier: every status is an answer to map rather than an exception,
 * redirects are not followed, the body is kept as text (at most 1 MiB). `more` adds to (or
 * overrides) these settings.
 */
export function createTextHttpClient(timeoutMs: number, more: CreateAxiosDefaults = {}): AxiosInstance {
  return axios.create({
    timeout: timeoutMs,
    validateStatus: () => true,
    maxRedirects: 0,
    responseType: 'text',
    transformResponse: [(data: unknown) => data],
    maxContentLength: 1024 * 1024,
    ...more,
  });
}

/**
 * POSTs `body` with `http`. The client's socket timeout covers a silent server; an abort signal of
 * `timeoutMs` bounds the whole exchange. Never throws: a failed request is a {@link TransportFailure}.
 */
export async function postText(
  http: AxiosInstance,
  url: string,
  body: string,
  timeoutMs: number,
  config: AxiosRequestConfig = {},
): Promise<HttpAnswer | TransportFailure> {
  try {
    const res = await http.post<string>(url, body, { ...config, signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, text: typeof res.data === 'string' ? res.data : '', headers: res.headers };
  } catch (error) {
    return { failure: transportFailure(error) };
  }
}

/** Whether a status means delivered (2xx). */
export function isSuccessStatus(status: number): boolean {
  return status >= 200 && status < 300;
}

/** Whether a status is a redirect (3xx). */
export function isRedirectStatus(status: number): boolean {
  return status >= 300 && status < 400;
}

/** Whether a failed status is worth retrying: 5xx (Alertmanager's Retrier.Check), 408 and 429. */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/**
 * The {@link HttpResult} of an HTTP status: 2xx delivered; 408, 429 and 5xx retried; any other
 * answer (redirects included) permanent. The reason is `HTTP <status>` then `said` (what the
 * server answered, `: …`) and, for a permanent failure, `hint`.
 */
export function statusResult(status: number, fail: Fail, said = '', hint = ''): HttpResult {
  if (isSuccessStatus(status)) return { ok: true };
  if (isRetryableStatus(status)) return fail(true, `HTTP ${status}${said}`);
  return fail(false, `HTTP ${status}${said}${hint}`);
}

/**
 * The {@link Fail} of a notifier posting to `url`: reasons read `<name> <scheme://host>: <reason>`,
 * with the URL and the parts `secretParts` names redacted ({@link redactUrlSecrets}), cut to
 * {@link MAX_REASON} characters.
 */
export function urlFail(name: string, url: string, secretParts: (parsed: URL) => readonly string[]): Fail {
  const shown = redactUrl(url);
  return (retryable, reason) => ({
    ok: false,
    retryable,
    reason: redactUrlSecrets(`${name} ${shown}: ${reason}`, url, secretParts).slice(0, MAX_REASON),
  });
}

/**
 * Names a transport failure by its code only: axios messages can carry request details. Timeouts
 * (axios, AbortSignal) read `request timed out`; the Kubernetes client's credential failure says so;
 * any other code reads `request failed: <code>`; an axios error without one `request failed:
 * network error`; anything else `request failed`.
 */
export function transportFailure(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const code = (error as { code?: unknown }).code;
    const name = (error as { name?: unknown }).name;
    if (code === 'ECONNABORTED' || code === 'ETIMEDOUT' || code === 'ERR_CANCELED' || name === 'TimeoutError' || name === 'AbortError')
      return 'request timed out';
    if (code === 'EKUBECREDENTIALS') return 'could not get credentials from the kubeconfig (token file, client certificate or exec plugin)';
    if (typeof code === 'string') return `request failed: ${code}`;
    if (isAxiosError(error)) return 'request failed: network error';
  }
  return 'request failed';
}

/**
 * Scheme and host of a URL (`https://hooks.example.com:8443`), for messages: path, query and
 * credentials may carry secrets.
 */
export function redactUrl(url: string): string {
  try {
    const { protocol, host } = new URL(url);
    return `${protocol}//${host}`;
  } catch {
    return '[invalid url]';
  }
}

/** `text` with every occurrence of each non-empty secret, in order, replaced by `[redacted]`. */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret !== '') out = out.replaceAll(secret, '[redacted]');
  }
  return out;
}

/**
 * Defense in depth for text that came from a server or a library: `url` is replaced by its scheme
 * and host, then each part `secretParts` names (password, path…) of four characters or more (shorter
 * ones would match ordinary text) by `[redacted]`. An invalid URL has only the first step.
 */
export function redactUrlSecrets(text: string, url: string, secretParts: (parsed: URL) => readonly string[]): string {
  const out = text.replaceAll(url, redactUrl(url));
  try {
    return redactSecrets(
      out,
      secretParts(new URL(url)).filter((s) => s.length >= 4),
    );
  } catch {
    return out;
  }
}
