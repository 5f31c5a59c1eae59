/**
 * A real Chroma server (npm chromadb@3.0.14 + chromadb-js-bindings-linux-x64-gnu@1.0.5, server 1.0.0) on a
 * free 127.0.0.1 port over a persistent directory in a temp folder. Ready when it has announced itself and
 * answered /api/v2/heartbeat; stop() sends SIGTERM and awaits the process's exit. The process management
 * is Strata's own (src/interop/chroma/server.ts: export drives the same server); a server that cannot
 * start fails the suite with its output.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChromaClient } from 'chromadb';
import { ChromaServer } from '../../src/interop/chroma/server.js';

export interface ChromaTestServer {
  server: ChromaServer;
  /** The persistent directory the server writes. */
  path: string;
  client: ChromaClient;
  /** Stops the server and awaits its exit; the directory stays (use dispose to remove it). */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function startChroma(path?: string): Promise<ChromaTestServer> {
  const root = path ? undefined : await mkdtemp(join(tmpdir(), 'strata-chroma-'));
  const dir = path ?? join(root!, 'db');
  let server: ChromaServer;
  try {
    server = await ChromaServer.start({ path: dir });
  } catch (e) {
    if (root) await rm(root, { recursive: true, force: true });
    throw new Error(`the Chroma server (npm chromadb@3.0.14) could not start: ${(e as Error).message}`, {
      cause: e,
    });
  }
  const client = new ChromaClient({ host: '127.0.0.1', port: server.port });
  return {
    server,
    path: dir,
    client,
    stop: () => server.stop(),
    async [Symbol.asyncDispose]() {
      await server.stop();
      if (root) await rm(root, { recursive: true, force: true });
    },
  };
}
