/**
 * A private Chroma server process on 127.0.0.1: started on a free port over a persistent directory,
 * ready when it has announced itself and answered /api/v2/heartbeat, stopped by SIGTERM and considered
 * stopped only when the process has exited (so every handle it held on the directory is closed).
 *
 * The executable: `STRATA_CHROMA_BIN` (a `chroma` command), else the `chroma` CLI of the `chromadb` npm
 * package (chromadb@3.0.14 with chromadb-js-bindings-linux-x64-gnu@1.0.5 on glibc < 2.38) run by this Node.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
  #child: ChildProcess | null;
  readonly #exited: Promise<number | null>;
  #output = '';

  private constructor(path: string, port: number, child: ChildProcess) {
    this.path = path;
    this.port = port;
    this.url = `http://127.0.0.1:${port}`;
    this.http = new ChromaHttp(this.url);
    this.#child = child;
    this.#exited = new Promise((res) => child.once('exit', (code) => res(code)));
    const keep = (b: Buffer) => {
      this.#output = (this.#output + b.toString('utf8')).slice(-8192);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** The last few KB the server printed (for error messages). */
  get output(): string {
    return this.#output;
  }

  static async start(o: ChromaServerOptions): Promise<ChromaServer> {
    const { command, args } = chromaCommand();
    const port = o.port ?? (await freePort());
    const child = spawn(
      command,
      [...args, 'run', '--path', o.path, '--host', '127.0.0.1', '--port', String(port)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, CHROMA_TELEMETRY: 'false', ANONYMIZED_TELEMETRY: 'False', NO_COLOR: '1' },
      },
    );
    const server = new ChromaServer(o.path, port, child);
    try {
      await server.#ready(o.startTimeoutMs ?? 60_000);
      return server;
    } catch (e) {
      await server.stop();
      throw e;
    }
  }

  async #ready(timeoutMs: number): Promise<void> {
    const child = this.#child!;
    const deadline = Date.now() + timeoutMs;
    // 1. the server announces it is listening (or the process exits)
    await new Promise<void>((res, rej) => {
      const timer = setTimeout(
        () =>
          done(
            new StrataError(ErrorCodes.CHROMA_SERVER, `Chroma did not start within ${timeoutMs} ms`, {
              file: this.path,
              output: this.#output.slice(-500),
            }),
          ),
        timeoutMs,
      );
      const onData = () => {
        if (/Connect to Chroma at|Listening on|Uvicorn running/i.test(this.#output)) done();
      };
      const onExit = (code: number | null) =>
        done(
          new StrataError(ErrorCodes.CHROMA_SERVER, `Chroma exited with code ${code} before it was ready`, {
            file: this.path,
            output: this.#output.slice(-500),
          }),
        );
      const done = (err?: Error) => {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.stderr?.off('data', onData);
        child.off('exit', onExit);
        if (err) rej(err);
        else res();
      };
      child.stdout?.on('data', onData);
      child.stderr?.on('data', onData);
      child.once('exit', onExit);
      onData();
    });
    // 2. the health endpoint answers (retried with backoff until the deadline)
    let delay = 20;
    for (;;) {
      try {
        await this.http.heartbeat();
        return;
      } catch (e) {
        if (Date.now() + delay > deadline || child.exitCode !== null) {
          throw new StrataError(
            ErrorCodes.CHROMA_SERVER,
            `Chroma did not answer its heartbeat: ${(e as Error).message}`,
            { file: this.path, output: this.#output.slice(-500) },
          );
        }
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 500);
      }
    }
  }

  /** SIGTERM, then waits for the process to exit (SIGKILL after stopTimeoutMs). Idempotent. */
  async stop(stopTimeoutMs = 20_000): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#child = null;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), stopTimeoutMs);
      await this.#exited;
      clearTimeout(timer);
    }
    child.stdout?.destroy();
    child.stderr?.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
