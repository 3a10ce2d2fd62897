"""exec, exit and fatal signals: dropping a whole address space (exit_mmap).

Every PTE's reference goes; a frame nobody else references is freed. A MAP_SHARED
object dies with its last mapping, and its frames with it.
"""
import numpy as np

from . import commit
from .events import Event, free_events, pages_str, plural
from .page_alloc import F_OBJREF
from .pgtable import F_HUGE, MADVISED, MAX_SPAN, NOT_PRESENT, PFN_DTYPE, clear_mask

NOT_OBJREF = 0xFF ^ int(F_OBJREF)
NOT_HUGE = clear_mask(F_HUGE)
MADVISED_ONLY = int(MADVISED) | 32   # what survives a zap: the madvise bits (MERGEABLE too)


class Exit:
    """Kernel methods that end an address space."""

    def exec(self, p, pages=1, name=None):
        """execve(): drop every mapping and start a fresh, populated private image of `pages`."""
        p = self._proc(p)
        pages = self._check_pages(pages, low=0)
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise TypeError(f"name must be a non-empty string such as 'ls', got {name!r}")
        if pages + self.huge_pages > MAX_SPAN:
            raise ValueError(f"exec images hold at most {MAX_SPAN - self.huge_pages:,} pages")
        why = commit.vm_enough_memory(self, pages, released=p._charge)
        if why:
            raise self._refuse(p, f"exec by {p.name} (pid {p.pid})", why)
        before = len(self.events)
        n = int(np.count_nonzero(p._pfn != NOT_PRESENT))
        old = p.name
        p.name = name or p.name
        self.events.append(Event("exec", p.pid, None, None, None,
                                 f"exec: {old} (pid {p.pid}) drops its "
                                 f"{plural(n, 'page-table entry', 'page-table entries')} "
                                 f"and starts a fresh {pages_str(pages)} image"
                                 + (f" as {p.name}" if p.name != old else "")))
        self.events += self._teardown(p, "exec dropped it")
        if pages:
            start = self._add_region(p, pages, shared=False, huge=False, writable=True)
            self._populate(p, start, pages)
        return self.events[before:]

    def exit(self, p):
        """exit(): drop every mapping; frames nobody else maps are freed."""
        p = self._proc(p)
        before = len(self.events)
        n = int(np.count_nonzero(p._pfn != NOT_PRESENT))
        self.events.append(Event("exit", p.pid, None, None, None,
                                 f"exit: {p.name} (pid {p.pid}) drops its "
                                 f"{plural(n, 'page-table entry', 'page-table entries')}"))
        self.events += self._teardown(p, "exit dropped it")
        p.alive = False
        return self.events[before:]

    def _teardown(self, p, why):
        """Drop every mapping of p (exit, exec, a fatal signal); free what nobody else uses."""
        freed = [self._put_pages(p._pfn[p._pfn >= 0])]
        objs = {self._vmas[i].obj for i in self._ids_in(p._vma)} - {None}
        for obj in sorted(objs):
            freed.append(self._drop_object_user(obj))
        p._clear()
        return free_events(p, np.sort(np.concatenate(freed)), why)

    def _drop_object_user(self, obj):
        """One process less maps a shared object; the last one takes the object (and the
        frames only it held) with it. -> the frames freed."""
        self._obj_users[obj] -= 1
        if self._obj_users[obj] or self._obj_file[obj] is not None:   # page cache stays
            return np.empty(0, PFN_DTYPE)
        held = self._obj_pages[obj]
        held = held[held >= 0]
        self._fflags[held] &= NOT_OBJREF
        dead = held[self._refs(held) == 0]
        self._kfree(dead)
        self._obj_charge[obj] = 0
        return dead

    def _zap(self, p, lo, hi):
        """zap_page_range: drop the PTEs of vpn lo..hi-1 (the regions stay) -> frames freed.

        A huge page the range cuts is split: its other pages stay mapped by 4 KiB PTEs."""
        hi = min(hi, p.span)
        if lo >= hi:
            return np.empty(0, PFN_DTYPE)
        h = self.huge_pages
        for edge in (lo, hi - 1):
            c = slice(edge - edge % h, min(edge - edge % h + h, p.span))
            p._flags[c] &= NOT_HUGE
        pf = p._pfn[lo:hi]
        freed = self._put_pages(pf[pf >= 0])
        pf[:] = NOT_PRESENT
        p._flags[lo:hi] &= MADVISED_ONLY
        return freed

    def _kill(self, p, vpn, text):
        ev = [Event("segv", p.pid, vpn, None, None, text)]
        ev += self._teardown(p, "SIGSEGV")
        p.alive = False
        return ev
