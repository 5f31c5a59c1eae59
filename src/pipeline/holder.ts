/**
 * Who holds a lease, precisely enough to prove, on the same machine, that the holder is dead: host name,
 * kernel boot (/proc/sys/kernel/random/boot_id), pid namespace, pid, and the process's start time (field 22
 * of /proc/PID/stat, clock ticks since boot) — so a pid reused by a later process is not mistaken for the
 * holder. Nothing here reads a clock: a skewed wall clock cannot make a live holder look dead.
 */
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';

export interface LeaseHolder {
  host: string;
  boot: string;
  /** The pid namespace (`pid:[4026531836]`): pids of another namespace (a container) are not comparable. */
  pidns: string;
  pid: number;
  /** Start time of the process in clock ticks since boot (/proc/PID/stat field 22), as a decimal string. */
  start: string;
}

function readTrim(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** `state` and `starttime` of a process from /proc/PID/stat; undefined if there is no such process. */
function procStat(pid: number | 'self'): { state: string; start: string } | undefined {
  const s = readTrim(`/proc/${pid}/stat`);
  if (s === undefined) return undefined;
  // comm (field 2) is in parentheses and may itself hold spaces or parentheses: split after the last ')'.
  const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // rest[0] is field 3 (state); field 22 (starttime) is rest[19]
  const state = rest[0];
  const start = rest[19];
  if (state === undefined || start === undefined) return undefined;
  return { state, start };
}

let self: LeaseHolder | null | undefined;

/** This process as a lease holder; undefined where /proc cannot tell (not Linux). */
export function thisHolder(): LeaseHolder | undefined {
  if (self === undefined) {
    const boot = readTrim('/proc/sys/kernel/random/boot_id');
    const st = procStat('self');
    let pidns: string | undefined;
    try {
      pidns = readlinkSync('/proc/self/ns/pid');
    } catch {
      pidns = undefined;
    }
    self = boot && st && pidns ? { host: hostname(), boot, pidns, pid: process.pid, start: st.start } : null;
  }
  return self ?? undefined;
}

/**
 * True only when the holder is provably gone: it ran on this host, in this boot and pid namespace, and
 * its process no longer exists (or is a zombie, or the pid now belongs to a process started at another
 * time). Anything it cannot prove — another machine, another boot, no record — is false: the lease's
 * expiry stands.
 */
export function holderIsDead(h: LeaseHolder | undefined): boolean {
  const me = thisHolder();
  if (!h || !me) return false;
  if (h.host !== me.host || h.boot !== me.boot || h.pidns !== me.pidns) return false;
  if (!Number.isSafeInteger(h.pid) || h.pid <= 0) return false;
  const st = procStat(h.pid);
  if (st === undefined) return true;
  if (st.state === 'Z' || st.state === 'X') return true;
  return st.start !== h.start;
}
