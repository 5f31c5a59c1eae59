/**
 * Child process for LocalStore's cross-process tests (run with `node --import tsx`).
 *   cas   <root> <key> <iterations> <name> <startAtMs>   ifMatch loop; prints one JSON line {wins, losses}
 *   hold  <root> <key>                                   takes the store lock, prints LOCKED, never returns
 *   put   <root> <key> <bytes>                           put (for failpoint crashes)
 *   putfile <root> <key> <sourceFile>                    putFile copy (for failpoint crashes)
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { PreconditionFailedError } from '../../src/core/errors.js';
import { LocalStore } from '../../src/store/local-store.js';

const [mode, root, key, ...rest] = process.argv.slice(2);
if (!mode || !root || !key) throw new Error('usage: store-child <mode> <root> <key> …');

async function cas(): Promise<void> {
  const [iterations, name, startAt] = rest;
  const store = await LocalStore.open(root!);
  const wait = Number(startAt) - Date.now();
  if (wait > 0) await sleep(wait);
  const wins: { prev: string; next: string }[] = [];
  let losses = 0;
  for (let i = 0; i < Number(iterations); i++) {
    const { body, info } = await store.getObject(key!);
    const prev = Buffer.from(body).toString('utf8');
    const next = `${name}:${i}`;
    try {
      await store.put(key!, next, { ifMatch: info.etag! });
      wins.push({ prev, next });
    } catch (e) {
      if (!(e instanceof PreconditionFailedError)) throw e;
      losses++;
    }
  }
  await store.close();
  process.stdout.write(`${JSON.stringify({ wins, losses })}\n`);
}

async function hold(): Promise<void> {
  const store = await LocalStore.open(root!, {
    onLocked: async () => {
      process.stdout.write('LOCKED\n');
      setInterval(() => undefined, 1000);
      await new Promise<never>(() => undefined);
    },
  });
  await store.put(key!, 'from the child that holds the lock', { ifNoneMatch: '*' });
}

async function put(): Promise<void> {
  const store = await LocalStore.open(root!);
  const body = Buffer.alloc(Number(rest[0]), 0x61);
  await store.put(key!, body);
  await store.close();
  process.stdout.write('DONE\n');
}

async function putFile(): Promise<void> {
  const store = await LocalStore.open(root!);
  await store.putFile(key!, rest[0]!);
  await store.close();
  process.stdout.write('DONE\n');
}

const modes: Record<string, () => Promise<void>> = { cas, hold, put, putfile: putFile };
const run = modes[mode];
if (!run) throw new Error(`unknown mode ${mode}`);
await run();
