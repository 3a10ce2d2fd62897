"""A private anonymous mapping we control: one VMA, guard page after it, numpy view."""
import ctypes
import mmap
import os

import numpy as np

from .machine import HPAGE_SIZE, PAGE_SIZE, _check_pages, _libc, _require_linux
from .procfs import pagemap, smaps


def _address(mm):
    """Where an mmap object lives in our address space (its buffer's first byte)."""
    view = ctypes.c_char.from_buffer(mm)
    try:
        return ctypes.addressof(view)
    finally:
        del view                       # release the buffer export, or mm.close() fails



def _mprotect_none(addr, length):
    """mprotect(PROT_NONE): a guard page, so the kernel never merges our VMA with a neighbour."""
    if _libc().mprotect(addr, length, 0) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mprotect guard page: {os.strerror(e)}")


_ONE_CPU = {"open": 0, "saved": None}


def _stay_on_one_cpu():
    """While any Mapping is open, this thread (and the children it forks) runs on one CPU.

    A page's first fault puts it in that CPU's LRU-add batch, which holds a reference
    until drained; a COW fault on a non-exclusive page drains only its own CPU's batch
    (mm/memory.c: "We cannot easily detect+handle references from remote LRU
    pagevecs"), so a page faulted on another CPU has refcount 2 and is copied, not
    reused. On a busy machine the scheduler moves us often enough to see it."""
    if _ONE_CPU["open"] == 0:
        try:
            saved = os.sched_getaffinity(0)
            cpu = _libc().sched_getcpu()
            if cpu >= 0 and cpu in saved and len(saved) > 1:
                os.sched_setaffinity(0, {cpu})
                _ONE_CPU["saved"] = saved
        except (OSError, AttributeError):
            pass
    _ONE_CPU["open"] += 1


def _back_on_every_cpu():
    _ONE_CPU["open"] -= 1
    if _ONE_CPU["open"] == 0 and _ONE_CPU["saved"] is not None:
        saved, _ONE_CPU["saved"] = _ONE_CPU["saved"], None
        try:
            os.sched_setaffinity(0, saved)
        except OSError:
            pass


class Mapping:
    """A private anonymous mapping of `pages` pages: one VMA, one line in smaps.

    huge=True aligns it to 2 MiB and asks for a transparent huge page (MADV_HUGEPAGE);
    otherwise MADV_NOHUGEPAGE keeps it in 4 KiB pages whatever THP's default is.
    shared=True makes it MAP_SHARED instead (no COW: for shared_fork only).
    fd maps that file (a memfd) instead of anonymous memory; the file must hold
    pages + 1 pages (Python's mmap refuses to map past its end; the last is the guard).
    """

    def __init__(self, pages, huge=False, shared=False, fd=None):
        _require_linux()
        self.pages = _check_pages("pages", pages)
        self.length = self.pages * PAGE_SIZE
        self._one_cpu = False
        pad = HPAGE_SIZE if huge else 0
        kind = mmap.MAP_SHARED if shared else mmap.MAP_PRIVATE     # never left to default
        if fd is None:
            self._mm = mmap.mmap(-1, self.length + pad + PAGE_SIZE,
                                 flags=kind | mmap.MAP_ANONYMOUS)
        else:
            self._mm = mmap.mmap(fd, self.length + PAGE_SIZE, flags=kind)
        base = _address(self._mm)
        off = (-base) % HPAGE_SIZE if huge else 0
        self.addr = base + off
        self._mm.madvise(mmap.MADV_NOHUGEPAGE)
        if huge:
            self._mm.madvise(mmap.MADV_HUGEPAGE, off, self.length)
        _mprotect_none(self.addr + self.length, PAGE_SIZE)
        self.view = np.frombuffer(self._mm, dtype=np.uint8, count=self.length, offset=off)
        _stay_on_one_cpu()                # before the first fault: see _stay_on_one_cpu
        self._one_cpu = True

    def _offsets(self, vpns):
        vpns = np.asarray(vpns, dtype=np.intp).reshape(-1)
        if len(vpns) and (vpns.min() < 0 or vpns.max() >= self.pages):
            raise ValueError(f"vpns must lie in 0..{self.pages - 1}, "
                             f"got {vpns.min()}..{vpns.max()}")
        return vpns * PAGE_SIZE

    def write(self, vpns, value=1):
        """Store one byte at the start of each page: one C loop, no Python per page."""
        self.view[self._offsets(vpns)] = value

    def read(self, vpns):
        """Load the first byte of each page -> list of ints."""
        return self.view[self._offsets(vpns)].tolist()

    def madvise(self, advice):
        """MADV_DONTFORK / MADV_WIPEONFORK ... on the whole mapping."""
        off = self.addr - _address(self._mm)
        self._mm.madvise(advice, off, self.length)

    def mprotect(self, prot):
        """mprotect(2) the whole mapping: "r" (PROT_READ) or "rw" (PROT_READ|PROT_WRITE)."""
        bits = {"r": mmap.PROT_READ, "rw": mmap.PROT_READ | mmap.PROT_WRITE}
        if prot not in bits:
            raise ValueError(f"prot must be 'r' or 'rw', got {prot!r}")
        if _libc().mprotect(self.addr, self.length, bits[prot]) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"mprotect({prot}): {os.strerror(e)}")

    def smaps(self):
        return smaps(self.addr, self.length)

    def pagemap(self, vpns=None, hide_pfns=False):
        vpns = range(self.pages) if vpns is None else vpns
        return pagemap(self.addr, vpns, hide_pfns)

    def close(self):
        self.view = None
        if self._one_cpu:
            self._one_cpu = False
            _back_on_every_cpu()
        try:
            self._mm.close()
        except BufferError:            # a caller still holds a view; munmap when it goes
            pass

    def __del__(self):                  # never leave this thread on one CPU
        if getattr(self, "_one_cpu", False):
            self._one_cpu = False
            _back_on_every_cpu()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()



def pfns_visible():
    """Whether pagemap shows PFNs to us (it needs CAP_SYS_ADMIN, i.e. root, since Linux 4.2)."""
    with Mapping(1) as m:
        m.write([0], 1)
        return m.pagemap([0])[0].pfn is not None

