/**
 * A store that fails exactly the puts a test scripts (unlike FaultyStore's random draws): the next put of
 * a key matching a pattern throws before reaching the backend (`error`), or reaches it and then throws
 * (`lost`: the write happened, its answer did not).
 */
import { StoreError } from '../../src/core/errors.js';
import type { ObjectInfo, ObjectStore, PutFileOptions, PutOptions } from '../../src/store/object-store.js';

export type ScriptedFault = 'error' | 'lost';

export class ScriptedStore implements ObjectStore {
  readonly kind: string;
  readonly url: string;
  readonly localPath?: (key: string) => string | undefined;
  readonly scratchDir?: () => string;
  readonly #inner: ObjectStore;
  #rules: Array<{ pattern: RegExp; fault: ScriptedFault }> = [];
  #gates: Array<{ pattern: RegExp; reach: () => void; opened: Promise<void> }> = [];
  /** Faults fired so far. */
  fired = 0;

  constructor(inner: ObjectStore) {
    this.#inner = inner;
    this.kind = `scripted(${inner.kind})`;
    this.url = inner.url;
    if (inner.localPath) this.localPath = (k) => inner.localPath!(k);
    if (inner.scratchDir) this.scratchDir = () => inner.scratchDir!();
  }

  /** The next put of a key matching `pattern` fails this way (rules fire in the order given). */
  failNext(pattern: RegExp, fault: ScriptedFault): void {
    this.#rules.push({ pattern, fault });
  }

  clear(): void {
    this.#rules = [];
  }

  /**
   * Holds the next put of a key matching `pattern` until `open()` (a slow producer): `reached` resolves
   * once that put is waiting.
   */
  gate(pattern: RegExp): { reached: Promise<void>; open(): void } {
    let reach!: () => void;
    let open!: () => void;
    const reached = new Promise<void>((r) => {
      reach = r;
    });
    const opened = new Promise<void>((r) => {
      open = r;
    });
    this.#gates.push({ pattern, reach, opened });
    return { reached, open };
  }

  async #put<T>(key: string, write: () => Promise<T>): Promise<T> {
    const g = this.#gates.findIndex((x) => x.pattern.test(key));
    if (g >= 0) {
      const [gate] = this.#gates.splice(g, 1);
      gate!.reach();
      await gate!.opened;
    }
    const i = this.#rules.findIndex((r) => r.pattern.test(key));
    if (i < 0) return write();
    const [rule] = this.#rules.splice(i, 1);
    this.fired++;
    if (rule!.fault === 'error') throw new StoreError('scripted put failure', { key });
    await write();
    throw new StoreError('scripted lost response (the put succeeded)', { key });
  }

  get(key: string): Promise<Uint8Array> {
    return this.#inner.get(key);
  }
  getObject(key: string): Promise<{ body: Uint8Array; info: ObjectInfo }> {
    return this.#inner.getObject(key);
  }
  head(key: string): Promise<ObjectInfo | undefined> {
    return this.#inner.head(key);
  }
  put(key: string, body: Uint8Array | string, opts?: PutOptions): Promise<ObjectInfo> {
    return this.#put(key, () => this.#inner.put(key, body, opts));
  }
  putFile(key: string, path: string, opts?: PutFileOptions): Promise<ObjectInfo> {
    return this.#put(key, () => this.#inner.putFile(key, path, opts));
  }
  getToFile(key: string, path: string): Promise<ObjectInfo> {
    return this.#inner.getToFile(key, path);
  }
  list(prefix: string): Promise<ObjectInfo[]> {
    return this.#inner.list(prefix);
  }
  delete(key: string): Promise<void> {
    return this.#inner.delete(key);
  }
  close(): Promise<void> {
    return this.#inner.close();
  }
}
