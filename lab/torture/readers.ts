/**
 * Readers that keep opening the current version while compactions and merges run (and crash, and race):
 * each open resolves pointer → version manifest → every segment (checksums verified) and deletion vector,
 * recomputes the live record set's content hash, and checks it against the pointer and against the
 * legitimate record sets (the model after some prefix of good deltas). A reader that sees anything else
 * saw a mix of two versions, a resurrected or lost row, or a lost delta.
 */

import { StrataError } from '../../src/core/errors.js';
import { LtHash } from '../../src/core/lthash.js';
import { delay, isTransient } from '../../src/core/retry.js';
import type { Metadata } from '../../src/core/types.js';
import { openVersion } from '../../src/pipeline/open-version.js';
import { baseRefOf, pointerTarget, readPointer } from '../../src/pipeline/pointer.js';
import type { ObjectStore } from '../../src/store/object-store.js';
import type { TrackedCollection } from './tracked.js';

export interface ReaderProblem {
  invariant: 'reader-saw-mix' | 'reader-open-failed' | 'pointer-went-backwards';
  detail: string;
}

export class ReaderLoop {
  readonly problems: ReaderProblem[] = [];
  /** One report per (invariant, snapshot): a reader sees the same bad snapshot many times. */
  #reported = new Set<string>();
  opens = 0;
  /**
   * Opens that failed because the store was unreachable (a transient StoreError after the store's own
   * retries: the S3 server was killed). Availability, not integrity: counted, not a violation.
   */
  unavailable = 0;
  #stop = false;
  #done: Promise<void>;
  #lastVersion = 0;
  /** The snapshot opened last, and when: an unchanged pointer is re-opened only every `reopenMs`. */
  #lastOpen = { snapshot: '', at: 0 };

  /**
   * Reads the pointer every `pauseMs`; opens (and fully checks) its snapshot as soon as the pointer
   * moved, and again every `reopenMs` while it stays (files of a current snapshot must never vanish or
   * change under a reader).
   */
  constructor(
    private readonly store: ObjectStore,
    private readonly tracked: TrackedCollection,
    private readonly pauseMs = 50,
    private readonly reopenMs = 250,
  ) {
    this.#done = this.#loop();
  }

  async #loop(): Promise<void> {
    while (!this.#stop) {
      await this.#once();
      await delay(this.pauseMs);
    }
  }

  #report(p: ReaderProblem, key: string): void {
    const k = `${p.invariant} ${key}`;
    if (this.#reported.has(k)) return;
    this.#reported.add(k);
    this.problems.push(p);
  }

  async #once(): Promise<void> {
    const name = this.tracked.name;
    let pointer: Awaited<ReturnType<typeof readPointer>>;
    try {
      pointer = await readPointer(this.store, name);
    } catch (e) {
      if (isTransient(e)) {
        this.unavailable++;
        return;
      }
      this.#report(
        { invariant: 'reader-open-failed', detail: `pointer unreadable: ${describe(e)}` },
        'pointer',
      );
      return;
    }
    if (!pointer) return;
    const p = pointer.value;
    const target = pointerTarget(p);
    if (p.version < this.#lastVersion) {
      this.#report(
        {
          invariant: 'pointer-went-backwards',
          detail: `${name}: pointer version ${p.version} after ${this.#lastVersion}`,
        },
        target,
      );
    }
    this.#lastVersion = Math.max(this.#lastVersion, p.version);
    if (target === this.#lastOpen.snapshot && Date.now() - this.#lastOpen.at < this.reopenMs) return;
    this.#lastOpen = { snapshot: target, at: Date.now() };
    try {
      await using v = await openVersion(this.store, name, baseRefOf(pointer)!, { verify: 'checksums' });
      this.opens++;
      const live = new LtHash();
      for (const r of v.liveRows()) {
        live.add({
          id: r.id,
          embedding: r.embedding,
          document: r.document ?? null,
          metadata: (r.metadata as Metadata | null) ?? null,
        });
      }
      const contentHash = live.digest();
      if (contentHash !== p.contentHash) {
        this.#report(
          {
            invariant: 'reader-saw-mix',
            detail: `${name} v${p.version}: records hash ${contentHash}, the pointer says ${p.contentHash}`,
          },
          target,
        );
      } else if (!this.tracked.legitHashes.has(contentHash)) {
        this.#report(
          {
            invariant: 'reader-saw-mix',
            detail: `${name} v${p.version} (${target}): its record set equals no prefix of the good deltas`,
          },
          target,
        );
      }
    } catch (e) {
      if (isTransient(e)) {
        this.unavailable++;
        return;
      }
      this.#report(
        { invariant: 'reader-open-failed', detail: `${name} v${p.version} (${target}): ${describe(e)}` },
        target,
      );
    }
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#done;
  }
}

export function describe(e: unknown): string {
  return e instanceof StrataError ? e.describe() : e instanceof Error ? e.message : String(e);
}
