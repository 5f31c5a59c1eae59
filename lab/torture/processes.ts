/**
 * Compactor processes for the campaign: spawn one (compactor-child), learn how it ended, find its worker
 * processes, and wait for it to be frozen (SIGSTOP) — each by a real signal from the kernel (exit events,
 * /proc state), never by guessing with sleeps.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import {
  type ChildEvent,
  type CompactorJob,
  type CompactorOutcome,
  EVENT_PREFIX,
  type GcJob,
  type ProducerJob,
  type ProducerManyJob,
  RESULT_PREFIX,
} from './child-protocol.js';

export interface CompactorExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  outcome: CompactorOutcome | undefined;
  /** The last few KB of its stderr (diagnostics for a violation report). */
  stderr: string;
  ms: number;
}

/** Any process a run started: killed at the end of the run if it is still alive. */
export interface OwnedChild {
  readonly hasExited: boolean;
  readonly exited: Promise<unknown>;
  kill(signal: NodeJS.Signals): void;
}

export interface CompactorProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  readonly exited: Promise<CompactorExit>;
  kill(signal: NodeJS.Signals): void;
  readonly hasExited: boolean;
}

/** A script of this package relative to this module (`rel` without extension), run from source or lab-dist. */
const script = (rel: string): { path: string; execArgv: string[] } => {
  const here = fileURLToPath(import.meta.url);
  const ts = here.endsWith('.ts');
  return {
    path: fileURLToPath(new URL(`${rel}${ts ? '.ts' : '.js'}`, import.meta.url)),
    execArgv: ts ? ['--import', 'tsx'] : [],
  };
};
const childScript = () => script('./compactor-child');

const TAIL = 8 << 10;

/** Exit tracking shared by the campaign's child processes: `exited` resolves on 'close' with `onClose`'s value. */
function watch<T>(
  child: ChildProcess,
  onClose: (code: number | null, signal: NodeJS.Signals | null) => T,
): { exited: Promise<T>; kill(signal: NodeJS.Signals): void; readonly hasExited: boolean } {
  let done = false;
  const exited = new Promise<T>((resolve) => {
    child.once('close', (code, signal) => {
      done = true;
      resolve(onClose(code, signal));
    });
  });
  return {
    exited,
    kill(signal: NodeJS.Signals) {
      if (!done) child.kill(signal);
    },
    get hasExited() {
      return done;
    },
  };
}

export function spawnCompactor(
  job: CompactorJob | ProducerJob | ProducerManyJob | GcJob,
  env: Record<string, string> = {},
  onEvent?: (e: ChildEvent) => void,
): CompactorProcess {
  const { path, execArgv } = childScript();
  const t0 = Date.now();
  const child = spawn(process.execPath, [...execArgv, path, JSON.stringify(job)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout = (stdout + d).slice(-TAIL * 4);
    if (!onEvent) return;
    const lines = (partial + d).split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      if (l.startsWith(EVENT_PREFIX)) onEvent(JSON.parse(l.slice(EVENT_PREFIX.length)) as ChildEvent);
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-TAIL);
  });
  const w = watch(child, (code, signal): CompactorExit => {
    const line = stdout
      .split('\n')
      .reverse()
      .find((l) => l.startsWith(RESULT_PREFIX));
    let outcome: CompactorOutcome | undefined;
    if (line) {
      try {
        outcome = JSON.parse(line.slice(RESULT_PREFIX.length)) as CompactorOutcome;
      } catch {
        outcome = undefined;
      }
    }
    return { code, signal, outcome, stderr, ms: Date.now() - t0 };
  });
  return {
    pid: child.pid!,
    child,
    exited: w.exited,
    kill: w.kill,
    get hasExited() {
      return w.hasExited;
    },
  };
}

/** The process state letter from /proc/<pid>/stat (R, S, D, T, Z…), or undefined once it is gone. */
export async function processState(pid: number): Promise<string | undefined> {
  try {
    const s = await readFile(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** PIDs whose parent is `pid` (the local pool's workers of a compactor process). */
export async function childPids(pid: number): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const s = await readFile(`/proc/${name}/stat`, 'utf8');
      const fields = s.slice(s.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) === pid) out.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/**
 * Resolves 'stopped' once the process is in state T (it froze itself at a `stop` failpoint), or
 * 'exited' if it ended first (the failpoint was never reached).
 */
export async function waitStoppedOrExit(p: CompactorProcess, pollMs = 5): Promise<'stopped' | 'exited'> {
  let exited = false;
  void p.exited.then(() => {
    exited = true;
  });
  for (;;) {
    if (exited || p.hasExited) return 'exited';
    const st = await processState(p.pid);
    if (st === 'T' || st === 't') return 'stopped';
    if (st === undefined || st === 'Z') {
      await p.exited;
      return 'exited';
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** A `strata worker` process serving one BullMQ queue for one store. */
export interface BullWorkerProcess {
  readonly pid: number;
  /** Resolves once the worker said it is ready; rejects if it exited first. */
  readonly ready: Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }>;
  kill(signal: NodeJS.Signals): void;
  readonly hasExited: boolean;
}

/**
 * Starts `strata worker` (the CLI, as a user runs it) with a short lock and stalled-check interval, so
 * that a killed worker's job is taken over within seconds.
 */
export function spawnBullWorker(
  o: { store: string; redis: string; queue: string },
  env: Record<string, string> = {},
): BullWorkerProcess {
  const { path, execArgv } = script('../../src/cli/bin');
  const child = spawn(
    process.execPath,
    [
      ...execArgv,
      path,
      '--json',
      '--store',
      o.store,
      'worker',
      '--redis',
      o.redis,
      '--queue',
      o.queue,
      '--concurrency',
      '1',
      '--threads',
      '1',
      '--lock-duration',
      '2s',
      '--stalled-interval',
      '1s',
    ],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const w = watch(child, (code, signal) => ({ code, signal, output }));
  const exited = w.exited;
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (d: string) => {
      output = (output + d).slice(-TAIL);
      if (/"ready":\s*true/.test(output)) resolve();
    };
    child.stdout!.setEncoding('utf8').on('data', onData);
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      output = (output + d).slice(-TAIL);
    });
    void exited.then((e) =>
      reject(
        new Error(
          `strata worker exited before it was ready (code ${e.code}, signal ${e.signal}): ${e.output}`,
        ),
      ),
    );
  });
  ready.catch(() => undefined);
  return {
    pid: child.pid!,
    ready,
    exited,
    kill: w.kill,
    get hasExited() {
      return w.hasExited;
    },
  };
}
