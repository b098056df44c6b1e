import type { z } from 'zod';

/** JSON.parse that answers undefined for text that is not JSON (a stored value written by another version, or damaged). */
export function parseJson(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}

/** A JSON text read through its schema; undefined when it is not JSON or not of that shape. */
export function parseJsonAs<T>(schema: z.ZodType<T>, text: string): T | undefined {
  const raw = parseJson(text);
  if (raw === undefined) return undefined;
  const parsed = schema.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}
