/**
 * PostgreSQL text cannot hold a NUL character: an insert or a comparison with one fails (SQLSTATE 22021), which
 * reached clients as a 500. Input is checked for it at the door instead, so the client hears which field.
 */

/** The path to the first string (value or object key) holding U+0000, or null when there is none. */
export function nulPath(value: unknown, path: PropertyKey[] = [], depth = 0): PropertyKey[] | null {
  if (typeof value === 'string') return value.includes('\0') ? path : null;
  if (value === null || typeof value !== 'object' || depth > 32) return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = nulPath(value[i], [...path, i], depth + 1);
      if (found) return found;
    }
    return null;
  }
  for (const [key, child] of Object.entries(value)) {
    if (key.includes('\0')) return [...path, key];
    const found = nulPath(child, [...path, key], depth + 1);
    if (found) return found;
  }
  return null;
}
