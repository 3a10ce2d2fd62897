"""The page fault (mm/memory.c): one decision, then the handler that carries it out.

`decide` is the whole copy-on-write rule as one table over numpy arrays: the one-page
calls (`write`, `read`) ask it about one vpn, the bulk path (`write_many`) about many
at once, so the rule exists once. The handlers below it carry out one page's fault:
do_anonymous_page (first touch), do_wp_page (the COW write fault), the huge-page
variant, and the shared-object fault, each returning the events that narrate it.
"""
import enum

import numpy as np

from .events import Event, free_events
from .page_alloc import F_DIRTY, F_EXCL, F_KSM, F_OBJREF, NOT_ANON
from .pgtable import F_COW, F_HUGE, F_WRITE, NOT_PRESENT, ZERO_PFN, clear_mask
NO_WC = clear_mask(F_WRITE | F_COW)

FAULT_AROUND_BYTES = 65536   # /sys/kernel/debug/fault_around_bytes, the default


class Fault(enum.IntEnum):
    """What a fault does to one page (the event kind each gives is KIND[fault])."""
    NONE = 0          # no fault: the PTE already allows the access
    ZERO_MAP = 1      # read of untouched private memory: map the shared zero page
    ZERO_FILL = 2     # write of untouched private memory (or the zero page): a zeroed frame
    SHARED_FILL = 3   # first touch of a MAP_SHARED page: a zeroed frame the object holds
    SHARED_MAP = 4    # a MAP_SHARED page already in the object: map that frame
    COW_REUSE = 5     # write to a COW page nobody else references: make it writable in place
    COW_COPY = 6      # write to a COW page others reference: copy it into a new frame
    SEGV = 7          # no region, or a write the region forbids: SIGSEGV
    FILE_READ = 8     # a private file page not in the page cache: read it in, map it read-only


KIND = {Fault.ZERO_MAP: "zero_map", Fault.ZERO_FILL: "zero_fill",
        Fault.SHARED_FILL: "zero_fill", Fault.SHARED_MAP: "shared_map",
        Fault.COW_REUSE: "cow_reuse", Fault.COW_COPY: "cow_copy", Fault.SEGV: "segv",
        Fault.FILE_READ: "file_read"}


RULES = ("linux", "linux-5.7", "linux-4.8", "xv6")


def can_reuse(rules, refs, exclusive, mapcount, anon=True):
    """May a write fault reuse a COW page in place? The rule of each time:

    - "linux" (5.19 on; do_wp_page, wp_can_reuse_anon_folio): yes if the page is
      PageAnonExclusive, else only if its refcount is 1 (no other mapping, pin, pipe);
    - "linux-5.7" (up to 5.7; "linux-4.8" too): yes if one PTE maps it
      (page_mapcount == 1), whoever else holds a reference: the vmsplice leak,
      CVE-2020-29374 (the fault kept this rule through 5.8, but 5.8 and 5.7.3 made a
      GUP reference break COW at once, 17839856fd58, which closed the leak);
    - "xv6": never; every COW write copies.

    Only an anonymous page is ever reused: a page-cache page of a private file mapping
    is always copied (wp_page_copy), under every rule.
    """
    anon = np.asarray(anon, bool)
    if rules == "xv6":
        return np.zeros(np.shape(refs), bool)
    if rules in ("linux-5.7", "linux-4.8"):
        return anon & (np.asarray(mapcount) == 1)
    return anon & (np.asarray(exclusive, bool) | (np.asarray(refs) == 1))


def decide(write, pfn, flags, refs, in_region, writable, shared, in_object, rules="linux",
           exclusive=False, mapcount=None, private_file=False, anon=True):
    """What an access does, page by page: an array of Fault (or one, for scalars).

    pfn and flags are the PTE (NOT_PRESENT/ZERO_PFN or a frame; PteFlags); refs and
    mapcount the frame's counts (mapcount defaults to refs), exclusive whether it is
    PageAnonExclusive, anon whether no object holds it; the rest describe the region
    (and, for MAP_SHARED or a private file mapping, whether the object already holds
    the page). `rules` picks the reuse rule (see can_reuse).
    """
    pfn, flags, refs = np.asarray(pfn), np.asarray(flags), np.asarray(refs)
    in_region, writable = np.asarray(in_region, bool), np.asarray(writable, bool)
    shared, in_object = np.asarray(shared, bool), np.asarray(in_object, bool)
    private_file = np.asarray(private_file, bool)
    F = {f: np.int8(f) for f in Fault}     # int8 results: a byte per page, not eight
    if not write:
        return np.select([~in_region, pfn != NOT_PRESENT, (shared | private_file) & in_object,
                          shared, private_file],
                         [F[Fault.SEGV], F[Fault.NONE], F[Fault.SHARED_MAP],
                          F[Fault.SHARED_FILL], F[Fault.FILE_READ]], F[Fault.ZERO_MAP])
    present = pfn >= 0
    w = (flags & F_WRITE) != 0
    cow = (flags & F_COW) != 0
    reuse = can_reuse(rules, refs, exclusive, refs if mapcount is None else mapcount, anon)
    return np.select(
        [~in_region | ~writable, present & w, shared & in_object, shared, present & ~cow,
         ~present & private_file, ~present, reuse],
        [F[Fault.SEGV], F[Fault.NONE], F[Fault.SHARED_MAP], F[Fault.SHARED_FILL], F[Fault.SEGV],
         F[Fault.COW_COPY], F[Fault.ZERO_FILL], F[Fault.COW_REUSE]],
        F[Fault.COW_COPY])


class Faults:
    """Kernel methods: the one-page accesses and the fault handlers they call."""

    def write(self, p, vpn, value=1, force=False, dontneed_race=False):
        """One store of `value` to vpn; returns the events it caused (none if no fault).

        force=True writes as ptrace or /proc/PID/mem do (FOLL_FORCE): a read-only
        private page gets its own anonymous copy, left read-only. dontneed_race=True
        also runs a MADV_DONTNEED between that COW break and the retry: under
        rules="linux-4.8" the write lands in the page cache (Dirty COW, CVE-2016-5195).
        """
        p = self._proc(p)
        vpn = self._check_vpn(vpn)
        for flag, val in (("force", force), ("dontneed_race", dontneed_race)):
            if not isinstance(val, (bool, np.bool_)):
                raise TypeError(f"{flag} must be True or False, got {val!r}")
        if dontneed_race and not force:
            raise ValueError("dontneed_race=True races a forced write: pass force=True too")
        if force:
            events = self._force_write(p, vpn, value, bool(dontneed_race))
        else:
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

    def _decide_one(self, p, vpn, vma, write):
        """decide() for one vpn of p."""
        if vma is None:
            return Fault.SEGV
        pfn = int(p._pfn[vpn])
        in_object = vma.obj is not None and self._obj_page(vma, vpn) >= 0
        refs = self.refcount(pfn) if pfn >= 0 else 0
        exclusive = pfn >= 0 and bool(self._fflags[pfn] & F_EXCL)
        mapcount = int(self._mapcount[pfn]) if pfn >= 0 else 0
        anon = pfn >= 0 and not self._fflags[pfn] & NOT_ANON
        private_file = vma.file is not None and not vma.shared
        return Fault(int(decide(write, pfn, int(p._flags[vpn]), refs, True, vma.writable,
                                vma.shared, in_object, self.rules, exclusive, mapcount,
                                private_file, anon)))

    def _obj_page(self, vma, vpn):
        """The frame the region's object (shmem or a file's page cache) holds for vpn."""
        held = self._obj_pages[vma.obj]
        at = vpn - vma.start
        return int(held[at]) if at < len(held) else NOT_PRESENT

    def _fault(self, p, vpn, vma, write):
        """Decide, then handle: -> events, or None when no frame is free (OOM)."""
        fault = self._decide_one(p, vpn, vma, write)
        if fault in (Fault.SHARED_FILL, Fault.SHARED_MAP) and vma.shared:
            return self._fault_in_shared(p, vpn, vma, write)
        if fault in (Fault.SHARED_MAP, Fault.FILE_READ):
            return self._do_read_fault(p, vpn, vma)
        if fault == Fault.COW_COPY and p._pfn[vpn] == NOT_PRESENT:
            return self._do_cow_fault(p, vpn, vma)
        if fault == Fault.ZERO_FILL:
            return self._do_anonymous_page(p, vpn, vma)
        if fault == Fault.ZERO_MAP:
            return self._map_zero_page(p, vpn, vma)
        return self._do_wp_page(p, vpn, reuse=fault == Fault.COW_REUSE)

    def _handle_write(self, p, vpn, value):
        """One store to vpn: no fault if the PTE is writable, else the fault's handler.

        Returns (events, done). On OOM, the OOM killer runs and the fault is retried,
        unless the faulting process itself was killed.
        """
        vma = self._vma_at(p, vpn)
        fault = self._decide_one(p, vpn, vma, True)
        if fault == Fault.NONE:
            self._set_dirty(int(p._pfn[vpn]), self._code(value))
            return [], True
        if fault == Fault.SEGV:
            why = ("which is in no region" if vma is None else
                   "which is mapped read-only" if vma.writable else "which is in a read-only region")
            return self._kill(p, vpn, f"SIGSEGV: {p.name} (pid {p.pid}) wrote VP{vpn}, "
                                      f"{why}; the process is killed"), False
        events, ev = self._retry_after_oom(p, vpn, lambda: self._fault(p, vpn, vma, True))
        if ev is None:
            return events, False
        p.minor_faults += 1
        self._set_dirty(int(p._pfn[vpn]), self._code(value))
        return events + ev, True

    def _handle_read(self, p, vpn):
        vma = self._vma_at(p, vpn)
        fault = self._decide_one(p, vpn, vma, False)
        if fault == Fault.SEGV:
            return self._kill(p, vpn, f"SIGSEGV: {p.name} (pid {p.pid}) read VP{vpn}, "
                                      f"which is in no region; the process is killed"), None
        if fault != Fault.NONE:
            events, ev = self._retry_after_oom(p, vpn, lambda: self._fault(p, vpn, vma, False))
            if ev is None:
                return events, None
            p.minor_faults += 1
            return events + ev, self.content(int(p._pfn[vpn]))
        return [], self.content(int(p._pfn[vpn]))

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

    # ------------------------------------------------------------------ the handlers
    def _map_new(self, p, vpns, pfns):
        """Map fresh anonymous frames writable, one PTE reference each: exclusive to p."""
        p._pfn[vpns] = pfns
        p._flags[vpns] = (p._flags[vpns] & NO_WC) | F_WRITE
        self._mapcount[pfns] += 1
        self._fflags[pfns] |= F_DIRTY | F_EXCL

    def _map_zero_page(self, p, vpn, vma):
        """A read of untouched private memory: the shared zero page, read-only."""
        span = self._chunk(vpn) if vma.huge else slice(vpn, vpn + 1)
        todo = p._pfn[span] == NOT_PRESENT
        p._pfn[span][todo] = ZERO_PFN
        where = f"VP{vpn}" if not vma.huge else f"huge VP{span.start}..VP{span.stop - 1}"
        return [Event("zero_map", p.pid, vpn, ZERO_PFN, None,
                      f"page fault: read of untouched {where}; map the shared zero page "
                      f"read-only (no frame used, RSS unchanged)")]

    def _fault_in_shared(self, p, vpn, vma, write):
        """A fault on a MAP_SHARED page: map the object's frame, allocating it on first use."""
        page = self._obj_pages[vma.obj]
        mode = "writable" if vma.writable else "read-only"
        pfn = int(page[vpn - vma.start])
        if pfn == NOT_PRESENT:
            got = self._kalloc(1)
            if not len(got):
                return None
            pfn = int(got[0])
            page[vpn - vma.start] = pfn
            self._fflags[pfn] |= F_OBJREF   # the object holds a reference
            ev = [Event("zero_fill", p.pid, vpn, None, pfn,
                        f"page fault: shared VP{vpn} has no page yet; allocate zeroed "
                        f"PF{pfn}, held by the shared mapping and mapped {mode}")]
        else:
            ev = [Event("shared_map", p.pid, vpn, pfn, None,
                        f"page fault: shared VP{vpn} is already in the shared object as "
                        f"PF{pfn}; map it {mode} (no copy)")]
        self._mapcount[pfn] += 1
        p._pfn[vpn] = pfn
        p._flags[vpn] = (p._flags[vpn] & NO_WC) | (F_WRITE if vma.writable else 0)
        if not write:
            self._do_fault_around(p, vpn, vma)
        return ev

    def _page_cache_page(self, vma, vpn):
        """The file's page-cache frame for vpn, read in (a zeroed frame the file holds) if
        missing -> (pfn, True if it was read in now), or None when no frame is free."""
        pfn = self._obj_page(vma, vpn)
        if pfn >= 0:
            return pfn, False
        got = self._kalloc(1)
        if not len(got):
            return None
        pfn = int(got[0])
        self._obj_pages[vma.obj][vpn - vma.start] = pfn
        self._fflags[pfn] |= F_OBJREF
        return pfn, True

    def _do_read_fault(self, p, vpn, vma):
        """A read of a private file mapping: map the page-cache frame read-only (and COW:
        a write will copy it), reading it in first if the cache lacks it."""
        got = self._page_cache_page(vma, vpn)
        if got is None:
            return None
        pfn, read_in = got
        self._mapcount[pfn] += 1
        p._pfn[vpn] = pfn
        p._flags[vpn] = (p._flags[vpn] & NO_WC) | F_COW
        page = vpn - vma.start
        if read_in:
            return [Event("file_read", p.pid, vpn, None, pfn,
                          f"page fault: VP{vpn} maps page {page} of file {vma.file}, not in "
                          f"the page cache; read it into new PF{pfn} and map it read-only "
                          f"(private: a write will copy it)")]
        return [Event("shared_map", p.pid, vpn, pfn, None,
                      f"page fault: VP{vpn} maps page {page} of file {vma.file}, already in "
                      f"the page cache as PF{pfn}; map it read-only (private: a write will "
                      f"copy it)")]

    def _do_cow_fault(self, p, vpn, vma):
        """A write to an untouched page of a private file mapping: copy the file's page
        (read into the page cache first if needed) into a new anonymous frame."""
        got = self._page_cache_page(vma, vpn)
        if got is None:
            return None
        cache, read_in = got
        new = self._kalloc(1)
        if not len(new):
            return None                 # the page read in stays cached: the retry finds it
        new = int(new[0])
        self._content[new] = self._content[cache]
        self._map_new(p, vpn, new)
        how = "read it into PF{} (page cache), then".format(cache) if read_in else \
            f"it is PF{cache} in the page cache;"
        return [Event("cow_copy", p.pid, vpn, cache, new,
                      f"page fault: write to private VP{vpn}, page {vpn - vma.start} of file "
                      f"{vma.file}: {how} copy it into new PF{new}, map it writable (the file "
                      f"is unchanged)")]

    def _do_fault_around(self, p, vpn, vma):
        """A read fault on a shared (file-backed) page also maps its neighbours already in
        memory: the aligned 64 KiB window around it, as mm/memory.c's do_fault_around."""
        n = max(1, FAULT_AROUND_BYTES // self.page_size)
        lo = max(vpn - vpn % n, vma.start)
        hi = min(vpn - vpn % n + n, vma.start + len(self._obj_pages[vma.obj]), p.span)
        vpns = np.arange(lo, hi)
        frames = self._obj_pages[vma.obj][lo - vma.start:hi - vma.start]
        todo = (p._vma[lo:hi] == p._vma[vpn]) & (p._pfn[lo:hi] == NOT_PRESENT) & (frames >= 0)
        p._pfn[vpns[todo]] = frames[todo]
        if vma.writable:
            p._flags[vpns[todo]] |= F_WRITE
        self._mapcount[frames[todo]] += 1

    def _chunk(self, vpn):
        h = self.huge_pages
        return slice(vpn - vpn % h, vpn - vpn % h + h)

    def _do_anonymous_page(self, p, vpn, vma):
        """First write to untouched memory (or to the zero page): a zeroed frame, no copy."""
        was_zero = p._pfn[vpn] == ZERO_PFN
        source = "maps the zero page" if was_zero else "has no page yet"
        old = ZERO_PFN if was_zero else None
        chunk = p._pfn[self._chunk(vpn)]
        # a write to the huge zero page allocates a whole THP too in recent kernels (Dev
        # Jain's "do not shatter hugezeropage on wp-fault", 2024; 6.18 here); older
        # kernels split it and allocated 4 KiB
        huge_zero = was_zero and self.rules == "linux" and np.all(chunk == ZERO_PFN)
        if vma.huge and (huge_zero or (not was_zero and np.all(chunk == NOT_PRESENT))):
            got = self._kalloc(self.huge_pages)
            if len(got) == self.huge_pages:        # a whole 2 MiB page, mapped by one PMD
                c = self._chunk(vpn)
                self._map_new(p, c, got)
                p._flags[c] |= F_HUGE
                what = "maps the huge zero page" if huge_zero else "has no page yet"
                return [Event("zero_fill", p.pid, vpn, old, int(got[0]),
                              f"page fault: huge VP{c.start}..VP{c.stop - 1} {what}; "
                              f"allocate a zeroed 2 MiB page PF{got[0]}..PF{got[-1]}")]
            self._put_back(got)                    # THP allocation failed: fall back to 4 KiB
        got = self._kalloc(1)
        if not len(got):
            return None
        pfn = int(got[0])
        self._map_new(p, vpn, pfn)
        return [Event("zero_fill", p.pid, vpn, old, pfn,
                      f"page fault: VP{vpn} {source}; allocate zeroed PF{pfn} and map it "
                      f"writable (nothing to copy)")]

    def _do_wp_page(self, p, vpn, reuse):
        """The COW write fault: reuse the frame when decide() says so, else copy it."""
        if p._flags[vpn] & F_HUGE:
            return self._do_huge_pmd_wp_page(p, vpn)
        old = int(p._pfn[vpn])
        rc, mc = self.refcount(old), int(self._mapcount[old])
        ksm = bool(self._fflags[old] & F_KSM)
        if reuse:
            exclusive = bool(self._fflags[old] & F_EXCL)
            p._flags[vpn] = (p._flags[vpn] & NO_WC) | F_WRITE
            self._fflags[old] |= F_EXCL
            if self.rules in ("linux-5.7", "linux-4.8") and rc > 1:
                why = (f"PF{old} has one mapping (mapcount=1; rc={rc}, but Linux before "
                       f"5.8 counts only mappings)")
            elif exclusive and rc > 1:
                why = f"PF{old} is exclusive to this process (rc={rc})"
            else:
                why = f"PF{old} has no other user (rc=1)"
            return [Event("cow_reuse", p.pid, vpn, old, None,
                          f"page fault: VP{vpn} is read-only but {why}; make it writable "
                          f"in place, no copy")]
        got = self._kalloc(1)
        if not len(got):
            return None
        new = int(got[0])
        self._content[new] = self._content[old]
        self._map_new(p, vpn, new)
        freed = self._put_pages(np.array([old]))
        why = ("is a KSM page (never reused)" if ksm else
               "is read-only and shared" if rc > 1 else
               "is COW (xv6 rules always copy)" if self.rules == "xv6" else "is COW")
        counts = f"rc={rc}" if rc == mc else f"rc={rc}, mapcount={mc}"
        ev = [Event("cow_copy", p.pid, vpn, old, new,
                    f"page fault: VP{vpn} {why} ({counts}); copy PF{old} into new PF{new}, "
                    f"map it writable; rc(PF{old}) {rc}->{rc - 1}")]
        return ev + free_events(p, freed, "the copy dropped the last reference")

    def _do_huge_pmd_wp_page(self, p, vpn):
        """A COW fault on a 2 MiB page: reuse if exclusive, else split (>= 5.8) or copy 2 MiB."""
        c = self._chunk(vpn)
        old = p._pfn[c].copy()
        refs = self._refs(old)
        fault = decide(True, old, p._flags[c], refs, True, True, False, False, self.rules,
                       (self._fflags[old] & F_EXCL) != 0, self._mapcount[old])
        if np.all(fault == Fault.COW_REUSE):
            p._flags[c] = (p._flags[c] & NO_WC) | F_WRITE
            self._fflags[old] |= F_EXCL
            return [Event("cow_reuse", p.pid, vpn, int(old[0]), None,
                          f"page fault: huge VP{c.start}..VP{c.stop - 1} is read-only but "
                          f"nobody else maps it; make the 2 MiB page writable in place")]
        if self.thp == "copy":
            got = self._kalloc(self.huge_pages)
            if len(got) == self.huge_pages:
                self._content[got] = self._content[old]
                self._map_new(p, c, got)
                freed = self._put_pages(old)
                ev = [Event("cow_copy", p.pid, vpn, int(old[0]), int(got[0]),
                            f"page fault: VP{vpn} is in a shared 2 MiB huge page; copy all "
                            f"{self.huge_pages} pages PF{old[0]}.. into new PF{got[0]}.. "
                            f"(kernels before 5.8)")]
                return ev + free_events(p, freed, "the copy dropped the last reference")
            self._put_back(got)
        p._flags[c] &= clear_mask(F_HUGE)       # split the PMD, then COW 4 KiB
        return self._do_wp_page(p, vpn, reuse=self._decide_one(p, vpn, self._vma_at(p, vpn),
                                                               True) == Fault.COW_REUSE)
