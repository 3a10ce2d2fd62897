"""KSM (mm/ksm.c): merge identical private anonymous pages into one write-protected page.

`k.madvise(p, vpn, pages, "mergeable")` marks pages as MADV_MERGEABLE; `k.ksm_scan()`
is one pass of ksmd over them: pages with the same content become one KSM frame,
mapped read-only (COW) by every one of them, and the frames they leave are freed. A
KSM page is never reused by a write fault, whatever its counts: a write always
copies (live fact 6). Pages with other references (pins, pipes) are skipped, as
write_protect_page does.
"""
from collections import defaultdict

import numpy as np

from .events import free_events
from .page_alloc import F_EXCL, F_KSM, NOT_ANON
from .pgtable import F_COW, F_MERGEABLE, F_WRITE

NO_WRITE = 0xFF ^ int(F_WRITE)


class Ksm:
    """Kernel method ksm_scan."""

    def ksm_scan(self):
        """Merge every group of identical mergeable pages; -> the events (frames freed)."""
        groups = defaultdict(list)                   # content code -> [(p, vpns, pfns)]
        for p in self.live():
            vpns = np.flatnonzero(((p._flags & F_MERGEABLE) != 0) & (p._pfn >= 0))
            pfns = p._pfn[vpns]
            ok = ((self._fflags[pfns] & NOT_ANON) == 0) | ((self._fflags[pfns] & F_KSM) != 0)
            ok &= self._extra[pfns] == 0
            vpns, pfns = vpns[ok], pfns[ok]
            for code in np.unique(self._content[pfns]).tolist():
                same = self._content[pfns] == code
                groups[code].append((p, vpns[same], pfns[same]))
        events = []
        for code, members in sorted(groups.items()):
            frames = np.unique(np.concatenate([f for _, _, f in members]))
            if len(frames) < 2:
                continue
            ksm = frames[(self._fflags[frames] & F_KSM) != 0]
            target = int(ksm[0]) if len(ksm) else int(frames[0])
            if self._mapcount.dtype == np.int16 and \
                    sum(len(v) for _, v, _ in members) + self._mapcount[target] > 30000:
                self._mapcount = self._mapcount.astype(np.int32)
            freed = []
            for p, vpns, pfns in members:
                move = pfns != target
                self._mapcount[target] += int(np.count_nonzero(move))
                p._pfn[vpns[move]] = target
                freed.append(self._put_pages(pfns[move]))
                p._flags[vpns] = (p._flags[vpns] & NO_WRITE) | F_COW
            self._fflags[target] = (self._fflags[target] & (0xFF ^ int(F_EXCL))) | F_KSM
            self._ksm_merged = True
            gone = np.unique(np.concatenate(freed))
            events += free_events(None, gone, f"KSM merged it into PF{target}")
        self.events += events
        return events
