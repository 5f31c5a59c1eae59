/**
 * Closes every handle of an owner, in order, even when one of them fails; rethrows the first failure
 * after all were attempted. (A failing index close must never leave the SQLite handle open behind it.)
 */
export function closeEach(...closers: Array<(() => void) | undefined>): void {
  let error: unknown = null;
  let failed = false;
  for (const close of closers) {
    try {
      close?.();
    } catch (e) {
      if (!failed) error = e;
      failed = true;
    }
  }
  if (failed) throw error;
}
