/** A real `strata serve` (HTTP on a free loopback port) over a temp store, for the server suites. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openExecutor } from '../../src/runners/open.js';
import { type ServeOptions, StrataServer } from '../../src/server/server.js';
import { LocalStore } from '../../src/store/local-store.js';

export const TOKEN = 'test-token-1234';

export interface TestServer {
  server: StrataServer;
  store: LocalStore;
  dir: string;
  url: string;
  port: number;
  /** fetch against the server with the token. */
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

/** The server's options, and the runner its compactions use (as `strata serve` takes them). */
export type TestServerOptions = Partial<ServeOptions> & {
  compactRunner?: 'local' | 'inline';
  compactConcurrency?: number;
};

export async function startTestServer(opts: TestServerOptions = {}): Promise<TestServer> {
  const { compactRunner = 'inline', compactConcurrency = 1, ...serveOpts } = opts;
  const dir = await mkdtemp(join(tmpdir(), 'strata-serve-'));
  const store = await LocalStore.open(dir);
  let server: StrataServer;
  try {
    server = await StrataServer.start({
      store,
      compactExecutor: () =>
        openExecutor(compactRunner, { store, storeSpec: dir, concurrency: compactConcurrency }),
      port: 0,
      token: TOKEN,
      refreshMs: 200,
      ...serveOpts,
    });
  } catch (e) {
    await store.close();
    await rm(dir, { recursive: true, force: true });
    throw new Error(`strata serve did not start: ${(e as Error).message}`);
  }
  const url = `http://127.0.0.1:${server.port}`;
  return {
    server,
    store,
    dir,
    url,
    port: server.port,
    call: (method, path, body, headers = {}) =>
      fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    async close() {
      await server.close();
      await store.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Compacts now through the operator endpoint; resolves when the new snapshot is being served. */
export async function compactNow(t: TestServer, collection?: string): Promise<void> {
  const res = await t.call('POST', '/strata/v1/compact', collection ? { collection } : {});
  if (res.status !== 200) throw new Error(`compact failed: ${res.status} ${await res.text()}`);
  const { reports } = (await res.json()) as { reports: Array<{ collection: string; status: string }> };
  for (const r of reports) {
    if (r.status === 'published') await t.server.ctx.snapshots.refresh(r.collection);
  }
}
