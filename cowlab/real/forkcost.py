"""What fork() costs, 2 MiB transparent huge pages across fork, the huge zero page."""
import ctypes
import mmap
import os
import platform
import shutil
import time

import numpy as np

from .child import _Child, _pages_info
from .machine import (HPAGE_SIZE, MADV_WIPEONFORK, MAX_MAPPING, PAGE_SIZE, ExperimentError,
                      Unavailable, _check_budget, _read_int, _require_linux)
from .mapping import Mapping
from .measure import _rusage_buffers, measured
from .procfs import smaps
from .modern import Live, _need_root, _pfn, _write_faults, kpageflags


def fork_cost(sizes_mib=(16, 64, 256), repeats=7, advice=None):
    """fork() latency with N MiB of touched private memory, next to copying it eagerly.

    -> {"sizes": [{mib, fork_ms, copy_ms}], "base_fork_ms", "fork_ns_per_page",
    "copy_ns_per_page", "fork_ms_per_gib", "copy_ms_per_gib", "child_after_fork"}.
    Per page = the slope over the sizes above this process's own fork cost (size 0).
    fork_ms is the CPU time the forking thread spends in fork(2) -- the page-table
    copy runs there, in dup_mmap() -- with libc's fork() called directly, so neither
    CPython's after-fork hooks nor time spent waiting for a CPU (other processes, or
    the child itself running first) is counted; fork_wall_ms is the wall clock of the
    same call, for comparison. copy_ms is CPU time too.
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

    def median_ms(fn):
        return float(np.median([fn() for _ in range(int(repeats))]))

    base = median_ms(_fork_cpu_ms)
    rows = []
    for mib in sizes:
        pages = (mib << 20) // PAGE_SIZE
        with Mapping(pages, huge=advice == "hugepage") as src:
            src.view[::PAGE_SIZE] = 1
            if adv[advice] is not None:
                src.madvise(adv[advice])
            fork_ms = median_ms(_fork_cpu_ms)       # before dst exists: fork copies it too
            wall_ms = median_ms(_fork_wall_ms)
            # no bounds check: a neighbour the kernel merged in (same flags) holds no
            # huge page of ours, and the figure is capped at the mapping's own size
            huge_kb = min(smaps(src.addr)["anon_huge"], src.length // 1024)
            with Mapping(pages) as dst:
                dst.view[::PAGE_SIZE] = 1

                def copy():
                    t0 = _cpu_ns()
                    np.copyto(dst.view, src.view)
                    return (_cpu_ns() - t0) / 1e6
                copy_ms = median_ms(copy)
            rows.append({"mib": mib, "pages": pages, "fork_ms": fork_ms, "copy_ms": copy_ms,
                         "fork_wall_ms": wall_ms, "anon_huge_kb": huge_kb})
    pages = np.array([r["pages"] for r in rows], float)
    fork_slope = np.polyfit(np.r_[0, pages], np.r_[base, [r["fork_ms"] for r in rows]], 1)[0]
    copy_slope = np.polyfit(np.r_[0, pages], np.r_[0, [r["copy_ms"] for r in rows]], 1)[0]
    per_gib = (1 << 30) // PAGE_SIZE
    return {"experiment": "fork_cost", "page_size": PAGE_SIZE, "advice": advice,
            "clock": "CPU time of the forking thread (CLOCK_THREAD_CPUTIME_ID)",
            "base_fork_ms": base, "sizes": rows,
            "fork_ns_per_page": float(fork_slope * 1e6),
            "copy_ns_per_page": float(copy_slope * 1e6),
            "fork_ms_per_gib": float(fork_slope * per_gib),
            "copy_ms_per_gib": float(copy_slope * per_gib),
            "child_after_fork": _child_view_after_fork(min(sizes))}


def _cpu_ns():
    return time.clock_gettime_ns(time.CLOCK_THREAD_CPUTIME_ID)


_FORK = None


def _raw_fork():
    """libc's fork() called with the GIL held (PyDLL): the child can take the GIL it
    inherits, and the parent runs none of CPython's after-fork hooks. The child must
    only os._exit()."""
    global _FORK
    if _FORK is None:
        _FORK = ctypes.PyDLL(None, use_errno=True).fork
        _FORK.restype = ctypes.c_int
        _FORK.argtypes = ()
    return _FORK


def _fork_cpu_ms():
    fork, clock, exit_, cpu = _raw_fork(), time.clock_gettime_ns, os._exit, \
        time.CLOCK_THREAD_CPUTIME_ID
    t0 = clock(cpu)
    pid = fork()
    if pid == 0:
        exit_(0)                                   # nothing else: see _raw_fork
    t1 = clock(cpu)
    if pid < 0:
        raise OSError(ctypes.get_errno(), "fork failed")
    os.waitpid(pid, 0)
    return (t1 - t0) / 1e6


def _fork_wall_ms():
    fork, clock, exit_ = _raw_fork(), time.perf_counter_ns, os._exit
    t0 = clock()
    pid = fork()
    if pid == 0:
        exit_(0)
    t1 = clock()
    if pid < 0:
        raise OSError(ctypes.get_errno(), "fork failed")
    os.waitpid(pid, 0)
    return (t1 - t0) / 1e6


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



def fork_cost_thp(sizes_mib=(64, 128, 256), repeats=7):
    """fork() cost with 4 KiB pages and with 2 MiB THP (MADV_HUGEPAGE), same sizes, same run.

    -> {"sizes_mib", "ms_4k", "ms_thp", "anon_huge_kb", "ms_per_gib_4k", "ms_per_gib_thp",
    "ratio"}: the lists are per size, ready to plot (a chapter never prints constants).
    With THP, copy_huge_pmd() copies one PMD entry per 2 MiB instead of 512 PTEs; the
    AnonHugePages list says how much of each mapping really was huge.
    """
    small = fork_cost(sizes_mib, repeats)
    huge = fork_cost(sizes_mib, repeats, advice="hugepage")
    return {"experiment": "fork_cost_thp", "clock": small["clock"],
            "sizes_mib": [r["mib"] for r in small["sizes"]],
            "ms_4k": [r["fork_ms"] for r in small["sizes"]],
            "ms_thp": [r["fork_ms"] for r in huge["sizes"]],
            "anon_huge_kb": [r["anon_huge_kb"] for r in huge["sizes"]],
            "ms_per_gib_4k": small["fork_ms_per_gib"], "ms_per_gib_thp": huge["fork_ms_per_gib"],
            "ratio": small["fork_ms_per_gib"] / max(huge["fork_ms_per_gib"], 1e-9)}


def exec_child_faults(runs=4, python_fork=True):
    """Minor faults a child of this CPython process takes between fork() and exec().

    The child reads its own fault counter (it starts at 0 at fork: copy_process()
    zeroes min_flt) just before execv("/bin/true"). With python_fork=True the child
    comes from os.fork(), so CPython's after-fork work runs (PyOS_AfterFork_Child:
    thread state, locks, the allocator -- writes to heap pages fork left shared,
    each one a COW fault); with False, from libc's fork() with nothing in between,
    which shows how few of those faults are fork's own. -> {"faults": [per run], ...}
    """
    _require_linux()
    if isinstance(runs, bool) or not isinstance(runs, int) or not 1 <= runs <= 50:
        raise ValueError(f"runs must be 1..50, got {runs!r}")
    true = shutil.which("true") or "/bin/true"
    call, buf, _, addr, _ = _rusage_buffers()
    counts = []
    for _ in range(runs):
        r, w = os.pipe()
        pid = os.fork() if python_fork else _raw_fork()()
        if pid == 0:
            try:
                call(0, addr)                       # RUSAGE_SELF, into a buffer made before
                os.write(w, str(buf[8]).encode())
                os.execv(true, [true])
            finally:
                os._exit(127)
        os.close(w)
        data = os.read(r, 64)
        os.close(r)
        _, status = os.waitpid(pid, 0)
        if not data or os.waitstatus_to_exitcode(status) != 0:
            raise ExperimentError(f"the child did not reach exec ({true}); status {status}")
        counts.append(int(data))
    return {"experiment": "exec_child_faults", "python_fork": python_fork, "faults": counts,
            "median": float(np.median(counts)), "exec": true}


def huge_zero_page():
    """A read of untouched MADV_HUGEPAGE memory maps the huge zero page (a read-only PMD,
    when transparent_hugepage/use_zero_page is 1); what does the first write allocate?

    On 6.x do_huge_pmd_wp_page() on the huge zero page falls back to splitting the PMD
    and faulting one 4 KiB page; newer kernels may allocate a whole 2 MiB THP instead:
    Rss and AnonHugePages say which, here.
    """
    _require_linux()
    _need_root("huge_zero_page")
    ok, mode = thp_status()
    if not ok:
        raise Unavailable(mode)
    try:
        with open("/sys/kernel/mm/transparent_hugepage/use_zero_page") as f:
            zero_on = f.read().strip() == "1"
    except OSError:
        zero_on = False
    if not zero_on:
        raise Unavailable("the huge zero page is off here (transparent_hugepage/use_zero_page)")
    pages = (2 << 20) // PAGE_SIZE
    with Mapping(pages, huge=True) as m:
        read = measured("read", m, [0])["faults"]
        pfn = _pfn(m)
        flags = sorted(kpageflags(pfn))
        after_read = m.smaps()
        write = _write_faults(m, 1)
        after_write = m.smaps()
        second = _write_faults(m, 2, vpn=1)
    facts = {"read_faults": read, "read_maps_zero_page": "zero_page" in flags,
             "rss_kb_after_read": after_read["rss"], "write_faults": write,
             "rss_kb_after_write": after_write["rss"],
             "anon_huge_kb_after_write": after_write["anon_huge"],
             "next_page_write_faults": second}
    steps = [{"step": "read VP0", "faults": read, "frame flags": flags, **after_read},
             {"step": "write VP0", "faults": write, **after_write},
             {"step": "write VP1", "faults": second}]
    return Live("huge_zero_page", "root, THP", steps, facts)
