"""What fork() costs, and 2 MiB transparent huge pages across fork."""
import mmap
import os
import platform
import time

import numpy as np

from .child import _Child, _pages_info
from .machine import (HPAGE_SIZE, MADV_WIPEONFORK, MAX_MAPPING, PAGE_SIZE, Unavailable,
                      _check_budget, _read_int, _require_linux)
from .mapping import Mapping
from .measure import measured


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

