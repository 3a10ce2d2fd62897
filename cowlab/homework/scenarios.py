"""The invariants and the cowtest-like scenarios that judge a COW kernel.

Each scenario is a user program run on a fresh `Machine` with the student's kernel,
the way xv6's `cowtest` does; the invariants are checked after every step, and a
failure names the invariant, the step and the place in the student's code.
`score_kernel` turns the scenarios into points: codejudge.judge_kernel is its one
caller for graded answers.
"""
import random
import traceback

from .machine import Broken, Machine, OutOfMemory, Proc, Segfault

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


def where_in_answer(exc):
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
                f"{where_in_answer(e)}")
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
