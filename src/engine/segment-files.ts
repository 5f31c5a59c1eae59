import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { ErrorCodes, StrataError } from '../core/errors.js';

/** The files of a segment directory. `manifest.json` is written last; its presence means sealed. */
export const SEGMENT_FILES = {
  records: 'records.sqlite',
  index: 'index.usearch',
  manifest: 'manifest.json',
} as const;

/** Creates a new segment's private directory; it must not exist yet (a writer never reuses one). */
export async function createSegmentDir(dir: string): Promise<void> {
  await mkdir(dirname(dir), { recursive: true });
  try {
    await mkdir(dir);
  } catch (e) {
    throw new StrataError(
      ErrorCodes.INTERNAL,
      `segment directory cannot be created: ${(e as Error).message}`,
      { segment: dir },
    );
  }
}
