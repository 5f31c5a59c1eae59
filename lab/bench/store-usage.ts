/**
 * What a local store holds, by kind of object: the growth between two readings is what was written to the
 * store in between (nothing is deleted while a bench runs: GC is not run, and the few objects rewritten in
 * place — pointer, lease, ledger counters — are a few hundred bytes).
 */
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { LocalStore } from '../../src/store/local-store.js';

export const USAGE_KINDS = [
  'deltas',
  'runs',
  'segments',
  'deletions',
  'versions',
  'snapshots',
  'other',
] as const;
export type UsageKind = (typeof USAGE_KINDS)[number];
export type StoreUsage = Record<UsageKind, number> & { total: number };

async function sizeOf(path: string): Promise<number> {
  let n = 0;
  let entries: Array<import('node:fs').Dirent>;
  try {
    entries = await readdir(path, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = join(path, e.name);
    if (e.isDirectory()) n += await sizeOf(p);
    else if (e.isFile()) n += (await stat(p)).size;
  }
  return n;
}

/** Bytes of one collection's objects, by kind. */
export async function storeUsage(store: LocalStore, collection: string): Promise<StoreUsage> {
  const root = join(store.root, 'objects', 'collections', collection);
  const out = { total: 0 } as StoreUsage;
  for (const k of USAGE_KINDS) out[k] = 0;
  for (const e of await readdir(root, { withFileTypes: true })) {
    const kind = (USAGE_KINDS as readonly string[]).includes(e.name) ? (e.name as UsageKind) : 'other';
    const bytes = e.isDirectory() ? await sizeOf(join(root, e.name)) : (await stat(join(root, e.name))).size;
    out[kind] += bytes;
    out.total += bytes;
  }
  return out;
}

/** b − a, kind by kind. */
export function usageGrowth(a: StoreUsage, b: StoreUsage): StoreUsage {
  const out = { total: b.total - a.total } as StoreUsage;
  for (const k of USAGE_KINDS) out[k] = b[k] - a[k];
  return out;
}
