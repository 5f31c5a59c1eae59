/** The files of a segment directory. `manifest.json` is written last; its presence means sealed. */
export const SEGMENT_FILES = {
  records: 'records.sqlite',
  index: 'index.usearch',
  manifest: 'manifest.json',
} as const;
