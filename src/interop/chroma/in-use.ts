/**
 * Is another process possibly writing this Chroma directory? Three independent signals, all read-only:
 *
 * 1. SQLite side files: `chroma.sqlite3-journal` (a write transaction in progress, or a crash that left a
 *    hot journal), `-wal` / `-shm` (a WAL-mode connection is or was open).
 * 2. Open file handles: every /proc/<pid>/fd/* is resolved; a process (other than this one) holding
 *    chroma.sqlite3 or any file under the directory open is a live reader/writer — a running Chroma keeps
 *    the database and every hnswlib file of every loaded segment open. Processes whose fd table cannot be
 *    read (another user, no /proc) are reported as `unknown`, not ignored.
 * 3. Advisory locks: /proc/locks lists POSIX/OFD/FLOCK locks by device and inode for every process on the
 *    machine (world-readable), so a lock on chroma.sqlite3 is seen even when its owner's fds are not.
 *
 * A directory on a network filesystem written from another machine cannot be detected this way; the
 * reader additionally compares a fingerprint of every file before and after reading (E_CHROMA_CHANGED).
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join, resolve, sep } from 'node:path';
import { ErrorCodes, StrataError } from '../../core/errors.js';

export interface Holder {
  pid: number;
  command: string;
  file: string;
}

export interface InUseReport {
  inUse: boolean;
  reasons: string[];
  holders: Holder[];
  /** Processes whose open files could not be inspected. */
  unknown: number;
}

const SIDE_FILES = ['-journal', '-wal', '-shm'];

export function inspectInUse(dir: string): InUseReport {
  const root = resolve(dir);
  const db = join(root, 'chroma.sqlite3');
  const reasons: string[] = [];
  for (const suffix of SIDE_FILES) {
    if (existsSync(db + suffix))
      reasons.push(
        `chroma.sqlite3${suffix} exists (a write in progress, an open WAL connection, or an unclean shutdown)`,
      );
  }
  const { holders, unknown } = openHolders(root);
  for (const h of holders) reasons.push(`process ${h.pid} (${h.command}) has ${h.file} open`);
  for (const l of locksOn(db))
    reasons.push(`process ${l.pid} holds a ${l.type} ${l.mode} lock on chroma.sqlite3`);
  return { inUse: reasons.length > 0, reasons, holders, unknown };
}

/** Throws E_CHROMA_IN_USE naming every reason if the directory may be written by someone else. */
export function assertNotInUse(dir: string): InUseReport {
  const r = inspectInUse(dir);
  if (r.inUse) {
    throw new StrataError(
      ErrorCodes.CHROMA_IN_USE,
      `another process may be writing ${dir}: ${r.reasons[0]}${r.reasons.length > 1 ? ` (+${r.reasons.length - 1} more)` : ''}; stop it (or copy the directory while it is stopped) and retry`,
      { file: dir, reasons: r.reasons, pids: [...new Set(r.holders.map((h) => h.pid))] },
    );
  }
  return r;
}

function openHolders(root: string): { holders: Holder[]; unknown: number } {
  const holders: Holder[] = [];
  let unknown = 0;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return { holders, unknown: 1 };
  }
  const prefix = root.endsWith(sep) ? root : root + sep;
  for (const p of pids) {
    const pid = Number(p);
    if (pid === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${p}/fd`);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') unknown++;
      continue;
    }
    for (const fd of fds) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${p}/fd/${fd}`);
      } catch {
        continue;
      }
      if (target.startsWith(prefix)) {
        holders.push({ pid, command: commandOf(p), file: target.slice(prefix.length) });
        break;
      }
    }
  }
  return { holders, unknown };
}

function commandOf(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .slice(0, 4)
      .join(' ')
      .slice(0, 120);
  } catch {
    return '?';
  }
}

function locksOn(file: string): Array<{ pid: number; type: string; mode: string }> {
  let st: { dev: number; ino: number };
  let text: string;
  try {
    st = statSync(file);
    text = readFileSync('/proc/locks', 'utf8');
  } catch {
    return [];
  }
  const major = Math.floor(st.dev / 256) & 0xfff;
  const minor = (st.dev & 0xff) | ((Math.floor(st.dev / 4096) & 0xfff00) >>> 0);
  const out: Array<{ pid: number; type: string; mode: string }> = [];
  for (const line of text.split('\n')) {
    // "1: POSIX  ADVISORY  WRITE 1234 fd:01:5678 0 EOF" (blocked waiters are prefixed with "->")
    const m = /^\d+:\s+(?:->\s+)?(\S+)\s+\S+\s+(\S+)\s+(-?\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/.exec(line);
    if (!m) continue;
    if (
      Number(m[6]) !== st.ino ||
      Number.parseInt(m[4]!, 16) !== major ||
      Number.parseInt(m[5]!, 16) !== minor
    )
      continue;
    const pid = Number(m[3]);
    if (pid === process.pid) continue;
    out.push({ pid, type: m[1]!, mode: m[2]! });
  }
  return out;
}
