/**
 * A real Redis for the distributed-runner suites: Debian's redis-server on a free 127.0.0.1 port, with its
 * own temp directory and no persistence; ready when it answers PING; stop() waits for the process to exit.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, OwnedProcess, waitUntil } from './process.js';

export interface RedisTestServer extends AsyncDisposable {
  /** redis://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** A short-lived client for inspection (CLIENT LIST, key counts); closed by the caller. */
  client(): Redis;
  stop(): Promise<void>;
}

async function ping(port: number): Promise<string | undefined> {
  const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on('error', () => {});
  try {
    await c.connect();
    return (await c.ping()) === 'PONG' ? 'PONG' : undefined;
  } finally {
    c.disconnect();
  }
}

export async function startRedis(): Promise<RedisTestServer> {
  const dir = await mkdtemp(join(tmpdir(), 'strata-redis-'));
  let lastOutput = '';
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    let proc: OwnedProcess;
    try {
      proc = new OwnedProcess('redis-server', 'redis-server', [
        '--port', String(port),
        '--bind', '127.0.0.1',
        '--dir', dir,
        '--save', '',
        '--appendonly', 'no',
        '--daemonize', 'no',
        '--loglevel', 'warning',
      ]);
      await waitUntil(`redis-server on 127.0.0.1:${port}`, () => ping(port), {
        timeoutMs: 15_000,
        everyMs: 50,
        alive: () => (proc.running ? undefined : `exited: ${proc.output.trim()}`),
      });
    } catch (e) {
      lastOutput = (e as Error).message;
      // Lost the port to someone else between freePort() and bind: try another one.
      if (/Address already in use/i.test(lastOutput)) continue;
      await rm(dir, { recursive: true, force: true });
      throw new Error(
        `cannot start redis-server (Debian package redis-server, listed in scripts/servers/redis.txt): ${lastOutput}`,
      );
    }
    const url = `redis://127.0.0.1:${port}`;
    const stop = async () => {
      await proc.stop();
      await rm(dir, { recursive: true, force: true });
    };
    return {
      url,
      port,
      client: () => new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1 }),
      stop,
      [Symbol.asyncDispose]: stop,
    };
  }
  await rm(dir, { recursive: true, force: true });
  throw new Error(`cannot start redis-server: no free port after 3 attempts: ${lastOutput}`);
}
