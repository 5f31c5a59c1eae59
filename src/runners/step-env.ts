import { CollectionError, ErrorCodes } from '../core/errors.js';
import type { CollectionConfig } from '../core/types.js';
import { validateName } from '../core/validate.js';
import { readJson } from '../pipeline/json-object.js';
import { Keys } from '../pipeline/layout.js';
import type { StepEnv } from '../pipeline/steps.js';
import type { ObjectStore } from '../store/index.js';

/**
 * Builds step environments for one store, caching collection configs. A config is immutable while its
 * collection lives, but a collection can be deleted and created again under the same name with another
 * dimension or metric: each use checks the config object's etag (a HEAD) and reads it again when it changed.
 */
export class StepEnvCache {
  #configs = new Map<string, { config: CollectionConfig; etag: string }>();
  constructor(
    readonly store: ObjectStore,
    readonly threads?: number,
    readonly producer = `strata-worker@${process.pid}`,
  ) {}
  async env(collection: string): Promise<StepEnv> {
    const key = Keys.config(validateName(collection));
    const head = await this.store.head(key);
    let c = this.#configs.get(collection);
    if (!c || head === undefined || c.etag !== head.etag) {
      const read = head === undefined ? undefined : await readJson<CollectionConfig>(this.store, key);
      if (!read) {
        this.#configs.delete(collection);
        throw new CollectionError(
          ErrorCodes.COLLECTION_NOT_FOUND,
          `collection ${collection} does not exist`,
          {
            collection,
          },
        );
      }
      c = { config: read.value, etag: read.etag };
      this.#configs.set(collection, c);
    }
    return { store: this.store, config: c.config, threads: this.threads, producer: this.producer };
  }
}
