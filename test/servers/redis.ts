/**
 * A real Redis for the distributed-runner suites: Debian's redis-server (scripts/servers/redis.txt) on a
 * free 127.0.0.1 port with its own temp directory, ready once it answers PING; stop() awaits the exit.
 * The launcher itself lives in lab/devservers (the distributed benchmark uses it too).
 */
import { Redis } from 'ioredis';
import { RedisServerProcess } from '../../lab/devservers/redis-server.js';

export interface RedisTestServer extends AsyncDisposable {
  /** redis://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** A client for inspection (CLIENT LIST, key counts); the caller disconnects it. */
  client(): Redis;
  stop(): Promise<void>;
}

export async function startRedis(): Promise<RedisTestServer> {
  let server: RedisServerProcess;
  try {
    server = await RedisServerProcess.start();
  } catch (e) {
    throw new Error(
      `the BullMQ suites need a real Redis: ${(e as Error).message} — install it with \`node scripts/setup.mjs --servers\``,
    );
  }
  return {
    url: server.url,
    port: server.port,
    client: () => new Redis({ host: '127.0.0.1', port: server.port, maxRetriesPerRequest: 1 }),
    stop: () => server.stop(),
    [Symbol.asyncDispose]: () => server.stop(),
  };
}
