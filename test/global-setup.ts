/**
 * Vitest global setup (once per `vitest run`, in the main process, before any test file): the suites
 * start `strata serve` from source, which serves the built Console from dist/console, so build it when a
 * Console source is newer than the last build (esbuild, a fraction of a second; nothing when up to date).
 * Doing it here, once, means no two test processes ever build into dist/console at the same time.
 */
import { buildConsole, consoleIsStale } from '../console/build.mjs';

export default async function setup(): Promise<void> {
  if (consoleIsStale()) await buildConsole({ quiet: true });
}
