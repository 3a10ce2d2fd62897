"""The live Linux kernel next to the model: run the same COW experiment on both.

Every experiment here forks *this* process, touches a private anonymous mapping,
and reads what the kernel says about it: minor faults from getrusage(2), the
mapping's line in /proc/PID/smaps, and each page's entry in /proc/PID/pagemap.
`compare(name)` runs the same scenario on `cowlab.Kernel` and puts prediction and
measurement side by side, one verdict per row.

Rules every experiment follows (a forked Jupyter kernel must never keep running):
- mappings are MAP_PRIVATE | MAP_ANONYMOUS, explicitly (Python's default is MAP_SHARED),
  with MADV_NOHUGEPAGE unless the experiment is about huge pages;
- a child always leaves through os._exit() in a `finally`, and the parent always
  reaps it (killing it first if it is stuck); each step has a time limit;
- sizes are capped so that every default fits a 2 GiB Binder pod.

Runtime noise, documented rather than hidden: CPython itself touches memory after
fork (refcounts, the allocator, GC), and those pages fault too. So the counting
window holds one C-level store per page and two getrusage() calls into buffers
made beforehand, nothing that allocates; and each measurement first runs the same
code on a scratch mapping the process already owns (no faults of its own) until a
run counts nothing (at most five runs), and subtracts the last run's count. The
warm-up, the raw count and the baseline are all reported. The residue allowed is
NOISE_FAULTS extra faults, never fewer than predicted (the tolerance `compare`
applies; on the machine this was built on, 325 of 325 fault counts were exact).

Importing this module reads nothing and forks nothing; Linux is checked when an
experiment runs (elsewhere it raises `Unavailable` with what to do instead).
"""
import ctypes
import errno
import faulthandler
import json
import mmap
import os
import platform
import select
import shutil
import signal
import sys
import time
from collections import namedtuple

import numpy as np

try:
    import resource                   # POSIX only: cowlab.real still imports on Windows
except ImportError:                   # pragma: no cover
    resource = None

PAGE_SIZE = mmap.PAGESIZE
HPAGE_SIZE = 2 << 20                  # a PMD-mapped transparent huge page on x86-64/arm64
MAX_MAPPING = 512 << 20               # no single experiment maps more than 512 MiB
NOISE_FAULTS = 2                      # CPython's residue left after the baseline is subtracted
STEP_TIMEOUT = 30.0                   # seconds any one step of a child may take
MADV_WIPEONFORK = getattr(mmap, "MADV_WIPEONFORK", 18)   # linux/mman.h, Linux >= 4.14

PM_PFN_MASK = (1 << 55) - 1           # /proc/PID/pagemap bits 0-54 (zero without CAP_SYS_ADMIN)
PM_EXCLUSIVE = 1 << 56                # page mapped by exactly one PTE
PM_SWAPPED = 1 << 62
PM_PRESENT = 1 << 63

PageInfo = namedtuple("PageInfo", "pfn present exclusive swapped")
PageInfo.__doc__ = ("One /proc/PID/pagemap entry; pfn is None when the kernel hides it "
                    "(non-root) or the page is not present.")

__all__ = ["available", "fork_cost", "cow_writes", "frames", "zero_page", "exec_vs_write",
           "thp", "overcommit", "madvise_fork", "shared_fork", "compare", "Comparison", "Mapping", "smaps",
           "pagemap", "minor_faults", "commit_limit", "Unavailable", "ExperimentError",
           "PageInfo", "PAGE_SIZE", "NOISE_FAULTS", "EXPERIMENTS"]


class Unavailable(RuntimeError):
    """This machine cannot run the experiment (not Linux, no THP, ...); the message says why."""


class ExperimentError(RuntimeError):
    """A child failed or timed out; it has been killed and reaped."""


# ---------------------------------------------------------------------------- the machine
def available():
    """(True, "") on Linux with /proc; else (False, why) -- the model works everywhere."""
    if sys.platform != "linux":
        return False, (f"cowlab.real measures the Linux kernel through /proc, and this is "
                       f"{platform.system() or sys.platform}; run the notebook on Binder or a "
                       f"Linux JupyterLab (the model, cowlab.Kernel, works here)")
    if not os.path.exists("/proc/self/smaps"):
        return False, "/proc/self/smaps is missing (is /proc mounted?); mount procfs or use Binder"
    return True, ""


def _require_linux():
    ok, why = available()
    if not ok:
        raise Unavailable(why)


def _kernel_release():
    """(major, minor) of the running kernel, e.g. (6, 8)."""
    nums = platform.release().split("-")[0].split(".")
    return int(nums[0]), int(nums[1]) if len(nums) > 1 and nums[1].isdigit() else 0


RUSAGE_THREAD = 1                     # linux/resource.h: this thread only


def minor_faults():
    """ru_minflt of the calling thread (RUSAGE_THREAD: Jupyter's other threads fault too)."""
    return resource.getrusage(RUSAGE_THREAD).ru_minflt


def meminfo():
    """/proc/meminfo as {field: kB} (HugePages_* counts are plain numbers)."""
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            name, rest = line.split(":", 1)
            out[name] = int(rest.split()[0])
    return out


def _read_int(path):
    with open(path) as f:
        return int(f.read().split()[0])


def _memory_budget():
    """Bytes this process may still use: MemAvailable, or less if a cgroup caps us."""
    budget = meminfo().get("MemAvailable", 0) * 1024
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                          "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            budget = min(budget, _read_int(limit) - _read_int(usage))
        except (OSError, ValueError):
            continue
    return budget


def _check_pages(name, pages, low=1, high=MAX_MAPPING // PAGE_SIZE):
    if isinstance(pages, bool) or not isinstance(pages, (int, np.integer)):
        raise TypeError(f"{name} must be a whole number of pages, got {pages!r}; "
                        f"pass e.g. {name}=64")
    if not low <= pages <= high:
        raise ValueError(f"{name} must be between {low} and {high:,} pages "
                         f"({high * PAGE_SIZE >> 20} MiB keeps a 2 GiB pod safe), got {pages:,}")
    return int(pages)


def _check_budget(what, nbytes):
    """Refuse before touching memory the machine (or our cgroup) does not have to spare."""
    budget = _memory_budget()
    if nbytes > budget // 2:
        raise ValueError(f"{what} needs {nbytes >> 20} MiB but only {budget >> 20} MiB is "
                         f"available here (we use at most half); pass smaller sizes")


# ---------------------------------------------------------------------------- mappings
def _address(mm):
    """Where an mmap object lives in our address space (its buffer's first byte)."""
    view = ctypes.c_char.from_buffer(mm)
    try:
        return ctypes.addressof(view)
    finally:
        del view                       # release the buffer export, or mm.close() fails


_LIBC = None


def _libc():
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
        _LIBC.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    return _LIBC


def _mprotect_none(addr, length):
    """mprotect(PROT_NONE): a guard page, so the kernel never merges our VMA with a neighbour."""
    if _libc().mprotect(addr, length, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mprotect guard page: {os.strerror(e)}")


class Mapping:
    """A private anonymous mapping of `pages` pages: one VMA, one line in smaps.

    huge=True aligns it to 2 MiB and asks for a transparent huge page (MADV_HUGEPAGE);
    otherwise MADV_NOHUGEPAGE keeps it in 4 KiB pages whatever THP's default is.
    shared=True makes it MAP_SHARED instead (no COW: for shared_fork only).
    """

    def __init__(self, pages, huge=False, shared=False):
        _require_linux()
        self.pages = _check_pages("pages", pages)
        self.length = self.pages * PAGE_SIZE
        pad = HPAGE_SIZE if huge else 0
        kind = mmap.MAP_SHARED if shared else mmap.MAP_PRIVATE     # never left to default
        self._mm = mmap.mmap(-1, self.length + pad + PAGE_SIZE,
                             flags=kind | mmap.MAP_ANONYMOUS)
        base = _address(self._mm)
        off = (-base) % HPAGE_SIZE if huge else 0
        self.addr = base + off
        self._mm.madvise(mmap.MADV_NOHUGEPAGE)
        if huge:
            self._mm.madvise(mmap.MADV_HUGEPAGE, off, self.length)
        _mprotect_none(self.addr + self.length, PAGE_SIZE)
        self.view = np.frombuffer(self._mm, dtype=np.uint8, count=self.length, offset=off)

    def _offsets(self, vpns):
        vpns = np.asarray(vpns, dtype=np.intp).reshape(-1)
        if len(vpns) and (vpns.min() < 0 or vpns.max() >= self.pages):
            raise ValueError(f"vpns must lie in 0..{self.pages - 1}, "
                             f"got {vpns.min()}..{vpns.max()}")
        return vpns * PAGE_SIZE

    def write(self, vpns, value=1):
        """Store one byte at the start of each page: one C loop, no Python per page."""
        self.view[self._offsets(vpns)] = value

    def read(self, vpns):
        """Load the first byte of each page -> list of ints."""
        return self.view[self._offsets(vpns)].tolist()

    def madvise(self, advice):
        """MADV_DONTFORK / MADV_WIPEONFORK ... on the whole mapping."""
        off = self.addr - _address(self._mm)
        self._mm.madvise(advice, off, self.length)

    def smaps(self):
        return smaps(self.addr, self.length)

    def pagemap(self, vpns=None, hide_pfns=False):
        vpns = range(self.pages) if vpns is None else vpns
        return pagemap(self.addr, vpns, hide_pfns)

    def close(self):
        self.view = None
        try:
            self._mm.close()
        except BufferError:            # a caller still holds a view; munmap when it goes
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def smaps(addr, length=None):
    """The smaps figures (kB) of the VMA at addr, named as the model names them.

    With length, the VMA must be exactly [addr, addr+length): a merged neighbour
    would add memory that is not ours.
    """
    fields = {"Rss": "rss", "Pss": "pss", "Shared_Dirty": "shared_dirty",
              "Private_Dirty": "private_dirty", "Shared_Clean": "shared_clean",
              "Private_Clean": "private_clean", "AnonHugePages": "anon_huge"}
    out, inside = None, False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split(None, 1)[0]
            if not head.endswith(":"):
                start, end = (int(x, 16) for x in head.split("-"))
                if inside:
                    break
                inside = start <= addr < end
                if inside:
                    out = {"start": start, "end": end}
            elif inside and head[:-1] in fields:
                out[fields[head[:-1]]] = int(line.split()[1])
    if out is None:
        return None                    # not mapped here (MADV_DONTFORK in a child)
    if length is not None and (out["start"], out["end"]) != (addr, addr + length):
        raise ExperimentError(f"the kernel merged our mapping with a neighbour "
                              f"({out['start']:#x}-{out['end']:#x}); run the experiment again")
    del out["start"], out["end"]
    return out


def pagemap(addr, vpns, hide_pfns=False):
    """PageInfo for each page (vpn counted from addr), from /proc/self/pagemap."""
    vpns = [int(v) for v in vpns]
    out = []
    with open("/proc/self/pagemap", "rb") as f:
        for v in vpns:
            f.seek((addr // PAGE_SIZE + v) * 8)
            e = int.from_bytes(f.read(8), "little")
            present = bool(e & PM_PRESENT)
            pfn = e & PM_PFN_MASK
            out.append(PageInfo(pfn if (present and pfn and not hide_pfns) else None,
                                present, bool(e & PM_EXCLUSIVE), bool(e & PM_SWAPPED)))
    return out


def pfns_visible():
    """Whether pagemap shows PFNs to us (it needs CAP_SYS_ADMIN, i.e. root, since Linux 4.2)."""
    with Mapping(1) as m:
        m.write([0], 1)
        return m.pagemap([0])[0].pfn is not None


# ---------------------------------------------------------------------------- measuring
_RUSAGE = None


def _rusage_buffers():
    """getrusage() and two struct rusage buffers, made once, before any window opens."""
    global _RUSAGE
    if _RUSAGE is None:
        libc = _libc()
        call = libc.getrusage
        call.argtypes = (ctypes.c_int, ctypes.c_void_p)
        call.restype = ctypes.c_int
        a, b = (ctypes.c_long * 18)(), (ctypes.c_long * 18)()   # ru_minflt is long #8
        _RUSAGE = (call, a, b, ctypes.addressof(a), ctypes.addressof(b))
    return _RUSAGE


def _count(fn, *args):
    """Minor faults this thread takes in fn(*args).

    The two readings go into buffers made beforehand and are turned into Python
    ints only afterwards: nothing in the window allocates, so CPython's allocator
    cannot fault on a page fork left shared and blame it on fn.
    """
    call, a, b, pa, pb = _rusage_buffers()
    call(RUSAGE_THREAD, pa)
    fn(*args)
    call(RUSAGE_THREAD, pb)
    return b[8] - a[8]


def measured(op, m, vpns, value=2):
    """Faults of m.write(vpns) (op="write") or m.read(vpns), CPython's own subtracted.

    The index array and the bound method are built before the window opens. A
    scratch mapping of the same size, created and touched here, runs the same code:
    its first run, and an empty call on m itself, count CPython's after-fork faults
    (the warm-up); a later run that counts nothing (or the fifth) is the baseline
    subtracted from the real one.
    """
    vpns = np.asarray(vpns, dtype=np.intp)
    n = len(vpns)
    offs = m._offsets(vpns)
    with Mapping(max(n, 1)) as scratch:
        same = scratch._offsets(np.arange(n, dtype=np.intp))
        if op == "write":
            real, base, args = m.view.__setitem__, scratch.view.__setitem__, (value,)
        else:
            real, base, args = m.view.take, scratch.view.take, ()
        warm = _count(scratch.view.__setitem__, same, value) - n   # its own zero-fill faults
        warm += _count(real, offs[:0], *args)     # m's own Python objects, no page of m
        for _ in range(5):                         # until CPython is quiet
            baseline = _count(base, same, *args)
            if baseline == 0:
                break
        raw = _count(real, offs, *args)
    return {"faults": raw - baseline, "raw": raw, "baseline": baseline, "warmup": max(warm, 0)}


# ---------------------------------------------------------------------------- children
class _Link:
    """JSON messages over a pair of pipes, with a time limit on every wait."""

    def __init__(self, rfd, wfd, timeout):
        self.rfd, self.wfd, self.timeout, self._buf = rfd, wfd, timeout, b""

    def send(self, obj):
        data = (json.dumps(obj) + "\n").encode()
        while data:
            data = data[os.write(self.wfd, data):]

    def recv(self):
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.rfd], [], [], left)[0]:
                raise ExperimentError(f"no answer within {self.timeout:.0f} s")
            chunk = os.read(self.rfd, 1 << 16)
            if not chunk:
                raise ExperimentError("the other side exited early")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        msg = json.loads(line)
        if isinstance(msg, dict) and "child_error" in msg:
            raise ExperimentError(f"the child failed: {msg['child_error']}")
        return msg

    def close(self):
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass


class _Child:
    """A forked child running body(link); the parent talks to it and always reaps it."""

    def __init__(self, body, timeout=STEP_TIMEOUT):
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            self.pid = os.fork()
        except OSError:
            for fd in (down_r, down_w, up_r, up_w):
                os.close(fd)
            raise
        if self.pid == 0:                                  # the child
            code = 1
            try:
                os.close(down_w)
                os.close(up_r)
                link = _Link(down_r, up_w, timeout)
                try:
                    body(link)
                    code = 0
                except BaseException as e:                # report it; never print here
                    try:
                        link.send({"child_error": f"{type(e).__name__}: {e}"})
                    except BaseException:
                        pass
            finally:
                os._exit(code)
        os.close(down_r)
        os.close(up_w)
        self.link = _Link(up_r, down_w, timeout)
        self.status = None

    def send(self, obj):
        self.link.send(obj)

    def recv(self):
        return self.link.recv()

    def reap(self, timeout=STEP_TIMEOUT):
        """Wait for the child (SIGKILL after timeout); -> its wait status."""
        if self.status is not None:
            return self.status
        self.link.close()                       # EOF on its pipe: a waiting child exits
        deadline = time.monotonic() + timeout
        while True:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                _, status = os.waitpid(self.pid, 0)
                break
            time.sleep(0.002)
        self.status = status
        return status

    def __enter__(self):
        return self

    def __exit__(self, kind, *rest):
        if kind is not None and self.status is None:   # we failed: do not wait politely
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.reap()


def _pages_info(infos):
    return [list(i) for i in infos]


# ---------------------------------------------------------------------------- experiments
def fork_cost(sizes_mib=(16, 64, 256), repeats=7, advice=None):
    """fork() latency with N MiB of touched private memory, next to copying it eagerly.

    -> {"sizes": [{mib, fork_ms, copy_ms}], "base_fork_ms", "fork_ns_per_page",
    "copy_ns_per_page", "fork_ms_per_gib", "copy_ms_per_gib", "child_after_fork"}.
    Per page = the slope over the sizes above this process's own fork cost (size 0).
    advice="dontfork" or "wipeonfork" madvises the mapping first (what fork skips);
    advice="hugepage" asks for 2 MiB pages (fork then copies one PMD per 2 MiB).
    """
    _require_linux()
    sizes = [int(s) for s in sizes_mib]
    if not sizes or min(sizes) < 1 or max(sizes) > MAX_MAPPING >> 20:
        raise ValueError(f"sizes_mib must be 1..{MAX_MAPPING >> 20} MiB each, got {sizes_mib}; "
                         f"e.g. sizes_mib=(16, 64, 256)")
    if not 1 <= int(repeats) <= 50:
        raise ValueError(f"repeats must be 1..50, got {repeats}")
    adv = {None: None, "dontfork": mmap.MADV_DONTFORK, "wipeonfork": MADV_WIPEONFORK,
           "hugepage": None}
    if advice not in adv:
        raise ValueError(f"advice must be None, 'dontfork', 'wipeonfork' or 'hugepage', "
                         f"got {advice!r}")
    if advice == "hugepage" and not thp_status()[0]:
        raise Unavailable(f"advice='hugepage': {thp_status()[1]}")
    _check_budget("fork_cost", 2 * max(sizes) << 20)

    def time_fork():
        t0 = time.perf_counter_ns()
        pid = os.fork()
        if pid == 0:
            os._exit(0)                # nothing else: a forked kernel must not run on
        t1 = time.perf_counter_ns()
        os.waitpid(pid, 0)
        return (t1 - t0) / 1e6

    def median_ms(fn):
        return float(np.median([fn() for _ in range(int(repeats))]))

    base = median_ms(time_fork)
    rows = []
    for mib in sizes:
        pages = (mib << 20) // PAGE_SIZE
        with Mapping(pages, huge=advice == "hugepage") as src:
            src.view[::PAGE_SIZE] = 1
            if adv[advice] is not None:
                src.madvise(adv[advice])
            fork_ms = median_ms(time_fork)          # before dst exists: fork copies it too
            with Mapping(pages) as dst:
                dst.view[::PAGE_SIZE] = 1

                def copy():
                    t0 = time.perf_counter_ns()
                    np.copyto(dst.view, src.view)
                    return (time.perf_counter_ns() - t0) / 1e6
                copy_ms = median_ms(copy)
            rows.append({"mib": mib, "pages": pages, "fork_ms": fork_ms, "copy_ms": copy_ms})
    pages = np.array([r["pages"] for r in rows], float)
    fork_slope = np.polyfit(np.r_[0, pages], np.r_[base, [r["fork_ms"] for r in rows]], 1)[0]
    copy_slope = np.polyfit(np.r_[0, pages], np.r_[0, [r["copy_ms"] for r in rows]], 1)[0]
    per_gib = (1 << 30) // PAGE_SIZE
    return {"experiment": "fork_cost", "page_size": PAGE_SIZE, "advice": advice,
            "base_fork_ms": base, "sizes": rows,
            "fork_ns_per_page": float(fork_slope * 1e6),
            "copy_ns_per_page": float(copy_slope * 1e6),
            "fork_ms_per_gib": float(fork_slope * per_gib),
            "copy_ms_per_gib": float(copy_slope * per_gib),
            "child_after_fork": _child_view_after_fork(min(sizes))}


def _child_view_after_fork(mib):
    """What a child's smaps say right after fork: nothing copied, everything shared."""
    with Mapping((mib << 20) // PAGE_SIZE) as m:
        m.view[::PAGE_SIZE] = 1

        def child(link):
            link.send(m.smaps())
        with _Child(child) as kid:
            seen = kid.recv()
        return {"pages": m.pages, "child": seen,
                "parent_before_fork_kb": m.pages * PAGE_SIZE // 1024}


def cow_writes(pages=64, writes=16, writer="child"):
    """After fork, `writer` ("child" or "parent") writes the first `writes` of `pages` pages.

    -> {"faults": {faults, raw, baseline, warmup}, "parent": {"before", "after"},
    "child": {"before", "after"}} with smaps figures (kB) of the mapping in both.
    """
    _require_linux()
    pages = _check_pages("pages", pages)
    writes = _check_pages("writes", writes, low=0, high=pages)
    if writer not in ("child", "parent"):
        raise ValueError(f"writer must be 'child' or 'parent', got {writer!r}")
    _check_budget("cow_writes", (pages + 2 * writes) * PAGE_SIZE)   # + copies + scratch
    vpns = np.arange(writes)
    with Mapping(pages) as m:
        m.write(np.arange(pages), 1)               # the parent touches every page

        def child(link):
            link.send({"before": m.smaps()})
            link.recv()                            # the parent has measured (and written)
            f = measured("write", m, vpns) if writer == "child" else None
            link.send({"after": m.smaps(), "faults": f})
            link.recv()

        with _Child(child) as kid:
            c_before = kid.recv()["before"]
            p_before = m.smaps()
            f = measured("write", m, vpns) if writer == "parent" else None
            kid.send("go")
            msg = kid.recv()
            p_after = m.smaps()
            kid.send("exit")
            kid.reap()
        return {"experiment": "cow_writes", "writer": writer, "pages": pages, "writes": writes,
                "faults": f or msg["faults"],
                "parent": {"before": p_before, "after": p_after},
                "child": {"before": c_before, "after": msg["after"]}}


def frames(pages=3, vpn=1, hide_pfns=False):
    """Which frame each process maps, step by step (the seed's figure, then further).

    Steps: spawn (the parent touches every page); fork; the parent writes VP`vpn`
    (copy); the child writes VP`vpn` (it holds the last reference: reuse); the child
    exits and the parent writes every other page (reuse). PFNs come from pagemap:
    root sees them; otherwise (or with hide_pfns=True) they are None ("hidden") and
    the present/exclusive bits and fault counts still tell the story.
    """
    _require_linux()
    pages = _check_pages("pages", pages, low=2, high=4096)
    if isinstance(vpn, bool) or not isinstance(vpn, int) or not 0 <= vpn < pages:
        raise ValueError(f"vpn must be a page number in 0..{pages - 1}, got {vpn!r}")
    others = [v for v in range(pages) if v != vpn]
    steps = []

    def record(name, writer=None, faults=None, parent=None, child=None):
        steps.append({"step": name, "writer": writer, "faults": faults,
                      "parent": parent, "child": child})

    with Mapping(pages) as m:
        m.write(np.arange(pages), 1)
        record("spawn", parent=_pages_info(m.pagemap(hide_pfns=hide_pfns)))

        def child(link):
            link.send(_pages_info(m.pagemap(hide_pfns=hide_pfns)))
            link.recv()
            link.send(_pages_info(m.pagemap(hide_pfns=hide_pfns)))
            link.recv()
            f = measured("write", m, [vpn], value=3)
            link.send({"faults": f, "pages": _pages_info(m.pagemap(hide_pfns=hide_pfns))})
            link.recv()

        with _Child(child) as kid:
            c = kid.recv()
            record("fork", parent=_pages_info(m.pagemap(hide_pfns=hide_pfns)), child=c)
            f = measured("write", m, [vpn], value=2)
            kid.send("look")
            c = kid.recv()
            record(f"parent writes VP{vpn}", "parent", f,
                   _pages_info(m.pagemap(hide_pfns=hide_pfns)), c)
            kid.send("write")
            msg = kid.recv()
            record(f"child writes VP{vpn}", "child", msg["faults"],
                   _pages_info(m.pagemap(hide_pfns=hide_pfns)), msg["pages"])
            kid.send("exit")
            kid.reap()
        f = measured("write", m, others, value=4)
        record("child exits; parent writes the other pages", "parent", f,
               _pages_info(m.pagemap(hide_pfns=hide_pfns)))
    visible = any(p[0] is not None for p in steps[0]["parent"])
    return {"experiment": "frames", "pages": pages, "vpn": vpn, "pfns_visible": visible,
            "steps": steps}


def zero_page(pages=8, reads=4, writes=2):
    """Reads of untouched memory map the shared zero page; a write then allocates.

    Steps on a fresh mapping: read the first `reads` pages; write the first `writes`
    of them; fork, and the child reads the rest of the read pages.
    """
    _require_linux()
    pages = _check_pages("pages", pages, low=2, high=4096)
    reads = _check_pages("reads", reads, low=1, high=pages)
    writes = _check_pages("writes", writes, low=0, high=reads)
    rest = list(range(writes, reads))
    with Mapping(pages) as m:
        before = m.smaps()
        r = measured("read", m, np.arange(reads))
        values = m.read(np.arange(reads))
        after_read = {"smaps": m.smaps(), "pages": _pages_info(m.pagemap())}
        w = measured("write", m, np.arange(writes), value=5)
        after_write = {"smaps": m.smaps(), "pages": _pages_info(m.pagemap())}

        def child(link):
            f = measured("read", m, rest)
            link.send({"faults": f, "values": m.read(rest), "smaps": m.smaps(),
                       "pages": _pages_info(m.pagemap())})
        with _Child(child) as kid:
            c = kid.recv()
            kid.reap()
    return {"experiment": "zero_page", "pages": pages, "reads": reads, "writes": writes,
            "before": before, "read": dict(after_read, faults=r, values=values),
            "write": dict(after_write, faults=w), "child_reads": c}


def _exec_target():
    """argv of a small program that waits for EOF on stdin (cat, else python)."""
    cat = shutil.which("cat")
    return [cat] if cat else [sys.executable, "-c", "import sys; sys.stdin.read()"]


def exec_vs_write(pages=64):
    """fork+exec copies nothing; fork+child-writes-everything copies every page.

    A: the child execs `cat` (alive, waiting on stdin); the parent looks at its
    mapping, then writes every page: last reference, so faults without copies.
    B: the child writes every page (N copies); it exits; the parent writes again.
    """
    _require_linux()
    pages = _check_pages("pages", pages)
    _check_budget("exec_vs_write", 3 * pages * PAGE_SIZE)
    allp = np.arange(pages)
    out = {"experiment": "exec_vs_write", "pages": pages}
    with Mapping(pages) as m:
        m.write(allp, 1)
        pfn0 = [p.pfn for p in m.pagemap()]
        # A: fork + exec
        stdin_r, stdin_w = os.pipe()
        argv = _exec_target()

        def child_exec(link):
            os.dup2(stdin_r, 0)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.execv(argv[0], argv)        # our pipe ends are O_CLOEXEC: EOF tells the parent
        with _Child(child_exec) as kid:
            os.close(stdin_r)
            try:
                kid.recv()
            except ExperimentError as e:
                if "exited early" not in str(e):   # EOF is what exec looks like from here
                    raise
            after_exec = m.smaps()
            f = measured("write", m, allp, value=2)
            pfn1 = [p.pfn for p in m.pagemap()]
            os.close(stdin_w)                      # cat sees EOF and exits
            status = kid.reap()
        out["exec"] = {"parent_after_exec": after_exec, "parent_writes": f,
                       "parent_after_write": m.smaps(), "child_exit_status": status,
                       "frames_changed": _changed(pfn0, pfn1), "argv": argv}
        # B: fork + the child writes every page
        pfn0 = pfn1

        def child_write(link):
            f = measured("write", m, allp, value=3)
            mine = [p.pfn for p in m.pagemap()]
            link.send({"faults": f, "smaps": m.smaps(), "frames_changed": _changed(pfn0, mine)})
            link.recv()
        with _Child(child_write) as kid:
            c = kid.recv()
            parent_during = m.smaps()
            kid.send("exit")
            kid.reap()
        f = measured("write", m, allp, value=4)
        pfn2 = [p.pfn for p in m.pagemap()]
        out["write"] = {"child_writes": c["faults"], "child_after_write": c["smaps"],
                        "child_frames_changed": c["frames_changed"],
                        "parent_while_child_alive": parent_during, "parent_writes_after_exit": f,
                        "parent_frames_changed": _changed(pfn0, pfn2)}
    return out


def _changed(before, after):
    """Pages whose PFN changed, or None when PFNs are hidden."""
    if any(p is None for p in before + after):
        return None
    return sum(a != b for a, b in zip(before, after))


def thp_status():
    """(available, why): THP's mode from /sys/kernel/mm/transparent_hugepage/enabled."""
    _require_linux()
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as f:
            text = f.read()
    except OSError:
        return False, "this kernel has no transparent huge pages (CONFIG_TRANSPARENT_HUGEPAGE)"
    mode = text[text.index("[") + 1:text.index("]")]
    if mode == "never":
        return False, "transparent huge pages are disabled here (enabled = [never])"
    return True, mode


def thp(write_vpn=5):
    """A 2 MiB transparent huge page, forked; the child writes one 4 KiB page of it.

    Linux >= 5.8 splits the child's huge mapping and copies 4 KiB; before, the
    whole 2 MiB was copied. Once the child has exited, the parent writes the same
    page: it holds the only reference, so the whole 2 MiB is reused in place.
    Raises Unavailable when this kernel gives no THP.
    """
    ok, mode = thp_status()
    if not ok:
        raise Unavailable(mode)
    try:
        pmd = _read_int("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size")
    except (OSError, ValueError):
        pmd = HPAGE_SIZE
    if pmd != HPAGE_SIZE:
        raise Unavailable(f"huge pages here are {pmd >> 10} KiB; the model's are 2 MiB "
                          f"(4 KiB base pages), so there is nothing like-for-like to compare")
    pages = HPAGE_SIZE // PAGE_SIZE
    if isinstance(write_vpn, bool) or not isinstance(write_vpn, int) or not 0 <= write_vpn < pages:
        raise ValueError(f"write_vpn must be 0..{pages - 1}, got {write_vpn!r}")
    with Mapping(pages, huge=True) as m:
        touch = measured("write", m, np.arange(pages), value=1)
        got = m.smaps()
        if got["anon_huge"] != HPAGE_SIZE // 1024:
            raise Unavailable(f"THP is '{mode}' but the kernel gave 4 KiB pages here "
                              f"(AnonHugePages {got['anon_huge']} kB; memory fragmented or "
                              f"defrag off); the model's thp lesson still holds")

        def child(link):
            before = m.smaps()
            f = measured("write", m, [write_vpn], value=2)
            link.send({"before": before, "faults": f, "after": m.smaps(),
                       "pages": _pages_info(m.pagemap())})
            link.recv()
        with _Child(child) as kid:
            c = kid.recv()
            parent = m.smaps()
            ppages = _pages_info(m.pagemap())
            kid.send("exit")
            kid.reap()
        last = measured("write", m, [write_vpn], value=3)   # the child is gone: reuse 2 MiB
        end = m.smaps()
    return {"experiment": "thp", "mode": mode, "kernel": platform.release(),
            "write_vpn": write_vpn, "touch_faults": touch, "parent_before_fork": got,
            "child": c, "parent_after_child_write": parent, "parent_pages": ppages,
            "parent_writes_after_exit": last, "parent_at_end": end}


def commit_limit(mem_total_kb, swap_total_kb, hugetlb_kb=0, ratio=50, kbytes=0,
                 page_size=PAGE_SIZE):
    """CommitLimit (kB) as mm/util.c's vm_commit_limit() computes it, in whole pages.

    The kernel leaves hugetlb pages out of RAM (they are never overcommitted);
    the model has no hugetlb pool, so on a box with one the two differ by it.
    """
    kb = page_size // 1024
    if kbytes:
        allowed = kbytes >> (page_size.bit_length() - 1 - 10)
    else:
        allowed = (mem_total_kb // kb - hugetlb_kb // kb) * ratio // 100
    return (allowed + swap_total_kb // kb) * kb


def overcommit():
    """The overcommit sysctls and /proc/meminfo, CommitLimit recomputed, and one probe.

    Never changes a sysctl. The probe asks for one private mapping larger than
    RAM + swap and never touches it: mode 0 refuses it (a single request beyond
    RAM + swap), mode 1 grants it, mode 2 refuses it (beyond CommitLimit).
    """
    _require_linux()
    vm = {name: _read_int(f"/proc/sys/vm/{name}")
          for name in ("overcommit_memory", "overcommit_ratio", "overcommit_kbytes")}
    mi = meminfo()
    computed = commit_limit(mi["MemTotal"], mi.get("SwapTotal", 0), mi.get("Hugetlb", 0),
                            vm["overcommit_ratio"], vm["overcommit_kbytes"])
    request_kb = mi["MemTotal"] + mi.get("SwapTotal", 0) + (1 << 20)
    limit_as = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit_as != resource.RLIM_INFINITY and request_kb * 1024 > limit_as:
        # ulimit -v would refuse it before overcommit is asked: that proves nothing
        refused, err = None, f"not tried: RLIMIT_AS is {limit_as >> 20} MiB (ulimit -v)"
    else:
        try:
            probe = mmap.mmap(-1, request_kb * 1024,
                              flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        except OSError as e:
            refused, err = True, errno.errorcode.get(e.errno, str(e.errno))
        else:
            probe.close()              # never touched: no memory was used
            refused, err = False, None
    return {"experiment": "overcommit", **vm,
            "meminfo": {k: mi.get(k, 0) for k in ("MemTotal", "SwapTotal", "Hugetlb",
                                                   "CommitLimit", "Committed_AS")},
            "commit_limit_computed": computed,
            "probe": {"request_kb": request_kb, "refused": refused, "errno": err}}


def madvise_fork(pages=8):
    """MADV_DONTFORK and MADV_WIPEONFORK: what a child gets of three written mappings.

    The child reports, for each mapping, whether it is mapped, its smaps and the
    values it reads; then it touches the DONTFORK range, which must kill it with
    SIGSEGV (no core dump, no traceback).
    """
    _require_linux()
    pages = _check_pages("pages", pages, high=4096)
    allp = np.arange(pages)
    kinds = ("normal", "dontfork", "wipeonfork")
    maps = {k: Mapping(pages) for k in kinds}
    try:
        for k, m in maps.items():
            m.write(allp, 7)
        maps["dontfork"].madvise(mmap.MADV_DONTFORK)
        maps["wipeonfork"].madvise(MADV_WIPEONFORK)

        def child(link):
            seen = {}
            for k, m in maps.items():
                s = smaps(m.addr)
                seen[k] = {"mapped": s is not None, "smaps": s,
                           "values": sorted(set(m.read(allp))) if s is not None else None}
            link.send(seen)
            link.recv()
            faulthandler.disable()                  # die quietly, as a C program would
            signal.signal(signal.SIGSEGV, signal.SIG_DFL)
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            ctypes.string_at(maps["dontfork"].addr, 1)   # SIGSEGV: not mapped in the child

        with _Child(child) as kid:
            c = kid.recv()
            parent = {k: m.smaps() for k, m in maps.items()}
            kid.send("touch")
            status = kid.reap()
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    finally:
        for m in maps.values():
            m.close()
    return {"experiment": "madvise_fork", "pages": pages, "child": c, "parent": parent,
            "child_touch_dontfork": signal.Signals(sig).name if sig else "no signal"}


def shared_fork(pages=8, reads=(0, 3), write=5):
    """A MAP_SHARED mapping across fork: no COW, and the child faults its pages in.

    The parent writes every page; after fork the child reads `reads` one by one and
    writes `write`; the parent then reads the child's value. Linux's fault-around
    (fault_around_bytes, 64 KiB by default) maps the neighbouring page-cache pages
    on the child's first read fault, so later touches may not fault at all.
    """
    _require_linux()
    pages = _check_pages("pages", pages, low=2, high=4096)
    for v in (*reads, write):
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < pages:
            raise ValueError(f"reads and write must be page numbers in 0..{pages - 1}, got {v!r}")
    with Mapping(pages, shared=True) as m:
        m.write(np.arange(pages), 1)

        def child(link):
            seen = {"after_fork": m.smaps(), "reads": []}
            for v in reads:
                f = measured("read", m, [v])
                seen["reads"].append({"vpn": v, "faults": f, "smaps": m.smaps()})
            seen["write"] = {"vpn": write, "faults": measured("write", m, [write], value=9),
                             "smaps": m.smaps()}
            link.send(seen)
        with _Child(child) as kid:
            c = kid.recv()
            kid.reap()
        return {"experiment": "shared_fork", "pages": pages, "child": c,
                "parent_reads_child_write": m.read([write])[0], "parent": m.smaps()}


EXPERIMENTS = ("fork_cost", "cow_writes", "frames", "zero_page", "exec_vs_write", "thp",
               "overcommit", "madvise_fork", "shared_fork")


def compare(experiment, **kwargs):
    """Run `experiment` on the model and on this kernel -> a Comparison table.

    >>> t = compare("cow_writes", pages=64, writes=16)   # doctest: +SKIP
    >>> t.ok, print(t.summary())                          # doctest: +SKIP
    """
    from .vsmodel import compare as run
    return run(experiment, **kwargs)


def __getattr__(name):
    if name == "Comparison":                 # the table class lives with compare()
        from .vsmodel import Comparison
        return Comparison
    raise AttributeError(f"module 'cowlab.real' has no attribute {name!r}")
