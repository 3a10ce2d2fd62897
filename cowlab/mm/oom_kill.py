"""The OOM killer (mm/oom_kill.c): when a fault finds no free frame, kill the process
with the highest badness and retry the fault.

oom_badness (Linux 6.1): rss + swap entries + page-table pages, plus oom_score_adj
scaled to the machine (adj * totalpages / 1000). The model has no swap entries; it
counts a page table per 2 MiB of address space with anything mapped (a PTE page, or
the table a huge PMD deposits) and one per 1 GiB (the PMD page).
"""
import numpy as np

from .events import Event, pages_str, who

PTES_PER_TABLE = 512
OOM_SCORE_ADJ_MIN = -1000


class OomKiller:
    """Kernel methods of the OOM killer."""

    def _rss_pages(self, p):
        return int(np.count_nonzero(p._pfn >= 0))

    def _pgtable_pages(self, p):
        """Page-table pages p needs: PTE tables (per 2 MiB used) and PMD tables (per 1 GiB)."""
        n = PTES_PER_TABLE
        used = p._pfn != -2                      # any PTE, the zero page included
        pad = (-len(used)) % n
        tables = np.concatenate([used, np.zeros(pad, bool)]).reshape(-1, n).any(axis=1)
        pad = (-len(tables)) % n
        pmds = np.concatenate([tables, np.zeros(pad, bool)]).reshape(-1, n).any(axis=1)
        return int(np.count_nonzero(tables)) + int(np.count_nonzero(pmds))

    def oom_badness(self, p):
        """The OOM killer's score for p (as /proc/PID/oom_score's basis, in pages)."""
        p = self._proc(p)
        total = self.ram_pages + self.swap_pages
        return self._rss_pages(p) + self._pgtable_pages(p) + p.oom_score_adj * (total // 1000)

    def _oom_victim(self):
        """The live process with the highest oom_badness.

        oom_score_adj -1000 (OOM_SCORE_ADJ_MIN) is never chosen: oom_badness() returns
        LONG_MIN for it before any sum. Ties go to the highest pid: the kernel's
        select_bad_process keeps the last task of equal score in its scan, oldest first;
        that the scan order is the pid order is the model's simplification. If every
        process is -1000, Linux panics ("no killable processes"); the model, which must
        free a frame, then takes the highest score anyway."""
        live = [p for p in self._procs if p.alive]
        return max(live, key=lambda p: (p.oom_score_adj != OOM_SCORE_ADJ_MIN,
                                        self.oom_badness(p), p.pid))

    def _out_of_memory(self, faulting, vpn):
        victim = self._oom_victim()
        rss = self._rss_pages(victim)
        if all(self._rss_pages(q) <= rss for q in self._procs if q.alive):
            why = f"the largest RSS ({pages_str(rss)})"
        else:                                    # page tables or oom_score_adj tipped it
            why = f"the highest OOM score ({self.oom_badness(victim)}; RSS {pages_str(rss)})"
        text = (f"out of memory: no free frame for {who(self, faulting)}'s fault on VP{vpn}; "
                f"the OOM killer kills {victim.name} (pid {victim.pid}), {why}")
        return victim, [Event("oom_kill", victim.pid, vpn, None, None, text)] + \
            self._teardown(victim, "killed by the OOM killer")
