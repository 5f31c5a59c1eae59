import type { CollectionConfig } from '../core/types.js';
import { getCollection } from '../pipeline/collections.js';
import type { StepEnv } from '../pipeline/steps.js';
import type { ObjectStore } from '../store/index.js';

/** Builds step environments for one store, caching collection configs (immutable once created). */
export class StepEnvCache {
  #configs = new Map<string, CollectionConfig>();
  constructor(
    readonly store: ObjectStore,
    readonly threads?: number,
    readonly producer = `strata-worker@${process.pid}`,
  ) {}
  async env(collection: string): Promise<StepEnv> {
    let c = this.#configs.get(collection);
    if (!c) {
      c = await getCollection(this.store, collection);
      this.#configs.set(collection, c);
    }
    return { store: this.store, config: c, threads: this.threads, producer: this.producer };
  }
}
