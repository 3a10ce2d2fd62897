"""Modern COW on the live kernel: mapcount vs refcount, exclusivity, pins, KSM, files.

Linux >= 5.19 decides a write fault on a private anonymous page with
PageAnonExclusive and the folio's reference count (mm/memory.c do_wp_page,
wp_can_reuse_anon_folio); the mapcount is what /proc/kpagecount shows. Each
function here is one of issue 13's "live facts", run on one page of this process:

    fork_child_exits()   1. mapcount 2 -> 1; the write faults once and keeps the frame
    vmsplice_leak()      2. a pipe's reference makes the parent copy (CVE-2020-29374 fixed)
    mprotect_reuse()     3. mprotect(RW) maps an exclusive page writable at once
    pinned_fork()        4. an io_uring fixed buffer is copied into the child at fork
    memfd_private()      5. a MAP_PRIVATE file page is the page cache's until written
    ksm_merge()          6. a KSM page is never reused, even at mapcount 1

Each returns a `Live` record (print it, or read `.facts`) and raises Unavailable
with the reason when this machine cannot run it. PFNs (pagemap) and mapcounts
(/proc/kpagecount) need root; io_uring needs /proc/sys/kernel/io_uring_disabled 0
(or 1 and root); KSM needs root and /sys/kernel/mm/ksm (restored afterwards).
"""
import ctypes
import os
import time

import numpy as np

from .child import _Child
from .machine import PAGE_SIZE, ExperimentError, Unavailable, _libc, _require_linux
from .mapping import Mapping
from .measure import measured

KPF_ANON, KPF_KSM, KPF_THP, KPF_ZERO_PAGE = 12, 21, 22, 24   # uapi/linux/kernel-page-flags.h
MADV_MERGEABLE, MADV_UNMERGEABLE = 12, 13
SYS_IO_URING_SETUP, SYS_IO_URING_REGISTER = 425, 427         # the same on every arch (5.1+)
IORING_REGISTER_BUFFERS, IORING_UNREGISTER_BUFFERS = 0, 1
KSM = "/sys/kernel/mm/ksm"


class Live:
    """One live experiment: what it needs, each step as measured, and the facts it shows."""

    def __init__(self, experiment, needs, steps, facts):
        self.experiment, self.needs, self.steps, self.facts = experiment, needs, steps, facts

    def __str__(self):
        out = [f"{self.experiment} (needs {self.needs})"]
        for s in self.steps:
            out.append("  " + "; ".join(f"{k} {v}" for k, v in s.items()))
        out.append("facts:")
        out += [f"  {k}: {v}" for k, v in self.facts.items()]
        return "\n".join(out)

    __repr__ = __str__


# ---------------------------------------------------------------------------- what the kernel shows
def _need_root(what):
    if os.geteuid() != 0:
        raise Unavailable(f"{what} needs root: /proc/self/pagemap shows PFNs and "
                          f"/proc/kpagecount opens only with CAP_SYS_ADMIN; run as root")


def _kpage(path, pfn):
    with open(path, "rb") as f:
        f.seek(pfn * 8)
        return int.from_bytes(f.read(8), "little")


def mapcount(pfn):
    """The frame's mapcount as /proc/kpagecount reports it (root only).

    Linux 6.1 fs/proc/page.c kpagecount_read() returns page_mapcount(); later kernels
    return the folio's (precise or average) mapcount: PTEs mapping it, never pins or
    pipe references -- those live in the refcount, which /proc does not show.
    """
    return _kpage("/proc/kpagecount", pfn)


def kpageflags(pfn):
    """{'anon', 'ksm', 'thp', 'zero_page'} flags of a frame, from /proc/kpageflags (root)."""
    bits = _kpage("/proc/kpageflags", pfn)
    return {n for n, b in (("anon", KPF_ANON), ("ksm", KPF_KSM), ("thp", KPF_THP),
                           ("zero_page", KPF_ZERO_PAGE)) if bits >> b & 1}


def _pfn(m, vpn=0):
    pfn = m.pagemap([vpn])[0].pfn
    if pfn is None:
        raise ExperimentError(f"VP{vpn} is not present (or PFNs are hidden)")
    return pfn


def _frame(m, vpn=0):
    pfn = _pfn(m, vpn)
    return {"pfn": pfn, "mapcount": mapcount(pfn)}


def _write_faults(m, value, vpn=0):
    """Minor faults of one store to VP`vpn` (CPython's own subtracted, see measured())."""
    return measured("write", m, [vpn], value=value)["faults"]


def _reprotect_then_write(m, value):
    """mprotect(R), mprotect(RW), then one write -> its faults (0 iff the page is exclusive)."""
    m.mprotect("r")
    m.mprotect("rw")
    return _write_faults(m, value)


def _page(value):
    m = Mapping(1)
    m.write([0], value)
    return m


# ---------------------------------------------------------------------------- 1 and 3
def fork_child_exits():
    """Fact 1: fork, the child exits; the parent's page is mapcount 1 again but not
    exclusive: its write takes one fault (reuse, same frame), after which mprotect
    can map it writable without a fault."""
    _require_linux()
    _need_root("fork_child_exits")
    with _page(1) as m:
        before = _frame(m)
        def child_body(link):
            link.send(_frame(m))
            link.recv()                           # alive until the parent has looked
        with _Child(child_body) as kid:
            child = kid.recv()
            during = _frame(m)
            kid.send("exit")
            kid.reap()
        after_exit = _frame(m)
        faults = _write_faults(m, 2)
        after_write = _frame(m)
        again = _reprotect_then_write(m, 3)
    steps = [dict(step="written", **before), dict(step="fork (child's view)", **child),
             dict(step="fork (parent's view)", **during),
             dict(step="child exited", **after_exit),
             dict(step="parent writes", faults=faults, **after_write),
             {"step": "mprotect R, RW, write", "faults": again}]
    facts = {"child_shares_frame": child["pfn"] == before["pfn"],
             "mapcount_after_fork": during["mapcount"],
             "mapcount_after_child_exit": after_exit["mapcount"],
             "write_faults": faults, "write_keeps_frame": after_write["pfn"] == before["pfn"],
             "exclusive_after_write_faults": again}
    return Live("fork_child_exits", "root", steps, facts)


def mprotect_reuse():
    """Fact 3: mprotect(R) then (RW) maps an exclusive page writable at once (0 faults);
    a page once shared by fork, now mapcount 1, faults once, keeps its frame, and is
    exclusive from then on (mm/mprotect.c can_change_pte_writable, Linux >= 5.19)."""
    _require_linux()
    _need_root("mprotect_reuse")
    with _page(1) as m:
        never = _reprotect_then_write(m, 2)
    with _page(1) as m:
        pfn = _pfn(m)
        with _Child(lambda link: link.send("up")) as kid:
            kid.recv()
            kid.reap()
        count = mapcount(pfn)
        once = _reprotect_then_write(m, 2)
        kept = _pfn(m) == pfn
        twice = _reprotect_then_write(m, 3)
    steps = [{"step": "never shared: mprotect R, RW, write", "faults": never},
             {"step": "shared once, child exited", "mapcount": count},
             {"step": "mprotect R, RW, write", "faults": once, "frame kept": kept},
             {"step": "mprotect R, RW, write again", "faults": twice}]
    facts = {"never_shared_faults": never, "once_shared_mapcount": count,
             "once_shared_faults": once, "once_shared_keeps_frame": kept,
             "after_reuse_faults": twice}
    return Live("mprotect_reuse", "root", steps, facts)


# ---------------------------------------------------------------------------- 2: vmsplice
class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


def _vmsplice(fd, addr, length):
    libc = _libc()
    fn = libc.vmsplice
    fn.argtypes = (ctypes.c_int, ctypes.POINTER(_Iovec), ctypes.c_size_t, ctypes.c_uint)
    fn.restype = ctypes.c_ssize_t
    iov = _Iovec(addr, length)
    n = fn(fd, ctypes.byref(iov), 1, 0)
    if n < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"vmsplice: {os.strerror(e)}")
    return n


def vmsplice_leak():
    """Fact 2: after fork the child vmsplices the page into a pipe, unmaps it and exits.

    The parent's page is mapcount 1 but the pipe holds a reference: since 5.9 (the
    "do_wp_page() simplification") the write copies, so the pipe keeps the old byte.
    Under the 5.8-and-older mapcount rule the parent wrote in place and the pipe
    showed its new data to the child's reader (CVE-2020-29374).
    """
    _require_linux()
    _need_root("vmsplice_leak")
    r, w = os.pipe()
    try:
        with _page(ord("A")) as m:
            pfn = _pfn(m)

            def child(link):
                _vmsplice(w, m.addr, PAGE_SIZE)
                if _libc().munmap(ctypes.c_void_p(m.addr), ctypes.c_size_t(PAGE_SIZE)) != 0:
                    raise OSError(ctypes.get_errno(), "munmap")
                link.send("spliced")
            with _Child(child) as kid:
                kid.recv()
                kid.reap()
            count = mapcount(pfn)
            faults = _write_faults(m, ord("B"))
            new = _pfn(m)
            seen = m.read([0])[0]
            piped = os.read(r, PAGE_SIZE)[:1]
    finally:
        os.close(r)
        os.close(w)
    steps = [{"step": "child vmspliced VP0, unmapped it, exited", "mapcount": count},
             {"step": "parent writes 'B'", "faults": faults, "frame changed": new != pfn},
             {"step": "pipe read", "byte": piped.decode(), "parent reads": chr(seen)}]
    facts = {"mapcount_before_write": count, "write_faults": faults,
             "write_copies": new != pfn, "pipe_byte": piped.decode(),
             "parent_byte": chr(seen)}
    return Live("vmsplice_leak", "root", steps, facts)


# ---------------------------------------------------------------------------- 4: io_uring pin
def io_uring_status():
    """(True, "") if this process may create an io_uring, else (False, why)."""
    try:
        with open("/proc/sys/kernel/io_uring_disabled") as f:
            mode = int(f.read())
    except OSError:
        mode = 0                                  # before 6.6 there is no such sysctl
    if mode == 2:
        return False, "io_uring is disabled here (/proc/sys/kernel/io_uring_disabled = 2)"
    if mode == 1 and os.geteuid() != 0:
        return False, ("io_uring is limited to root and kernel.io_uring_group here "
                       "(/proc/sys/kernel/io_uring_disabled = 1)")
    return True, ""


class _Ring:
    """An io_uring with one page registered as a fixed buffer: a long-term FOLL_PIN."""

    def __init__(self, addr, length):
        ok, why = io_uring_status()
        if not ok:
            raise Unavailable(why)
        libc = _libc()
        libc.syscall.restype = ctypes.c_long
        params = ctypes.create_string_buffer(120)            # struct io_uring_params, zeroed
        self.fd = libc.syscall(ctypes.c_long(SYS_IO_URING_SETUP), ctypes.c_uint(1), params)
        if self.fd < 0:
            e = ctypes.get_errno()
            raise Unavailable(f"io_uring_setup failed: {os.strerror(e)} (a seccomp filter or "
                              f"a kernel without CONFIG_IO_URING?)")
        self.iov = _Iovec(addr, length)
        rc = libc.syscall(ctypes.c_long(SYS_IO_URING_REGISTER), ctypes.c_int(self.fd),
                          ctypes.c_uint(IORING_REGISTER_BUFFERS), ctypes.byref(self.iov),
                          ctypes.c_uint(1))
        if rc < 0:
            e = ctypes.get_errno()
            os.close(self.fd)
            raise Unavailable(f"IORING_REGISTER_BUFFERS failed: {os.strerror(e)} "
                              f"(RLIMIT_MEMLOCK too low?)")

    def close(self):
        libc = _libc()
        libc.syscall(ctypes.c_long(SYS_IO_URING_REGISTER), ctypes.c_int(self.fd),
                     ctypes.c_uint(IORING_UNREGISTER_BUFFERS), None, ctypes.c_uint(0))
        os.close(self.fd)


def _fork_then_parent_writes(m, pin):
    pfn = _pfn(m)
    ring = _Ring(m.addr, PAGE_SIZE) if pin else None
    try:
        def child(link):
            link.send({"pfn": _pfn(m), "byte": m.read([0])[0]})
            link.recv()
        with _Child(child) as kid:
            c = kid.recv()
            count = mapcount(pfn)
            faults = _write_faults(m, 9)
            after = _pfn(m)
            kid.send("exit")
            kid.reap()
    finally:
        if ring is not None:
            ring.close()
    return {"child_same_frame": c["pfn"] == pfn, "child_byte": c["byte"],
            "mapcount_after_fork": count, "parent_write_faults": faults,
            "parent_keeps_frame": after == pfn}


def pinned_fork():
    """Fact 4: a page registered as an io_uring fixed buffer (pinned) is copied into the
    child at fork (Linux >= 5.9, copy_present_page/page_needs_cow_for_dma), so the
    parent's PTE stays writable: its write takes no fault. Without the pin the child
    shares the frame (mapcount 2) and the parent's write faults and copies."""
    _require_linux()
    _need_root("pinned_fork")
    out = {}
    for pin in (True, False):
        with _page(7) as m:
            out["pinned" if pin else "unpinned"] = _fork_then_parent_writes(m, pin)
    steps = [dict(case=k, **v) for k, v in out.items()]
    return Live("pinned_fork", "root, io_uring", steps, out)


# ---------------------------------------------------------------------------- 5: memfd
def memfd_private():
    """Fact 5: one memfd page mapped MAP_SHARED and MAP_PRIVATE.

    Until the private mapping writes, both map the page-cache frame (Anonymous 0 kB)
    and the private one sees shared writes; its write faults once into a new
    anonymous frame (Anonymous 4 kB), and from then on shared writes are not seen.
    """
    _require_linux()
    _need_root("memfd_private")
    fd = os.memfd_create("cowlab", os.MFD_CLOEXEC)
    try:
        os.ftruncate(fd, 2 * PAGE_SIZE)           # the page and Mapping's guard page
        with Mapping(1, shared=True, fd=fd) as sh, Mapping(1, fd=fd) as pr:
            sh.write([0], ord("A"))
            first = pr.read([0])[0]
            same = _pfn(pr) == _pfn(sh)
            sh.write([0], ord("B"))
            sees_shared = chr(pr.read([0])[0])
            anon0 = pr.smaps()["anonymous"]
            faults = _write_faults(pr, ord("C"))
            own = _pfn(pr) != _pfn(sh)
            anon1 = pr.smaps()["anonymous"]
            sh.write([0], ord("D"))
            later = chr(pr.read([0])[0])
            in_file = os.pread(fd, 1, 0).decode()
    finally:
        os.close(fd)
    facts = {"first_read": chr(first), "same_frame_before_write": same,
             "private_sees_shared_write": sees_shared, "anonymous_kb_before": anon0,
             "private_write_faults": faults, "own_frame_after_write": own,
             "anonymous_kb_after": anon1, "private_after_shared_write": later,
             "file_byte": in_file}
    steps = [{"step": "shared writes A; private reads", "byte": chr(first), "same frame": same},
             {"step": "shared writes B", "private reads": sees_shared, "Anonymous kB": anon0},
             {"step": "private writes C", "faults": faults, "own frame": own,
              "Anonymous kB": anon1},
             {"step": "shared writes D", "private reads": later, "file holds": in_file}]
    return Live("memfd_private", "root", steps, facts)


# ---------------------------------------------------------------------------- 6: KSM
def ksm_status():
    """(True, "") if KSM can be switched on here (root, CONFIG_KSM), else (False, why)."""
    if not os.path.exists(f"{KSM}/run"):
        return False, "this kernel has no KSM (/sys/kernel/mm/ksm, CONFIG_KSM)"
    if os.geteuid() != 0 or not os.access(f"{KSM}/run", os.W_OK):
        return False, "switching KSM on needs root (/sys/kernel/mm/ksm/run)"
    return True, ""


def _sysfs(name, value=None):
    path = f"{KSM}/{name}"
    if value is None:
        with open(path) as f:
            return f.read().strip()
    with open(path, "w") as f:
        f.write(str(value))


def ksm_merge(timeout=20.0):
    """Fact 6: two identical pages merge into one write-protected KSM frame (mapcount 2);
    writing either copies -- even the second, when the KSM frame is at mapcount 1.

    Switches ksmd on (run=1, a fast scan) and restores run, pages_to_scan and
    sleep_millisecs as they were, whatever happens.
    """
    _require_linux()
    ok, why = ksm_status()
    if not ok:
        raise Unavailable(why)
    saved = {n: _sysfs(n) for n in ("run", "pages_to_scan", "sleep_millisecs")}
    rng = np.random.default_rng(13)
    content = rng.integers(1, 256, PAGE_SIZE, dtype=np.uint8)
    try:
        with Mapping(2) as m:
            m.view[:PAGE_SIZE] = content
            m.view[PAGE_SIZE:] = content
            m.madvise(MADV_MERGEABLE)
            _sysfs("pages_to_scan", 1000)
            _sysfs("sleep_millisecs", 10)
            _sysfs("run", 1)
            deadline = time.monotonic() + timeout
            while _pfn(m, 0) != _pfn(m, 1):
                if time.monotonic() > deadline:
                    raise ExperimentError(f"ksmd did not merge the two pages in {timeout:.0f} s")
                time.sleep(0.05)
            _sysfs("run", saved["run"])
            ksm = _pfn(m, 0)
            merged = {"mapcount": mapcount(ksm), "ksm_flag": "ksm" in kpageflags(ksm)}
            f0 = _write_faults(m, 1, vpn=0)
            p0 = _pfn(m, 0)
            left = mapcount(ksm)
            f1 = _write_faults(m, 2, vpn=1)
            p1 = _pfn(m, 1)
            m.madvise(MADV_UNMERGEABLE)
    finally:
        for name in ("run", "pages_to_scan", "sleep_millisecs"):
            _sysfs(name, saved[name])
    facts = {"merged_mapcount": merged["mapcount"], "ksm_flag": merged["ksm_flag"],
             "first_write_faults": f0, "first_write_copies": p0 != ksm,
             "mapcount_before_second_write": left, "second_write_faults": f1,
             "second_write_copies": p1 != ksm}
    steps = [{"step": "merged", **merged},
             {"step": "write VP0", "faults": f0, "copied": p0 != ksm},
             {"step": "write VP1", "mapcount before": left, "faults": f1, "copied": p1 != ksm}]
    return Live("ksm_merge", "root, KSM", steps, facts)


LIVE_FACTS = {1: fork_child_exits, 2: vmsplice_leak, 3: mprotect_reuse, 4: pinned_fork,
              5: memfd_private, 6: ksm_merge}


def live_facts():
    """Run every live fact here -> {number: Live record, or the Unavailable reason (str)}."""
    out = {}
    for n, fn in LIVE_FACTS.items():
        try:
            out[n] = fn()
        except Unavailable as e:
            out[n] = str(e)
    return out
