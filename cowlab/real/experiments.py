"""The classic COW experiments of chapter 08, each the twin of a model scenario."""
import ctypes
import errno
import faulthandler
import mmap
import os
import shutil
import signal
import sys

import numpy as np

from .child import _Child, _pages_info
from .machine import (MADV_WIPEONFORK, PAGE_SIZE, ExperimentError, _check_budget,
                      _check_pages, _read_int, _require_linux, meminfo, resource)
from .mapping import Mapping
from .measure import measured
from .procfs import smaps

# what compare() can put beside the model (vsmodel.py, vsmachine.py); fork_cost and
# thp live in forkcost.py
EXPERIMENTS = ("fork_cost", "cow_writes", "frames", "zero_page", "exec_vs_write", "thp",
               "overcommit", "madvise_fork", "shared_fork")


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
            kid.wait_mm_gone()                     # the pre-exec mm's PTEs are gone too
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
    RAM + swap), mode 1 grants it, mode 2 refuses it (beyond CommitLimit). A second
    probe adds MAP_NORESERVE: granted in modes 0 and 1, refused in mode 2.
    """
    _require_linux()
    vm = {name: _read_int(f"/proc/sys/vm/{name}")
          for name in ("overcommit_memory", "overcommit_ratio", "overcommit_kbytes")}
    mi = meminfo()
    computed = commit_limit(mi["MemTotal"], mi.get("SwapTotal", 0), mi.get("Hugetlb", 0),
                            vm["overcommit_ratio"], vm["overcommit_kbytes"])
    request_kb = mi["MemTotal"] + mi.get("SwapTotal", 0) + (1 << 20)
    refused, err = _probe(request_kb, 0)
    noreserve = _probe(request_kb, MAP_NORESERVE)
    return {"experiment": "overcommit", **vm,
            "meminfo": {k: mi.get(k, 0) for k in ("MemTotal", "SwapTotal", "Hugetlb",
                                                   "CommitLimit", "Committed_AS")},
            "commit_limit_computed": computed,
            "probe": {"request_kb": request_kb, "refused": refused, "errno": err},
            "probe_noreserve": {"refused": noreserve[0], "errno": noreserve[1]}}


MAP_NORESERVE = getattr(mmap, "MAP_NORESERVE", 0x4000)     # asm-generic/mman.h


def _probe(request_kb, extra_flags):
    """Ask for one private mapping of request_kb and never touch it -> (refused, errno).

    MAP_NORESERVE (extra_flags) skips the commit charge in modes 0 and 1; mode 2
    ignores it (mm/mmap.c do_mmap()).
    """
    limit_as = resource.getrlimit(resource.RLIMIT_AS)[0]
    if limit_as != resource.RLIM_INFINITY and request_kb * 1024 > limit_as:
        # ulimit -v would refuse it before overcommit is asked: that proves nothing
        return None, f"not tried: RLIMIT_AS is {limit_as >> 20} MiB (ulimit -v)"
    try:
        probe = mmap.mmap(-1, request_kb * 1024,
                          flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | extra_flags)
    except OSError as e:
        return True, errno.errorcode.get(e.errno, str(e.errno))
    probe.close()                      # never touched: no memory was used
    return False, None


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

