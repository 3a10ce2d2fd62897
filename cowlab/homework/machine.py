"""The machine of the code exercises: frames, page tables and nothing more.

`Machine` is a tiny computer that offers only the primitives a kernel builds COW
from: allocate and free a frame, copy a frame, map and unmap a page, and a
refcount per frame. `CowKernel` is what students write (fork, the write-fault
handler, copyout, as in the xv6 COW lab); `ReferenceKernel` is the answer key.
Nothing here imports the cowlab model: the student's kernel *is* the model.
"""
from collections import namedtuple

PTE = namedtuple("PTE", "pfn writable cow")
PTE.__doc__ = "A page-table entry: the frame, whether a write goes through, the COW mark."


class OutOfMemory(Exception):
    """kalloc() found no free frame."""


class Segfault(Exception):
    """A user write the kernel must refuse (no mapping, or a read-only non-COW page)."""


class Proc:
    """A process: a pid and a name; its page table lives in the Machine."""
    __slots__ = ("pid", "name", "alive")

    def __init__(self, pid, name):
        self.pid, self.name, self.alive = pid, name, True

    def __repr__(self):
        return f"Proc(pid={self.pid}, {self.name!r}{'' if self.alive else ', dead'})"


class Machine:
    """Physical frames with refcounts, and one page table per process.

    The primitives (kalloc, kfree, incref, decref, refcount, copy_frame, walk, map,
    unmap, vpns, new_proc, peek, poke) are all a kernel gets.  They check their
    arguments but not your bookkeeping: keeping refcounts right is your job.
    """
    __slots__ = ("frames", "_free", "_rc", "_data", "_pt", "_procs", "allocs")

    def __init__(self, frames=16):
        if not isinstance(frames, int) or frames < 1:
            raise ValueError(f"frames must be a positive int, got {frames!r}")
        self.frames = frames
        self._free = set(range(frames))
        self._rc = [0] * frames
        self._data = [0] * frames
        self._pt = {}
        self._procs = []
        self.allocs = 0             # frames handed out by kalloc, ever

    # -- frames ------------------------------------------------------------
    def _frame(self, pfn):
        if not isinstance(pfn, int) or isinstance(pfn, bool) or not 0 <= pfn < self.frames:
            raise ValueError(f"no frame PF{pfn!r}: frames are 0..{self.frames - 1}")
        return pfn

    def kalloc(self):
        """Take the lowest free frame, zeroed, with refcount 1 (for the PTE you map)."""
        if not self._free:
            raise OutOfMemory(f"kalloc: all {self.frames} frames are in use")
        pfn = min(self._free)
        self._free.discard(pfn)
        self._rc[pfn], self._data[pfn] = 1, 0
        self.allocs += 1
        return pfn

    def kfree(self, pfn):
        """Put a frame back on the free list now, whatever its refcount says."""
        if self._frame(pfn) in self._free:
            raise ValueError(f"kfree(PF{pfn}): double free, the frame is already free")
        self._rc[pfn] = 0
        self._free.add(pfn)

    def incref(self, pfn):
        """One more reference to the frame; returns the new count."""
        if self._frame(pfn) in self._free:
            raise ValueError(f"incref(PF{pfn}): the frame is free")
        self._rc[pfn] += 1
        return self._rc[pfn]

    def decref(self, pfn):
        """One reference fewer; returns the new count (it does not free the frame)."""
        if self._frame(pfn) in self._free:
            raise ValueError(f"decref(PF{pfn}): the frame is free")
        if self._rc[pfn] == 0:
            raise ValueError(f"decref(PF{pfn}): refcount is already 0")
        self._rc[pfn] -= 1
        return self._rc[pfn]

    def refcount(self, pfn):
        return self._rc[self._frame(pfn)]

    def is_free(self, pfn):
        return self._frame(pfn) in self._free

    def free_count(self):
        return len(self._free)

    def copy_frame(self, src, dst):
        """Copy one frame's contents into another (a 4 KiB memcpy)."""
        self._data[self._frame(dst)] = self._data[self._frame(src)]

    def peek(self, pfn):
        return self._data[self._frame(pfn)]

    def poke(self, pfn, value):
        """Store into a frame directly, as the kernel does (no page-table check)."""
        self._data[self._frame(pfn)] = value

    # -- page tables ---------------------------------------------------------
    def _proc(self, proc):
        if not isinstance(proc, Proc) or proc.pid not in self._pt:
            raise ValueError(f"{proc!r} is not a process of this machine")
        if not proc.alive:
            raise ValueError(f"{proc!r} has exited")
        return self._pt[proc.pid]

    def new_proc(self, name="proc"):
        """A process with an empty page table."""
        p = Proc(len(self._procs) + 1, str(name))
        self._procs.append(p)
        self._pt[p.pid] = {}
        return p

    def walk(self, proc, vpn):
        """The PTE for vpn, or None if unmapped."""
        return self._proc(proc).get(vpn)

    def map(self, proc, vpn, pfn, writable, cow=False):
        """Install (or replace) the PTE for vpn.  Refcounts are not touched."""
        if not isinstance(vpn, int) or vpn < 0:
            raise ValueError(f"vpn must be an int >= 0, got {vpn!r}")
        if self._frame(pfn) in self._free:
            raise ValueError(f"map: PF{pfn} is free; kalloc it first")
        self._proc(proc)[vpn] = PTE(pfn, bool(writable), bool(cow))

    def unmap(self, proc, vpn):
        """Remove the PTE for vpn.  Refcounts are not touched."""
        pt = self._proc(proc)
        if vpn not in pt:
            raise ValueError(f"unmap: pid {proc.pid} VP{vpn} is not mapped")
        del pt[vpn]

    def vpns(self, proc):
        """The mapped vpns of a process, in order."""
        return sorted(self._proc(proc))

    def live(self):
        return [p for p in self._procs if p.alive]

    # -- what user programs and the rest of the OS do (not the student's code) --
    def spawn(self, name, pages, text=0):
        """A process with `text` read-only pages then `pages` writable ones."""
        p = self.new_proc(name)
        for vpn in range(text + pages):
            pfn = self.kalloc()
            self._data[pfn] = ("text", vpn) if vpn < text else 0
            self.map(p, vpn, pfn, writable=vpn >= text)
        return p

    def exit(self, proc):
        """Drop every mapping; a frame whose refcount reaches 0 is freed."""
        for vpn in self.vpns(proc):
            pfn = self.walk(proc, vpn).pfn
            self.unmap(proc, vpn)
            if not self.is_free(pfn) and self.decref(pfn) == 0:
                self.kfree(pfn)
        proc.alive = False

    def read(self, proc, vpn):
        pte = self.walk(proc, vpn)
        if pte is None:
            raise Segfault(f"pid {proc.pid} read of unmapped VP{vpn}")
        return self._data[pte.pfn]

    def user_write(self, kernel, proc, vpn, value):
        """A store instruction: writable -> store; COW -> the fault handler, then store."""
        pte = self.walk(proc, vpn)
        if pte is None:
            raise Segfault(f"pid {proc.pid} wrote unmapped VP{vpn}")
        if not pte.writable:
            if not pte.cow:
                raise Segfault(f"pid {proc.pid} wrote read-only VP{vpn}")
            kernel.write_fault(self, proc, vpn)
            pte = self.walk(proc, vpn)
            if pte is None or not pte.writable:
                raise Broken("fault-makes-writable",
                             f"after write_fault(pid {proc.pid}, VP{vpn}) the page is "
                             "still not writable, so the store would fault forever")
        self._data[pte.pfn] = value


class Broken(Exception):
    """An invariant failed: .invariant names which, the message says where."""

    def __init__(self, invariant, detail):
        super().__init__(f"{invariant}: {detail}")
        self.invariant, self.detail = invariant, detail


class CowKernel:
    """What you write: the three places xv6's COW lab changes.

    fork(m, parent) -> child        share every page, copy no frame
    write_fault(m, proc, vpn)       called on a user write to a COW page
    copyout(m, proc, vpn, value)    the kernel writes into a user page (read(), pipes)
    """

    def fork(self, m, parent):
        raise NotImplementedError("write your answer here")

    def write_fault(self, m, proc, vpn):
        raise NotImplementedError("write your answer here")

    def copyout(self, m, proc, vpn, value):
        raise NotImplementedError("write your answer here")


class ReferenceKernel(CowKernel):
    """The answer key (also the base of the bug-hunt kernels)."""

    def fork(self, m, parent):
        child = m.new_proc(parent.name + "-child")
        for vpn in m.vpns(parent):
            pte = m.walk(parent, vpn)
            if pte.writable or pte.cow:          # private writable: share it read-only
                m.map(parent, vpn, pte.pfn, writable=False, cow=True)
                m.map(child, vpn, pte.pfn, writable=False, cow=True)
            else:                                # read-only stays read-only, not COW
                m.map(child, vpn, pte.pfn, writable=False)
            m.incref(pte.pfn)
        return child

    def write_fault(self, m, proc, vpn):
        pte = m.walk(proc, vpn)
        if m.refcount(pte.pfn) == 1:             # last sharer: reuse in place
            m.map(proc, vpn, pte.pfn, writable=True)
            return
        new = m.kalloc()
        m.copy_frame(pte.pfn, new)
        m.map(proc, vpn, new, writable=True)
        m.decref(pte.pfn)

    def copyout(self, m, proc, vpn, value):
        pte = m.walk(proc, vpn)
        if pte is None or not (pte.writable or pte.cow):
            raise Segfault(f"copyout to pid {proc.pid} VP{vpn}: not a writable page")
        if pte.cow:
            self.write_fault(m, proc, vpn)
            pte = m.walk(proc, vpn)
        m.poke(pte.pfn, value)
