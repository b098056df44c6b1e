/**
 * Characters that make text lie about what it says: control characters (C0, DEL, C1), which end
 * lines, ring bells or vanish; bidi controls, which reorder what follows (Trojan Source,
 * CVE-2021-42574); and zero-width and other invisible characters, which make two different strings
 * look the same. Identities refuse them (src/model/signal.ts); every receiver's text replaces them
 * (src/deliver/text.ts).
 */

/** C0 (U+0000–U+001F), DEL (U+007F) and C1 (U+0080–U+009F) controls, line ends and tabs included. */
export const CONTROL_CHARS = '\\u0000-\\u001F\\u007F-\\u009F';
/** Bidi controls: LRM, RLM, ALM, the embeddings and overrides (U+202A–U+202E), the isolates (U+2066–U+2069). */
export const BIDI_CHARS = '\\u200E\\u200F\\u061C\\u202A-\\u202E\\u2066-\\u2069';
/**
 * Invisible characters: zero-width space, non-joiner and joiner, word joiner and the invisible
 * operators (U+2060–U+2064), the BOM / zero-width no-break space, the soft hyphen, the line and
 * paragraph separators, and the tag characters (U+E0000–U+E007F). For a regex with the `u` flag.
 */
export const INVISIBLE_CHARS = '\\u200B-\\u200D\\u2060-\\u2064\\uFEFF\\u00AD\\u2028\\u2029\\u{E0000}-\\u{E007F}';

const UNSAFE = new RegExp(`[${CONTROL_CHARS}${BIDI_CHARS}${INVISIBLE_CHARS}]`, 'u');

/** The first control, bidi or invisible character of `s`, with its index (UTF-16), or null. */
export function firstUnsafeChar(s: string): { index: number; codePoint: number } | null {
  const m = UNSAFE.exec(s);
  return m === null ? null : { index: m.index, codePoint: m[0].codePointAt(0) ?? 0 };
}

/** `U+202E` for a code point: how a refusal names the character without printing it. */
export function codePointName(codePoint: number): string {
  return `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;
}
