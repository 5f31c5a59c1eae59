/** Where everything lives in a store. One place, so no two layers disagree about a key. */
import { joinKey } from '../store/index.js';

const pad = (n: number, w = 16) => String(n).padStart(w, '0');

export const Keys = {
  collectionsPrefix: 'collections/',
  collection: (c: string) => `collections/${c}/`,
  config: (c: string) => `collections/${c}/config.json`,
  counter: (c: string) => `collections/${c}/seq.json`,
  pointer: (c: string) => `collections/${c}/pointer.json`,
  lease: (c: string) => `collections/${c}/lease.json`,
  deltasPrefix: (c: string) => `collections/${c}/deltas/`,
  deltaData: (c: string, seqStart: number) => `collections/${c}/deltas/${pad(seqStart)}.arrow`,
  deltaDescriptor: (c: string, seqStart: number) => `collections/${c}/deltas/${pad(seqStart)}.json`,
  quarantinePrefix: (c: string) => `collections/${c}/quarantine/`,
  quarantine: (c: string, seqStart: number) => `collections/${c}/quarantine/${pad(seqStart)}.json`,
  runsPrefix: (c: string) => `collections/${c}/runs/`,
  runRecord: (c: string, run: string) => `collections/${c}/runs/${run}/run.json`,
  runPrefix: (c: string, run: string) => `collections/${c}/runs/${run}/`,
  stepPrefix: (c: string, run: string, step: string, attempt: string) =>
    `collections/${c}/runs/${run}/${step}/${attempt}/`,
  /** Format 1: one whole-collection snapshot segment per version (read, never written). */
  snapshotsPrefix: (c: string) => `collections/${c}/snapshots/`,
  snapshotPrefix: (c: string, version: number, run: string) =>
    `collections/${c}/snapshots/v${pad(version, 8)}-${run}/`,
  /** Data segments, by content address (the SHA-256 of their manifest), shared by every version listing them. */
  segmentsPrefix: (c: string) => `collections/${c}/segments/`,
  segment: (c: string, manifestSha256: string) => `collections/${c}/segments/${manifestSha256}/`,
  /** Version manifests: immutable, under a fresh key per publish attempt. */
  versionsPrefix: (c: string) => `collections/${c}/versions/`,
  version: (c: string, version: number, run: string) =>
    `collections/${c}/versions/v${pad(version, 8)}-${run}.json`,
  /** Deletion vectors, by content address. */
  deletionsPrefix: (c: string) => `collections/${c}/deletions/`,
  deletion: (c: string, sha256: string) => `collections/${c}/deletions/${sha256}.dv`,
  manifestOf: (segmentPrefix: string) => joinKey(segmentPrefix, 'manifest.json'),
  fileOf: (segmentPrefix: string, name: string) => joinKey(segmentPrefix, name),
};

export function parseDeltaDescriptorKey(key: string): number | undefined {
  const m = /\/deltas\/(\d{16})\.json$/.exec(key);
  return m ? Number(m[1]) : undefined;
}

export function parseCollectionConfigKey(key: string): string | undefined {
  const m = /^collections\/([^/]+)\/config\.json$/.exec(key);
  return m ? m[1] : undefined;
}

export function stepName(kind: 'chunk' | 'group' | 'final' | 'merge', index: number): string {
  return kind === 'final' ? 'final' : `${kind}-${String(index).padStart(4, '0')}`;
}
