import { ErrorCodes, FencedError, PreconditionFailedError, StrataError } from '../core/errors.js';
import { failpoint } from '../core/failpoints.js';
import { isTransient, withRetry } from '../core/retry.js';
import type { ObjectStore } from '../store/index.js';
import { type Versioned, writeJson } from './json-object.js';
import { Keys } from './layout.js';
import type { Lease } from './lease.js';
import { type Pointer, type RetainedVersion, readPointer } from './pointer.js';
import type { VersionRef } from './steps.js';

export interface PublishInput {
  collection: string;
  run: string;
  /** The version manifest a step wrote (its number is the base's + 1). */
  version: VersionRef;
  /** The pointer the version was built on (undefined: first version). */
  base: Versioned<Pointer> | undefined;
  /** How many versions to keep reachable, counting the new one. */
  retain: number;
}

function retire(p: Pointer, at: string): RetainedVersion {
  return {
    version: p.version,
    ...(p.manifest ? { manifest: p.manifest } : {}),
    ...(p.snapshot ? { snapshot: p.snapshot } : {}),
    manifestSha256: p.manifestSha256,
    retiredAt: at,
  };
}

/**
 * The one atomic step of a publish: compare-and-swap of the pointer, fenced by the lease token.
 * - refused (FencedError) if a newer lease holder already published, or the lease is no longer ours;
 * - refused (E_POINTER_CONFLICT) if the pointer moved since the version's base was read — the caller
 *   rebuilds the final step (or rebases a merge) on the new base;
 * - a swap whose response was lost is recognised on re-read (the pointer names our run and version key).
 */
export async function publishVersion(store: ObjectStore, lease: Lease, p: PublishInput): Promise<Pointer> {
  failpoint('publish.before-pointer');
  const key = Keys.pointer(p.collection);
  const ctx = { collection: p.collection, run: p.run, snapshot: p.version.version, key };
  const next = (base: Versioned<Pointer> | undefined): Pointer => {
    const at = new Date().toISOString();
    return {
      collection: p.collection,
      version: p.version.version,
      manifest: p.version.key,
      manifestSha256: p.version.sha256,
      contentHash: p.version.contentHash,
      count: p.version.count,
      fencingToken: lease.token,
      run: p.run,
      publishedAt: at,
      retained: base
        ? [retire(base.value, at), ...base.value.retained].slice(0, Math.max(0, p.retain - 1))
        : [],
    };
  };
  const isOurs = (cur: Versioned<Pointer> | undefined) =>
    cur !== undefined && cur.value.run === p.run && cur.value.manifest === p.version.key;

  const result = await withRetry(
    async () => {
      const cur = await readPointer(store, p.collection);
      if (isOurs(cur)) return cur!.value; // an earlier attempt's swap landed; its response was lost
      if ((cur?.etag ?? null) !== (p.base?.etag ?? null)) {
        throw new StrataError(
          ErrorCodes.POINTER_CONFLICT,
          `the pointer moved (now version ${cur?.value.version ?? 'none'}) since this run read its base (version ${p.base?.value.version ?? 'none'})`,
          ctx,
        );
      }
      if (cur && cur.value.fencingToken > lease.token) {
        throw new FencedError(
          `a newer compactor (token ${cur.value.fencingToken}) already published; this one holds token ${lease.token}`,
          ctx,
        );
      }
      await lease.assertHeld();
      failpoint('publish.after-lease-check');
      const value = next(cur);
      try {
        await writeJson(store, key, value, cur ? { ifMatch: cur.etag } : { ifNoneMatch: '*' });
        return value;
      } catch (e) {
        if (e instanceof PreconditionFailedError) {
          const now = await readPointer(store, p.collection);
          if (isOurs(now)) return now!.value;
          throw new StrataError(ErrorCodes.POINTER_CONFLICT, 'lost the pointer compare-and-swap', ctx);
        }
        throw e;
      }
    },
    { attempts: 6, retryable: isTransient },
  );
  failpoint('publish.after-pointer');
  return result;
}
