import type { RedisOptions } from 'bullmq';
import { UsageError } from '../../core/errors.js';

/**
 * redis://[user:password@]host[:port][/db] or rediss://… → ioredis options. BullMQ creates (and closes) its
 * own connections from these; nobody shares a client across owners.
 */
export function redisOptions(url: string): RedisOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`not a Redis URL: ${url} (use redis://host:port)`, { redis: url });
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new UsageError(`not a Redis URL: ${url} (use redis://host:port or rediss://…)`, { redis: url });
  }
  const db = u.pathname.replace(/^\//, '');
  if (db !== '' && !/^\d+$/.test(db))
    throw new UsageError(`bad Redis database number in ${url}`, { redis: url });
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(db ? { db: Number(db) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
    // BullMQ needs this for its blocking connections; a lost Redis is retried by ioredis, not failed per call.
    maxRetriesPerRequest: null,
  };
}

/** The URL without its password, for logs and error contexts. */
export function redactRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.href;
  } catch {
    return url;
  }
}
