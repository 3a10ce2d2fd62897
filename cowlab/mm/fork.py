"""fork (kernel/fork.c's dup_mmap, mm/memory.c's copy_page_range) and spawn.

fork copies the page table, not the pages: each private page the parent maps is
mapped by the child too, read-only and copy-on-write in both, and its frame's
mapcount rises. MAP_SHARED regions are not copied (the child faults them in from
the shared object), MADV_DONTFORK pages are left out, MADV_WIPEONFORK pages start
empty. The work is a few whole-array operations: fork of a 10 GiB process is
milliseconds, as on a real machine.
"""
import numpy as np

from . import commit
from .bulk import as_index
from .events import Event, FrameSet, plural
from .page_alloc import F_DIRTY, F_EXCL, NOT_EXCL
from .pgtable import (F_COW, F_DONTFORK, F_WIPEONFORK, F_WRITE, MADVISED, MAX_SPAN,
                      NOT_PRESENT, PTE_BITS, ZERO_PFN, Process, clear_mask)

KEEP_PTE = int(PTE_BITS)
NO_WRITE = np.uint8(clear_mask(F_WRITE))
CHUNK = 1 << 20          # pages per step of fork's copy: bounds its temporaries


class Fork:
    """Kernel methods that create processes."""

    def spawn(self, name, pages=3):
        """A new process with a private writable region at vpn 0..pages-1, every page written.

        Like a program that mallocs `pages` pages and touches each: one minor fault
        and one zeroed frame per page (lowest free PFN first).
        """
        if not isinstance(name, str) or not name.strip():
            raise TypeError(f"name must be a non-empty string such as 'parent', got {name!r}")
        pages = self._check_pages(pages, low=0)
        if pages + self.huge_pages > MAX_SPAN:
            raise ValueError(f"spawn at most {MAX_SPAN - self.huge_pages:,} pages")
        pid = len(self._procs) + 1
        why = commit.vm_enough_memory(self, pages)
        if why:
            raise self._refuse(None, f"spawn {name}", why)
        self._widen_for_a_process()
        p = Process(self, pid, name)
        self._procs.append(p)
        if pages:
            start = self._add_region(p, pages, shared=False, huge=False, writable=True)
            self._populate(p, start, pages)
        return p

    def fork(self, p, name=None):
        """fork(): copy the page table, not the pages (copy_page_range with COW).

        Private writable pages become read-only + COW in both processes and each frame's
        refcount rises; MAP_SHARED regions stay shared (the child faults them in);
        MADV_DONTFORK ranges are left out, MADV_WIPEONFORK ranges start empty.
        """
        p = self._proc(p)
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise TypeError(f"name must be a non-empty string such as 'child', got {name!r}")
        name = name or ("child" if p.name == "parent" else f"{p.name}-child")
        ids = p._vma
        if p._madvised:
            ids = np.where(p._has(F_DONTFORK), -1, ids).astype(ids.dtype)
        runs = self._runs(ids)                  # (start, stop, region id): a few, not pages
        # dup_mmap charges each private writable region (VMA) of the child separately
        charge, total_vm = 0, sum(e - s for s, e, _ in self._runs(p._vma))
        for s, e, i in runs:
            v = self._vmas[i]
            if v.acct:
                why = commit.vm_enough_memory(self, e - s, total_vm, released=-charge)
                if why:
                    raise self._refuse(p, f"fork of {p.name} (pid {p.pid})", why)
                charge += e - s
        early = self._early_cow_vpns(p, runs)
        if len(early) > self._nfree:
            raise self._refuse(p, f"fork of {p.name} (pid {p.pid})",
                               f"no free frame to copy its {len(early)} pinned pages at once")
        self._widen_for_a_process()
        c = Process(self, len(self._procs) + 1, name)
        self._procs.append(c)
        c._charge = charge
        c._vma = ids                            # shared with p unless DONTFORK made a copy
        saved = p._flags[early].copy()
        copied, frames = self._copy_page_range(p, c, runs)
        if len(early):
            frames = self._copy_pinned_at_once(p, c, early, saved)
        for obj in {self._vmas[i].obj for _, _, i in runs} - {None}:
            self._obj_users[obj] += 1
        pages = "no pages copied" if not len(early) else \
            f"{plural(len(early), 'pinned page')} copied at once (early COW)"
        text = (f"fork: {p.name} (pid {p.pid}) creates {c.name} (pid {c.pid}); "
                f"{plural(copied, 'PTE')} copied, {pages}")
        if frames.n:
            text += f"; {frames.words()} now shared, read-only and COW in both"
        self.events.append(Event("fork", c.pid, None, None, None, text))
        return c

    def _early_cow_vpns(self, p, runs):
        """Private pages fork must copy at once (Linux 5.9 on): pinned and exclusive, so
        the pin keeps seeing the parent's page (page_needs_cow_for_dma)."""
        if self.rules != "linux" or not self._npins:
            return np.empty(0, np.int64)
        out = []
        for s, e, i in runs:
            if not self._vmas[i].shared:
                pf = p._pfn[s:e]
                frame = np.maximum(pf, 0)
                hit = (pf >= 0) & (self._pincount[frame] > 0) & ((self._fflags[frame] & F_EXCL) != 0)
                out.append(np.flatnonzero(hit) + s)
        return np.concatenate(out) if out else np.empty(0, np.int64)

    def _copy_pinned_at_once(self, p, c, vpns, saved):
        """copy_present_page: the child gets its own copy; the parent keeps its PTE as it
        was and its page exclusive. -> the frames still shared, for the narration."""
        old = p._pfn[vpns]
        p._flags[vpns] = saved
        self._fflags[old] |= F_EXCL
        self._mapcount[old] -= 1
        new = self._kalloc(len(vpns))
        self._content[new] = self._content[old]
        c._pfn[vpns] = new
        c._flags[vpns] = saved & KEEP_PTE
        self._mapcount[new] += 1
        self._fflags[new] |= F_DIRTY | F_EXCL
        frames = FrameSet()
        shared = c._pfn[c._pfn >= 0]
        frames.add(shared[self._mapcount[shared] > 1])
        return frames

    def _copy_page_range(self, p, c, runs):
        """The child's PTEs: the parent's private ones, write-protected in both.

        Works a chunk of CHUNK pages at a time, so no temporary is as large as the
        page table. -> (PTEs the child got, the frames now shared)."""
        c._pfn = p._pfn.copy()
        c._flags = p._flags & KEEP_PTE
        if p._madvised:
            c._flags |= p._flags & F_WIPEONFORK
        covered = 0
        for s, e, i in runs:
            c._pfn[covered:s] = NOT_PRESENT              # holes and MADV_DONTFORK pages
            c._flags[covered:s] = 0
            covered = e
            v = self._vmas[i]
            if v.shared:                                 # the child faults these in
                c._pfn[s:e] = NOT_PRESENT
                c._flags[s:e] = 0
            elif p._madvised:                            # MADV_WIPEONFORK: start empty
                wipe = p._has(F_WIPEONFORK, slice(s, e))
                c._pfn[s:e][wipe] = NOT_PRESENT
                c._flags[s:e][wipe] &= ~KEEP_PTE & 0xFF
        c._pfn[covered:] = NOT_PRESENT
        c._flags[covered:] = 0
        if p._madvised:
            c._madvised = bool(np.any(c._flags & MADVISED))
        copied, frames = 0, FrameSet()
        for s, e, i in runs:
            v = self._vmas[i]
            if v.shared:
                continue
            for a in range(s, e, CHUNK):
                b = min(a + CHUNK, e)
                pf = c._pfn[a:b]
                m = pf >= 0
                everything = bool(m.all())
                got = pf if everything else pf[m]
                copied += len(got) + int(np.count_nonzero(pf == ZERO_PFN))
                idx = as_index(got)
                if (self._files or self._ksm_merged) and not isinstance(idx, slice):
                    np.add.at(self._mapcount, idx, 1)    # a file mapped twice: repeats
                else:
                    self._mapcount[idx] += 1
                self._fflags[idx] &= NOT_EXCL            # shared now: neither owns it
                frames.add(got)
                if v.writable:                           # write-protect: COW in both
                    if everything:
                        for t in (p._flags[a:b], c._flags[a:b]):
                            t &= NO_WRITE
                            t |= F_COW
                    else:
                        cow = m.view(np.uint8) * F_COW
                        keep = np.where(m, np.uint8(NO_WRITE), np.uint8(0xFF))
                        for t in (p._flags[a:b], c._flags[a:b]):
                            t &= keep
                            t |= cow
                if not everything:
                    c._flags[a:b][~m] &= ~KEEP_PTE & 0xFF
        return copied, frames
