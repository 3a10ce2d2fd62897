"""Regions (VMAs): mmap, madvise, and the lookup every fault starts with (find_vma).

A region is a run of vpns in one process with one set of properties (private or
MAP_SHARED, huge, writable). A MAP_SHARED region has a memory object (the shmem file
behind it) that holds its frames, so a second process finds them already there.
"""
from collections import namedtuple

import numpy as np

from . import commit
from .events import free_events, pages_str
from .pgtable import (MAX_SPAN, F_DONTFORK, F_MERGEABLE, F_WIPEONFORK, MADVISED, NOT_PRESENT, PFN_DTYPE, clear_mask,
                      vma_dtype)
Region = namedtuple("Region", "start pages shared huge")
Region.__doc__ = "A mapped range of virtual pages (a VMA): start vpn, length in pages."
_Vma = namedtuple("_Vma", "start shared huge writable obj acct file")
_Vma.__doc__ = ("A region's properties; `start` is the vpn its object offset counts from, "
                "`acct` whether it is charged to Committed_AS (VM_ACCOUNT).")
ADVICE = ("dontfork", "wipeonfork", "dofork", "keeponfork", "dontneed", "mergeable")


class Mappings:
    """Kernel methods for regions: creating them, finding them, advising on them."""

    def _vma_table(self, field):
        """A lookup array over region ids; index -1 (no region) hits the sentinel."""
        return np.array([getattr(v, field) for v in self._vmas] + [False], dtype=bool)

    def _add_region(self, p, pages, shared, huge, writable, file=None):
        start = p.span
        if huge:
            start = -(-start // self.huge_pages) * self.huge_pages
        obj = None
        if file is not None:                      # the file's page cache: one object per file
            obj = self._file_object(file, pages)
            self._obj_users[obj] += 1
        elif shared:                              # shmem: an object of its own, charged once
            obj = self._new_object(pages, charge=pages, file=None)
            self._obj_users[obj] = 1
        self._widen_for_a_process()
        self._vmas.append(_Vma(start, shared, huge, writable, obj, writable and not shared,
                               file))
        p._grow(start + pages, self._widen_vma_ids())
        p._vma[start:start + pages] = len(self._vmas) - 1
        if not shared and writable:
            p._charge += pages
        return start

    def _new_object(self, pages, charge, file):
        self._obj_pages.append(np.full(pages, NOT_PRESENT, PFN_DTYPE))
        self._obj_users.append(0)
        self._obj_charge.append(charge)
        self._obj_file.append(file)
        return len(self._obj_pages) - 1

    def _file_object(self, name, pages):
        """The page cache of file `name` (made on first use, grown to `pages` pages)."""
        if name not in self._files:
            self._files[name] = self._new_object(pages, charge=0, file=name)
        obj = self._files[name]
        have = self._obj_pages[obj]
        if len(have) < pages:
            self._obj_pages[obj] = np.concatenate(
                [have, np.full(pages - len(have), NOT_PRESENT, PFN_DTYPE)])
        return obj

    def read_file(self, name, page):
        """What page `page` of file `name` holds (its page-cache frame; 0 if never written)."""
        if name not in self._files:
            raise ValueError(f"no file {name!r}; files: {sorted(self._files) or 'none'} "
                             f"(mmap(p, pages, file=name) makes one)")
        page = self._check_count("page", page, low=0, high=MAX_SPAN)
        held = self._obj_pages[self._files[name]]
        return self.content(int(held[page])) if page < len(held) and held[page] >= 0 else 0

    def _widen_vma_ids(self):
        """The dtype region ids need now; many regions widen every process's table once."""
        dtype = vma_dtype(len(self._vmas))
        for q in self._procs:
            if q._vma.dtype != dtype:
                q._vma = q._vma.astype(dtype)
        return dtype

    def _own_vma_ids(self, p):
        """p's region-id array, copied first if a child shares it (fork shares it)."""
        if any(q is not p and q._vma is p._vma for q in self._procs):
            p._vma = p._vma.copy()
        return p._vma

    def regions(self, p):
        """The process's mapped ranges, in vpn order: [Region(start, pages, shared, huge)]."""
        p = self._proc(p)
        ids = p._vma
        if not len(ids):
            return []
        edges = np.flatnonzero(np.diff(ids)) + 1
        starts = np.concatenate([[0], edges])
        ends = np.concatenate([edges, [len(ids)]])
        out = []
        for s, e in zip(starts, ends):
            if ids[s] >= 0:
                v = self._vmas[ids[s]]
                out.append(Region(int(s), int(e - s), v.shared, v.huge))
        return out

    def _vma_at(self, p, vpn):
        """find_vma: the region holding vpn, or None."""
        return self._vmas[p._vma[vpn]] if vpn < p.span and p._vma[vpn] >= 0 else None

    @staticmethod
    def _ids_in(ids):
        """The distinct region ids in a per-vpn array (runs make this cheap)."""
        if not len(ids):
            return set()
        heads = np.concatenate([[0], np.flatnonzero(np.diff(ids)) + 1])
        return set(ids[heads].tolist()) - {-1}

    @staticmethod
    def _runs(ids):
        """(start, stop, id) of the runs of equal non-negative ids in a per-vpn array."""
        if not len(ids):
            return []
        edges = np.flatnonzero(ids[1:] != ids[:-1]) + 1
        starts = [0] + edges.tolist()
        ends = edges.tolist() + [len(ids)]
        heads = ids[starts].tolist()
        return [(s, e, i) for s, e, i in zip(starts, ends, heads) if i >= 0]

    def mmap(self, p, pages, shared=False, populate=False, huge=False, writable=True,
             file=None):
        """Map a new region after the process's last one; -> its first vpn.

        shared=True is MAP_SHARED (one object, no COW across fork); populate=True is
        MAP_POPULATE; huge=True asks for transparent huge pages (2 MiB aligned).
        file="name" maps file `name` (from page 0) through its page cache: MAP_SHARED
        writes change the file; a MAP_PRIVATE write copies the page into an anonymous
        frame of the process and the file stays as it was.
        """
        p = self._proc(p)
        pages = self._check_pages(pages)
        for flag, val in (("shared", shared), ("populate", populate), ("huge", huge),
                          ("writable", writable)):
            if not isinstance(val, (bool, np.bool_)):
                raise TypeError(f"{flag} must be True or False, got {val!r}")
        if huge and pages % self.huge_pages:
            raise ValueError(f"huge=True needs a multiple of {self.huge_pages} pages (2 MiB), "
                             f"got {pages}; round up to "
                             f"{-(-pages // self.huge_pages) * self.huge_pages}")
        if huge and shared:
            raise ValueError("huge pages are modelled for private mappings only; "
                             "use huge=True with shared=False")
        if file is not None and (not isinstance(file, str) or not file.strip()):
            raise TypeError(f"file must be a file name such as 'data.bin', got {file!r}")
        if file is not None and huge:
            raise ValueError("huge pages are modelled for anonymous memory only; "
                             "map a file without huge=True")
        self._check_room(p, pages)
        if (writable and not shared) or (shared and file is None):   # VM_ACCOUNT, shmem
            why = commit.vm_enough_memory(self, pages, int(np.count_nonzero(p._vma >= 0)))
            if why:
                raise self._refuse(p, f"mmap of {pages_str(pages)}", why)
        start = self._add_region(p, pages, bool(shared), bool(huge), bool(writable), file)
        if populate:
            self._populate(p, start, pages)
        return start

    def madvise(self, p, vpn, pages, advice):
        """MADV_DONTFORK ("dontfork"), MADV_WIPEONFORK ("wipeonfork") or MADV_DONTNEED
        ("dontneed") on a mapped range; -> the events (frames freed by dontneed).

        "dofork" and "keeponfork" undo the first two. "dontneed" drops the range's PTEs
        now: a later read of private memory maps the zero page, a shared page comes
        back from its object.
        """
        p = self._proc(p)
        vpn = self._check_vpn(vpn)
        pages = self._check_pages(pages)
        if advice not in ADVICE:
            raise ValueError(f"advice must be one of {', '.join(map(repr, ADVICE))}, "
                             f"got {advice!r}")
        end = vpn + pages
        if end > p.span or np.any(p._vma[vpn:end] < 0):
            raise ValueError(f"VP{vpn}..VP{end - 1} is not all mapped in {p.name}; "
                             f"madvise only a range inside its regions: {self.regions(p)}")
        if advice == "wipeonfork" and np.any(self._vma_table("shared")[p._vma[vpn:end]]):
            raise ValueError("wipeonfork applies to private mappings only (Linux says EINVAL "
                             "for MAP_SHARED); use dontfork to keep a shared range from a child")
        if advice == "mergeable":                 # MADV_MERGEABLE: k.ksm_scan() merges
            if np.any(self._vma_table("shared")[p._vma[vpn:end]] |
                      self._vma_table("file")[p._vma[vpn:end]]):
                raise ValueError("KSM merges private anonymous memory only; madvise a "
                                 "private anonymous range")
            p._flags[vpn:end] |= F_MERGEABLE
            return []
        if advice == "dontneed":
            freed = self._zap(p, vpn, end)
            events = free_events(p, freed, "MADV_DONTNEED dropped it")
            self.events += events
            return events
        bit = F_DONTFORK if advice in ("dontfork", "dofork") else F_WIPEONFORK
        if advice in ("dontfork", "wipeonfork"):
            p._flags[vpn:end] |= bit
        else:
            p._flags[vpn:end] &= clear_mask(bit)
        p._madvised = bool(np.any(p._flags & MADVISED))
        return []

    def munmap(self, p, vpn, pages):
        """munmap(): remove vpn..vpn+pages-1 from p's regions; -> the events (frames freed).

        Holes in the range are fine, as in Linux. Private writable pages are uncharged;
        a shared object dies with its last mapping.
        """
        p = self._proc(p)
        vpn = self._check_vpn(vpn)
        pages = self._check_pages(pages)
        end = min(vpn + pages, p.span)
        if vpn >= end:
            return []
        runs = [(s + vpn, e + vpn, i) for s, e, i in self._runs(p._vma[vpn:end])]
        freed = [self._zap(p, vpn, end)]
        ids = self._own_vma_ids(p)
        for s, e, i in runs:
            if self._vmas[i].acct:
                p._charge -= e - s
        ids[vpn:end] = -1
        left = self._ids_in(ids)
        for obj in sorted({self._vmas[i].obj for _, _, i in runs} - {None}):
            if not any(self._vmas[i].obj == obj for i in left):   # p maps none of it now
                freed.append(self._drop_object_user(obj))
        events = free_events(p, np.sort(np.concatenate(freed)), "munmap dropped it")
        self.events += events
        return events
