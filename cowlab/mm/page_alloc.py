"""Frames and their reference counts (Linux's page allocator and struct page; xv6's kalloc.c).

A frame is free when nothing references it: no PTE maps it (mapcount 0) and no shared
object holds it. `_kalloc` hands out the lowest free frames, so the course can say
"new frames are the lowest free PF". Frame contents are small codes (`_content`) for
the values students write; the code array widens only when there are many values.
"""
import enum

import numpy as np

from .pgtable import PFN_DTYPE, ZERO_PFN

MAX_RAM_PAGES = 1 << 24   # 64 GiB of 4 KiB frames: enough for any lesson


class FrameFlags(enum.IntFlag):
    """Per-frame bits, one byte per frame."""
    NONE = 0
    OBJREF = 1    # a MAP_SHARED region's object holds a reference to this frame
    DIRTY = 2     # written since it was allocated (smaps' *_Dirty)
    ANON_EXCLUSIVE = 4   # PageAnonExclusive (Linux 5.19): one process owns this anonymous page
    KSM = 8              # merged by KSM: write-protected, shared, never reused


F_OBJREF, F_DIRTY, F_EXCL, F_KSM = (np.uint8(f) for f in (
    FrameFlags.OBJREF, FrameFlags.DIRTY, FrameFlags.ANON_EXCLUSIVE, FrameFlags.KSM))
NOT_ANON = F_OBJREF | F_KSM      # frames a write fault never reuses
NOT_EXCL = np.uint8(0xFF ^ int(FrameFlags.ANON_EXCLUSIVE))


class Frames:
    """The frame table: mapcounts, frame flags and contents, indexed by pfn."""

    def _init_frames(self, n):
        self._mapcount = np.zeros(n, dtype=np.int16)   # PTEs mapping each frame (see _widen)
        self._fflags = np.zeros(n, dtype=np.uint8)     # FrameFlags
        self._content = np.zeros(n, dtype=np.uint8)    # code of each frame's value
        self._extra = np.zeros(n, dtype=np.int32)      # references not from PTEs or objects:
        self._pincount = np.zeros(n, dtype=np.int32)   # pipe buffers and pins; pins alone
        self._values = [0]          # code -> value (0 is what fresh memory holds)
        self._codes = {}            # hashable value -> code
        self._nfree = n
        self._hint = 0              # no free frame below this pfn
        self._freed = 0             # frames freed so far (write_many reports the delta)

    def _widen_for_a_process(self):
        """A frame is mapped at most once per region of a process (an anonymous one once
        per process), so a mapcount never exceeds processes + regions ever made: int16
        holds it until there are 32,767 of them."""
        if len(self._procs) + len(self._vmas) + 1 >= np.iinfo(self._mapcount.dtype).max:
            self._mapcount = self._mapcount.astype(np.int32)

    def _objref(self, pfns):
        """1 where a shared object holds the frame, else 0 (an int array)."""
        return self._fflags[pfns] & F_OBJREF

    def _refs(self, pfns):
        """The refcount of frames (an index or a slice): PTEs + the shared object's
        reference + pipe buffers and pins, as folio_ref_count counts them."""
        return self._mapcount[pfns] + (self._fflags[pfns] & F_OBJREF) + self._extra[pfns]

    def refcount(self, pfn):
        """References to a frame: one per PTE, plus one if a shared region's object holds it."""
        pfn = self._check_pfn(pfn)
        if pfn == ZERO_PFN:
            return 0
        return int(self._refs(pfn))

    def refcounts(self):
        """Every frame's refcount, as a numpy array indexed by pfn."""
        return self._refs(slice(None)).astype(np.int64)

    def mapcounts(self):
        """How many PTEs map each frame (what smaps' Shared/Private split follows)."""
        return self._mapcount.astype(np.int64)

    def mapcount(self, pfn):
        """PTEs mapping a frame (what smaps' Shared/Private split and Linux 5.7's reuse rule
        count); refcount adds the other references (a shared object's, later pins)."""
        pfn = self._check_pfn(pfn)
        return 0 if pfn == ZERO_PFN else int(self._mapcount[pfn])

    def content(self, pfn):
        """The value stored in a frame (0 for the zero page)."""
        pfn = self._check_pfn(pfn)
        return 0 if pfn == ZERO_PFN else self._values[self._content[pfn]]

    def free_frames(self):
        return int(self._nfree)

    def _code(self, value):
        """A small int standing for value, so frame contents live in an int array."""
        if type(value) is int and value == 0:
            return 0
        try:
            key = (type(value), value)
            code = self._codes.get(key)
            if code is None:
                code = self._codes[key] = len(self._values)
                self._values.append(value)
        except TypeError:                 # unhashable: a fresh code each time
            self._values.append(value)
            code = len(self._values) - 1
        if code > np.iinfo(self._content.dtype).max:      # widen: uint8 -> uint16 -> int32
            wider = np.uint16 if code <= np.iinfo(np.uint16).max else np.int32
            self._content = self._content.astype(wider)
        return code

    def _is_free(self, lo, hi):
        return not np.any(self._mapcount[lo:hi]) and \
            not np.any(self._fflags[lo:hi] & F_OBJREF) and not np.any(self._extra[lo:hi])

    def _kalloc(self, n):
        """The n lowest free frames (fewer if RAM runs short), zeroed and taken (int32)."""
        need = min(n, self._nfree)
        start = self._hint
        if need and start + need <= self.ram_pages and self._is_free(start, start + need):
            pfns = np.arange(start, start + need, dtype=PFN_DTYPE)   # the common case
            self._hint = start + need
            self._nfree -= need
            return pfns
        found, chunk = [], max(1024, 2 * n)
        while need and start < self.ram_pages:
            stop = min(start + chunk, self.ram_pages)
            used = self._mapcount[start:stop] != 0
            used |= (self._fflags[start:stop] & F_OBJREF) != 0
            used |= self._extra[start:stop] != 0
            take = np.flatnonzero(~used)[:need].astype(PFN_DTYPE) + start
            found.append(take)
            need -= len(take)
            start, chunk = stop, chunk * 2
        pfns = np.concatenate(found) if found else np.empty(0, PFN_DTYPE)
        if len(pfns):
            self._hint = int(pfns[-1]) + 1
            self._nfree -= len(pfns)
        return pfns

    def _kfree(self, pfns):
        """Return frames whose last reference is gone to the free pool."""
        if len(pfns):
            self._content[pfns] = 0
            self._fflags[pfns] = 0
            self._nfree += len(pfns)
            self._freed += len(pfns)
            self._hint = min(self._hint, int(np.min(pfns)))

    def _put_back(self, pfns):
        """Undo a _kalloc whose frames were never mapped."""
        self._kfree(pfns)
        self._freed -= len(pfns)

    def _put_pages(self, pfns):
        """Drop one PTE reference from each frame; free those that reach refcount 0.

        A process maps a private frame at one vpn only, but a frame may be repeated
        across a batch from several processes, so the decrement counts repeats."""
        pfns = pfns[pfns >= 0]
        if not len(pfns):
            return pfns
        np.subtract.at(self._mapcount, pfns, 1)
        gone = pfns[self._refs(pfns) == 0]
        gone = np.unique(gone)
        self._kfree(gone)
        return gone

    def _set_dirty(self, pfns, code):
        """A store of the value with this code to frames: content and the dirty bit."""
        self._content[pfns] = code
        self._fflags[pfns] |= F_DIRTY
