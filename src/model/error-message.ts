/** The message of a thrown value: an Error's message, anything else as a string. Callers redact and bound it for their receiver. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
