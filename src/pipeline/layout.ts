/** Where everything lives in a store. One place, so no two layers disagree about a key. */
import { joinKey } from '../store/object-store.js';

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
  snapshotsPrefix: (c: string) => `collections/${c}/snapshots/`,
  snapshotPrefix: (c: string, version: number, run: string) =>
    `collections/${c}/snapshots/v${pad(version, 8)}-${run}/`,
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

export function stepName(kind: 'chunk' | 'group' | 'final', index: number): string {
  return kind === 'final' ? 'final' : `${kind}-${String(index).padStart(4, '0')}`;
}
