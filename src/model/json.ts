/** JSON.parse that answers undefined for text that is not JSON (a stored value written by another version, or damaged). */
export function parseJson(json: string): unknown {
  try {
    return JSON.parse(json);
  } catch {
    return undefined;
  }
}
