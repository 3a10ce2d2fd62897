"""Code exercises in the spirit of the xv6 copy-on-write lab.

`Machine` is a tiny computer that offers only the primitives a kernel builds COW
from: allocate and free a frame, copy a frame, map and unmap a page, and a
refcount per frame.  Students write a `CowKernel` (fork, the write-fault handler,
copyout); the scenarios below run user programs on it, the way xv6's `cowtest`
does, and check the invariants after every step.  The bug-hunt kernels are the
reference kernel with one classic mistake each.

Nothing here imports the cowlab model: the student's kernel *is* the model.
"""
import random
import sys
import traceback
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


# -- invariants --------------------------------------------------------------------

class Broken(Exception):
    """An invariant failed: .invariant names which, the message says where."""

    def __init__(self, invariant, detail):
        super().__init__(f"{invariant}: {detail}")
        self.invariant, self.detail = invariant, detail


INVARIANTS = {
    "refcount-matches-mappings": "a used frame's refcount equals the PTEs that map it",
    "no-mapped-free-frame": "no PTE maps a frame on the free list",
    "shared-frames-read-only": "a frame mapped by two or more PTEs is writable in none",
    "cow-is-read-only": "a COW PTE is never writable",
    "isolation": "every process reads what it (or its parent before fork) wrote",
    "no-leak": "when every process has exited every frame is free again",
    "fork-copies-nothing": "fork allocates no frame",
    "read-only-stays-read-only": "a read-only page is not made writable or COW by fork",
    "fault-makes-writable": "after the fault handler the page is writable",
    "fork-returns-child": "fork returns a new live process of the same machine",
}


def check_invariants(m):
    """Raise Broken for the first invariant the machine's state violates."""
    maps = {}
    for p in m.live():
        for vpn in m.vpns(p):
            pte = m.walk(p, vpn)
            maps.setdefault(pte.pfn, []).append((p, vpn, pte))
            if pte.cow and pte.writable:
                raise Broken("cow-is-read-only", f"pid {p.pid} VP{vpn} is both writable and COW")
    for pfn, users in sorted(maps.items()):
        if m.is_free(pfn):
            p, vpn, _ = users[0]
            raise Broken("no-mapped-free-frame",
                         f"PF{pfn} is on the free list but pid {p.pid} VP{vpn} still maps it")
        if len(users) > 1:
            for p, vpn, pte in users:
                if pte.writable:
                    raise Broken("shared-frames-read-only",
                                 f"PF{pfn} is mapped by {len(users)} PTEs but pid {p.pid} "
                                 f"VP{vpn} maps it writable")
    for pfn in range(m.frames):
        if m.is_free(pfn):
            continue
        n = len(maps.get(pfn, ()))
        if m.refcount(pfn) != n:
            raise Broken("refcount-matches-mappings",
                         f"refcount(PF{pfn}) is {m.refcount(pfn)} but {n} PTE(s) map it")


# -- scenarios (cowtest-like user programs) ------------------------------------------

class Run:
    """One scenario run: the machine, the student's kernel, the shadow of what each
    process should read, and a step counter for messages."""

    def __init__(self, kernel, frames):
        self.m, self.k = Machine(frames), kernel
        self.shadow = {}
        self.step, self.doing = 0, "start"

    def _at(self, what):
        self.step += 1
        self.doing = what

    def spawn(self, pages, text=0):
        self._at(f"spawn {pages} pages")
        p = self.m.spawn("parent", pages, text)
        self.shadow[p.pid] = {v: self.m.read(p, v) for v in self.m.vpns(p)}
        self.check()
        return p

    def fork(self, parent):
        self._at(f"fork of pid {parent.pid}")
        before = self.m.allocs
        ro = [v for v in self.m.vpns(parent)
              if not self.m.walk(parent, v).writable and not self.m.walk(parent, v).cow]
        child = self.k.fork(self.m, parent)
        if not isinstance(child, Proc) or not child.alive or child.pid in self.shadow:
            raise Broken("fork-returns-child", f"fork returned {child!r}, not a new live process")
        if self.m.allocs != before:
            raise Broken("fork-copies-nothing",
                         f"fork of pid {parent.pid} allocated {self.m.allocs - before} "
                         "frame(s); COW fork shares them")
        for v in ro:
            for p in (parent, child):
                pte = self.m.walk(p, v)
                if pte is None or pte.writable or pte.cow:
                    raise Broken("read-only-stays-read-only",
                                 f"read-only VP{v} of pid {p.pid} became "
                                 f"{'unmapped' if pte is None else pte}")
        self.shadow[child.pid] = dict(self.shadow[parent.pid])
        self.check()
        return child

    def write(self, p, vpn, value):
        self._at(f"pid {p.pid} writes VP{vpn}")
        self.m.user_write(self.k, p, vpn, value)
        self.shadow[p.pid][vpn] = value
        self.check()

    def copyout(self, p, vpn, value):
        self._at(f"kernel copyout into pid {p.pid} VP{vpn}")
        self.k.copyout(self.m, p, vpn, value)
        self.shadow[p.pid][vpn] = value
        self.check()

    def exit(self, p):
        self._at(f"exit of pid {p.pid}")
        self.m.exit(p)
        del self.shadow[p.pid]
        self.check()

    def check(self, full=True):
        check_invariants(self.m)
        if full:
            for p in self.m.live():
                for v, want in self.shadow[p.pid].items():
                    got = self.m.read(p, v)
                    if got != want:
                        raise Broken("isolation", f"pid {p.pid} VP{v} reads {got!r} "
                                     f"but should read {want!r}")

    def no_leak(self):
        self._at("every process has exited")
        used = [f for f in range(self.m.frames) if not self.m.is_free(f)]
        if used:
            raise Broken("no-leak", f"{len(used)} frame(s) still allocated: "
                         + ", ".join(f"PF{f}" for f in used[:6]))


def sc_fork_share(run, rng):
    """fork shares every page: no frame allocated, both read the same values."""
    n = rng.randint(3, 6)
    p = run.spawn(n, text=1)
    for v in range(1, n + 1):
        run.write(p, v, 100 + v)
    c = run.fork(p)
    run.exit(c)
    run.exit(p)
    run.no_leak()


def sc_child_writes(run, rng):
    """the child writes some pages, then the parent writes the same ones."""
    n = rng.randint(4, 7)
    p = run.spawn(n)
    c = run.fork(p)
    pages = rng.sample(range(n), rng.randint(2, n - 1))
    for v in pages:
        run.write(c, v, 200 + v)
    for v in pages:
        run.write(p, v, 300 + v)
    run.exit(c)
    run.exit(p)
    run.no_leak()


def sc_copyout(run, rng):
    """filetest: the kernel writes (a read() into a buffer) into a COW page."""
    n = rng.randint(2, 5)
    buf = rng.randrange(n)
    p = run.spawn(n)
    c = run.fork(p)
    run.copyout(c, buf, "data from the pipe")
    run.copyout(p, buf, "parent's own read")
    run.copyout(p, (buf + 1) % n, "a second buffer")
    run.exit(c)
    run.exit(p)
    run.no_leak()


def sc_last_writer(run, rng):
    """after the child exits the parent is the only sharer: its writes must work, no leak."""
    n = rng.randint(3, 6)
    p = run.spawn(n)
    c = run.fork(p)
    run.write(c, 0, "child")
    run.exit(c)
    for v in range(n):
        run.write(p, v, 400 + v)
    run.exit(p)
    run.no_leak()


def sc_big_fork(run, rng):
    """cowtest simpletest: fork with more than half of RAM allocated must not copy."""
    pages = run.m.frames * 2 // 3
    p = run.spawn(pages)
    c = run.fork(p)
    run.exit(c)
    for v in range(pages):
        run.write(p, v, v)
    run.exit(p)
    run.no_leak()


def sc_three_generations(run, rng):
    """cowtest threetest: parent, child and grandchild write overlapping halves; 3 rounds."""
    for _ in range(3):
        sz = run.m.frames // 4
        p = run.spawn(sz)
        c = run.fork(p)
        g = run.fork(c)
        for v in range(sz * 4 // 5):
            run.write(g, v, ("grandchild", v))
        for v in range(sz // 2):
            run.write(c, v, ("child", v))
        run.exit(g)
        run.exit(c)
        for v in range(sz):
            run.write(p, v, ("parent", v))
        run.exit(p)
        run.no_leak()


def sc_many_forks(run, rng):
    """many short-lived forks: a leak of one frame per fork soon runs out of RAM."""
    p = run.spawn(3)
    for i in range(run.m.frames * 3):
        c = run.fork(p)
        run.write(c, i % 3, ("child", i))
        run.write(p, (i + 1) % 3, ("parent", i))
        run.exit(c)
    run.exit(p)
    run.no_leak()


def sc_text_stays_read_only(run, rng):
    """a write to read-only text is a SIGSEGV in parent and child, never a copy."""
    p = run.spawn(2, text=2)
    c = run.fork(p)
    for who in (c, p):
        run._at(f"pid {who.pid} writes read-only VP0")
        try:
            run.m.user_write(run.k, who, 0, "overwrite the code")
        except Segfault:
            pass
        else:
            raise Broken("read-only-stays-read-only",
                         f"pid {who.pid} wrote its read-only VP0 and it worked")
        run.check()
    run.exit(c)
    run.exit(p)
    run.no_leak()


# name -> (function, public?, base frames).  Public ones run in the notebook check.
SCENARIOS = {
    "fork-share": (sc_fork_share, True, 16),
    "child-writes": (sc_child_writes, True, 16),
    "copyout": (sc_copyout, True, 16),
    "last-writer": (sc_last_writer, False, 16),
    "big-fork": (sc_big_fork, False, 24),
    "three-generations": (sc_three_generations, False, 40),
    "many-forks": (sc_many_forks, False, 12),
    "text-read-only": (sc_text_stays_read_only, False, 12),
}


def _where_in_answer(exc):
    """'line N of your answer' for the deepest frame of the student's cell."""
    for fs in reversed(traceback.extract_tb(exc.__traceback__)):
        if fs.filename == "<answer>":
            return f" (in {fs.name}, line {fs.lineno} of your answer)"
    return ""


def run_scenario(name, kernel, seed):
    """Run one scenario; returns None if it passes, else a message naming the
    broken invariant and the step.  Raises NotImplementedError for a stub."""
    fn, _, frames = SCENARIOS[name]
    rng = random.Random(f"{seed}/{name}")
    run = Run(kernel, frames + rng.randint(0, 4))
    try:
        fn(run, rng)
    except NotImplementedError:
        raise
    except Broken as e:
        return f"{name}: step {run.step} ({run.doing}): {e.invariant} broken: {e.detail}"
    except OutOfMemory as e:
        return (f"{name}: step {run.step} ({run.doing}): ran out of frames ({e}); "
                "are frames copied or leaked?")
    except RecursionError:
        return f"{name}: step {run.step} ({run.doing}): infinite recursion"
    except Exception as e:   # the student's code raised: say where
        return (f"{name}: step {run.step} ({run.doing}): {type(e).__name__}: {e}"
                f"{_where_in_answer(e)}")
    return None


def run_scenarios(kernel, seed, public_only=False):
    """-> (passed names, failure messages); NotImplementedError if every scenario hit a stub."""
    passed, failed, stubs = [], [], 0
    names = [n for n, (_, pub, _) in SCENARIOS.items() if pub or not public_only]
    for name in names:
        try:
            msg = run_scenario(name, kernel, seed)
        except NotImplementedError:
            stubs += 1
            failed.append(f"{name}: a method still raises NotImplementedError")
            continue
        (failed if msg else passed).append(msg or name)
    if stubs == len(names):
        raise NotImplementedError("every scenario reached an unwritten method")
    return passed, failed


# -- bug hunt --------------------------------------------------------------------

class _KernelMD(ReferenceKernel):
    def write_fault(self, m, proc, vpn):
        pte = m.walk(proc, vpn)
        if m.refcount(pte.pfn) == 1:
            m.map(proc, vpn, pte.pfn, writable=True)
            return
        new = m.kalloc()
        m.copy_frame(pte.pfn, new)
        m.map(proc, vpn, new, writable=True)


class _KernelRS(ReferenceKernel):
    def write_fault(self, m, proc, vpn):
        pte = m.walk(proc, vpn)
        if m.refcount(pte.pfn) >= 1:
            m.map(proc, vpn, pte.pfn, writable=True)
            return
        new = m.kalloc()
        m.copy_frame(pte.pfn, new)
        m.map(proc, vpn, new, writable=True)
        m.decref(pte.pfn)


class _KernelFE(ReferenceKernel):
    def write_fault(self, m, proc, vpn):
        pte = m.walk(proc, vpn)
        if m.refcount(pte.pfn) == 1:
            m.map(proc, vpn, pte.pfn, writable=True)
            return
        new = m.kalloc()
        m.copy_frame(pte.pfn, new)
        m.map(proc, vpn, new, writable=True)
        m.kfree(pte.pfn)


class _KernelWP(ReferenceKernel):
    def fork(self, m, parent):
        child = m.new_proc(parent.name + "-child")
        for vpn in m.vpns(parent):
            pte = m.walk(parent, vpn)
            if pte.writable or pte.cow:
                m.map(child, vpn, pte.pfn, writable=False, cow=True)
            else:
                m.map(child, vpn, pte.pfn, writable=False)
            m.incref(pte.pfn)
        return child


BUGS = {
    "missing-decrement": _KernelMD,
    "reuse-while-shared": _KernelRS,
    "free-too-early": _KernelFE,
    "no-write-protect": _KernelWP,
}
SUSPECTS = ["kernel_a", "kernel_b", "kernel_c", "kernel_d"]


def suspect_bugs(seed):
    """{suspect name: bug} for a variant seed (the answer key of the bug hunt)."""
    bugs = sorted(BUGS)
    random.Random(f"{seed}/suspects").shuffle(bugs)
    return dict(zip(SUSPECTS, bugs))


def suspects(seed):
    """{suspect name: kernel class} for a variant: the kernels the student examines."""
    out = {}
    for name, bug in suspect_bugs(seed).items():
        cls = type(name, (BUGS[bug],), {"__doc__": "A COW kernel with one bug. Which?",
                                        "__module__": __name__})
        out[name] = cls
    return out


# -- grading a code answer -----------------------------------------------------------

PUBLIC = {"Machine": Machine, "CowKernel": CowKernel, "PTE": PTE, "Proc": Proc,
          "OutOfMemory": OutOfMemory, "Segfault": Segfault}


_GUARDED = (Machine, Run, Proc, Broken, PTE, CowKernel, ReferenceKernel)


def _guarded():
    """(name, namespace object) of everything the checks rely on."""
    import builtins
    from . import bank
    mods = [sys.modules[__name__], bank, builtins, random, traceback]
    return [(m.__name__, m) for m in mods] + [(c.__name__, c) for c in _GUARDED]


def _integrity():
    """A copy of every guarded namespace, to spot code that patches the checks and to
    put them back afterwards."""
    return {name: dict(vars(target)) for name, target in _guarded()}


def _restore(saved):
    """Undo any patching of the guarded namespaces; True if something was patched."""
    patched = False
    for space, target in _guarded():
        now, before = vars(target), saved[space]
        for name in set(now) | set(before):
            if name in before and now.get(name, _restore) is before[name]:
                continue
            if name in ("_", "__annotations__") or (space == "cowlab.homework.bank"
                                                     and name == "_CACHE"):
                continue
            patched = True
            if name in before:
                setattr(target, name, before[name])
            else:
                delattr(target, name)
    return patched


def kernel_from_source(source, qid, namespace=None):
    """Run an answer cell's source and return an instance of the class it binds to qid."""
    ns = dict(PUBLIC)
    ns.update(namespace or {})
    exec(compile(source, "<answer>", "exec"), ns)
    return answer_class(ns, qid)()


def answer_class(ns, qid):
    """The class the answer cell binds to qid, which must be the student's own work:
    subclassing the reference kernel or a bug-hunt suspect hands in code they did not write."""
    cls = ns.get(qid)
    if not isinstance(cls, type):
        raise TypeError(f"the answer cell must define a class named {qid} "
                        f"(got {type(cls).__name__})")
    borrowed = [c.__name__ for c in cls.__mro__[1:]
                if c not in (CowKernel, object) and c.__module__.startswith("cowlab")]
    if borrowed:
        raise TypeError(f"class {qid} must subclass CowKernel and write fork, write_fault "
                        f"and copyout itself, not inherit them from {borrowed[0]}")
    return cls


def score_kernel(kernel, seed, points, public_only=False):
    """(status, points, message) for a kernel object; partial credit per scenario."""
    try:
        passed, failed = run_scenarios(kernel, seed, public_only)
    except NotImplementedError:
        return "unanswered", 0, "not yet answered"
    total = len(passed) + len(failed)
    got = points * len(passed) // total
    if not failed:
        return "correct", points, f"all {total} scenarios pass"
    return "wrong", got, f"{len(passed)} of {total} scenarios pass; " + "; ".join(failed)


def grade_code(assignment, qid, student, source):
    """Grade the source of a code answer cell (run in the grader's own subprocess).

    Returns (status, points, message): unanswered for a blank cell or a stub,
    invalid if it does not define the class or tampers with the checks."""
    from . import bank
    q = bank.question(assignment, qid)
    if q.kind != "code":
        raise ValueError(f"{assignment}/{qid} is not a code question")
    if not isinstance(source, str) or not source.strip():
        return "unanswered", 0, "not yet answered"
    before = _integrity()
    saved = (sys.stdout, sys.stderr)
    try:
        try:
            kernel = kernel_from_source(source, qid)
        except SyntaxError as e:
            result = "invalid", 0, f"invalid: syntax error on line {e.lineno} of the answer cell"
        except Exception as e:
            result = "invalid", 0, (f"invalid: running the answer cell raised "
                                    f"{type(e).__name__}: {e}{_where_in_answer(e)}")
        else:
            result = score_kernel(kernel, bank.seed(assignment, qid, student), q.points)
    except BaseException as e:   # SystemExit, KeyboardInterrupt from student code
        result = "invalid", 0, f"invalid: the answer stopped the grader ({type(e).__name__})"
    finally:
        sys.stdout, sys.stderr = saved
    if _restore(before):
        return "invalid", 0, "invalid: the answer modified the checks or the machine"
    return result
