/**
 * Compactor processes for the campaign: spawn one (compactor-child), learn how it ended, find its worker
 * processes, and wait for it to be frozen (SIGSTOP) — each by a real signal from the kernel (exit events,
 * /proc state), never by guessing with sleeps.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import {
  type CompactorJob,
  type CompactorOutcome,
  type ProducerJob,
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

export interface CompactorProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  readonly exited: Promise<CompactorExit>;
  kill(signal: NodeJS.Signals): void;
  readonly hasExited: boolean;
}

const childScript = (): { path: string; execArgv: string[] } => {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.ts')) {
    return { path: here.replace(/processes\.ts$/, 'compactor-child.ts'), execArgv: ['--import', 'tsx'] };
  }
  return { path: here.replace(/processes\.js$/, 'compactor-child.js'), execArgv: [] };
};

const TAIL = 8 << 10;

export function spawnCompactor(
  job: CompactorJob | ProducerJob,
  env: Record<string, string> = {},
): CompactorProcess {
  const { path, execArgv } = childScript();
  const t0 = Date.now();
  const child = spawn(process.execPath, [...execArgv, path, JSON.stringify(job)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout = (stdout + d).slice(-TAIL * 4);
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr = (stderr + d).slice(-TAIL);
  });
  let done = false;
  const exited = new Promise<CompactorExit>((resolve) => {
    child.once('close', (code, signal) => {
      done = true;
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
      resolve({ code, signal, outcome, stderr, ms: Date.now() - t0 });
    });
  });
  return {
    pid: child.pid!,
    child,
    exited,
    kill(signal: NodeJS.Signals) {
      if (!done) child.kill(signal);
    },
    get hasExited() {
      return done;
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
