"""Page tables: one process's PTEs, as arrays indexed by virtual page number (vpn).

A PTE here is a frame number (`_pfn`, int32) and a byte of flags (`_flags`, PteFlags);
the region (VMA) each vpn lies in is `_vma` (a small int id, -1 for none). Narrow
dtypes keep a 10 GiB process (2,621,440 pages) at about 7 bytes per page.
"""
import enum
from collections import namedtuple

import numpy as np

ZERO_PFN = -1        # the shared zero page: outside 0..ram_pages-1, refcount 0
NOT_PRESENT = -2     # no PTE: the page was never touched (or was dropped)
PFN_DTYPE = np.int32     # frames fit: MAX_RAM_PAGES is 2**24
MAX_VPN = 1 << 35    # 47-bit user address space with 4 KiB pages
MAX_SPAN = 1 << 24   # vpns a process may map (64 GiB): the tables are dense arrays


class PteFlags(enum.IntFlag):
    """The per-page bits, packed in one byte per vpn."""
    NONE = 0
    WRITE = 1        # the PTE is writable: stores go straight through
    COW = 2          # read-only because it is copy-on-write (a write fault copies or reuses)
    HUGE = 4         # mapped by a 2 MiB PMD (a transparent huge page), not split yet
    DONTFORK = 8     # MADV_DONTFORK: a child does not get this page
    WIPEONFORK = 16  # MADV_WIPEONFORK: a child gets it empty
    MERGEABLE = 32   # MADV_MERGEABLE: KSM may merge it with identical pages


PTE_BITS = PteFlags.WRITE | PteFlags.COW | PteFlags.HUGE     # what fork copies into a child
MADVISED = PteFlags.DONTFORK | PteFlags.WIPEONFORK

PTE = namedtuple("PTE", "pfn writable cow")
PTE.__doc__ = "A page-table entry: the frame it maps, whether writes go straight through, COW."
PageTable = namedtuple("PageTable", "pfn writable cow mapped")
PageTable.__doc__ = "Copies of a process's page-table arrays, indexed by vpn."


def vma_dtype(nregions):
    """Region ids per vpn: int16 while the kernel has fewer than 32,767 regions."""
    return np.int16 if nregions < np.iinfo(np.int16).max else np.int32


class Process:
    """A process: a pid, a name, and a page table (arrays indexed by vpn)."""

    def __init__(self, kernel, pid, name):
        self._kernel = kernel
        self.pid = pid
        self.name = name
        self.alive = True
        self.minor_faults = 0
        self.oom_score_adj = 0                        # -1000..1000, as /proc/PID/oom_score_adj
        self._charge = 0                              # committed pages (private writable)
        self._pfn = np.empty(0, dtype=PFN_DTYPE)      # frame per vpn, or NOT_PRESENT/ZERO_PFN
        self._flags = np.empty(0, dtype=np.uint8)     # PteFlags per vpn
        self._vma = np.empty(0, dtype=np.int16)       # region id per vpn, -1 = none
        self._madvised = False                        # any DONTFORK/WIPEONFORK bit set

    def __repr__(self):
        state = "" if self.alive else ", exited"
        return f"<Process {self.name} (pid {self.pid}{state})>"

    @property
    def span(self):
        """One past the highest vpn any region of this process covers."""
        return len(self._pfn)

    def _has(self, flag, where=slice(None)):
        """A bool array: which vpns (of `where`) have this flag."""
        return (self._flags[where] & flag) != 0

    def _grow(self, span, dtype):
        """Extend every per-vpn array to cover vpn 0..span-1 (new arrays: `_vma` is
        replaced, never written in place once shared, so a child may share its parent's)."""
        if self._vma.dtype != dtype:
            self._vma = self._vma.astype(dtype)
        if span <= len(self._pfn):
            return
        for name, fill in (("_pfn", NOT_PRESENT), ("_vma", -1), ("_flags", 0)):
            old = getattr(self, name)
            new = np.empty(span, old.dtype)
            new[:len(old)] = old
            new[len(old):] = fill
            setattr(self, name, new)

    def _clear(self):
        """Forget every mapping (after the kernel dropped their references)."""
        self._pfn = np.empty(0, dtype=PFN_DTYPE)
        self._flags = np.empty(0, dtype=np.uint8)
        self._vma = np.empty(0, dtype=self._vma.dtype)
        self._madvised = False
        self._charge = 0


def clear_mask(bits):
    """The byte that clears `bits` when and-ed with a flags array (0xFF & ~bits, as an int)."""
    return 0xFF & ~int(bits)


# The same bits as numpy bytes, for array operations (an IntFlag would widen them).
F_WRITE, F_COW, F_HUGE, F_DONTFORK, F_WIPEONFORK, F_MERGEABLE = (
    np.uint8(f) for f in (PteFlags.WRITE, PteFlags.COW, PteFlags.HUGE, PteFlags.DONTFORK,
                          PteFlags.WIPEONFORK, PteFlags.MERGEABLE))
