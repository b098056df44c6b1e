import { z } from 'zod';

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

/**
 * A list from a watched object where one malformed entry must not cost the others (or the object):
 * not a list reads as empty, each entry that does not parse is dropped, at most `max` are kept.
 */
export function lenientList<T>(item: z.ZodType<T>, max: number): z.ZodType<T[], unknown> {
  return z
    .array(z.unknown())
    .optional()
    .catch(undefined)
    .transform((list) =>
      (list ?? [])
        .flatMap((raw) => {
          const r = item.safeParse(raw);
          return r.success ? [r.data] : [];
        })
        .slice(0, max),
    );
}
