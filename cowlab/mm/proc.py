"""What /proc shows of a model kernel: smaps_rollup figures per process, and meminfo,
plus the read-only views of a page table that the drawings use.

Shared vs Private follows each frame's mapcount (the PTEs that map it), as
fs/proc/task_mmu.c does; the zero page is not counted; sizes are in kB.
"""
import numpy as np

from .commit import commit_limit_pages, committed_pages
from .page_alloc import F_DIRTY, F_EXCL, F_KSM, F_OBJREF
from .pgtable import F_COW, F_HUGE, F_WRITE, NOT_PRESENT, PTE, PageTable, PteFlags

PSS_SHIFT = 12          # Pss is summed in fixed point, as the kernel does


class Stats(dict):
    """A dict whose keys also read as attributes: `s["rss"] == s.rss`."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def smaps(k, p):
    """Rss, Pss, Shared/Private Clean/Dirty, Anonymous (pages no file or shmem object
    holds) and AnonHugePages of process p, and its minor faults (ru_minflt)."""
    present = p._pfn >= 0
    pfn = p._pfn[present]
    mc = k._mapcount[pfn]
    dirty = (k._fflags[pfn] & F_DIRTY) != 0
    kb = k.page_size // 1024
    # page_size/mapcount per page in fixed point; pages with the same mapcount share
    # the same term, so sum by mapcount, then truncate to kB
    by_mc = np.bincount(mc, minlength=2)
    pss = sum(int(n) * ((k.page_size << PSS_SHIFT) // max(m, 1))
              for m, n in enumerate(by_mc.tolist()) if n)
    shared_dirty = int(np.count_nonzero(dirty[mc > 1]))
    private_dirty = int(np.count_nonzero(dirty[mc == 1]))
    huge = int(np.count_nonzero(p._has(F_HUGE) & present))
    anon = int(np.count_nonzero((k._fflags[pfn] & F_OBJREF) == 0))   # not shmem/page cache
    return Stats(rss=len(pfn) * kb, pss=pss >> (PSS_SHIFT + 10),
                 shared_clean=(int(by_mc[2:].sum()) - shared_dirty) * kb,
                 shared_dirty=shared_dirty * kb,
                 private_clean=(int(by_mc[1]) - private_dirty) * kb,
                 private_dirty=private_dirty * kb,
                 anon_huge=huge * kb, anonymous=anon * kb, minor_faults=p.minor_faults)


def meminfo(k):
    """MemTotal, MemFree, SwapTotal, CommitLimit and Committed_AS, in kB."""
    kb = k.page_size // 1024
    return Stats(mem_total=k.ram_pages * kb, mem_free=k._nfree * kb,
                 swap_total=k.swap_pages * kb,
                 commit_limit=commit_limit_pages(k) * kb,
                 committed_as=committed_pages(k) * kb)


class ProcView:
    """Kernel methods that read a process's state and change nothing."""

    def pte(self, p, vpn):
        """The page-table entry for vpn: PTE(pfn, writable, cow), or None if not mapped."""
        p = self._proc(p)
        vpn = self._check_vpn(vpn)
        if vpn >= p.span or p._pfn[vpn] == NOT_PRESENT:
            return None
        f = PteFlags(int(p._flags[vpn]))
        return PTE(int(p._pfn[vpn]), PteFlags.WRITE in f, PteFlags.COW in f)

    def pte_flags(self, p, vpn):
        """The PteFlags of vpn (WRITE, COW, HUGE, DONTFORK, WIPEONFORK)."""
        p = self._proc(p)
        vpn = self._check_vpn(vpn)
        return PteFlags(int(p._flags[vpn])) if vpn < p.span else PteFlags.NONE

    def anon_exclusive(self, p, vpn):
        """Whether the page at vpn is PageAnonExclusive: an anonymous page only p maps, which
        a write may reuse without asking who else holds it (set on the first fault, on a
        copy and on a reuse; fork clears it in both processes)."""
        p = self._proc(p)
        vpn = self._check_vpn(vpn)
        if vpn >= p.span or p._pfn[vpn] < 0:
            return False
        return bool(self._fflags[p._pfn[vpn]] & F_EXCL)

    def holders(self):
        """Per-frame references that are not mappings, as numpy arrays indexed by pfn:
        "pinned" (long-term pins), "pipe" (pipe buffers from vmsplice), "page cache"
        (1 where a file's page cache holds the frame) and "ksm" (1 for a KSM page).
        They are why a frame's refcount can exceed its mapcount (drawings say which)."""
        cache = np.zeros(len(self._extra), dtype=np.int64)
        for obj, pages in enumerate(self._obj_pages):
            if self._obj_file[obj] is not None:
                held = np.asarray(pages)
                cache[held[held >= 0]] = 1
        return {"pinned": self._pincount.astype(np.int64),
                "pipe": (self._extra - self._pincount).astype(np.int64),
                "page cache": cache,
                "ksm": ((self._fflags & F_KSM) != 0).astype(np.int64)}

    def page_table(self, p):
        """Copies of the process's page-table arrays (see docs/kernel-internals.md)."""
        p = self._proc(p)
        return PageTable(p._pfn.astype(np.int64), p._has(F_WRITE), p._has(F_COW),
                         p._vma >= 0)

    def stats(self, p):
        """/proc/PID/smaps_rollup-style figures in kB, plus minor_faults (ru_minflt).

        Shared vs Private follows the mapcount (PTEs); the zero page is not counted.
        """
        return smaps(self, self._proc(p))

    def meminfo(self):
        """/proc/meminfo's memory and commit lines, in kB."""
        return meminfo(self)

    def commit_limit_pages(self):
        """CommitLimit in pages (see cowlab.mm.commit)."""
        return commit_limit_pages(self)

    def committed_pages(self):
        """Committed_AS in pages (see cowlab.mm.commit)."""
        return committed_pages(self)
