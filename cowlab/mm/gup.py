"""References that are not mappings (mm/gup.c, fs/splice.c): pipe buffers and pins;
and forced writes (FOLL_FORCE: ptrace, /proc/PID/mem) with the Dirty COW race.

`vmsplice` puts a process's pages into a pipe: the pipe holds a reference to each
frame (get_user_pages, FOLL_GET) until it is closed, and reads what the frames hold.
`pin` is a long-term read-only pin, as io_uring's fixed buffers take (FOLL_PIN |
FOLL_LONGTERM): a page that is not exclusive is unshared first (a COW break that
leaves the PTE as it was), so the pinned page is the process's own. Both raise the
frame's refcount and not its mapcount: the "linux" rule then copies where
"linux-5.7" reused (the vmsplice leak).
"""
import errno

import numpy as np

from .events import Event, free_events, pages_str
from .page_alloc import F_EXCL, NOT_ANON
from .pgtable import F_COW, F_WRITE, NOT_PRESENT, ZERO_PFN


class Pipe:
    """A pipe holding references to frames (from k.vmsplice); read() -> their values."""

    def __init__(self, kernel, index):
        self._kernel, self._index = kernel, index

    def read(self):
        """The values in the pipe's buffers (a vmsplice'd page reads as its frame does now)."""
        return [self._kernel.content(f) for f in self._kernel._held(self)]

    def _size(self):
        all_held = self._kernel._refs_held
        held = all_held[self._index] if self._index < len(all_held) else None
        return "released" if held is None else pages_str(len(held))

    def __repr__(self):
        return f"<cowlab pipe: {self._size()}>"


class Pin(Pipe):
    """A long-term pin on frames (from k.pin); k.unpin(pin) drops it."""

    def __repr__(self):
        return f"<cowlab pin: {self._size()}>"


class Gup:
    """Kernel methods that take references to frames without mapping them."""

    def vmsplice(self, p, vpn, pages=1):
        """vmsplice(2) of vpn..vpn+pages-1 into a new pipe -> Pipe (k.close(pipe) ends it).

        An untouched page is faulted in first, as get_user_pages does (a read: the zero
        page, which is never counted)."""
        frames = self._gup(p, vpn, pages, unshare=False)
        return Pipe(self, self._hold(frames, pin=False))

    def pin(self, p, vpn, pages=1):
        """A long-term read-only pin (io_uring fixed buffers) -> Pin; k.unpin(pin) drops it.

        A page that is not exclusive is unshared first (copied if others share it, else
        marked exclusive); an untouched page is allocated as a first write would."""
        frames = self._gup(p, vpn, pages, unshare=True)
        return Pin(self, self._hold(frames, pin=True))

    def close(self, pipe):
        """Close a pipe: its references go; frames nobody else holds are freed."""
        return self._release(pipe, Pipe)

    def unpin(self, pin):
        """Drop a pin: its references go; frames nobody else holds are freed."""
        return self._release(pin, Pin)

    def _force_write(self, p, vpn, value, race):
        """A FOLL_FORCE write (mm/gup.c): break COW into an anonymous copy that stays
        read-only, then store into it. With race=True a MADV_DONTNEED zaps the copy
        before the retry finds it. Linux 4.8 had dropped FOLL_WRITE after the COW
        break, so the retry took the read fault's page-cache page and wrote the file
        (CVE-2016-5195); since 4.8.3 the retry insists on a COW'ed page (FOLL_COW, and
        today FAULT_FLAG_UNSHARE), so it breaks COW again."""
        vma = self._vma_at(p, vpn)
        if vma is None:
            raise OSError(errno.EIO, f"VP{vpn} is in no region of {p.name}: a "
                                     f"/proc/PID/mem write there fails with EIO")
        if vma.writable:
            if race:
                raise ValueError("the Dirty COW race needs a read-only private mapping")
            return self._handle_write(p, vpn, value)[0]
        if vma.shared:
            raise OSError(errno.EFAULT, f"VP{vpn} is a read-only MAP_SHARED page: "
                                        f"FOLL_FORCE writes only copy-on-write mappings")
        if race and vma.file is None:
            raise ValueError("the Dirty COW race needs a private file mapping (mmap(..., "
                             "file=name, writable=False)): its page cache is what leaks")
        events = self._cow_break_ro(p, vpn, vma)
        if race:
            events += self._zap_events(p, vpn)
            if self.rules == "linux-4.8":            # the retry forgot FOLL_WRITE
                retry = self._fault(p, vpn, vma, False)
                if retry is None:
                    raise OSError(errno.ENOMEM, "no free frame for the forced write's retry")
                p.minor_faults += 1
                pfn = int(p._pfn[vpn])
                events += [e._replace(text=e.text + f"; the forced write's retry (FOLL_WRITE "
                                      f"dropped) writes PF{pfn} itself: file {vma.file} "
                                      f"changes (Dirty COW, CVE-2016-5195)") for e in retry]
                self._set_dirty(pfn, self._code(value))
                return events
            events += self._cow_break_ro(p, vpn, vma)  # FOLL_COW: break COW again
        self._set_dirty(int(p._pfn[vpn]), self._code(value))
        return events

    def _cow_break_ro(self, p, vpn, vma):
        """The write fault a forced write takes: the page gets an anonymous copy of its
        own (a copy, or a reuse of an exclusive one), mapped read-only like its region."""
        pfn = int(p._pfn[vpn])
        anon_own = pfn >= 0 and not self._fflags[pfn] & NOT_ANON and \
            (self._fflags[pfn] & F_EXCL or self.refcount(pfn) == 1)
        if anon_own and self.rules != "xv6":
            return []                                   # already its own: no fault
        if pfn == NOT_PRESENT:                          # one write fault: do_cow_fault
            events = (self._do_cow_fault(p, vpn, vma) if vma.file is not None
                      else self._do_anonymous_page(p, vpn, vma))
            if events is None:
                raise OSError(errno.ENOMEM, "no free frame for the forced write")
            events = [e._replace(text=e.text.replace("map it writable", "keep it read-only "
                                                     "(a forced write, FOLL_FORCE)"))
                      for e in events]
            freed = np.empty(0, np.int32)
        else:
            got = self._kalloc(1)
            if not len(got):
                raise OSError(errno.ENOMEM, "no free frame for the forced write's copy")
            new = int(got[0])
            if pfn >= 0:
                self._content[new] = self._content[pfn]
            self._map_new(p, vpn, new)
            freed = self._put_pages(np.array([pfn])) if pfn >= 0 else np.empty(0, np.int32)
            src = f"PF{pfn}" if pfn >= 0 else "the zero page"
            events = [Event("cow_copy", p.pid, vpn, pfn if pfn >= 0 else ZERO_PFN, new,
                            f"page fault: forced write (FOLL_FORCE) to read-only VP{vpn}: "
                            f"copy {src} into new PF{new}, keep it read-only")]
        p._flags[vpn] = (p._flags[vpn] & (0xFF ^ int(F_WRITE))) | F_COW   # the region is RO
        p.minor_faults += 1
        return events + free_events(p, freed, "the copy dropped the last reference")

    def _zap_events(self, p, vpn):
        """MADV_DONTNEED on one page, from another thread, mid-write."""
        return free_events(p, self._zap(p, vpn, vpn + 1), "MADV_DONTNEED (the race) dropped it")

    # ------------------------------------------------------------------ helpers
    def _gup(self, p, vpn, pages, unshare):
        p = self._proc(p)
        vpn = self._check_vpn(vpn)
        pages = self._check_pages(pages)
        end = vpn + pages
        if end > p.span or np.any(p._vma[vpn:end] < 0):
            raise ValueError(f"VP{vpn}..VP{end - 1} is not all mapped in {p.name}; "
                             f"pass a range inside its regions: {self.regions(p)}")
        for v in range(vpn, end):
            vma = self._vma_at(p, v)
            pfn = int(p._pfn[v])
            if unshare and not vma.shared and (pfn < 0 or not self._fflags[pfn] & F_EXCL):
                if not vma.writable:
                    raise ValueError(f"VP{v} of {p.name} is read-only: the model pins only "
                                     f"writable private pages or shared ones")
                writable = pfn >= 0 and bool(p._flags[v] & F_WRITE)
                events, done = self._handle_write(p, v, self.content(pfn) if pfn >= 0 else 0)
                if pfn >= 0 and not writable:       # say what the unshare does to the PTE
                    events = [e._replace(text=e.text.replace(
                        "map it writable", "keep it read-only (an unshare for the pin)"))
                        for e in events]
                self.events += events
                if not done:
                    raise OSError(12, f"pin of VP{v}: {events[-1].text if events else 'no memory'}")
                if pfn >= 0 and not writable:       # an unshare leaves the PTE read-only
                    p._flags[v] = (p._flags[v] & (0xFF ^ int(F_WRITE))) | F_COW
            elif p._pfn[v] == NOT_PRESENT:
                events, _ = self._handle_read(p, v)
                self.events += events
        return p._pfn[vpn:end].copy()

    def _hold(self, frames, pin):
        real = frames[frames >= 0]
        np.add.at(self._extra, real, 1)
        if pin:
            np.add.at(self._pincount, real, 1)
            self._npins += len(real)
        self._refs_held.append(frames)
        self._refs_pin.append(pin)
        return len(self._refs_held) - 1

    def _held(self, holder):
        if holder._index >= len(self._refs_held) or self._refs_held[holder._index] is None:
            raise ValueError(f"{holder!r} was released (or undone by a restore)")
        return [int(f) for f in self._refs_held[holder._index]]

    def _release(self, holder, kind):
        if type(holder) is not kind or holder._kernel is not self:
            raise TypeError(f"expected a {kind.__name__.lower()} of this kernel "
                            f"(from k.{'vmsplice' if kind is Pipe else 'pin'}), got {holder!r}")
        if holder._index >= len(self._refs_held):
            raise ValueError(f"{holder!r} was made after the snapshot this kernel was "
                             f"restored to: it no longer exists")
        frames = self._refs_held[holder._index]
        if frames is None:
            raise ValueError(f"{holder!r} was already released")
        real = frames[frames >= 0]
        np.subtract.at(self._extra, real, 1)
        if self._refs_pin[holder._index]:
            np.subtract.at(self._pincount, real, 1)
            self._npins -= len(real)
        self._refs_held[holder._index] = None
        gone = np.unique(real[self._refs(real) == 0])
        self._kfree(gone)
        events = free_events(None, gone, "the last reference was the pipe's"
                             if kind is Pipe else "the last reference was the pin")
        self.events += events
        return events

