/**
 * Readers through the query server (campaigns started with --serve): each run starts a Strata server on
 * its store (Chroma's HTTP API, hot swap on every pointer move) and, per collection, a client that keeps
 * fetching every record (ids, vectors, documents, metadata) over HTTP while compactions crash and race.
 * Each answer names its snapshot version; the records it carries must be exactly one legitimate state
 * (the model after some prefix of the good deltas) and versions must never go backwards. An answer that
 * mixes two snapshots, or one that loses a delta, is a violation; so is any error but 503 (the store
 * unreachable while the S3 server is down, counted as unavailability).
 */
import { ContentHasher } from '../../src/core/hash.js';
import type { Metadata } from '../../src/core/types.js';
import { compareIds } from '../../src/engine/ids.js';
import type { TrackedCollection } from './tracked.js';

export interface HttpReaderProblem {
  invariant: 'http-reader-saw-mix' | 'http-reader-failed' | 'http-version-went-backwards';
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

  constructor(
    private readonly url: string,
    private readonly tracked: TrackedCollection,
    private readonly pauseMs = 100,
  ) {
    this.#done = this.#loop();
  }

  async #loop(): Promise<void> {
    while (!this.#stop) {
      await this.readOnce();
      await new Promise((r) => setTimeout(r, this.pauseMs));
    }
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
    if (header === null) return; // nothing published yet
    const version = Number(header);
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
    const hash = contentHashOf(JSON.parse(text) as GetAnswer);
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

/** The content hash of a record set as served (the same hash as a snapshot's and the model's). */
function contentHashOf(a: GetAnswer): string {
  const order = a.ids.map((_, i) => i).sort((x, y) => compareIds(a.ids[x]!, a.ids[y]!));
  const h = new ContentHasher();
  for (const i of order) {
    h.add({
      id: a.ids[i]!,
      kind: 'put',
      embedding: Float32Array.from(a.embeddings?.[i] ?? []),
      document: a.documents?.[i] ?? null,
      metadata: a.metadatas?.[i] ?? null,
    });
  }
  return h.digest();
}
