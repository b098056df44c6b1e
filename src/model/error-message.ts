/** The message of a thrown value: an Error's message, anything else as a string. Callers redact and bound it for their receiver. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The first line of {@link messageOf}, at most `max` characters: Kubernetes ApiException messages hold the whole response body and headers. */
export function firstLineOf(error: unknown, max: number): string {
  return (messageOf(error).split('\n')[0] ?? '').slice(0, max);
}
