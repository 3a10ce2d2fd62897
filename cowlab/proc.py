"""What /proc shows of a model kernel: smaps_rollup figures per process, and meminfo.

Shared vs Private follows each frame's mapcount (the PTEs that map it), as
fs/proc/task_mmu.c does; the zero page is not counted; sizes are in kB.
"""
import numpy as np

PSS_SHIFT = 12          # Pss is summed in fixed point, as the kernel does


class Stats(dict):
    """A dict whose keys also read as attributes: `s["rss"] == s.rss`."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def smaps(k, p):
    """Rss, Pss, Shared/Private Clean/Dirty and AnonHugePages of process p, and its
    minor faults (ru_minflt)."""
    present = p._pfn >= 0
    pfn = p._pfn[present]
    mc = k._mapcount[pfn]
    dirty = k._dirty[pfn]
    kb = k.page_size // 1024
    # page_size/mapcount per page in fixed point; pages with the same mapcount share
    # the same term, so sum by mapcount, then truncate to kB
    by_mc = np.bincount(mc, minlength=2)
    pss = sum(int(n) * ((k.page_size << PSS_SHIFT) // max(m, 1))
              for m, n in enumerate(by_mc.tolist()) if n)
    shared_dirty = int(np.count_nonzero(dirty[mc > 1]))
    private_dirty = int(np.count_nonzero(dirty[mc == 1]))
    return Stats(rss=len(pfn) * kb, pss=pss >> (PSS_SHIFT + 10),
                 shared_clean=(int(by_mc[2:].sum()) - shared_dirty) * kb,
                 shared_dirty=shared_dirty * kb,
                 private_clean=(int(by_mc[1]) - private_dirty) * kb,
                 private_dirty=private_dirty * kb,
                 anon_huge=int(np.count_nonzero(p._pmd & present)) * kb,
                 minor_faults=p.minor_faults)


def meminfo(k):
    """MemTotal, MemFree, SwapTotal, CommitLimit and Committed_AS, in kB."""
    from .commit import commit_limit_pages, committed_pages
    kb = k.page_size // 1024
    return Stats(mem_total=k.ram_pages * kb, mem_free=k._nfree * kb,
                 swap_total=k.swap_pages * kb,
                 commit_limit=commit_limit_pages(k) * kb,
                 committed_as=committed_pages(k) * kb)
