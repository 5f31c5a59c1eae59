#!/usr/bin/python3
"""
powerfs: a FUSE filesystem that forgets, at a simulated power cut, whatever was not fsynced -- as LazyFS
does, with directory operations too.

    /usr/bin/python3 powerfs.py MOUNTPOINT IMAGE_DIR SEED [drop|partial]

IMAGE_DIR is "the disk": a plain directory tree loaded whole at mount (everything in it is durable). The
mounted filesystem keeps two states in memory:

  live     what processes see: file contents and directory entries, updated by every call;
  durable  what would survive a power cut: per inode the file contents as of its last fsync/fdatasync,
           per directory the entries as of its last fsync. A new file is durable in its directory only
           after the directory is fsynced (create, rename and unlink alike), and its data only after the
           file is fsynced. A rename between directories is two operations, one per directory.

Not yet durable: every directory's log of entry operations since its last fsync, and the files written
since their last fsync. SIGUSR1 is the power cut: the processes using the mount must be dead already. The
cut (random, from SEED) keeps the durable state and applies some of the rest:
  drop      nothing of it (LazyFS' clear-cache; 30 % of cuts, or every cut with `drop`);
  partial   per directory a random prefix of its log (a journal commits in order per directory, directories
            independently of each other); per dirty file its durable contents, its new contents, or a torn
            mix: each 4 KiB page old or new, the size old or new (pages written back out of order).
The result is written over IMAGE_DIR, one line `@@powerfs-cut {json}` goes to stdout and the filesystem
unmounts itself. Mounting IMAGE_DIR again is the reboot. SIGTERM unmounts without touching IMAGE_DIR.

Single-threaded on purpose: every handler runs to completion without awaiting, so requests are serialised
as the kernel's page cache and a journal would order them.
"""
import errno
import json
import os
import random
import shutil
import signal
import stat
import sys
import time

import pyfuse3
import trio

PAGE = 4096
ROOT = pyfuse3.ROOT_INODE


class Node:
    __slots__ = ("ino", "is_dir", "data", "entries", "mode", "nlink", "lookups", "opens", "mtime", "ctime")

    def __init__(self, ino, is_dir, mode):
        self.ino = ino
        self.is_dir = is_dir
        self.data = None if is_dir else bytearray()
        self.entries = {} if is_dir else None
        self.mode = mode
        self.nlink = 0
        self.lookups = 0
        self.opens = 0
        now = time.time_ns()
        self.mtime = now
        self.ctime = now


def err(code):
    return pyfuse3.FUSEError(code)


class PowerFs(pyfuse3.Operations):
    enable_writeback_cache = False

    def __init__(self, image, seed, mode=None):
        super().__init__()
        self.image = image
        self.mode = mode
        self.rng = random.Random(seed)
        self.nodes = {}
        self.meta = {}  # ino -> (is_dir, mode), kept while the durable state may name the inode
        # durable state
        self.ddata = {}  # ino -> bytes (absent: never fsynced, empty after a cut)
        self.ddirs = {}  # dir ino -> {name: ino}
        # not yet durable
        self.log = {}  # dir ino -> [("set", name, ino) | ("del", name)]
        self.dirty = set()  # file inos written since their last fsync
        self.next_ino = ROOT + 1
        self.handles = {}  # fh -> ino
        self.next_fh = 1
        self.fsyncs = 0
        self.dir_fsyncs = 0
        self.load()

    # -- the disk ------------------------------------------------------------------------------------

    def new_node(self, is_dir, mode):
        n = Node(self.next_ino, is_dir, mode)
        self.next_ino += 1
        self.nodes[n.ino] = n
        self.meta[n.ino] = (is_dir, n.mode)
        return n

    def load(self):
        root = Node(ROOT, True, stat.S_IFDIR | 0o755)
        root.nlink = 1
        root.lookups = 1
        self.nodes[ROOT] = root

        def walk(path, node):
            with os.scandir(path) as it:
                for ent in it:
                    name = os.fsencode(ent.name)
                    st = ent.stat(follow_symlinks=False)
                    if stat.S_ISDIR(st.st_mode):
                        child = self.new_node(True, stat.S_IFDIR | (st.st_mode & 0o7777))
                        walk(ent.path, child)
                    elif stat.S_ISREG(st.st_mode):
                        child = self.new_node(False, stat.S_IFREG | (st.st_mode & 0o7777))
                        with open(ent.path, "rb") as f:
                            child.data = bytearray(f.read())
                        self.ddata[child.ino] = bytes(child.data)
                    else:
                        continue
                    child.nlink = 1
                    node.entries[name] = child.ino
            self.ddirs[node.ino] = dict(node.entries)

        walk(self.image, root)

    def cut(self):
        """The power cut: what survives, written over the image."""
        rng = self.rng
        mode = self.mode or ("drop" if rng.random() < 0.3 else "partial")
        report = {
            "mode": mode,
            "dirOps": sum(len(v) for v in self.log.values()),
            "dirOpsApplied": 0,
            "dirtyFiles": len(self.dirty),
            "filesOld": 0,
            "filesNew": 0,
            "filesTorn": 0,
            "fsyncs": self.fsyncs,
            "dirFsyncs": self.dir_fsyncs,
        }
        dirs = {ino: dict(e) for ino, e in self.ddirs.items()}
        data = dict(self.ddata)
        if mode == "partial":
            for ino in sorted(self.log):
                ops = self.log[ino]
                k = rng.randint(0, len(ops))
                report["dirOpsApplied"] += k
                d = dirs.setdefault(ino, {})
                for op in ops[:k]:
                    if op[0] == "set":
                        d[op[1]] = op[2]
                    else:
                        d.pop(op[1], None)
            for ino in sorted(self.dirty):
                node = self.nodes.get(ino)
                if node is None:
                    continue
                old = data.get(ino, b"")
                new = bytes(node.data)
                r = rng.random()
                if r < 0.4:
                    report["filesOld"] += 1
                elif r < 0.7:
                    data[ino] = new
                    report["filesNew"] += 1
                else:
                    size = rng.choice([len(old), len(new)])
                    out = bytearray(max(len(old), len(new)))
                    out[: len(old)] = old
                    for p in range(0, len(new), PAGE):
                        if rng.random() < 0.5:
                            out[p : p + PAGE] = new[p : p + PAGE]
                    data[ino] = bytes(out[:size])
                    report["filesTorn"] += 1
        else:
            report["filesOld"] = len(self.dirty)

        tmp = self.image.rstrip("/") + ".cut"
        shutil.rmtree(tmp, ignore_errors=True)
        os.mkdir(tmp)

        def write(path, ino, seen):
            # a directory renamed without both parents fsynced may be reachable twice (or in a cycle)
            for name, child in sorted(dirs.get(ino, {}).items()):
                p = os.path.join(path, os.fsdecode(name))
                is_dir, mode = self.meta[child]
                if is_dir:
                    if child in seen:
                        continue
                    os.mkdir(p, mode & 0o7777)
                    write(p, child, seen | {child})
                else:
                    with open(p, "wb") as f:
                        f.write(data.get(child, b""))
                    os.chmod(p, mode & 0o7777)

        write(tmp, ROOT, {ROOT})
        shutil.rmtree(self.image)
        os.rename(tmp, self.image)
        return report

    # -- helpers -------------------------------------------------------------------------------------

    def node(self, ino):
        n = self.nodes.get(ino)
        if n is None:
            raise err(errno.ENOENT)
        return n

    def attrs(self, n):
        a = pyfuse3.EntryAttributes()
        a.st_ino = n.ino
        a.generation = 0
        a.entry_timeout = 10
        a.attr_timeout = 10
        a.st_mode = n.mode
        a.st_nlink = n.nlink if not n.is_dir else 2
        a.st_uid = 0
        a.st_gid = 0
        a.st_rdev = 0
        a.st_size = len(n.data) if not n.is_dir else 4096
        a.st_blksize = PAGE
        a.st_blocks = (a.st_size + 511) // 512
        a.st_atime_ns = n.mtime
        a.st_mtime_ns = n.mtime
        a.st_ctime_ns = n.ctime
        return a

    def dir_op(self, dino, op):
        self.log.setdefault(dino, []).append(op)

    def maybe_free(self, n):
        if n.nlink == 0 and n.lookups == 0 and n.opens == 0 and n.ino != ROOT:
            # its durable contents stay while a durable directory (or a logged entry) may name it: sweep()
            self.nodes.pop(n.ino, None)
            self.dirty.discard(n.ino)

    def sweep(self):
        """Forgets the durable contents of inodes nothing names any more, live or durable."""
        named = set(self.nodes)
        for d in self.ddirs.values():
            named.update(d.values())
        for ops in self.log.values():
            named.update(op[2] for op in ops if op[0] == "set")
        for ino in [i for i in self.meta if i not in named]:
            del self.meta[ino]
            self.ddata.pop(ino, None)
            self.ddirs.pop(ino, None)

    def link_new(self, parent, name, n):
        parent.entries[name] = n.ino
        n.nlink = 1
        n.lookups += 1
        parent.mtime = parent.ctime = time.time_ns()
        self.dir_op(parent.ino, ("set", name, n.ino))

    def drop_entry(self, parent, name):
        ino = parent.entries.pop(name)
        parent.mtime = parent.ctime = time.time_ns()
        self.dir_op(parent.ino, ("del", name))
        victim = self.nodes.get(ino)
        if victim is not None:
            victim.nlink = 0
            victim.ctime = time.time_ns()
            self.maybe_free(victim)

    # -- operations ----------------------------------------------------------------------------------

    async def lookup(self, parent_inode, name, ctx=None):
        parent = self.node(parent_inode)
        if name == b".":
            ino = parent_inode
        else:
            ino = parent.entries.get(name) if parent.is_dir else None
        if ino is None:
            raise err(errno.ENOENT)
        n = self.node(ino)
        n.lookups += 1
        return self.attrs(n)

    async def forget(self, inode_list):
        for ino, nlookup in inode_list:
            n = self.nodes.get(ino)
            if n is None:
                continue
            n.lookups = max(0, n.lookups - nlookup)
            self.maybe_free(n)

    async def getattr(self, inode, ctx=None):
        return self.attrs(self.node(inode))

    async def setattr(self, inode, attr, fields, fh, ctx):
        n = self.node(inode)
        if fields.update_size and not n.is_dir:
            size = attr.st_size
            if size < len(n.data):
                del n.data[size:]
            else:
                n.data.extend(bytes(size - len(n.data)))
            self.dirty.add(n.ino)
            n.mtime = time.time_ns()
        if fields.update_mode:
            n.mode = (n.mode & ~0o7777) | (attr.st_mode & 0o7777)
            self.meta[n.ino] = (n.is_dir, n.mode)
        if fields.update_mtime:
            n.mtime = attr.st_mtime_ns
        n.ctime = time.time_ns()
        return self.attrs(n)

    async def access(self, inode, mode, ctx):
        return True

    async def statfs(self, ctx):
        s = pyfuse3.StatvfsData()
        s.f_bsize = PAGE
        s.f_frsize = PAGE
        s.f_blocks = 1 << 22
        used = sum(len(n.data) for n in self.nodes.values() if not n.is_dir) // PAGE
        s.f_bfree = s.f_bavail = max(0, (1 << 22) - used)
        s.f_files = 1 << 20
        s.f_ffree = s.f_favail = (1 << 20) - len(self.nodes)
        s.f_namemax = 255
        return s

    async def mkdir(self, parent_inode, name, mode, ctx):
        parent = self.node(parent_inode)
        if name in parent.entries:
            raise err(errno.EEXIST)
        n = self.new_node(True, stat.S_IFDIR | (mode & 0o7777))
        self.ddirs[n.ino] = {}
        self.link_new(parent, name, n)
        return self.attrs(n)

    async def create(self, parent_inode, name, mode, flags, ctx):
        parent = self.node(parent_inode)
        if name in parent.entries:
            raise err(errno.EEXIST)
        n = self.new_node(False, stat.S_IFREG | (mode & 0o7777))
        self.link_new(parent, name, n)
        self.dirty.add(n.ino)
        return self.open_handle(n), self.attrs(n)

    async def mknod(self, parent_inode, name, mode, rdev, ctx):
        if not stat.S_ISREG(mode):
            raise err(errno.EPERM)
        parent = self.node(parent_inode)
        if name in parent.entries:
            raise err(errno.EEXIST)
        n = self.new_node(False, stat.S_IFREG | (mode & 0o7777))
        self.link_new(parent, name, n)
        self.dirty.add(n.ino)
        return self.attrs(n)

    async def unlink(self, parent_inode, name, ctx):
        parent = self.node(parent_inode)
        ino = parent.entries.get(name)
        if ino is None:
            raise err(errno.ENOENT)
        if self.node(ino).is_dir:
            raise err(errno.EISDIR)
        self.drop_entry(parent, name)

    async def rmdir(self, parent_inode, name, ctx):
        parent = self.node(parent_inode)
        ino = parent.entries.get(name)
        if ino is None:
            raise err(errno.ENOENT)
        n = self.node(ino)
        if not n.is_dir:
            raise err(errno.ENOTDIR)
        if n.entries:
            raise err(errno.ENOTEMPTY)
        self.drop_entry(parent, name)

    async def rename(self, parent_inode_old, name_old, parent_inode_new, name_new, flags, ctx):
        if flags & 2:  # RENAME_EXCHANGE
            raise err(errno.EINVAL)
        src = self.node(parent_inode_old)
        dst = self.node(parent_inode_new)
        ino = src.entries.get(name_old)
        if ino is None:
            raise err(errno.ENOENT)
        n = self.node(ino)
        if n.is_dir and self.is_ancestor(ino, parent_inode_new):
            raise err(errno.EINVAL)
        old = dst.entries.get(name_new)
        if old == ino:
            return
        if old is not None:
            if flags & 1:  # RENAME_NOREPLACE
                raise err(errno.EEXIST)
            o = self.node(old)
            if o.is_dir and not n.is_dir:
                raise err(errno.EISDIR)
            if n.is_dir and not o.is_dir:
                raise err(errno.ENOTDIR)
            if o.is_dir and o.entries:
                raise err(errno.ENOTEMPTY)
            o.nlink = 0
            o.ctime = time.time_ns()
        del src.entries[name_old]
        self.dir_op(src.ino, ("del", name_old))
        dst.entries[name_new] = ino
        self.dir_op(dst.ino, ("set", name_new, ino))
        now = time.time_ns()
        src.mtime = src.ctime = dst.mtime = dst.ctime = n.ctime = now
        if old is not None:
            self.maybe_free(self.node(old))

    def is_ancestor(self, ino, of):
        # is `ino` `of` or one of its ancestors? (a walk over all directories: renames of directories are rare)
        if ino == of:
            return True
        n = self.nodes[ino]
        stack = [n]
        while stack:
            d = stack.pop()
            for c in d.entries.values():
                if c == of:
                    return True
                cn = self.nodes.get(c)
                if cn is not None and cn.is_dir:
                    stack.append(cn)
        return False

    async def link(self, inode, new_parent_inode, new_name, ctx):
        raise err(errno.EPERM)

    async def symlink(self, parent_inode, name, target, ctx):
        raise err(errno.EPERM)

    def open_handle(self, n):
        fh = self.next_fh
        self.next_fh += 1
        self.handles[fh] = n.ino
        n.opens += 1
        # every change goes through this mount's kernel, so the page cache of a file stays right across opens
        return pyfuse3.FileInfo(fh=fh, keep_cache=True)

    async def open(self, inode, flags, ctx):
        n = self.node(inode)
        if n.is_dir:
            raise err(errno.EISDIR)
        if flags & os.O_TRUNC and len(n.data) > 0:
            n.data = bytearray()
            self.dirty.add(n.ino)
            n.mtime = time.time_ns()
        return self.open_handle(n)

    async def read(self, fh, off, size):
        n = self.node(self.handles[fh])
        return bytes(n.data[off : off + size])

    async def write(self, fh, off, buf):
        n = self.node(self.handles[fh])
        d = n.data
        if off > len(d):
            d.extend(bytes(off - len(d)))
        d[off : off + len(buf)] = buf
        self.dirty.add(n.ino)
        n.mtime = time.time_ns()
        return len(buf)

    async def flush(self, fh):
        pass

    async def release(self, fh):
        ino = self.handles.pop(fh, None)
        n = self.nodes.get(ino) if ino is not None else None
        if n is not None:
            n.opens -= 1
            self.maybe_free(n)

    async def fsync(self, fh, datasync):
        ino = self.handles.get(fh)
        if ino is None:
            raise err(errno.EBADF)
        n = self.node(ino)
        # fdatasync makes the data and the size durable, as fsync does: nothing here depends on times
        self.ddata[ino] = bytes(n.data)
        self.dirty.discard(ino)
        self.fsyncs += 1

    async def opendir(self, inode, ctx):
        n = self.node(inode)
        if not n.is_dir:
            raise err(errno.ENOTDIR)
        fh = self.next_fh
        self.next_fh += 1
        self.handles[fh] = inode
        return fh

    async def readdir(self, fh, start_id, token):
        n = self.node(self.handles[fh])
        names = sorted(n.entries)
        for i in range(start_id, len(names)):
            child = self.nodes.get(n.entries[names[i]])
            if child is None:
                continue
            if not pyfuse3.readdir_reply(token, names[i], self.attrs(child), i + 1):
                return
            child.lookups += 1

    async def releasedir(self, fh):
        self.handles.pop(fh, None)

    async def fsyncdir(self, fh, datasync):
        ino = self.handles.get(fh)
        if ino is None:
            raise err(errno.EBADF)
        n = self.node(ino)
        self.ddirs[ino] = dict(n.entries)
        self.log.pop(ino, None)
        self.dir_fsyncs += 1
        if self.dir_fsyncs % 500 == 0:
            self.sweep()


async def serve(fs):
    outcome = {}

    async def signals(cancel):
        with trio.open_signal_receiver(signal.SIGUSR1, signal.SIGTERM, signal.SIGINT) as it:
            async for sig in it:
                if sig == signal.SIGUSR1:
                    outcome["cut"] = fs.cut()
                pyfuse3.terminate()
                cancel.cancel()
                return

    async with trio.open_nursery() as nursery:
        nursery.start_soon(signals, nursery.cancel_scope)
        await pyfuse3.main()
    return outcome


def die_with_parent():
    """SIGTERM (a clean unmount) when the process that mounted us dies, so no mount outlives its test."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:
        os.kill(os.getpid(), signal.SIGTERM)


def main():
    die_with_parent()
    mountpoint, image, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
    fs = PowerFs(image, seed, sys.argv[4] if len(sys.argv) > 4 else None)
    options = set(pyfuse3.default_options)
    options.add("fsname=powerfs")
    options.discard("default_permissions")
    pyfuse3.init(fs, mountpoint, options)
    print("@@powerfs-ready", flush=True)
    outcome = {}
    try:
        outcome = trio.run(serve, fs)
    finally:
        pyfuse3.close(unmount=True)
    if "cut" in outcome:
        print("@@powerfs-cut " + json.dumps(outcome["cut"]), flush=True)


if __name__ == "__main__":
    main()
