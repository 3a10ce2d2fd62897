"""A cgroup per submission: total memory, process count and CPU for all its processes.

RLIMIT_AS bounds one process; a submission that forks a hundred processes would get a
hundred times the memory. The launcher (procs.launch) puts itself in the submission's
cgroup before it starts bubblewrap, so every process of the submission is counted
together, and `kill()` finds every one of them, wherever it re-parented.

cgroup v1 (the memory, pids and cpu hierarchies under /sys/fs/cgroup/<controller>) and
v2 (one hierarchy with memory.max, pids.max, cpu.max) are both handled; either needs the
grader to be root (or to own a delegated subtree). The tests run on v1; the v2 path has
been read against Documentation/admin-guide/cgroup-v2.rst, not run.
"""
import os
import secrets
import time

ROOT = "/sys/fs/cgroup"
PIDS = 64                    # processes and threads of one submission, together
CPU_QUOTA = (100000, 100000)  # one CPU's worth per 100 ms


def _own(controller):
    """This process's cgroup path in a v1 hierarchy (or v2, controller '')."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            if (controller == "" and names == "") or controller in names.split(","):
                return path
    return None


def version():
    if os.path.exists(os.path.join(ROOT, "cgroup.controllers")):
        return 2
    if all(os.path.isdir(os.path.join(ROOT, c)) for c in ("memory", "pids")):
        return 1
    return None


def _bases():
    """{controller: directory under which submission cgroups are made}."""
    v = version()
    if v == 1:
        out = {}
        for c in ("memory", "pids", "cpu"):
            own = _own(c)
            if own is not None and os.path.isdir(os.path.join(ROOT, c)):
                out[c] = os.path.join(ROOT, c) + own.rstrip("/")
        return out
    if v == 2:
        return {"": _v2_base()}
    return {}


LEAF = "cowlab-grader"


def _v2_base():
    """v2: a parent whose subtree has memory and pids (and cpu, where it is available)
    enabled. A cgroup with processes cannot enable controllers for its children (the
    "no internal processes" rule), so the grader moves itself into a leaf `cowlab-grader`
    first; its workers, born in that leaf, use the parent it set up. Where the grader's
    cgroup holds other processes too (a login session's scope), a `cowlab` cgroup at the
    top of the hierarchy, which holds no process, is the parent instead."""
    here = os.path.join(ROOT, (_own("") or "/").lstrip("/")).rstrip("/")
    if os.path.basename(here) == LEAF:          # a worker: the grader set the parent up
        return os.path.dirname(here)
    leaf = os.path.join(here, LEAF)
    os.makedirs(leaf, exist_ok=True)
    with open(os.path.join(leaf, "cgroup.procs"), "w") as f:
        f.write(str(os.getpid()))
    try:
        _enable(here)
        return here
    except OSError:                  # EBUSY: others live here; go back, use the top
        with open(os.path.join(here, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
        _rmdir(leaf)
    top = os.path.join(ROOT, "cowlab")
    os.makedirs(top, exist_ok=True)
    _enable(ROOT)
    _enable(top)
    return top


def _enable(d):
    """Enable memory and pids (required) and cpu (if offered) for `d`'s children."""
    with open(os.path.join(d, "cgroup.controllers")) as f:
        offered = f.read().split()
    with open(os.path.join(d, "cgroup.subtree_control")) as f:
        enabled = f.read().split()
    want = [c for c in ("memory", "pids", "cpu") if c not in enabled
            and (c in offered or c != "cpu")]
    if want:         # one write: a controller not offered fails it (ENOENT), as it must
        with open(os.path.join(d, "cgroup.subtree_control"), "w") as f:
            f.write(" ".join("+" + c for c in want))


def _rmdir(d):
    try:
        os.rmdir(d)
    except OSError:
        pass


def check():
    """None if submission cgroups can be made here, else what is missing."""
    v = version()
    if v is None:
        return "no cgroup hierarchy with memory and pids under /sys/fs/cgroup"
    try:
        group = Cgroup(256)
    except OSError as e:
        return f"cannot make a cgroup under /sys/fs/cgroup ({e.strerror}; run as root)"
    group.remove()
    return None


STALE = 3600      # s: an empty submission cgroup this old was left by a killed worker


def sweep(base):
    """Remove empty `cowlab-*` cgroups older than STALE (a worker killed with its grader
    cannot remove its own); young ones may belong to a batch running now."""
    try:
        names = [n for n in os.listdir(base) if n.startswith("cowlab-") and n != LEAF]
    except OSError:
        return
    for n in names:
        d = os.path.join(base, n)
        try:
            if time.time() - os.stat(d).st_mtime < STALE:
                continue
            with open(os.path.join(d, "cgroup.procs")) as f:
                if f.read().strip():
                    continue
            os.rmdir(d)
        except OSError:
            pass


class Cgroup:
    """One submission's cgroup(s): `dirs` to join, `kill()`, `hit_memory()`, `remove()`."""

    def __init__(self, memory_mib, pids=PIDS, cpu=CPU_QUOTA):
        name = "cowlab-" + secrets.token_hex(6)
        self.dirs = {}
        try:
            for controller, base in _bases().items():
                sweep(base)
                d = os.path.join(base, name)
                os.mkdir(d)
                self.dirs[controller] = d
            self._limit(memory_mib << 20, pids, cpu)
        except OSError:
            self.remove()
            raise
        if not self.dirs:
            raise OSError(2, "no cgroup controllers found")

    def _write(self, controller, name, value):
        with open(os.path.join(self.dirs[controller], name), "w") as f:
            f.write(str(value))

    def _limit(self, memory, pids, cpu):
        if "" in self.dirs:                                   # v2
            self._write("", "memory.max", memory)
            for name, value in (("memory.swap.max", 0), ("cpu.max", f"{cpu[0]} {cpu[1]}")):
                if os.path.exists(os.path.join(self.dirs[""], name)):   # no swap, no cpu
                    self._write("", name, value)
            self._write("", "pids.max", pids)
            return
        self._write("memory", "memory.limit_in_bytes", memory)
        self._write("pids", "pids.max", pids)
        if "cpu" in self.dirs:
            self._write("cpu", "cpu.cfs_period_us", cpu[1])
            self._write("cpu", "cpu.cfs_quota_us", cpu[0])

    def join_paths(self):
        """The cgroup.procs files a process writes its pid to, to join."""
        return [os.path.join(d, "cgroup.procs") for d in self.dirs.values()]

    def pids(self):
        out = set()
        for d in self.dirs.values():
            try:
                with open(os.path.join(d, "cgroup.procs")) as f:
                    out.update(int(x) for x in f.read().split())
            except OSError:
                pass
        return out

    def kill(self, rounds=50):
        """SIGKILL every process of the submission until none is left."""
        from .procs import kill_until_gone
        return kill_until_gone(self.pids, rounds, 0.02)

    def hit_memory(self):
        """Has the submission run into its memory limit (an allocation refused or an
        OOM kill) since the last call?"""
        if "" in self.dirs:
            try:
                with open(os.path.join(self.dirs[""], "memory.events")) as f:
                    events = dict(line.split() for line in f)
                hit = int(events.get("oom_kill", 0)) + int(events.get("max", 0))
            except OSError:
                return False
        else:
            try:
                with open(os.path.join(self.dirs["memory"], "memory.failcnt")) as f:
                    hit = int(f.read())
            except (OSError, KeyError):
                return False
        seen, self._seen = getattr(self, "_seen", 0), hit
        return hit > seen

    def remove(self):
        self.kill()
        for d in list(self.dirs.values()):
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
        self.dirs = {}
