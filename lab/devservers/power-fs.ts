/**
 * A filesystem that loses what was not fsynced when the power is cut: powerfs.py (FUSE, Debian's
 * python3-pyfuse3) mounted on a fresh directory. Until `cut()` it behaves as a normal filesystem; `cut()`
 * is the power failure (what survives: only what fsync/fdatasync made durable, per file, and what a
 * directory fsync made durable, per directory — plus, at random, part of the rest, see powerfs.py), after
 * which the filesystem is unmounted; `remount()` is the reboot: the surviving state, mounted again at the
 * same path. The processes using the mount must be killed before the cut (`killUsers`).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Debian's interpreter: python3-pyfuse3 installs into its dist-packages. */
const PYTHON = '/usr/bin/python3';

export class PowerFsError extends Error {
  override readonly name = 'PowerFsError';
  readonly code = 'E_POWERFS';
}

/** What a cut did (powerfs.py's report). */
export interface CutReport {
  /** `drop`: nothing unsynced survived; `partial`: a prefix of each directory's log, files old/new/torn. */
  mode: 'drop' | 'partial';
  /** Directory entry operations (create, rename, unlink) not yet durable at the cut, and how many of them survived. */
  dirOps: number;
  dirOpsApplied: number;
  /** Files written since their last fsync, and what each became. */
  dirtyFiles: number;
  filesOld: number;
  filesNew: number;
  filesTorn: number;
  /** fsync / fdatasync calls and directory fsyncs the mount served. */
  fsyncs: number;
  dirFsyncs: number;
}

/** powerfs.py beside this module, or in the source tree when this runs compiled from lab-dist. */
function script(): string {
  const here = fileURLToPath(new URL('./powerfs.py', import.meta.url));
  if (existsSync(here)) return here;
  const src = fileURLToPath(new URL('../../../lab/devservers/powerfs.py', import.meta.url));
  if (existsSync(src)) return src;
  throw new PowerFsError(`powerfs.py is neither at ${here} nor at ${src}`);
}

export class PowerFs {
  /** The mount point: where the store lives. */
  readonly dir: string;
  /** "The disk": the durable state, a plain directory (loaded whole at mount). */
  readonly image: string;
  readonly #base: string;
  readonly #mode: CutReport['mode'] | undefined;
  #proc:
    | { child: ChildProcess; exited: Promise<{ code: number | null; out: string; err: string }> }
    | undefined;
  cuts = 0;

  private constructor(base: string, mode: CutReport['mode'] | undefined) {
    this.#base = base;
    this.#mode = mode;
    this.dir = join(base, 'mnt');
    this.image = join(base, 'disk');
  }

  /**
   * Mounts an empty powerfs on a fresh directory; throws PowerFsError (with the reason) when it cannot.
   * `mode` fixes what every cut does (default: drawn per cut from the seed).
   */
  static async mount(seed: number, mode?: CutReport['mode']): Promise<PowerFs> {
    const fs = new PowerFs(await mkdtemp(join(tmpdir(), 'strata-powerfs-')), mode);
    await mkdir(fs.dir);
    await mkdir(fs.image);
    try {
      await fs.#start(seed);
    } catch (e) {
      await rm(fs.#base, { recursive: true, force: true });
      throw e;
    }
    return fs;
  }

  get mounted(): boolean {
    return this.#proc !== undefined;
  }

  async #start(seed: number): Promise<void> {
    if (!existsSync('/dev/fuse')) throw new PowerFsError('no /dev/fuse: power-loss tests need FUSE');
    const child = spawn(
      PYTHON,
      [script(), this.dir, this.image, String(seed >>> 0), ...(this.#mode ? [this.#mode] : [])],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      err = (err + d).slice(-8192);
    });
    const exited = new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      child.once('close', (code) => resolve({ code, out, err }));
    });
    const ready = new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: string) => {
        out += d;
        if (out.includes('@@powerfs-ready\n')) resolve();
      });
      child.once('error', (e) => reject(new PowerFsError(`cannot start ${PYTHON}: ${e.message}`)));
      void exited.then((x) =>
        reject(
          new PowerFsError(
            `powerfs exited (code ${x.code}) before it was mounted on ${this.dir}: ${x.err.trim() || x.out.trim()} (needs /dev/fuse, fuse3 and python3-pyfuse3: npm run setup -- --servers)`,
          ),
        ),
      );
    });
    this.#proc = { child, exited };
    try {
      await ready;
    } catch (e) {
      this.#proc = undefined;
      throw e;
    }
  }

  /**
   * The power cut: everything not durable is dropped or partly applied, the result written to the disk
   * image and the filesystem unmounted. Kill every process using the mount first.
   */
  async cut(): Promise<CutReport> {
    const p = this.#proc;
    if (!p) throw new PowerFsError('cut: not mounted');
    p.child.kill('SIGUSR1');
    const x = await p.exited;
    this.#proc = undefined;
    const line = x.out.split('\n').find((l) => l.startsWith('@@powerfs-cut '));
    if (x.code !== 0 || !line)
      throw new PowerFsError(`powerfs did not cut cleanly (code ${x.code}): ${x.err.slice(-2000)}`);
    this.cuts++;
    return JSON.parse(line.slice('@@powerfs-cut '.length)) as CutReport;
  }

  /** The reboot: mounts what survived on the same directory. */
  async remount(seed: number): Promise<void> {
    if (this.#proc) throw new PowerFsError('remount: still mounted');
    await this.#start(seed);
  }

  /**
   * Unmounts (nothing is cut) and removes the mount point and the disk image. Processes still using the
   * mount (a killed compactor's pool workers) are killed first; a mount its daemon could not remove is
   * detached (lazy unmount). Idempotent.
   */
  async close(): Promise<void> {
    const p = this.#proc;
    this.#proc = undefined;
    if (p) {
      killUsers(this.dir, []);
      p.child.kill('SIGTERM');
      await p.exited;
    }
    if (isMountPoint(this.dir)) {
      try {
        execFileSync('umount', ['-l', this.dir], { stdio: 'ignore' });
      } catch {
        execFileSync('fusermount3', ['-u', '-z', this.dir], { stdio: 'ignore' });
      }
    }
    await rm(this.#base, { recursive: true, force: true });
  }
}

/** Is `dir` a mount point of this process's mount namespace? */
function isMountPoint(dir: string): boolean {
  const esc = dir.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === esc);
}

/** Parent pid of each live process (from /proc/PID/stat). */
function parents(): Map<number, number> {
  const m = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const s = readFileSync(`/proc/${name}/stat`, 'utf8');
      m.set(Number(name), Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  return m;
}

/** Does the process have a file, its working directory or a mapping under `dir`? */
function uses(pid: number, dir: string): boolean {
  const under = (p: string) => p === dir || p.startsWith(`${dir}/`);
  try {
    if (under(readlinkSync(`/proc/${pid}/cwd`))) return true;
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        if (under(readlinkSync(`/proc/${pid}/fd/${fd}`))) return true;
      } catch {
        // closed meanwhile
      }
    }
    return readFileSync(`/proc/${pid}/maps`, 'utf8').includes(` ${dir}/`);
  } catch {
    return false;
  }
}

/**
 * Every process that may touch the mount at `dir` dies at one instant: `roots` and all their descendants
 * (pool workers), plus any other process with a file, directory or mapping under `dir` (never this
 * process), are stopped (SIGSTOP, so none forks or writes on), then SIGKILLed. Returns the pids killed.
 */
export function killUsers(dir: string, roots: readonly number[]): number[] {
  const victims = new Set<number>();
  const collect = () => {
    const pp = parents();
    let grew = true;
    for (const r of roots) if (pp.has(r)) victims.add(r);
    while (grew) {
      grew = false;
      for (const [pid, ppid] of pp) {
        if (!victims.has(pid) && victims.has(ppid)) {
          victims.add(pid);
          grew = true;
        }
      }
    }
    for (const pid of pp.keys())
      if (pid !== process.pid && !victims.has(pid) && uses(pid, dir)) victims.add(pid);
    victims.delete(process.pid);
  };
  const signal = (sig: NodeJS.Signals) => {
    for (const pid of victims) {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  };
  collect();
  signal('SIGSTOP');
  collect(); // a process forked between the scan and the stop
  signal('SIGSTOP');
  signal('SIGKILL');
  return [...victims];
}
