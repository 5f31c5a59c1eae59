/**
 * Raw HTTP against both servers of a DiffEnv at once, for the tests that pin a difference kept on purpose:
 * each such test states what Chroma answers and what Strata answers, so a change on either side shows.
 */
import { compactNow, TOKEN } from '../server/helpers.js';
import type { DiffEnv } from './runner.js';

export interface Answer {
  status: number;
  body: unknown;
}

export const DB = '/api/v2/tenants/default_tenant/databases/default_database';

export class Pair {
  readonly #env: DiffEnv;
  /** Collection ids by name, per server. */
  readonly #ids = { chroma: new Map<string, string>(), strata: new Map<string, string>() };

  constructor(env: DiffEnv) {
    this.#env = env;
  }

  /** One request to one server. */
  async one(side: 'chroma' | 'strata', method: string, path: string, body?: unknown): Promise<Answer> {
    const url = side === 'chroma' ? this.#env.chroma.url : this.#env.strata.url;
    const res = await fetch(`${url}${path}`, {
      method,
      headers: {
        ...(side === 'strata' ? { 'x-chroma-token': TOKEN } : {}),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed };
  }

  /** The same request to both servers; `{id}` in the path is the collection's id on each. */
  async call(
    method: string,
    path: string,
    body?: unknown,
    collection?: string,
  ): Promise<{ chroma: Answer; strata: Answer }> {
    const at = (side: 'chroma' | 'strata') =>
      collection === undefined ? path : path.replace('{id}', this.#ids[side].get(collection) ?? 'missing');
    const [chroma, strata] = await Promise.all([
      this.one('chroma', method, at('chroma'), body),
      this.one('strata', method, at('strata'), body),
    ]);
    return { chroma, strata };
  }

  /** Creates a collection on both (deleting one of that name first). */
  async collection(name: string, configuration: Record<string, unknown> = {}): Promise<void> {
    await this.call('DELETE', `${DB}/collections/${name}`);
    const { chroma, strata } = await this.call('POST', `${DB}/collections`, { name, configuration });
    if (chroma.status !== 200 || strata.status !== 200) {
      throw new Error(`cannot create ${name}: ${JSON.stringify({ chroma, strata })}`);
    }
    this.#ids.chroma.set(name, (chroma.body as { id: string }).id);
    this.#ids.strata.set(name, (strata.body as { id: string }).id);
  }

  /** A request on a collection's records: `op` is add, get, query, … */
  records(name: string, op: string, body: unknown): Promise<{ chroma: Answer; strata: Answer }> {
    return this.call('POST', `${DB}/collections/{id}/${op}`, body, name);
  }

  /** Publishes Strata's accepted writes: a compaction, served once it is published (reads never need it). */
  async settle(): Promise<void> {
    await compactNow(this.#env.strata);
  }
}
