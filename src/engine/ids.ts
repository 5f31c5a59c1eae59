/**
 * Id order: UTF-8 byte order, which is Unicode code point order and exactly SQLite's BINARY collation
 * (memcmp over the stored UTF-8). Segments are sorted by it, merges walk it, `ORDER BY id` returns it.
 *
 * JavaScript's `<` compares UTF-16 code units instead. The two orders agree except where the first
 * differing code units are both >= 0xD800: a surrogate (part of a code point >= U+10000) sorts below
 * U+E000..U+FFFF in UTF-16 but above it in UTF-8. So the loop below compares code units directly and only
 * remaps that one case; strings made only of code units below 0xD800 never reach the remap.
 */
export function compareIds(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Fast path: a code unit below the surrogate range is below everything else in both orders.
    if (x < 0xd800 || y < 0xd800) return x < y ? -1 : 1;
    return remap(x) < remap(y) ? -1 : 1;
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

/** Moves surrogates (0xD800-0xDFFF) above 0xE000-0xFFFF, keeping each group's internal order. */
function remap(c: number): number {
  return c >= 0xe000 ? c - 0x800 : c + 0x2000;
}

/** `compareIds(a, b) < 0`, for loops that only need the boolean. */
export function idLess(a: string, b: string): boolean {
  return compareIds(a, b) < 0;
}
