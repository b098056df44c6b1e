/**
 * Whether a failure means "Redis cannot serve this right now, retry later" (503 with Retry-After),
 * and why: the one classifier the webhooks, the API and /readyz use. Told by error type, reply code
 * and socket code, never by words in free text (an Argo CD "could not connect" is not Redis down).
 *
 * - `contention`: a write lost its compare-and-set to concurrent writers more times than its
 *   bounded retries allow ({@link ContentionError}).
 * - `busy`: Redis runs a script or module command past busy-reply-threshold (`BUSY`).
 * - `loading`: Redis loads its dataset after a restart (`LOADING`).
 * - `failover`: a primary that became a replica, a primary that lost its link or replicas, a
 *   cluster slot moving (`READONLY`, `MASTERDOWN`, `NOREPLICAS`, `TRYAGAIN`, `CLUSTERDOWN`,
 *   `UNBLOCKED`).
 * - `connection`: the client is not ready, or the socket failed or broke.
 */
export type UnavailableReason = 'contention' | 'busy' | 'loading' | 'failover' | 'connection';

/** A write that gave up after its bounded retries against concurrent writers: retryable, not a bug. */
export class ContentionError extends Error {
  override readonly name: string = 'ContentionError';
}

/** Redis error replies (the first word of a ReplyError) that mean "not now", by reason. */
const REPLY_CODES: ReadonlyMap<string, UnavailableReason> = new Map([
  ['BUSY', 'busy'],
  ['LOADING', 'loading'],
  ['READONLY', 'failover'],
  ['MASTERDOWN', 'failover'],
  ['NOREPLICAS', 'failover'],
  ['TRYAGAIN', 'failover'],
  ['CLUSTERDOWN', 'failover'],
  ['UNBLOCKED', 'failover'],
]);

/** Socket error codes of a connection that failed or broke (Node's system errors, ioredis's connect timeout). */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED']);
/** ioredis's own errors for a command it could not send: by name, or (plain Errors) by their exact text. */
const DOWN_ERROR_NAMES = new Set(['MaxRetriesPerRequestError']);
const DOWN_MESSAGES = new Set(['Connection is closed.', "Stream isn't writeable and enableOfflineQueue options is false"]);

/** The reason `err` (or what it wraps: `cause`, ioredis's EXECABORT `previousErrors`) is "unavailable", or undefined. */
export function unavailableReason(err: unknown, depth = 0): UnavailableReason | undefined {
  if (!(err instanceof Error) || depth > 3) return undefined;
  if (err instanceof ContentionError) return 'contention';
  if (err.name === 'ReplyError') {
    const reason = REPLY_CODES.get(err.message.split(' ', 1)[0] ?? '');
    if (reason !== undefined) return reason;
  }
  const code = (err as NodeJS.ErrnoException).code;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return 'connection';
  if (DOWN_ERROR_NAMES.has(err.name) || DOWN_MESSAGES.has(err.message)) return 'connection';
  const previous = (err as { previousErrors?: unknown }).previousErrors;
  if (Array.isArray(previous)) {
    for (const p of previous.slice(0, 10)) {
      const reason = unavailableReason(p, depth + 1);
      if (reason !== undefined) return reason;
    }
  }
  return unavailableReason(err.cause, depth + 1);
}

/**
 * Why Redis cannot serve a request that failed with `err`, or undefined when the failure is
 * something else (a bug: 500). A client that is not ready is `connection` whatever the error.
 */
export function redisUnavailable(redis: { readonly status: string }, err: unknown): UnavailableReason | undefined {
  return unavailableReason(err) ?? (redis.status !== 'ready' ? 'connection' : undefined);
}

/**
 * The Retry-After (seconds) of a 503 for this reason: contention clears as soon as the concurrent
 * writers are done, a busy script or a failover within seconds, a reconnect or a dataset load takes longer.
 */
export function retryAfterSeconds(reason: UnavailableReason): number {
  return reason === 'contention' ? 1 : reason === 'busy' || reason === 'failover' ? 2 : 5;
}

/** What the sender is told (no Redis text, which could name keys or hosts). */
export function unavailableMessage(reason: UnavailableReason): string {
  switch (reason) {
    case 'contention':
      return 'too many concurrent updates of the same alert group: nothing was lost, retry later';
    case 'busy':
      return 'temporarily unavailable (Redis is busy): retry later';
    case 'loading':
      return 'temporarily unavailable (Redis is loading its data): retry later';
    case 'failover':
      return 'temporarily unavailable (Redis is failing over): retry later';
    case 'connection':
      return 'temporarily unavailable (Redis): retry later';
  }
}
