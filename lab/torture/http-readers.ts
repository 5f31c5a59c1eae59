/**
 * Readers through the query server (campaigns started with --serve): each run starts a Strata server on
 * its store (Chroma's HTTP API, hot swap on every pointer move) and, per collection, a client that keeps
 * fetching every record (ids, vectors, documents, metadata) over HTTP while compactions crash and race.
 * Each answer names its snapshot version; the records it carries must be exactly one legitimate state
 * (the model after some prefix of the good deltas: a version, with the accepted deltas it does not hold yet
 * on top in sequence order) and versions must never go backwards. An answer that mixes two versions, or one
 * that loses a delta, is a violation; so is any error but 503 (the store unreachable while the S3 server is
 * down, counted as unavailability). Each reader also writes through the server to a collection of its own
 * and reads its write back at once: read-your-writes, under the same crashes and races.
 */
import { LtHash } from '../../src/core/lthash.js';
import type { Metadata } from '../../src/core/types.js';
import type { TrackedCollection } from './tracked.js';

export interface HttpReaderProblem {
  invariant:
    | 'http-reader-saw-mix'
    | 'http-reader-failed'
    | 'http-version-went-backwards'
    | 'http-reader-own-write-invisible';
  detail: string;
}

const API = '/api/v2/tenants/default_tenant/databases/default_database/collections';

interface GetAnswer {
  ids: string[];
  embeddings: number[][] | null;
  documents: Array<string | null> | null;
  metadatas: Array<Metadata | null> | null;
}

export class HttpReaderLoop {
  readonly problems: HttpReaderProblem[] = [];
  #reported = new Set<string>();
  /** Answers checked. */
  answers = 0;
  /** 503 answers: the server could not reach the store (the S3 server was down). Counted, not a violation. */
  unavailable = 0;
  #id: string | undefined;
  #lastVersion = 0;
  #stop = false;
  #done: Promise<void>;

  /** Own writes read back at once. */
  ownWrites = 0;
  #own: string | undefined;
  #n = 0;

  constructor(
    private readonly url: string,
    private readonly tracked: TrackedCollection,
    private readonly pauseMs = 100,
    private readonly token?: string,
  ) {
    this.#done = this.#loop();
  }

  async #loop(): Promise<void> {
    while (!this.#stop) {
      await this.readOnce();
      if (this.token && this.#n++ % 3 === 0) {
        try {
          await this.#ownWrite();
        } catch (e) {
          this.#report(
            { invariant: 'http-reader-failed', detail: `own write: ${(e as Error).message}` },
            'own',
          );
        }
      }
      await new Promise((r) => setTimeout(r, this.pauseMs));
    }
  }

  /** Upserts a record to the reader's own collection, reads it back, deletes it, reads its absence. */
  async #ownWrite(): Promise<void> {
    const call = async (method: string, path: string, body?: unknown) => {
      const r = await fetch(`${this.url}${path}`, {
        method,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token}` },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    };
    if (!this.#own) {
      const c = await call('POST', API, { name: `ryw-${this.tracked.name}`, get_or_create: true });
      if (c.status === 503) return;
      if (c.status !== 200)
        throw new Error(`create own collection: HTTP ${c.status} ${JSON.stringify(c.body)}`);
      this.#own = String(c.body.id);
    }
    const id = `w${this.ownWrites}`;
    const up = await call('POST', `${API}/${this.#own}/upsert`, {
      ids: [id],
      embeddings: [[1, this.ownWrites, 2]],
      documents: [id],
    });
    if (up.status === 503 || up.status === 429) return;
    if (up.status !== 200) throw new Error(`own upsert: HTTP ${up.status} ${JSON.stringify(up.body)}`);
    const got = await call('POST', `${API}/${this.#own}/get`, { ids: [id], include: ['documents'] });
    if (got.status === 503) return;
    if (JSON.stringify(got.body.documents) !== JSON.stringify([id])) {
      this.#report(
        {
          invariant: 'http-reader-own-write-invisible',
          detail: `${this.tracked.name}: upsert of ${id} acknowledged, then get answered ${JSON.stringify(got.body)}`,
        },
        `own-${id}`,
      );
    }
    const del = await call('POST', `${API}/${this.#own}/delete`, { ids: [id] });
    if (del.status === 503 || del.status === 429) return;
    const gone = await call('POST', `${API}/${this.#own}/get`, { ids: [id] });
    if (gone.status === 200 && (gone.body.ids as string[]).length !== 0) {
      this.#report(
        {
          invariant: 'http-reader-own-write-invisible',
          detail: `${this.tracked.name}: delete of ${id} acknowledged, then get still answered it`,
        },
        `own-del-${id}`,
      );
    }
    this.ownWrites++;
  }

  #report(p: HttpReaderProblem, key: string): void {
    const k = `${p.invariant} ${key}`;
    if (this.#reported.has(k)) return;
    this.#reported.add(k);
    this.problems.push(p);
  }

  /** One request and its checks (the loop's body); problems go to `problems`. */
  async readOnce(): Promise<void> {
    try {
      await this.#once();
    } catch (e) {
      this.#report({ invariant: 'http-reader-failed', detail: (e as Error).message }, 'error');
    }
  }

  async #once(): Promise<void> {
    const name = this.tracked.name;
    if (!this.#id) {
      const r = await fetch(`${this.url}${API}/${encodeURIComponent(name)}`);
      const body = (await r.json()) as { id?: string };
      if (r.status === 404) return;
      if (r.status === 503) {
        this.unavailable++;
        return;
      }
      if (!r.ok || !body.id)
        throw new Error(`GET collection ${name}: HTTP ${r.status} ${JSON.stringify(body)}`);
      this.#id = body.id;
    }
    const r = await fetch(`${this.url}${API}/${this.#id}/get`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ include: ['embeddings', 'documents', 'metadatas'] }),
    });
    const text = await r.text();
    if (r.status === 503) {
      this.unavailable++;
      return;
    }
    if (!r.ok) throw new Error(`POST get ${name}: HTTP ${r.status} ${text.slice(0, 300)}`);
    const header = r.headers.get('x-strata-snapshot-version');
    const version = header === null ? 0 : Number(header); // 0: nothing published yet (the tail alone)
    this.answers++;
    if (version < this.#lastVersion) {
      this.#report(
        {
          invariant: 'http-version-went-backwards',
          detail: `${name}: an answer from v${version} after one from v${this.#lastVersion}`,
        },
        String(version),
      );
    }
    this.#lastVersion = Math.max(this.#lastVersion, version);
    const answer = JSON.parse(text) as GetAnswer;
    if (version === 0 && answer.ids.length === 0) return; // nothing accepted yet
    const hash = contentHashOf(answer);
    if (!this.tracked.legitHashes.has(hash)) {
      this.#report(
        {
          invariant: 'http-reader-saw-mix',
          detail: `${name} v${version}: the records served equal no prefix of the good deltas`,
        },
        String(version),
      );
    }
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#done;
  }
}

/** The content hash of a record set as served (the same hash as a version's and the model's). */
function contentHashOf(a: GetAnswer): string {
  const h = new LtHash();
  a.ids.forEach((id, i) => {
    h.add({
      id,
      embedding: Float32Array.from(a.embeddings?.[i] ?? []),
      document: a.documents?.[i] ?? null,
      metadata: a.metadatas?.[i] ?? null,
    });
  });
  return h.digest();
}
