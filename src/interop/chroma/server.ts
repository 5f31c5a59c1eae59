/**
 * A private Chroma server process on 127.0.0.1: started on a free port over a persistent directory,
 * ready when it has announced itself and answered /api/v2/heartbeat, stopped by SIGTERM and considered
 * stopped only when the process has exited (so every handle it held on the directory is closed).
 *
 * The executable: `STRATA_CHROMA_BIN` (a `chroma` command), else the `chroma` CLI of the `chromadb` npm
 * package (chromadb@3.0.14 with chromadb-js-bindings-linux-x64-gnu@1.0.5 on glibc < 2.38) run by this Node.
 */

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { OwnedProcess } from '../../core/child-process.js';
import { ErrorCodes, StrataError } from '../../core/errors.js';
import { freeLoopbackPort } from '../../core/net.js';
import { ChromaHttp } from './http.js';

export interface ChromaServerOptions {
  /** Persistent directory (created by Chroma if missing). */
  path: string;
  port?: number;
  /** How long to wait for readiness (default 60 s). */
  startTimeoutMs?: number;
  /** How long SIGTERM may take before SIGKILL (default 20 s). */
  stopTimeoutMs?: number;
}

function chromaCommand(): { command: string; args: string[] } {
  const bin = process.env.STRATA_CHROMA_BIN;
  if (bin) return { command: bin, args: [] };
  let main: string;
  try {
    main = fileURLToPath(import.meta.resolve('chromadb'));
  } catch (e) {
    throw new StrataError(
      ErrorCodes.CHROMA_SERVER,
      'no Chroma server available: install chromadb@3.0.14 or set STRATA_CHROMA_BIN',
      {},
      { cause: e },
    );
  }
  const cli = join(dirname(main), 'cli.mjs');
  if (!existsSync(cli))
    throw new StrataError(ErrorCodes.CHROMA_SERVER, `the chromadb package has no CLI at ${cli}`, {
      file: cli,
    });
  return { command: process.execPath, args: [cli] };
}

/** @see freeLoopbackPort */
export const freePort = freeLoopbackPort;

export class ChromaServer implements AsyncDisposable {
  readonly path: string;
  readonly port: number;
  readonly url: string;
  readonly http: ChromaHttp;
  readonly #proc: OwnedProcess;
  readonly #stopTimeoutMs: number;

  private constructor(path: string, port: number, proc: OwnedProcess, stopTimeoutMs: number) {
    this.path = path;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.http = new ChromaHttp(this.url);
    this.#proc = proc;
    this.#stopTimeoutMs = stopTimeoutMs;
  }

  get pid(): number | undefined {
    return this.#proc.pid;
  }

  /** The last few KB the server printed (for error messages). */
  get output(): string {
    return this.#proc.output;
  }

  static async start(o: ChromaServerOptions): Promise<ChromaServer> {
    const { command, args } = chromaCommand();
    const port = o.port ?? (await freePort());
    const proc = new OwnedProcess(
      'chroma',
      command,
      [...args, 'run', '--path', o.path, '--host', '127.0.0.1', '--port', String(port)],
      {
        env: { ...process.env, CHROMA_TELEMETRY: 'false', ANONYMIZED_TELEMETRY: 'False', NO_COLOR: '1' },
        outputTail: 8192,
      },
    );
    const server = new ChromaServer(o.path, port, proc, o.stopTimeoutMs ?? 20_000);
    try {
      await server.#ready(o.startTimeoutMs ?? 60_000);
      return server;
    } catch (e) {
      await server.stop();
      throw e;
    }
  }

  async #ready(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    // 1. the server announces it is listening (or the process exits)
    const announced = await this.#proc.waitForOutput(
      /Connect to Chroma at|Listening on|Uvicorn running/i,
      timeoutMs,
    );
    if (!announced.ok) {
      throw new StrataError(
        ErrorCodes.CHROMA_SERVER,
        announced.reason === 'exited'
          ? `Chroma exited with code ${announced.exit.code} before it was ready`
          : `Chroma did not start within ${timeoutMs} ms`,
        { file: this.path, output: this.output.slice(-500) },
      );
    }
    // 2. the health endpoint answers (retried with backoff until the deadline)
    let delay = 20;
    for (;;) {
      try {
        await this.http.heartbeat();
        return;
      } catch (e) {
        if (Date.now() + delay > deadline || !this.#proc.running) {
          throw new StrataError(
            ErrorCodes.CHROMA_SERVER,
            `Chroma did not answer its heartbeat: ${(e as Error).message}`,
            { file: this.path, output: this.output.slice(-500) },
          );
        }
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 500);
      }
    }
  }

  /** SIGTERM, then waits for the process to exit (SIGKILL after stopTimeoutMs). Idempotent. */
  async stop(stopTimeoutMs = this.#stopTimeoutMs): Promise<void> {
    await this.#proc.stop(stopTimeoutMs);
  }

  async close(): Promise<void> {
    await this.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
