"""The kernel model: physical frames, page tables, fork, and the copy-on-write fault.

Read it top to bottom like xv6's vm.c: frames and their reference counts first
(`kalloc`, `get_page`, `put_page`), then the page-table walks (`uvmcopy` for fork,
`do_wp_page` for the write fault, `do_anonymous_page` for first touch), then the
system calls a student drives (`spawn`, `fork`, `write`, `exec`, `exit`, `mmap`,
`madvise`) and what /proc would show (`stats`, `meminfo`).

Linux is the reference; the real kernel settles any doubt (see cowlab.real).
Sizes are in pages unless a name ends in `_kb`. Page and frame tables are numpy
arrays, so a 10 GiB process (2,621,440 pages) forks and takes millions of writes.
This module imports only numpy: no ipywidgets, no graphviz.
"""
import errno
from collections import Counter, namedtuple

import numpy as np

from . import commit, proc
from .commit import pages_str
from .proc import Stats  # noqa: F401  (re-exported: k.stats() returns one)

ZERO_PFN = -1        # the shared zero page: outside 0..ram_pages-1, refcount 0
NOT_PRESENT = -2     # no PTE: the page was never touched (or was dropped)
MAX_VPN = 1 << 35    # 47-bit user address space with 4 KiB pages
MAX_RAM_PAGES = 1 << 24   # 64 GiB of 4 KiB frames: enough for any lesson
MAX_SPAN = 1 << 24        # vpns a process may map (64 GiB): the tables are dense arrays
FAULT_AROUND_BYTES = 65536   # /sys/kernel/debug/fault_around_bytes, the default
SUMMARY_LIMIT = 8    # bulk calls that free more frames log one summary `free` event

EVENT_KINDS = ("fork", "cow_copy", "cow_reuse", "zero_fill", "zero_map", "free",
               "exec", "exit", "segv", "enomem", "oom_kill")

Event = namedtuple("Event", "kind pid vpn pfn new_pfn text")
Event.__doc__ = "One thing the kernel did, narrated in `text` (kinds: EVENT_KINDS)."
PTE = namedtuple("PTE", "pfn writable cow")
PTE.__doc__ = "A page-table entry: the frame it maps, whether writes go straight through, COW."
Region = namedtuple("Region", "start pages shared huge")
Region.__doc__ = "A mapped range of virtual pages (a VMA): start vpn, length in pages."
PageTable = namedtuple("PageTable", "pfn writable cow mapped")
PageTable.__doc__ = "Copies of a process's page-table arrays, indexed by vpn."
_Vma = namedtuple("_Vma", "start shared huge writable obj")


class Snapshot:
    """A frozen copy of a kernel's whole state; `Kernel.restore` puts it back."""

    def __init__(self, kernel_state, procs):
        self._kernel_state = kernel_state
        self._procs = procs          # [(Process, its saved state)]

    def __repr__(self):
        return f"<cowlab.Snapshot of {len(self._procs)} processes>"


class Process:
    """A process: a pid, a name, and a page table (arrays indexed by vpn)."""

    def __init__(self, kernel, pid, name):
        self._kernel = kernel
        self.pid = pid
        self.name = name
        self.alive = True
        self.minor_faults = 0
        self._charge = 0                              # committed pages (private writable)
        self._pfn = np.empty(0, dtype=np.int64)       # frame per vpn, or NOT_PRESENT/ZERO_PFN
        self._w = np.empty(0, dtype=bool)             # PTE writable
        self._cow = np.empty(0, dtype=bool)           # PTE is copy-on-write
        self._pmd = np.empty(0, dtype=bool)           # still mapped by a 2 MiB huge PMD
        self._vma = np.empty(0, dtype=np.int32)       # region id per vpn, -1 = none
        self._dontfork = np.empty(0, dtype=bool)      # MADV_DONTFORK
        self._wipe = np.empty(0, dtype=bool)          # MADV_WIPEONFORK

    def __repr__(self):
        state = "" if self.alive else ", exited"
        return f"<Process {self.name} (pid {self.pid}{state})>"

    @property
    def span(self):
        """One past the highest vpn any region of this process covers."""
        return len(self._pfn)

    def _grow(self, span):
        """Extend every per-vpn array to cover vpn 0..span-1."""
        extra = span - len(self._pfn)
        if extra <= 0:
            return
        self._pfn = np.concatenate([self._pfn, np.full(extra, NOT_PRESENT, np.int64)])
        self._vma = np.concatenate([self._vma, np.full(extra, -1, np.int32)])
        for name in ("_w", "_cow", "_pmd", "_dontfork", "_wipe"):
            setattr(self, name, np.concatenate([getattr(self, name), np.zeros(extra, bool)]))

    def _clear(self):
        """Forget every mapping (after the kernel dropped their references)."""
        empty = Process(None, 0, "")
        for name in ("_pfn", "_w", "_cow", "_pmd", "_vma", "_dontfork", "_wipe"):
            setattr(self, name, getattr(empty, name))
        self._charge = 0


def _clone(value):
    """Copy state deep enough that later changes never leak into a snapshot."""
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [_clone(v) for v in value]
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    return value


def _is_int(x):
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


class Kernel:
    """A Linux-like memory manager, small enough to read and fast enough to scale.

    >>> k = Kernel(ram_pages=16)
    >>> p = k.spawn("parent", pages=3)        # VP0..VP2 -> PF0..PF2
    >>> c = k.fork(p)                         # shared read-only, rc=2
    >>> [e.kind for e in k.write(p, 1, "x")]  # VP1 -> new PF3
    ['cow_copy']
    >>> k.read(c, 1), k.refcount(1)
    (0, 1)
    """

    def __init__(self, ram_pages=16, swap_pages=0, page_size=4096, overcommit_memory=0,
                 overcommit_ratio=50, overcommit_kbytes=0, rules="linux", thp="split"):
        self.ram_pages = self._check_count("ram_pages", ram_pages, low=1, high=MAX_RAM_PAGES)
        self.swap_pages = self._check_count("swap_pages", swap_pages, low=0, high=MAX_RAM_PAGES)
        page_size = self._check_count("page_size", page_size, low=1024, high=1 << 21)
        if page_size & (page_size - 1):
            raise ValueError(f"page_size must be a power of two such as 4096, not {page_size}")
        self.page_size = page_size
        self.overcommit_memory = self._check_choice("overcommit_memory", overcommit_memory,
                                                    (0, 1, 2))
        self.overcommit_ratio = self._check_count("overcommit_ratio", overcommit_ratio,
                                                  low=0, high=10_000)
        self.overcommit_kbytes = self._check_count("overcommit_kbytes", overcommit_kbytes,
                                                   low=0, high=1 << 50)
        self.rules = self._check_choice("rules", rules, ("linux", "xv6"))
        self.thp = self._check_choice("thp", thp, ("split", "copy"))
        self.huge_pages = max(1, (2 << 20) // page_size)   # pages per 2 MiB huge page
        n = self.ram_pages
        self._mapcount = np.zeros(n, dtype=np.int32)   # PTEs mapping each frame
        self._objref = np.zeros(n, dtype=bool)         # a shared region's object holds it
        self._dirty = np.zeros(n, dtype=bool)
        self._content = np.zeros(n, dtype=np.int32)   # code of each frame's value
        self._values = [0]          # code -> value (0 is what fresh memory holds)
        self._codes = {}            # hashable value -> code
        self._nfree = n
        self._hint = 0              # no free frame below this pfn
        self._freed = 0             # frames freed so far (write_many reports the delta)
        self._procs = []            # index pid-1
        self._vmas = []             # region id -> _Vma
        self._obj_pages = []        # shared object id -> array of frames (NOT_PRESENT = hole)
        self._obj_users = []        # shared object id -> processes mapping it
        self._obj_charge = []       # shared object id -> committed pages (0 once released)
        self.events = []
        self._owner = object()      # tells this kernel's snapshots from another's

    # ------------------------------------------------------------------ checks
    @staticmethod
    def _check_count(name, value, low, high):
        if not _is_int(value):
            raise TypeError(f"{name} must be a whole number, got {type(value).__name__} "
                            f"{value!r}; pass e.g. {name}={max(low, 1)}")
        if not low <= value <= high:
            raise ValueError(f"{name} must be between {low} and {high:,}, got {value:,}")
        return int(value)

    @staticmethod
    def _check_choice(name, value, choices):
        if isinstance(value, bool) or value not in choices:
            raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, "
                             f"got {value!r}")
        return value

    def _proc(self, p):
        """The live Process meant by `p` (a Process of this kernel or a pid)."""
        if isinstance(p, Process):
            if p._kernel is not self or p.pid > len(self._procs) or self._procs[p.pid - 1] is not p:
                raise ValueError(f"{p!r} does not belong to this kernel (or was undone); "
                                 f"use one of {self._live_names()}")
        elif _is_int(p):
            if not 1 <= p <= len(self._procs):
                raise ValueError(f"no process with pid {p}; live processes: {self._live_names()}")
            p = self._procs[p - 1]
        else:
            raise TypeError(f"expected a Process (as returned by spawn or fork) or a pid, "
                            f"got {type(p).__name__} {p!r}")
        if not p.alive:
            raise ValueError(f"process {p.name} (pid {p.pid}) has exited; use a live one: "
                             f"{self._live_names()}")
        return p

    def _live_names(self):
        live = [f"{p.name} (pid {p.pid})" for p in self._procs if p.alive]
        return ", ".join(live) if live else "none (spawn one with k.spawn(name, pages))"

    def _check_vpn(self, vpn):
        if not _is_int(vpn):
            raise TypeError(f"vpn must be a whole page number such as 1, "
                            f"got {type(vpn).__name__} {vpn!r}")
        if vpn < 0:
            raise ValueError(f"vpn must be 0 or more, got {vpn}")
        if vpn >= MAX_VPN:
            raise ValueError(f"vpn {vpn:,} is beyond the 47-bit user address space "
                             f"(vpns stop at {MAX_VPN - 1:,})")
        return int(vpn)

    def _check_pages(self, pages, low=1, name="pages"):
        return self._check_count(name, pages, low=low, high=MAX_SPAN)

    def _check_room(self, p, pages):
        if p.span + pages + self.huge_pages > MAX_SPAN:
            raise ValueError(f"{p.name} has no room for {pages:,} more pages: the model maps "
                             f"at most {MAX_SPAN:,} pages per process; ask for fewer")

    def _check_pfn(self, pfn):
        if not _is_int(pfn):
            raise TypeError(f"pfn must be a whole frame number, got {type(pfn).__name__} {pfn!r}")
        if pfn != ZERO_PFN and not 0 <= pfn < self.ram_pages:
            raise ValueError(f"pfn must be 0..{self.ram_pages - 1} (or cowlab.ZERO_PFN), got {pfn}")
        return int(pfn)

    # ------------------------------------------------------------------ frames
    def refcount(self, pfn):
        """References to a frame: one per PTE, plus one if a shared region's object holds it."""
        pfn = self._check_pfn(pfn)
        if pfn == ZERO_PFN:
            return 0
        return int(self._mapcount[pfn]) + int(self._objref[pfn])

    def refcounts(self):
        """Every frame's refcount, as a numpy array indexed by pfn."""
        return self._mapcount.astype(np.int64) + self._objref

    def mapcounts(self):
        """How many PTEs map each frame (what smaps' Shared/Private split follows)."""
        return self._mapcount.copy()

    def content(self, pfn):
        """The value stored in a frame (0 for the zero page)."""
        pfn = self._check_pfn(pfn)
        return 0 if pfn == ZERO_PFN else self._values[self._content[pfn]]

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
            return code
        except TypeError:                 # unhashable: a fresh code each time
            self._values.append(value)
            return len(self._values) - 1

    def free_frames(self):
        return int(self._nfree)

    def _kalloc(self, n):
        """The n lowest free frames (fewer if RAM runs short), zeroed and taken."""
        found, start, chunk = [], self._hint, max(1024, 2 * n)
        need = min(n, self._nfree)
        while need and start < self.ram_pages:
            stop = min(start + chunk, self.ram_pages)
            free = np.flatnonzero((self._mapcount[start:stop] == 0) & ~self._objref[start:stop])
            take = free[:need] + start
            found.append(take)
            need -= len(take)
            start, chunk = stop, chunk * 2
        if len(found) == 1:
            pfns = found[0]
        else:
            pfns = np.concatenate(found) if found else np.empty(0, np.int64)
        if len(pfns):
            self._hint = int(pfns[-1]) + 1
            self._nfree -= len(pfns)
        return pfns

    def _kfree(self, pfns):
        """Return frames whose last reference is gone to the free pool."""
        if len(pfns):
            self._content[pfns] = 0
            self._dirty[pfns] = False
            self._nfree += len(pfns)
            self._freed += len(pfns)
            self._hint = min(self._hint, int(np.min(pfns)))

    def _put_pages(self, pfns):
        """Drop one PTE reference from each frame; free those that reach rc=0."""
        pfns = pfns[pfns >= 0]
        if not len(pfns):
            return pfns
        np.subtract.at(self._mapcount, pfns, 1)
        gone = pfns[(self._mapcount[pfns] == 0) & ~self._objref[pfns]]
        gone = np.unique(gone)
        self._kfree(gone)
        return gone

    def _free_events(self, p, freed, why):
        if len(freed) > SUMMARY_LIMIT:
            return [Event("free", p.pid, None, None, None,
                          f"{why}: {len(freed):,} frames freed (their last reference is gone)")]
        return [Event("free", p.pid, None, int(f), None,
                      f"PF{f} freed: its last reference is gone ({why})") for f in freed]

    # ------------------------------------------------------------------ regions
    def _vma_table(self, field):
        """A lookup array over region ids; index -1 (no region) hits the sentinel."""
        return np.array([getattr(v, field) for v in self._vmas] + [False], dtype=bool)

    def _add_region(self, p, pages, shared, huge, writable):
        start = p.span
        if huge:
            start = -(-start // self.huge_pages) * self.huge_pages
        obj = None
        if shared:
            obj = len(self._obj_pages)
            self._obj_pages.append(np.full(pages, NOT_PRESENT, np.int64))
            self._obj_users.append(1)
            self._obj_charge.append(pages)
        self._vmas.append(_Vma(start, shared, huge, writable, obj))
        p._grow(start + pages)
        p._vma[start:start + pages] = len(self._vmas) - 1
        if not shared and writable:
            p._charge += pages
        return start

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
        return self._vmas[p._vma[vpn]] if vpn < p.span and p._vma[vpn] >= 0 else None

    # ------------------------------------------------------------------ commit accounting
    def commit_limit_pages(self):
        """CommitLimit in pages (see cowlab.commit)."""
        return commit.commit_limit_pages(self)

    def committed_pages(self):
        """Committed_AS in pages (see cowlab.commit)."""
        return commit.committed_pages(self)

    def _refuse(self, p_or_pid, what, why):
        pid = p_or_pid.pid if isinstance(p_or_pid, Process) else p_or_pid
        ev = Event("enomem", pid, None, None, None, f"{what} refused with ENOMEM: {why}")
        self.events.append(ev)
        err = OSError(errno.ENOMEM, f"{what}: {why}")
        err.events = [ev]
        return err

    # ------------------------------------------------------------------ the OOM killer
    def _rss_pages(self, p):
        return int(np.count_nonzero(p._pfn >= 0))

    def _oom_victim(self):
        """The live process with the largest RSS; ties go to the highest pid."""
        live = [p for p in self._procs if p.alive]
        return max(live, key=lambda p: (self._rss_pages(p), p.pid))

    def _out_of_memory(self, faulting, vpn):
        victim = self._oom_victim()
        text = (f"out of memory: no free frame for {faulting.name}'s fault on VP{vpn}; "
                f"the OOM killer kills {victim.name} (pid {victim.pid}), the largest RSS "
                f"({pages_str(self._rss_pages(victim))})")
        return victim, [Event("oom_kill", victim.pid, vpn, None, None, text)] + \
            self._teardown(victim, "killed by the OOM killer")

    # ------------------------------------------------------------------ teardown
    def _teardown(self, p, why):
        """Drop every mapping of p (exit, exec, a fatal signal); free what nobody else uses."""
        present = p._pfn[p._pfn >= 0]
        freed = self._put_pages(present)
        objs = {self._vmas[i].obj for i in self._ids_in(p._vma) if self._vmas[i].shared}
        for obj in sorted(objs):
            self._obj_users[obj] -= 1
            if self._obj_users[obj] == 0:          # last mapping gone: the object dies
                held = self._obj_pages[obj]
                held = held[held >= 0]
                self._objref[held] = False
                dead = held[self._mapcount[held] == 0]
                self._kfree(dead)
                freed = np.concatenate([freed, dead])
                self._obj_charge[obj] = 0
        p._clear()
        return self._free_events(p, np.sort(freed), why)

    def _kill(self, p, vpn, text):
        ev = [Event("segv", p.pid, vpn, None, None, text)]
        ev += self._teardown(p, "SIGSEGV")
        p.alive = False
        return ev

    # ------------------------------------------------------------------ faults
    def _fault_in_shared(self, p, vpn, vma, write):
        """A fault on a MAP_SHARED page: map the object's frame, allocating it on first use."""
        start = vpn - vma.start
        page = self._obj_pages[vma.obj]
        ev = []
        if page[start] == NOT_PRESENT:
            got = self._kalloc(1)
            if not len(got):
                return None
            pfn = int(got[0])
            page[start] = pfn
            self._objref[pfn] = True
            ev.append(Event("zero_fill", p.pid, vpn, None, pfn,
                            f"page fault: shared VP{vpn} has no page yet; allocate zeroed "
                            f"PF{pfn}, held by the shared mapping and mapped "
                            f"{'writable' if vma.writable else 'read-only'}"))
        pfn = int(page[start])
        self._mapcount[pfn] += 1
        p._pfn[vpn] = pfn
        p._w[vpn] = vma.writable
        p._cow[vpn] = False
        if not write:
            self._do_fault_around(p, vpn, vma)
        return ev

    def _do_fault_around(self, p, vpn, vma):
        """A read fault on a shared (file-backed) page also maps its neighbours already in
        memory: the aligned 64 KiB window around it, as mm/memory.c's do_fault_around."""
        n = max(1, FAULT_AROUND_BYTES // self.page_size)
        lo = max(vpn - vpn % n, vma.start)
        hi = min(vpn - vpn % n + n, vma.start + len(self._obj_pages[vma.obj]))
        vpns = np.arange(lo, hi)
        frames = self._obj_pages[vma.obj][lo - vma.start:hi - vma.start]
        todo = (p._vma[lo:hi] == p._vma[vpn]) & (p._pfn[lo:hi] == NOT_PRESENT) & (frames >= 0)
        p._pfn[vpns[todo]] = frames[todo]
        p._w[vpns[todo]] = vma.writable
        self._mapcount[frames[todo]] += 1

    def _chunk(self, vpn):
        h = self.huge_pages
        return slice(vpn - vpn % h, vpn - vpn % h + h)

    def _map_new(self, p, vpns, pfns):
        p._pfn[vpns] = pfns
        p._w[vpns] = True
        p._cow[vpns] = False
        self._mapcount[pfns] += 1
        self._dirty[pfns] = True

    def _do_anonymous_page(self, p, vpn, vma):
        """First write to untouched memory (or to the zero page): a zeroed frame, no copy."""
        was_zero = p._pfn[vpn] == ZERO_PFN
        source = "maps the zero page" if was_zero else "has no page yet"
        if vma.huge and not was_zero and np.all(p._pfn[self._chunk(vpn)] == NOT_PRESENT):
            got = self._kalloc(self.huge_pages)
            if len(got) == self.huge_pages:        # a whole 2 MiB page, mapped by one PMD
                c = self._chunk(vpn)
                vpns = np.arange(c.start, c.stop)
                self._map_new(p, vpns, got)
                p._pmd[c] = True
                return [Event("zero_fill", p.pid, vpn, None, int(got[0]),
                              f"page fault: huge VP{c.start}..VP{c.stop - 1} has no page yet; "
                              f"allocate a zeroed 2 MiB page PF{got[0]}..PF{got[-1]}")]
            self._put_back(got)                    # THP allocation failed: fall back to 4 KiB
        got = self._kalloc(1)
        if not len(got):
            return None
        pfn = int(got[0])
        self._map_new(p, [vpn], [pfn])
        return [Event("zero_fill", p.pid, vpn, None, pfn,
                      f"page fault: VP{vpn} {source}; allocate zeroed PF{pfn} and map it "
                      f"writable (nothing to copy)")]

    def _put_back(self, pfns):
        """Undo a _kalloc whose frames were never mapped."""
        self._kfree(pfns)
        self._freed -= len(pfns)

    def _do_wp_page(self, p, vpn):
        """The COW write fault: copy if the frame is shared, reuse it if we hold the last ref."""
        old = int(p._pfn[vpn])
        if p._pmd[vpn]:
            return self._do_huge_pmd_wp_page(p, vpn)
        rc = self.refcount(old)
        if rc == 1 and self.rules == "linux":
            p._w[vpn] = True
            p._cow[vpn] = False
            self._dirty[old] = True
            return [Event("cow_reuse", p.pid, vpn, old, None,
                          f"page fault: VP{vpn} is read-only but PF{old} has no other user "
                          f"(rc=1); make it writable in place, no copy")]
        got = self._kalloc(1)
        if not len(got):
            return None
        new = int(got[0])
        self._content[new] = self._content[old]
        self._map_new(p, [vpn], [new])
        freed = self._put_pages(np.array([old]))
        why = "is read-only and shared" if rc > 1 else "is COW (xv6 rules always copy)"
        ev = [Event("cow_copy", p.pid, vpn, old, new,
                    f"page fault: VP{vpn} {why} (rc={rc}); copy PF{old} into new PF{new}, "
                    f"map it writable; rc(PF{old}) {rc}->{rc - 1}")]
        return ev + self._free_events(p, freed, "the copy dropped the last reference")

    def _do_huge_pmd_wp_page(self, p, vpn):
        """A COW fault on a 2 MiB page: reuse if exclusive, else split (>= 5.8) or copy 2 MiB."""
        c = self._chunk(vpn)
        vpns = np.arange(c.start, c.stop)
        old = p._pfn[c].copy()
        exclusive = bool(np.all(self._mapcount[old] + self._objref[old] == 1))
        if exclusive and self.rules == "linux":
            p._w[c] = True
            p._cow[c] = False
            return [Event("cow_reuse", p.pid, vpn, int(old[0]), None,
                          f"page fault: huge VP{c.start}..VP{c.stop - 1} is read-only but "
                          f"nobody else maps it; make the 2 MiB page writable in place")]
        if self.thp == "copy":
            got = self._kalloc(self.huge_pages)
            if len(got) == self.huge_pages:
                self._content[got] = self._content[old]
                self._map_new(p, vpns, got)
                freed = self._put_pages(old)
                ev = [Event("cow_copy", p.pid, vpn, int(old[0]), int(got[0]),
                            f"page fault: VP{vpn} is in a shared 2 MiB huge page; copy all "
                            f"{self.huge_pages} pages PF{old[0]}.. into new PF{got[0]}.. "
                            f"(kernels before 5.8)")]
                return ev + self._free_events(p, freed, "the copy dropped the last reference")
            self._put_back(got)
        p._pmd[c] = False                           # split the PMD, then COW 4 KiB
        return self._do_wp_page(p, vpn)

    def _handle_write(self, p, vpn, value):
        """One store to vpn: no fault if the PTE is writable, else the right fault handler.

        Returns (events, done). On OOM, the OOM killer runs and the fault is retried,
        unless the faulting process itself was killed.
        """
        vma = self._vma_at(p, vpn)
        if vma is None:
            return self._kill(p, vpn, f"SIGSEGV: {p.name} (pid {p.pid}) wrote VP{vpn}, which "
                                      f"is in no region; the process is killed"), False
        if not vma.writable:
            return self._kill(p, vpn, f"SIGSEGV: {p.name} (pid {p.pid}) wrote read-only "
                                      f"VP{vpn}; the process is killed"), False
        pfn = int(p._pfn[vpn])
        if pfn >= 0 and p._w[vpn]:
            self._content[pfn] = self._code(value)
            self._dirty[pfn] = True
            return [], True
        if pfn >= 0 and not p._cow[vpn] and not vma.shared:
            return self._kill(p, vpn, f"SIGSEGV: {p.name} wrote VP{vpn}, which is mapped "
                                      f"read-only"), False

        def attempt():
            if vma.shared:
                return self._fault_in_shared(p, vpn, vma, write=True)
            if p._pfn[vpn] in (NOT_PRESENT, ZERO_PFN):
                return self._do_anonymous_page(p, vpn, vma)
            return self._do_wp_page(p, vpn)

        events, ev = self._retry_after_oom(p, vpn, attempt)
        if ev is None:
            return events, False
        p.minor_faults += 1
        pfn = int(p._pfn[vpn])
        self._content[pfn] = self._code(value)
        self._dirty[pfn] = True
        return events + ev, True

    def _retry_after_oom(self, p, vpn, attempt):
        """Run a fault handler; when it finds no free frame, the OOM killer acts and the
        fault is retried (as the kernel re-executes the instruction), unless p was chosen.
        -> (OOM events, the handler's events or None if p died)."""
        events = []
        while True:
            ev = attempt()
            if ev is not None:
                return events, ev
            victim, kill = self._out_of_memory(p, vpn)
            victim.alive = False
            events += kill
            if victim is p:
                return events, None

    def _handle_read(self, p, vpn):
        vma = self._vma_at(p, vpn)
        if vma is None:
            return self._kill(p, vpn, f"SIGSEGV: {p.name} (pid {p.pid}) read VP{vpn}, which "
                                      f"is in no region; the process is killed"), None
        pfn = int(p._pfn[vpn])
        if pfn != NOT_PRESENT:
            return [], self.content(pfn)
        def attempt():
            if vma.shared:
                return self._fault_in_shared(p, vpn, vma, write=False)
            span = self._chunk(vpn) if vma.huge else slice(vpn, vpn + 1)
            todo = p._pfn[span] == NOT_PRESENT
            p._pfn[span] = np.where(todo, ZERO_PFN, p._pfn[span])
            where = f"VP{vpn}" if not vma.huge else f"huge VP{span.start}..VP{span.stop - 1}"
            return [Event("zero_map", p.pid, vpn, ZERO_PFN, None,
                          f"page fault: read of untouched {where}; map the shared zero page "
                          f"read-only (no frame used, RSS unchanged)")]

        events, ev = self._retry_after_oom(p, vpn, attempt)
        if ev is None:
            return events, None
        p.minor_faults += 1
        return events + ev, self.content(int(p._pfn[vpn]))

    # ------------------------------------------------------------------ system calls
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
        p = Process(self, pid, name)
        self._procs.append(p)
        if pages:
            start = self._add_region(p, pages, shared=False, huge=False, writable=True)
            self._populate(p, start, pages)
        return p

    def _populate(self, p, start, pages):
        """Touch every page of a new region, as MAP_POPULATE or a program's first writes do."""
        vma = self._vmas[p._vma[start]]
        vpns = np.arange(start, start + pages)
        if vma.shared or not vma.writable:      # populated by read faults
            events = []
            for v in vpns.tolist():
                events += self._handle_read(p, int(v))[0]
                if not p.alive:
                    break
            counts = Counter(e.kind for e in events if e.kind in self._BULK)
            events = [e for e in events if e.kind not in self._BULK]
        elif not vma.huge and pages <= self._nfree:   # the common case, in slices
            new = self._kalloc(pages)
            end = start + pages
            p._pfn[start:end] = new
            p._w[start:end] = True
            self._mapcount[new] = 1
            self._dirty[new] = True
            p.minor_faults += pages
            events, counts = [], {"zero_fill": pages}
        else:
            events, counts = self._write_batch(p, vpns, 0)
        self.events += events + self._summarise(p, counts, "populate")

    def fork(self, p, name=None):
        """fork(): copy the page table, not the pages (uvmcopy with COW).

        Private writable pages become read-only + COW in both processes and each frame's
        refcount rises; MAP_SHARED regions stay shared (the child faults them in);
        MADV_DONTFORK ranges are left out, MADV_WIPEONFORK ranges start empty.
        """
        p = self._proc(p)
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise TypeError(f"name must be a non-empty string such as 'child', got {name!r}")
        name = name or ("child" if p.name == "parent" else f"{p.name}-child")
        keep = ~p._dontfork & (p._vma >= 0)
        ids = np.where(keep, p._vma, -1).astype(np.int32)
        charge_mask = self._vma_table("writable")[ids] & ~self._vma_table("shared")[ids]
        # dup_mmap charges each region (VMA) of the child separately
        charge, runs = 0, self._runs(np.where(charge_mask, ids, -1))
        pid = len(self._procs) + 1
        for pages in runs:
            why = commit.vm_enough_memory(self, pages, released=-charge)
            if why:
                raise self._refuse(p, f"fork of {p.name} (pid {p.pid})", why)
            charge += pages
        c = Process(self, pid, name)
        self._procs.append(c)
        c._charge = charge
        c._vma = ids
        c._dontfork = np.zeros(len(ids), bool)
        c._wipe = p._wipe & keep
        shared = self._vma_table("shared")[ids]
        copy = keep & ~shared & ~p._wipe & (p._pfn != NOT_PRESENT)
        real = copy & (p._pfn >= 0)
        cow = real & self._vma_table("writable")[ids]
        p._w[cow] = False
        p._cow[cow] = True
        c._pfn = np.where(copy, p._pfn, NOT_PRESENT)
        c._w = p._w & copy
        c._cow = p._cow & copy
        c._pmd = p._pmd & copy
        self._mapcount[p._pfn[real]] += 1
        objs = {self._vmas[i].obj for i in self._ids_in(ids) if self._vmas[i].shared}
        for obj in objs:
            self._obj_users[obj] += 1
        n = int(np.count_nonzero(real))
        frames = self._describe_pfns(p._pfn[real])
        text = (f"fork: {p.name} (pid {p.pid}) creates {c.name} (pid {c.pid}); "
                f"{int(np.count_nonzero(copy)):,} PTEs copied, no pages copied")
        if n:
            text += f"; {frames} now shared, read-only and COW in both"
        self.events.append(Event("fork", c.pid, None, None, None, text))
        return c

    @staticmethod
    def _ids_in(ids):
        """The distinct region ids in a per-vpn array (runs make this cheap)."""
        if not len(ids):
            return set()
        heads = np.concatenate([[0], np.flatnonzero(np.diff(ids)) + 1])
        return set(ids[heads].tolist()) - {-1}

    @staticmethod
    def _runs(ids):
        """Lengths of the runs of equal non-negative ids (the regions a range splits into)."""
        if not len(ids):
            return []
        edges = np.flatnonzero(np.diff(ids)) + 1
        starts = np.concatenate([[0], edges])
        ends = np.concatenate([edges, [len(ids)]])
        return [int(e - s) for s, e in zip(starts, ends) if ids[s] >= 0]

    @staticmethod
    def _describe_pfns(pfns):
        """PF0, PF1 / PF0..PF9 / 2,621,440 frames: short words for a set of distinct frames."""
        if len(pfns) == 0:
            return "no frames"
        if len(pfns) <= 4:
            return ", ".join(f"PF{x}" for x in np.sort(pfns))
        lo, hi = int(pfns.min()), int(pfns.max())
        if hi - lo + 1 == len(pfns):
            return f"PF{lo}..PF{hi}"
        return f"{len(pfns):,} frames"

    def write(self, p, vpn, value=1):
        """One store of `value` to vpn; returns the events it caused (none if no fault)."""
        p = self._proc(p)
        vpn = self._check_vpn(vpn)
        events, _ = self._handle_write(p, vpn, value)
        self.events += events
        return events

    def read(self, p, vpn):
        """One load from vpn: the value the process sees (0 on the zero page).

        Reads never copy. A read of untouched memory maps the zero page. Returns None
        if the read kills the process (SIGSEGV).
        """
        p = self._proc(p)
        vpn = self._check_vpn(vpn)
        events, value = self._handle_read(p, vpn)
        self.events += events
        return value

    def write_many(self, p, vpns, value=1):
        """Store `value` to each vpn in order (a list or numpy array); -> {kind: count}.

        The same result as calling write() for each vpn, but vectorised: it logs one
        summary event per kind instead of one per page. Counts are pages for cow_copy,
        cow_reuse and zero_fill, frames for free, events for segv and oom_kill.
        """
        p = self._proc(p)
        vpns = self._check_vpns(vpns)
        before = self._freed
        events, counts = self._write_batch(p, vpns, value)
        self.events += events + self._summarise(p, counts, "write_many")
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
        return arr.astype(np.int64)

    _BULK = {"cow_copy": "pages copied (COW faults on shared frames)",
             "cow_reuse": "COW pages made writable in place (last reference, no copy)",
             "zero_fill": "zeroed frames allocated (first touch, nothing to copy)"}

    def _summarise(self, p, counts, what):
        """One event per bulk kind, in place of one per page."""
        return [Event(kind, p.pid, None, None, None,
                      f"{what} by {p.name} (pid {p.pid}): {counts[kind]:,} {words}")
                for kind, words in self._BULK.items() if counts.get(kind)]

    def _write_batch(self, p, seq, value):
        """Writes in order -> (rare events, Counter of page kinds).

        Vectorised while RAM lasts; one by one where the OOM killer must act or a
        page needs care (shared, huge, read-only, xv6 copies that free frames).
        """
        events, counts, pos = [], Counter(), 0

        def one(vpn):
            for e in self._handle_write(p, int(vpn), value)[0]:
                if e.kind in self._BULK:
                    counts[e.kind] += 1
                else:
                    events.append(e)

        special = self._vma_table("shared") | self._vma_table("huge") | ~self._vma_table("writable")
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
            u, first = self._first_occurrences(rest[:stop])
            pfn = p._pfn[u]
            present = np.maximum(pfn, 0)
            fast = (pfn >= 0) & p._w[u]
            cow = (pfn >= 0) & ~p._w[u] & p._cow[u]
            rc = np.where(cow, self._mapcount[present] + self._objref[present], 0)
            if np.any((pfn >= 0) & ~p._w[u] & ~p._cow[u]) or (
                    self.rules == "xv6" and np.any(cow & (rc == 1))):
                for v in rest[:stop]:           # rare: frees inside the batch; go in order
                    one(v)
                    if not p.alive:
                        break
                pos += stop
                continue
            copy = cow & (rc > 1)
            need = (pfn < 0) | copy
            j = len(u)
            if np.count_nonzero(need) > self._nfree:
                j = int(np.searchsorted(np.cumsum(need), self._nfree, side="right"))
            counts.update(self._apply_writes(p, u[:j], pfn[:j], fast[:j], copy[:j],
                                             (cow & ~copy)[:j], value))
            if j == len(u):
                pos += stop
            else:                               # out of frames: this one calls the OOM killer
                pos += int(first[j])
                one(seq[pos])
                pos += 1
        return events, counts

    @staticmethod
    def _first_occurrences(seq):
        """The distinct values of seq in order of first appearance, and where they appear."""
        if len(seq) < 2 or np.all(seq[1:] > seq[:-1]):
            return seq, np.arange(len(seq))
        u, first = np.unique(seq, return_index=True)
        order = np.argsort(first, kind="stable")
        return u[order], first[order]

    def _apply_writes(self, p, u, pfn, fast, copy, reuse, value):
        """Vectorised faults for distinct private vpns of one process, RAM permitting."""
        fresh = pfn < 0
        need = fresh | copy
        new = self._kalloc(int(np.count_nonzero(need)))
        self._map_new(p, u[need], new)
        self._mapcount[pfn[copy]] -= 1          # rc > 1 for every copied frame: none freed
        p._w[u[reuse]] = True
        p._cow[u[reuse]] = False
        touched = pfn.copy()
        touched[need] = new
        self._content[touched] = self._code(value)
        self._dirty[touched] = True
        p.minor_faults += int(np.count_nonzero(~fast))
        return {"cow_copy": int(np.count_nonzero(copy)), "zero_fill": int(np.count_nonzero(fresh)),
                "cow_reuse": int(np.count_nonzero(reuse))}

    def mmap(self, p, pages, shared=False, populate=False, huge=False, writable=True):
        """Map a new anonymous region after the process's last one; -> its first vpn.

        shared=True is MAP_SHARED (one object, no COW across fork); populate=True is
        MAP_POPULATE; huge=True asks for transparent huge pages (2 MiB aligned).
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
        self._check_room(p, pages)
        if writable or shared:
            why = commit.vm_enough_memory(self, pages)
            if why:
                raise self._refuse(p, f"mmap of {pages_str(pages)}", why)
        start = self._add_region(p, pages, bool(shared), bool(huge), bool(writable))
        if populate:
            self._populate(p, start, pages)
        return start

    def madvise(self, p, vpn, pages, advice):
        """MADV_DONTFORK ("dontfork") or MADV_WIPEONFORK ("wipeonfork") on a mapped range.

        "dofork" and "keeponfork" undo them. Returns the (empty) list of events.
        """
        p = self._proc(p)
        vpn = self._check_vpn(vpn)
        pages = self._check_pages(pages)
        choices = ("dontfork", "wipeonfork", "dofork", "keeponfork")
        if advice not in choices:
            raise ValueError(f"advice must be one of {', '.join(map(repr, choices))}, "
                             f"got {advice!r}")
        end = vpn + pages
        if end > p.span or np.any(p._vma[vpn:end] < 0):
            raise ValueError(f"VP{vpn}..VP{end - 1} is not all mapped in {p.name}; "
                             f"madvise only a range inside its regions: {self.regions(p)}")
        if advice == "wipeonfork" and np.any(self._vma_table("shared")[p._vma[vpn:end]]):
            raise ValueError("wipeonfork applies to private mappings only (Linux says EINVAL "
                             "for MAP_SHARED); use dontfork to keep a shared range from a child")
        flags = p._dontfork if advice in ("dontfork", "dofork") else p._wipe
        flags[vpn:end] = advice in ("dontfork", "wipeonfork")
        return []

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
                                 f"exec: {old} (pid {p.pid}) drops its {n:,} page-table "
                                 f"entries and starts a fresh {pages_str(pages)} image"
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
                                 f"exit: {p.name} (pid {p.pid}) drops its {n:,} page-table entries"))
        self.events += self._teardown(p, "exit dropped it")
        p.alive = False
        return self.events[before:]

    # ------------------------------------------------------------------ what /proc shows
    def pte(self, p, vpn):
        """The page-table entry for vpn: PTE(pfn, writable, cow), or None if not mapped."""
        p = self._proc(p)
        vpn = self._check_vpn(vpn)
        if vpn >= p.span or p._pfn[vpn] == NOT_PRESENT:
            return None
        return PTE(int(p._pfn[vpn]), bool(p._w[vpn]), bool(p._cow[vpn]))

    def page_table(self, p):
        """Copies of the process's page-table arrays (see docs/kernel-internals.md)."""
        p = self._proc(p)
        return PageTable(p._pfn.copy(), p._w.copy(), p._cow.copy(), p._vma >= 0)

    def stats(self, p):
        """/proc/PID/smaps_rollup-style figures in kB, plus minor_faults (ru_minflt).

        Shared vs Private follows the mapcount (PTEs); the zero page is not counted.
        """
        return proc.smaps(self, self._proc(p))

    def meminfo(self):
        """/proc/meminfo's memory and commit lines, in kB."""
        return proc.meminfo(self)

    # ------------------------------------------------------------------ the rest
    @property
    def processes(self):
        """Every process ever created, in pid order (check .alive)."""
        return list(self._procs)

    def live(self):
        return [p for p in self._procs if p.alive]

    def process(self, pid):
        """The Process with this pid, alive or not."""
        if not _is_int(pid) or not 1 <= pid <= len(self._procs):
            raise ValueError(f"no process with pid {pid!r}; pids are 1..{len(self._procs)}")
        return self._procs[pid - 1]

    def snapshot(self):
        """A copy of the whole state, for undo and for replaying homework scenarios."""
        state = {k: _clone(v) for k, v in self.__dict__.items() if k != "_procs"}
        state["_procs"] = list(self._procs)
        procs = [(p, {k: _clone(v) for k, v in p.__dict__.items() if k != "_kernel"})
                 for p in self._procs]
        return Snapshot(state, procs)

    def restore(self, snapshot):
        """Put back a snapshot of this kernel (it can be restored again later)."""
        if not isinstance(snapshot, Snapshot):
            raise TypeError(f"restore needs a Snapshot from k.snapshot(), got "
                            f"{type(snapshot).__name__}")
        if snapshot._kernel_state["_owner"] is not self._owner:
            raise ValueError("that snapshot was taken of another kernel")
        for key, value in snapshot._kernel_state.items():
            setattr(self, key, value if key == "_procs" else _clone(value))
        self._procs = list(snapshot._kernel_state["_procs"])
        for p, saved in snapshot._procs:
            for key, value in saved.items():
                setattr(p, key, _clone(value))

    def __repr__(self):
        live = ", ".join(f"{p.name}:{p.pid}" for p in self.live()) or "no processes"
        return (f"<cowlab.Kernel {self.ram_pages} frames ({self._nfree} free), rules="
                f"{self.rules}, overcommit_memory={self.overcommit_memory}; {live}>")
