"""Random sequences of system calls never break the model's invariants, and every process
reads exactly what an eager-copy reference model (copy everything at fork) says it should.

Every sequence also runs on a twin kernel that takes the other path for each write: a
write() there is write_many([vpn]), a write_many() there is one write() per vpn. The
two must agree on every state, statistic and (summarised) event, so the one-page
handlers and the vectorised bulk path cannot drift apart."""
import copy
from collections import Counter

import numpy as np
from hypothesis import HealthCheck, settings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from cowlab import Kernel
from cowlab.mm import NOT_PRESENT
from cowlab.mm import invariants


class Eager:
    """The reference: fork copies every page at once; no frames, no faults, no sharing
    except MAP_SHARED objects, which are one dict seen by every mapper."""

    def __init__(self):
        self.procs = {}      # pid -> {"pages": {vpn: value or ("shm", obj, off)}, "end": int,
        self.objs = {}       #          "dontfork": set, "wipe": set}
        self.next_obj = 0

    def spawn(self, pid, pages):
        self.procs[pid] = {"pages": {v: 0 for v in range(pages)}, "end": pages,
                           "dontfork": set(), "wipe": set()}

    def mmap(self, pid, start, pages, shared):
        pr = self.procs[pid]
        if shared:
            obj = self.next_obj
            self.next_obj += 1
            self.objs[obj] = {}
        for i in range(pages):
            pr["pages"][start + i] = ("shm", obj, i) if shared else 0
        pr["end"] = start + pages

    def fork(self, parent, child):
        pr = self.procs[parent]
        pages = {}
        for v, val in pr["pages"].items():
            if v in pr["dontfork"]:
                continue
            pages[v] = 0 if (v in pr["wipe"] and not isinstance(val, tuple)) else val
        self.procs[child] = {"pages": pages, "end": pr["end"], "dontfork": set(),
                             "wipe": set(pr["wipe"]) - pr["dontfork"]}

    def write(self, pid, vpn, value):
        pages = self.procs[pid]["pages"]
        if vpn not in pages:
            del self.procs[pid]
            return False
        if isinstance(pages[vpn], tuple):
            _, obj, off = pages[vpn]
            self.objs[obj][off] = value
        else:
            pages[vpn] = value
        return True

    def read(self, pid, vpn):
        pages = self.procs[pid]["pages"]
        if vpn not in pages:
            del self.procs[pid]
            return None
        val = pages[vpn]
        if isinstance(val, tuple):
            return self.objs[val[1]].get(val[2], 0)
        return val

    def munmap(self, pid, vpn, pages):
        pr = self.procs[pid]
        for v in range(vpn, vpn + pages):
            pr["pages"].pop(v, None)
            pr["dontfork"].discard(v)
            pr["wipe"].discard(v)

    def dontneed(self, pid, vpn, pages):
        """Private pages read zeros again; shared pages keep their object's data."""
        pr = self.procs[pid]
        for v in range(vpn, vpn + pages):
            if v in pr["pages"] and not isinstance(pr["pages"][v], tuple):
                pr["pages"][v] = 0

    def touched_shared_pages(self):
        live = {val[1] for pr in self.procs.values() for val in pr["pages"].values()
                if isinstance(val, tuple)}
        return sum(len(self.objs[o]) for o in live)


def summary(events):
    """{kind: count} of the pages a write call faulted, from a list of events (the one-page
    path) or from write_many's counts; frees are compared through the state instead."""
    if isinstance(events, dict):
        return {k: n for k, n in events.items() if k != "free" and n}
    return dict(Counter(e.kind for e in events if e.kind != "free"))


class KernelMachine(RuleBasedStateMachine):
    @initialize(ram=st.integers(4, 48), rules=st.sampled_from(["linux", "xv6"]))
    def setup(self, ram, rules):
        self.k = Kernel(ram_pages=ram, overcommit_memory=1, rules=rules)
        self.twin = Kernel(ram_pages=ram, overcommit_memory=1, rules=rules)   # the other path
        self.ref = Eager()
        self.value = 0
        self.shared_read = set()      # (obj, off) pages a read allocated in an object
        self.saved = None

    # ------------------------------------------------------------ helpers
    def live(self):
        return [p.pid for p in self.k.live()]

    def sync_deaths(self, events):
        """The OOM killer picks victims by RSS, which the eager model cannot know: mirror it."""
        for e in events:
            if e.kind == "oom_kill":
                self.ref.procs.pop(e.pid, None)

    def new_events(self, before):
        return self.k.events[before:]

    def pick_vpn(self, pid, j):
        """Mostly a mapped page (where COW happens), sometimes one outside every region."""
        pages = sorted(self.ref.procs[pid]["pages"]) if pid in self.ref.procs else []
        if not pages or j % 10 == 0:
            return 20 + j % 5
        return pages[j % len(pages)]

    # ------------------------------------------------------------ rules
    @rule(pages=st.integers(0, 6))
    def spawn(self, pages):
        before = len(self.k.events)
        p = self.k.spawn("p", pages)
        self.twin.spawn("p", pages)
        self.ref.spawn(p.pid, pages)
        self.sync_deaths(self.new_events(before))
        if not p.alive:
            self.ref.procs.pop(p.pid, None)

    @precondition(lambda self: self.k.live())
    @rule(i=st.integers(0, 99))
    def fork(self, i):
        live = self.live()
        parent = live[i % len(live)]
        c = self.k.fork(parent)
        self.twin.fork(parent)
        self.ref.fork(parent, c.pid)

    @precondition(lambda self: self.k.live())
    @rule(i=st.integers(0, 99), j=st.integers(0, 999))
    def write(self, i, j):
        live = self.live()
        pid = live[i % len(live)]
        vpn = self.pick_vpn(pid, j)
        self.value += 1
        events = self.k.write(pid, vpn, self.value)
        bulk = self.twin.write_many(pid, [vpn], self.value)
        assert summary(events) == summary(bulk), (events, bulk)
        self.sync_deaths(events)
        if pid in self.ref.procs:
            killed = any(e.kind == "segv" for e in events)
            assert self.ref.write(pid, vpn, self.value) == (not killed)
            if killed:
                self.ref.procs.pop(pid, None)

    @precondition(lambda self: self.k.live())
    @rule(i=st.integers(0, 99), js=st.lists(st.integers(0, 999), max_size=12))
    def write_many(self, i, js):
        live = self.live()
        pid = live[i % len(live)]
        vpns = [self.pick_vpn(pid, j) for j in js]
        self.value += 1
        bulk = self.k.write_many(pid, vpns, self.value)
        # the twin writes one by one; the reference mirrors each write that happened, so
        # writes before an OOM kill of the writer (to a shared object, say) are kept
        one_by_one = []
        for v in vpns:
            if not self.twin.process(pid).alive:
                break
            events = self.twin.write(pid, v, self.value)
            one_by_one += events
            self.sync_deaths(events)
            if pid in self.ref.procs:
                self.ref.write(pid, v, self.value)
        assert summary(one_by_one) == summary(bulk), (one_by_one, bulk)
        assert (pid in self.ref.procs) == self.k.process(pid).alive

    @precondition(lambda self: self.k.live())
    @rule(i=st.integers(0, 99), j=st.integers(0, 999))
    def read(self, i, j):
        live = self.live()
        pid = live[i % len(live)]
        vpn = self.pick_vpn(pid, j)
        before = len(self.k.events)
        got = self.k.read(pid, vpn)
        assert self.twin.read(pid, vpn) == got
        self.sync_deaths(self.new_events(before))
        if pid in self.ref.procs:
            assert got == self.ref.read(pid, vpn), (pid, vpn)
            if self.k.process(pid).alive:
                val = self.ref.procs[pid]["pages"][vpn]
                if isinstance(val, tuple):
                    self.ref.objs[val[1]].setdefault(val[2], 0)   # a read allocates shmem

    @precondition(lambda self: self.k.live())
    @rule(i=st.integers(0, 99), pages=st.integers(1, 3), shared=st.booleans(),
          populate=st.booleans())
    def mmap(self, i, pages, shared, populate):
        live = self.live()
        pid = live[i % len(live)]
        end = self.ref.procs[pid]["end"] if pid in self.ref.procs else 0
        before = len(self.k.events)
        start = self.k.mmap(pid, pages, shared=shared, populate=populate)
        assert self.twin.mmap(pid, pages, shared=shared, populate=populate) == start
        assert start >= end
        self.ref.mmap(pid, start, pages, shared)
        if populate and shared:
            pr = self.ref.procs[pid]
            for v in range(start, start + pages):
                val = pr["pages"][v]
                self.ref.objs[val[1]].setdefault(val[2], 0)
        self.sync_deaths(self.new_events(before))
        if not self.k.process(pid).alive:
            self.ref.procs.pop(pid, None)

    @precondition(lambda self: self.k.live())
    @rule(i=st.integers(0, 99), advice=st.sampled_from(["dontfork", "wipeonfork"]),
          j=st.integers(0, 99))
    def madvise(self, i, advice, j):
        live = self.live()
        pid = live[i % len(live)]
        regions = [r for r in self.k.regions(pid) if not (advice == "wipeonfork" and r.shared)]
        if not regions:
            return
        r = regions[j % len(regions)]
        vpn = r.start + j % r.pages
        self.k.madvise(pid, vpn, 1, advice)
        self.twin.madvise(pid, vpn, 1, advice)
        if pid in self.ref.procs:
            self.ref.procs[pid]["dontfork" if advice == "dontfork" else "wipe"].add(vpn)

    @precondition(lambda self: self.k.live())
    @rule(i=st.integers(0, 99), j=st.integers(0, 99), pages=st.integers(1, 3),
          dontneed=st.booleans())
    def munmap_or_dontneed(self, i, j, pages, dontneed):
        live = self.live()
        pid = live[i % len(live)]
        regions = self.k.regions(pid)
        if not regions:
            return
        r = regions[j % len(regions)]
        vpn = r.start + j % r.pages
        pages = min(pages, r.start + r.pages - vpn)
        if dontneed:
            self.k.madvise(pid, vpn, pages, "dontneed")
            self.twin.madvise(pid, vpn, pages, "dontneed")
            self.ref.dontneed(pid, vpn, pages)
        else:
            self.k.munmap(pid, vpn, pages)
            self.twin.munmap(pid, vpn, pages)
            self.ref.munmap(pid, vpn, pages)

    @precondition(lambda self: self.k.live())
    @rule(i=st.integers(0, 99), pages=st.integers(0, 3))
    def exec(self, i, pages):
        live = self.live()
        pid = live[i % len(live)]
        before = len(self.k.events)
        self.k.exec(pid, pages)
        self.twin.exec(pid, pages)
        self.ref.spawn(pid, pages)
        self.sync_deaths(self.new_events(before))
        if not self.k.process(pid).alive:
            self.ref.procs.pop(pid, None)

    @precondition(lambda self: self.k.live())
    @rule(i=st.integers(0, 99))
    def exit(self, i):
        live = self.live()
        pid = live[i % len(live)]
        self.k.exit(pid)
        self.twin.exit(pid)
        self.ref.procs.pop(pid, None)

    @rule()
    def snapshot(self):
        self.saved = (self.k.snapshot(), self.twin.snapshot(), copy.deepcopy(self.ref))

    @precondition(lambda self: self.saved is not None)
    @rule()
    def restore(self):
        snap, twin, ref = self.saved
        self.k.restore(snap)
        self.twin.restore(twin)
        self.ref = copy.deepcopy(ref)

    # ------------------------------------------------------------ invariants
    @invariant()
    def the_model_checks_its_own_invariants(self):
        assert invariants.check(self.k) == []
        assert invariants.check(self.twin) == []

    @invariant()
    def one_page_and_bulk_paths_reach_the_same_state(self):
        k, t = self.k, self.twin
        assert [p.pid for p in k.live()] == [p.pid for p in t.live()]
        assert np.array_equal(k.refcounts(), t.refcounts())
        assert k.free_frames() == t.free_frames()
        used = np.flatnonzero(k.refcounts())
        assert [k.content(int(f)) for f in used] == [t.content(int(f)) for f in used]
        for p in k.live():
            a, b = k.page_table(p), t.page_table(p.pid)
            for field in a._fields:
                assert np.array_equal(getattr(a, field), getattr(b, field)), (p, field)
            assert k.stats(p) == t.stats(p.pid)
            assert [k.pte_flags(p, v) for v in range(p.span)] == \
                [t.pte_flags(p.pid, v) for v in range(p.span)]

    @invariant()
    def same_processes_alive(self):
        assert sorted(self.ref.procs) == self.live()

    @invariant()
    def refcounts_match_ptes(self):
        k = self.k
        ptes = np.zeros(k.ram_pages, np.int64)
        for p in k.live():
            pt = k.page_table(p)
            real = pt.pfn[pt.pfn >= 0]
            assert len(np.unique(real)) == len(real)
            np.add.at(ptes, real, 1)
            # no writable PTE of a private mapping maps a frame with refcount > 1
            shared_vpn = np.zeros(len(pt.pfn), bool)
            for r in k.regions(p):
                if r.shared:
                    shared_vpn[r.start:r.start + r.pages] = True
            bad = (pt.pfn >= 0) & pt.writable & ~shared_vpn
            assert np.all(k.refcounts()[pt.pfn[bad]] == 1)
            assert not np.any(pt.writable & pt.cow)
        extra = k.refcounts() - ptes
        assert set(np.unique(extra)) <= {0, 1}
        assert np.array_equal(k.mapcounts(), ptes)
        # a shared region's object holds exactly the pages someone touched
        assert int(extra.sum()) == self.ref.touched_shared_pages()

    @invariant()
    def free_plus_used_is_ram(self):
        assert self.k.free_frames() + int(np.count_nonzero(self.k.refcounts())) == self.k.ram_pages

    @invariant()
    def every_process_reads_what_eager_copying_says(self):
        for pid, pr in self.ref.procs.items():
            pt = self.k.page_table(pid)
            for v in pr["pages"]:
                if pt.pfn[v] != NOT_PRESENT:       # reading a present page changes nothing
                    assert self.k.read(pid, v) == self.ref.read(pid, v), (pid, v)

    def teardown(self):
        if not hasattr(self, "k"):
            return
        for p in self.k.live():
            self.k.exit(p)
        assert self.k.free_frames() == self.k.ram_pages
        assert not self.k.refcounts().any()


KernelMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40,
                                           deadline=None,
                                           suppress_health_check=[HealthCheck.too_slow])
TestKernelMachine = KernelMachine.TestCase
