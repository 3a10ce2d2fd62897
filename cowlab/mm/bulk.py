"""The bulk path: many writes of one process in a few numpy operations.

`write_many` and MAP_POPULATE must end in exactly the state the one-page path would
reach write by write. They ask the same `decide` (cowlab.mm.memory) about all the
distinct pages at once and carry out the common faults (zero-fill, COW copy, COW
reuse) as array operations. What needs care page by page (shared or huge regions,
read-only ones, the OOM killer, xv6 copies that free frames) goes through the
one-page handlers, in order.
"""
from collections import Counter

import numpy as np

from .events import BULK_KINDS, summarise
from .memory import Fault, NO_WC, decide
from .page_alloc import F_DIRTY, F_EXCL, F_KSM, F_OBJREF, NOT_ANON
from .pgtable import F_WRITE, MAX_VPN

def _is_int(x):
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def first_occurrences(seq, span):
    """The distinct values of seq (all below span) in order of first appearance, and
    where they appear. A scatter into a scratch array: O(len(seq)), where sorting
    half a million vpns would take ten times longer."""
    n = len(seq)
    if n < 2 or np.all(seq[1:] > seq[:-1]):
        return seq, np.arange(n)
    if n < 64:
        u, first = np.unique(seq, return_index=True)
        order = np.argsort(first, kind="stable")
        return u[order], first[order]
    pos = np.empty(span, np.int32)                 # only the pages seq touches get memory
    pos[seq[::-1]] = np.arange(n - 1, -1, -1, dtype=np.int32)   # the earliest index wins
    first = np.flatnonzero(pos[seq] == np.arange(n, dtype=np.int32))
    return seq[first], first


def as_index(pfns):
    """A slice when the frames are one increasing run (cheap to index), else the array."""
    n = len(pfns)
    if n and int(pfns[-1]) - int(pfns[0]) == n - 1 and (n < 3 or np.all(pfns[1:] > pfns[:-1])):
        return slice(int(pfns[0]), int(pfns[0]) + n)
    return pfns


class Bulk:
    """Kernel methods: write_many and the population of new regions."""

    def write_many(self, p, vpns, value=1):
        """Store `value` to each vpn in order (a list or numpy array); -> {kind: count}.

        The same result as calling write() for each vpn, but vectorised: it logs one
        summary event per kind instead of one per page. Counts are pages for cow_copy,
        cow_reuse, zero_fill and shared_map, frames for free, events for segv and oom_kill.
        """
        p = self._proc(p)
        vpns = self._check_vpns(vpns)
        before = self._freed
        events, counts = self._write_batch(p, vpns, value)
        self.events += events + summarise(self, p, counts, "write_many")
        counts.update(e.kind for e in events if e.kind in ("segv", "oom_kill"))
        if self._freed > before:
            counts["free"] = self._freed - before
        return dict(counts)

    def _check_vpns(self, vpns):
        if isinstance(vpns, (str, bytes, dict, set)) or not hasattr(vpns, "__len__"):
            raise TypeError(f"vpns must be a list or numpy array of page numbers, "
                            f"got {type(vpns).__name__}")
        arr = np.asarray(vpns)
        if arr.ndim != 1:
            raise ValueError(f"vpns must be a flat list of page numbers, got shape {arr.shape}")
        if len(arr) == 0:
            return arr.astype(np.int64)
        if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
            bad = next((v for v in vpns if not _is_int(v)), arr.dtype)
            raise TypeError(f"vpns must be whole page numbers, found {bad!r}")
        if arr.min() < 0:
            raise ValueError(f"vpns must be 0 or more, found {int(arr.min())}")
        if arr.max() >= MAX_VPN:
            raise ValueError(f"vpn {int(arr.max()):,} is beyond the user address space "
                             f"(vpns stop at {MAX_VPN - 1:,})")
        return arr.astype(np.int64, copy=False)       # read only here: no copy needed

    def _write_batch(self, p, seq, value):
        """Writes in order -> (rare events, Counter of page kinds).

        Vectorised while RAM lasts; one by one where the OOM killer must act or a
        page needs care (shared, huge, read-only, xv6 copies that free frames).
        """
        events, counts, pos = [], Counter(), 0

        def one(vpn):
            for e in self._handle_write(p, int(vpn), value)[0]:
                if e.kind in BULK_KINDS:
                    counts[e.kind] += 1
                else:
                    events.append(e)

        special = (self._vma_table("shared") | self._vma_table("huge") |
                   ~self._vma_table("writable") | self._vma_table("file"))
        while pos < len(seq) and p.alive:
            rest = seq[pos:]
            if rest.max() < p.span:
                ids = p._vma[rest]
            else:
                inside = rest < p.span
                ids = np.full(len(rest), -1, np.int32)
                ids[inside] = p._vma[rest[inside]]
            care = special[ids] | (ids < 0)
            bad = np.flatnonzero(care)
            stop = int(bad[0]) if len(bad) else len(rest)
            if stop == 0:                       # a run of special writes: one by one
                normal = np.flatnonzero(~care)
                run = int(normal[0]) if len(normal) else len(rest)
                for v in rest[:run].tolist():
                    one(v)
                    if not p.alive:
                        break
                pos += run
                continue
            u, first = first_occurrences(rest[:stop], p.span)
            pfn = p._pfn[u]
            frame = np.maximum(pfn, 0)
            fflags = self._fflags[frame]
            mapcount = self._mapcount[frame]
            refs = mapcount + (fflags & F_OBJREF) + self._extra[frame]
            flags = p._flags[u]
            fault = decide(True, pfn, flags, refs, True, True, False, False, self.rules,
                           (fflags & F_EXCL) != 0, mapcount, False, (fflags & NOT_ANON) == 0)
            copy = fault == Fault.COW_COPY
            if np.any(fault == Fault.SEGV) or np.any(copy & (mapcount == 1)) or \
                    np.any(copy & ((fflags & F_KSM) != 0)):   # a KSM frame repeats in p
                for v in rest[:stop]:           # rare: frees inside the batch; go in order
                    one(v)
                    if not p.alive:
                        break
                pos += stop
                continue
            need = copy | (fault == Fault.ZERO_FILL)
            j = len(u)
            if np.count_nonzero(need) > self._nfree:
                j = int(np.searchsorted(np.cumsum(need), self._nfree, side="right"))
            counts.update(self._apply_writes(p, u[:j], pfn[:j], flags[:j], fault[:j], value))
            if j == len(u):
                pos += stop
            else:                               # out of frames: this one calls the OOM killer
                pos += int(first[j])
                one(seq[pos])
                pos += 1
        return events, counts

    def _apply_writes(self, p, u, pfn, flags, fault, value):
        """Carry out decide()'s faults for distinct private vpns of p, RAM permitting.

        Whatever the fault, the page ends writable and not COW (for a page that took no
        fault that changes nothing), so the flags are one scatter."""
        copy = fault == Fault.COW_COPY
        fresh = fault == Fault.ZERO_FILL
        need = copy | fresh
        new = self._kalloc(int(np.count_nonzero(need)))
        p._pfn[u[need]] = new
        p._flags[u] = (flags & NO_WC) | F_WRITE
        self._mapcount[pfn[copy]] -= 1          # refcount > 1 for every copied frame: none freed
        code = self._code(value)
        frames = as_index(new)
        self._mapcount[frames] += 1
        self._set_dirty(frames, code)
        self._fflags[frames] |= F_EXCL           # new anonymous pages are exclusive
        self._set_dirty(pfn[~need], code)
        self._fflags[pfn[fault == Fault.COW_REUSE]] |= F_EXCL
        p.minor_faults += int(np.count_nonzero(fault != Fault.NONE))
        return {"cow_copy": int(np.count_nonzero(copy)), "zero_fill": int(np.count_nonzero(fresh)),
                "cow_reuse": int(np.count_nonzero(fault == Fault.COW_REUSE))}

    def _populate(self, p, start, pages):
        """Touch every page of a new region, as MAP_POPULATE or a program's first writes do."""
        vma = self._vmas[p._vma[start]]
        if vma.shared or not vma.writable:      # populated by read faults
            events = []
            for v in range(start, start + pages):
                events += self._handle_read(p, v)[0]
                if not p.alive:
                    break
            counts = Counter(e.kind for e in events if e.kind in BULK_KINDS)
            events = [e for e in events if e.kind not in BULK_KINDS]
        elif not vma.huge and pages <= self._nfree:   # the common case, in slices
            new = self._kalloc(pages)
            end = start + pages
            p._pfn[start:end] = new
            p._flags[start:end] |= F_WRITE
            frames = as_index(new)
            self._mapcount[frames] = 1
            self._fflags[frames] |= F_DIRTY | F_EXCL   # written, and only p maps them
            p.minor_faults += pages
            events, counts = [], {"zero_fill": pages}
        else:
            events, counts = self._write_batch(p, np.arange(start, start + pages), 0)
        self.events += events + summarise(self, p, counts, "populate")



