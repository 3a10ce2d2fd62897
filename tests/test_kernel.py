"""One test per rule of the model (README "The model in five lines", docs/kernel-internals.md).

Through the public API only.
"""
import errno

import numpy as np
import pytest

import cowlab
from cowlab import ZERO_PFN, Kernel


def seed_step1():
    k = Kernel(ram_pages=16)
    p = k.spawn("parent", pages=3)
    c = k.fork(p)
    return k, p, c


# ---------------------------------------------------------------- the seed's two steps
def test_spawn_writes_every_page_into_lowest_frames():
    k = Kernel(ram_pages=16)
    p = k.spawn("parent", pages=3)
    assert [k.pte(p, v) for v in range(3)] == [(0, True, False), (1, True, False), (2, True, False)]
    assert [k.refcount(f) for f in range(4)] == [1, 1, 1, 0]
    assert k.stats(p).minor_faults == 3
    assert k.regions(p) == [cowlab.Region(0, 3, False, False)]


def test_seed_step1_fork_shares_frames_read_only():
    k, p, c = seed_step1()
    for proc in (p, c):
        assert [k.pte(proc, v) for v in range(3)] == [(f, False, True) for f in range(3)]
    assert [k.refcount(f) for f in range(4)] == [2, 2, 2, 0]
    assert k.free_frames() == 13
    assert k.events[-1].kind == "fork" and k.events[-1].pid == c.pid


def test_seed_step2_parent_write_copies_into_pf3():
    k, p, c = seed_step1()
    events = k.write(p, 1, "x")
    assert [e.kind for e in events] == ["cow_copy"]
    e = events[0]
    assert (e.pid, e.vpn, e.pfn, e.new_pfn) == (p.pid, 1, 1, 3)
    assert "PF1" in e.text and "PF3" in e.text and "2->1" in e.text
    assert k.pte(p, 1) == (3, True, False)
    assert k.pte(c, 1) == (1, False, True)
    assert [k.refcount(f) for f in range(4)] == [2, 1, 2, 1]
    assert k.read(p, 1) == "x" and k.read(c, 1) == 0
    assert k.events[-1] == e


def test_a_call_returns_exactly_the_events_it_appended():
    k, p, c = seed_step1()
    before = len(k.events)
    events = k.write(p, 0, 1)
    assert k.events[before:] == events
    assert k.write(p, 0, 2) == []          # already private and writable: no fault
    assert len(k.events) == before + 1


def test_every_event_narrates_itself():
    k, p, c = seed_step1()
    k.write(p, 1, 1)
    k.read(c, 2)
    k.mmap(c, 1)
    k.read(c, 3)
    k.write(c, 3, 1)
    k.exit(p)
    k.write(c, 40, 1)
    assert {e.kind for e in k.events} <= set(cowlab.EVENT_KINDS)
    for e in k.events:
        assert isinstance(e.text, str) and len(e.text) > 20 and "\n" not in e.text


# ---------------------------------------------------------------- write faults
def test_last_reference_reuses_the_frame_without_copying():
    k, p, c = seed_step1()
    k.write(p, 1, "x")                     # PF1 now only in the child
    events = k.write(c, 1, "y")
    assert [e.kind for e in events] == ["cow_reuse"]
    assert k.pte(c, 1) == (1, True, False)
    assert k.free_frames() == 12


@pytest.mark.parametrize("n", [2, 3, 5])
def test_n_sharers_make_n_minus_1_copies(n):
    k = Kernel(ram_pages=32)
    procs = [k.spawn("parent", pages=1)]
    for _ in range(n - 1):
        procs.append(k.fork(procs[0]))
    kinds = [e.kind for p in procs for e in k.write(p, 0, p.pid)]
    assert kinds.count("cow_copy") == n - 1 and kinds[-1] == "cow_reuse"
    assert [k.read(p, 0) for p in procs] == [p.pid for p in procs]
    assert k.refcount(0) == 1


def test_xv6_rules_always_copy_and_free_the_original():
    k = Kernel(ram_pages=16, rules="xv6")
    p = k.spawn("parent", pages=1)
    c = k.fork(p)
    assert [e.kind for e in k.write(p, 0, 1)] == ["cow_copy"]
    events = k.write(c, 0, 2)
    assert [e.kind for e in events] == ["cow_copy", "free"]
    assert events[1].pfn == 0 and k.refcount(0) == 0


def test_a_write_fault_is_one_minor_fault():
    k, p, c = seed_step1()
    k.write(c, 0, 1)
    k.write(c, 0, 2)
    assert k.stats(c).minor_faults == 1
    assert k.stats(p).minor_faults == 3


def test_reads_never_copy():
    k, p, c = seed_step1()
    before = k.refcounts()
    assert [k.read(c, v) for v in range(3)] == [0, 0, 0]
    assert np.array_equal(k.refcounts(), before)
    assert k.stats(c).minor_faults == 0


# ---------------------------------------------------------------- the zero page
def test_reading_untouched_memory_maps_the_zero_page():
    k = Kernel(ram_pages=16)
    p = k.spawn("parent", pages=0)
    v = k.mmap(p, 4)
    rss = k.stats(p).rss
    assert k.read(p, v) == 0
    assert k.pte(p, v) == (ZERO_PFN, False, False)
    assert k.events[-1].kind == "zero_map"
    assert k.stats(p).rss == rss and k.stats(p).minor_faults == 1
    assert k.refcount(ZERO_PFN) == 0 and k.free_frames() == 16
    assert not 0 <= ZERO_PFN < k.ram_pages


def test_writing_the_zero_page_allocates_a_zeroed_frame_no_copy():
    k = Kernel(ram_pages=16)
    p = k.spawn("parent", pages=0)
    v = k.mmap(p, 2)
    k.read(p, v)
    events = k.write(p, v, 7)
    assert [e.kind for e in events] == ["zero_fill"]
    assert k.pte(p, v) == (0, True, False) and k.read(p, v) == 7


def test_fork_copies_zero_page_ptes_which_stay_on_the_zero_page():
    k = Kernel(ram_pages=16)
    p = k.spawn("parent", pages=0)
    v = k.mmap(p, 1)
    k.read(p, v)
    c = k.fork(p)
    assert k.pte(c, v).pfn == ZERO_PFN and k.pte(p, v).pfn == ZERO_PFN
    assert k.refcount(ZERO_PFN) == 0
    assert [e.kind for e in k.write(c, v, 1)] == ["zero_fill"]
    assert k.pte(p, v).pfn == ZERO_PFN


# ---------------------------------------------------------------- exec, exit, freeing
def test_exec_drops_every_mapping_and_reprivatises_the_parent():
    k, p, c = seed_step1()
    events = k.exec(c, pages=1)
    assert events[0].kind == "exec"
    assert k.regions(c) == [cowlab.Region(0, 1, False, False)]
    assert k.pte(c, 0).pfn == 3                       # a fresh frame
    assert [k.refcount(f) for f in range(3)] == [1, 1, 1]
    assert [e.kind for e in k.write(p, 1, 1)] == ["cow_reuse"]   # nothing copied
    assert k.stats(c).minor_faults == 1


def test_exit_frees_frames_nobody_else_maps():
    k, p, c = seed_step1()
    k.write(c, 2, 9)                                  # c: VP2 -> PF3
    events = k.exit(c)
    assert events[0].kind == "exit" and not c.alive
    assert [(e.kind, e.pfn) for e in events[1:]] == [("free", 3)]
    assert k.refcount(3) == 0 and [k.refcount(f) for f in range(3)] == [1, 1, 1]
    k.exit(p)
    assert k.free_frames() == 16


# ---------------------------------------------------------------- SIGSEGV and misuse
def test_touching_an_unmapped_page_is_sigsegv_and_others_carry_on():
    k, p, c = seed_step1()
    events = k.write(c, 7, 1)
    assert events[0].kind == "segv" and events[0].pid == c.pid
    assert not c.alive and p.alive
    assert [k.refcount(f) for f in range(3)] == [1, 1, 1]
    assert k.read(p, 1) == 0
    k2 = Kernel()
    q = k2.spawn("q", 1)
    assert k2.read(q, 5) is None and not q.alive
    assert [e.kind for e in k2.events[-2:]] == ["segv", "free"] and k2.free_frames() == 16


def test_writing_a_read_only_mapping_is_sigsegv():
    k = Kernel()
    p = k.spawn("p", 0)
    v = k.mmap(p, 1, writable=False)
    assert k.read(p, v) == 0
    assert k.write(p, v, 1)[0].kind == "segv" and not p.alive


# ---------------------------------------------------------------- MAP_SHARED and madvise
def test_shared_mapping_stays_shared_and_writable_across_fork():
    k = Kernel(ram_pages=16)
    p = k.spawn("parent", pages=0)
    s = k.mmap(p, 1, shared=True)
    k.write(p, s, "hello")
    f = k.pte(p, s).pfn
    assert k.refcount(f) == 2                          # the PTE + the shared object
    c = k.fork(p)
    assert k.pte(c, s) is None                         # not copied: the child faults it in
    assert k.read(c, s) == "hello"
    assert k.pte(c, s) == (f, True, False) and k.refcount(f) == 3
    assert k.write(c, s, "world") == []
    assert k.read(p, s) == "world"
    assert k.stats(c).minor_faults == 1
    k.exit(p)
    k.exit(c)
    assert k.refcount(f) == 0 and k.free_frames() == 16


def test_madvise_dontfork_range_is_absent_in_the_child():
    k = Kernel(ram_pages=16)
    p = k.spawn("parent", pages=3)
    assert k.madvise(p, 1, 1, "dontfork") == []
    c = k.fork(p)
    assert k.pte(c, 1) is None and k.pte(c, 0).pfn == 0
    assert [r.pages for r in k.regions(c)] == [1, 1]
    assert k.refcount(1) == 1 and k.pte(p, 1) == (1, True, False)   # not write-protected
    assert k.write(c, 1, 1)[0].kind == "segv"


def test_madvise_wipeonfork_range_reads_zero_in_the_child():
    k = Kernel(ram_pages=16)
    p = k.spawn("parent", pages=2)
    k.write(p, 1, 42)
    k.madvise(p, 1, 1, "wipeonfork")
    c = k.fork(p)
    assert k.read(c, 1) == 0 and k.read(p, 1) == 42
    assert k.pte(c, 1).pfn == ZERO_PFN and k.refcount(1) == 1


# ---------------------------------------------------------------- smaps figures
@pytest.mark.parametrize("n,kk", [(3, 1), (10, 4), (64, 64), (8, 0)])
def test_smaps_after_child_writes_k_of_n_pages(n, kk):
    k = Kernel(ram_pages=256)
    p = k.spawn("parent", pages=n)
    c = k.fork(p)
    for proc in (p, c):
        s = k.stats(proc)
        assert (s.rss, s.shared_dirty, s.private_dirty, s.pss) == (4 * n, 4 * n, 0, 2 * n)
    k.write_many(c, list(range(kk)), 1)
    for proc in (p, c):
        s = k.stats(proc)
        assert s.rss == 4 * n
        assert s.private_dirty == 4 * kk                 # grows in both processes
        assert s.shared_dirty == 4 * (n - kk)
        assert s.pss == 4 * kk + 2 * (n - kk)
    assert k.stats(c).minor_faults == kk
    assert k.stats(p).minor_faults == n


def test_pss_splits_a_frame_among_its_mappers_as_the_kernel_rounds():
    k = Kernel(ram_pages=16)
    p = k.spawn("parent", pages=1)
    k.fork(p)
    k.fork(p)
    assert k.stats(p).pss == 1                          # 4 kB / 3, truncated


def test_meminfo_reports_frames_and_commit_in_kb():
    k = Kernel(ram_pages=16, swap_pages=4, overcommit_ratio=50)
    p = k.spawn("parent", pages=3)
    m = k.meminfo()
    assert (m.mem_total, m.mem_free) == (64, 52)
    assert m.commit_limit == (8 + 4) * 4
    assert m.committed_as == 12
    k.fork(p)
    assert k.meminfo().committed_as == 24
    assert k.meminfo().mem_free == 52


# ---------------------------------------------------------------- commit accounting
def test_mode0_refuses_a_single_request_larger_than_ram_plus_swap():
    k = Kernel(ram_pages=16, swap_pages=4, overcommit_memory=0)
    p = k.spawn("parent", pages=0)
    with pytest.raises(OSError) as e:
        k.mmap(p, 21)
    assert e.value.errno == errno.ENOMEM and k.events[-1].kind == "enomem"
    assert k.regions(p) == []
    assert k.mmap(p, 20) == 0                          # exactly ram + swap is fine
    k.mmap(p, 20)                                      # mode 0 never sums requests


def test_mode1_never_refuses():
    k = Kernel(ram_pages=16, overcommit_memory=1)
    p = k.spawn("parent", pages=0)
    v = k.mmap(p, 100_000)
    for _ in range(5):
        k.fork(p)
    assert k.meminfo().committed_as == 6 * 100_000 * 4
    assert v == 0


def test_mode2_refuses_fork_past_commit_limit_although_cow_would_copy_little():
    k = Kernel(ram_pages=16, overcommit_memory=2, overcommit_ratio=50)   # limit 8 pages
    p = k.spawn("parent", pages=5)
    before = (k.refcounts(), len(k.processes), k.meminfo())
    with pytest.raises(OSError) as e:
        k.fork(p)
    assert e.value.errno == errno.ENOMEM
    assert k.events[-1].kind == "enomem" and "CommitLimit" in k.events[-1].text
    assert np.array_equal(k.refcounts(), before[0]) and len(k.processes) == before[1]
    assert k.meminfo() == before[2]
    # __vm_enough_memory allows only Committed_AS + request < CommitLimit (mm/util.c):
    # reaching the limit exactly is refused, one page less is not
    k2 = Kernel(ram_pages=16, overcommit_memory=2)
    q = k2.spawn("parent", pages=4)
    with pytest.raises(OSError):
        k2.fork(q)                                     # 4 + 4 = 8 reaches 8
    k3 = Kernel(ram_pages=16, overcommit_memory=2)
    k3.fork(k3.spawn("parent", pages=3))               # 3 + 3 = 6 < 8
    k3.mmap(1, 1)
    assert k3.meminfo().committed_as == 28
    with pytest.raises(OSError):
        k3.mmap(1, 1)                                  # 7 + 1 reaches 8


def test_mode2_overcommit_kbytes_and_shared_charged_once():
    k = Kernel(ram_pages=16, overcommit_memory=2, overcommit_kbytes=40)   # 10 pages
    p = k.spawn("parent", pages=0)
    k.mmap(p, 6, shared=True)
    k.fork(p)                                          # shared: not charged again
    assert k.meminfo().committed_as == 24
    with pytest.raises(OSError):
        k.mmap(p, 4)                                   # 6 + 4 reaches 10: refused
    k.mmap(p, 3)


def test_exec_under_mode2_counts_the_released_image():
    k = Kernel(ram_pages=16, overcommit_memory=2)      # limit 8
    p = k.spawn("parent", pages=6)
    k.exec(p, pages=7)                                 # the old 6 are released first
    assert k.meminfo().committed_as == 28
    with pytest.raises(OSError):
        k.exec(p, pages=8)                             # 8 reaches the limit of 8
    assert k.pte(p, 6) is not None                     # refused exec changed nothing


# ---------------------------------------------------------------- the OOM killer
def test_oom_killer_kills_the_largest_rss_and_the_write_completes():
    k = Kernel(ram_pages=8, overcommit_memory=1)
    big = k.spawn("big", pages=5)
    small = k.spawn("small", pages=2)
    c = k.fork(small)
    k.write(c, 0, 1)                                   # RAM full now
    assert k.free_frames() == 0
    events = k.write(c, 1, 2)
    kinds = [e.kind for e in events]
    assert kinds[0] == "oom_kill" and events[0].pid == big.pid
    assert kinds[-1] == "cow_copy" and not big.alive and c.alive
    assert k.read(c, 1) == 2


def test_oom_ties_go_to_the_highest_pid_and_may_kill_the_faulting_process():
    k = Kernel(ram_pages=4, overcommit_memory=1)
    a = k.spawn("a", pages=2)
    b = k.fork(a)
    k.write_many(b, [0, 1], 1)                          # a: 2 frames, b: 2 frames, RAM full
    v = k.mmap(a, 1)
    events = k.write(a, v, 1)                          # tie 2 vs 2: b (higher pid) dies
    assert events[0].kind == "oom_kill" and events[0].pid == b.pid and a.alive
    k2 = Kernel(ram_pages=2, overcommit_memory=1)
    x = k2.spawn("x", pages=2)
    v = k2.mmap(x, 1)
    events = k2.write(x, v, 1)
    assert [e.kind for e in events][0] == "oom_kill" and not x.alive
    assert k2.free_frames() == 2



def test_oom_score_adj_minus_1000_is_never_the_victim_while_another_can_die():
    """oom_badness() returns LONG_MIN for OOM_SCORE_ADJ_MIN: on a small machine, where
    adj * totalpages / 1000 rounds to 0, the -1000 process must still be spared."""
    k = Kernel(ram_pages=8, overcommit_memory=1)
    parent = k.spawn("parent", pages=5)
    child = k.fork(parent)
    child.oom_score_adj = -1000
    for vpn in range(5):
        k.write(child, vpn, 1)
    assert child.alive and not parent.alive
    assert [k.read(child, v) for v in range(5)] == [1] * 5
    k2 = Kernel(ram_pages=2, overcommit_memory=1)      # only -1000 left: still a victim
    x = k2.spawn("x", pages=2)
    x.oom_score_adj = -1000
    events = k2.write(x, k2.mmap(x, 1), 1)
    assert events[0].kind == "oom_kill" and not x.alive

# ---------------------------------------------------------------- huge pages
def test_thp_split_copies_4k_and_copy_copies_2m():
    for thp, copied in (("split", 1), ("copy", 512)):
        k = Kernel(ram_pages=2048, thp=thp)
        p = k.spawn("p", pages=0)
        h = k.mmap(p, 512, huge=True, populate=True)
        assert k.stats(p).minor_faults == 1 and k.stats(p).anon_huge == 2048
        c = k.fork(p)
        free = k.free_frames()
        k.write(c, h + 7, 1)
        assert free - k.free_frames() == copied
        assert k.stats(c).minor_faults == 1
        assert k.read(p, h + 7) == 0 and k.read(c, h + 7) == 1


# ---------------------------------------------------------------- write_many
def test_write_many_equals_writes_one_by_one():
    rng = np.random.default_rng(7)
    for rules in ("linux", "xv6"):
        k1, k2 = Kernel(ram_pages=64, rules=rules), Kernel(ram_pages=64, rules=rules)
        for k in (k1, k2):
            p = k.spawn("parent", pages=20)
            k.fork(p)
            k.mmap(p, 10)
        vpns = rng.integers(0, 30, 60)
        counts = k1.write_many(1, vpns, value=5)
        for v in vpns:
            k2.write(1, int(v), 5)
        for pid in (1, 2):
            assert [k1.pte(pid, v) for v in range(30)] == [k2.pte(pid, v) for v in range(30)]
            assert k1.stats(pid) == k2.stats(pid)
        assert np.array_equal(k1.refcounts(), k2.refcounts())
        kinds = [e.kind for e in k2.events[-len(vpns):]]
        assert counts.get("cow_copy", 0) == sum(e.kind == "cow_copy" for e in k2.events)


def test_write_many_logs_one_summary_event_per_kind():
    k = Kernel(ram_pages=64)
    p = k.spawn("parent", pages=10)
    k.fork(p)
    v = k.mmap(p, 5)
    before = len(k.events)
    counts = k.write_many(p, list(range(15)), 3)
    assert counts == {"cow_copy": 10, "zero_fill": 5, "cow_reuse": 0}
    assert sorted(e.kind for e in k.events[before:]) == ["cow_copy", "zero_fill"]
    assert v == 10


def test_write_many_stops_at_sigsegv_after_earlier_writes():
    k = Kernel(ram_pages=16)
    p = k.spawn("parent", pages=3)
    c = k.fork(p)
    counts = k.write_many(c, [0, 9, 1], 1)
    assert counts["segv"] == 1 and counts["cow_copy"] == 1 and not c.alive
    assert k.refcount(1) == 1


def test_a_10_gib_process_forks_and_takes_500k_writes():
    k = Kernel(ram_pages=4 * 1024 * 1024)
    p = k.spawn("redis", pages=2_621_440)
    c = k.fork(p)
    vpns = np.random.default_rng(1).integers(0, 2_621_440, 500_000)
    counts = k.write_many(p, vpns, value=1)
    distinct = len(np.unique(vpns))
    assert counts["cow_copy"] == distinct
    assert k.stats(c).private_dirty == distinct * 4
    assert k.meminfo().mem_free == (4 * 1024 * 1024 - 2_621_440 - distinct) * 4


# ---------------------------------------------------------------- determinism, snapshots
def test_same_calls_give_same_pfns_and_events():
    def run():
        k = Kernel(ram_pages=32)
        p = k.spawn("parent", 4)
        c = k.fork(p)
        k.write(c, 2, 1)
        k.exit(p)
        k.write(c, 0, 1)
        q = k.spawn("other", 2)
        return k.events, [k.pte(c, v) for v in range(4)], [k.pte(q, v) for v in range(2)]
    assert run() == run()


def test_snapshot_restore_undoes_everything_and_can_repeat():
    k, p, c = seed_step1()
    s = k.snapshot()
    state = (k.refcounts(), list(k.events), [k.pte(p, v) for v in range(3)], k.meminfo())
    k.write(p, 1, 1)
    k.exit(c)
    q = k.spawn("late", 2)
    k.restore(s)
    assert c.alive and (k.refcounts().tolist(), k.events, [k.pte(p, v) for v in range(3)],
                        k.meminfo()) == (state[0].tolist(), state[1], state[2], state[3])
    with pytest.raises(ValueError):
        k.write(q, 0, 1)
    k.write(p, 1, 1)
    k.restore(s)
    assert k.pte(p, 1) == (1, False, True)


def test_read_fault_on_a_shared_page_maps_its_neighbours_in_memory():
    """Linux's fault-around: the child's first read maps the aligned 64 KiB window."""
    k = Kernel(ram_pages=64)
    p = k.spawn("parent", pages=0)
    s = k.mmap(p, 20, shared=True)
    k.write_many(p, list(range(s, s + 10)), 1)        # pages 10..19 never touched
    c = k.fork(p)
    assert k.read(c, s + 3) == 1
    assert k.stats(c).minor_faults == 1 and k.stats(c).rss == 10 * 4
    assert k.write(c, s + 5, 2) == [] and k.stats(c).minor_faults == 1
    k.write(c, s + 17, 3)                              # a hole: a write fault, no fault-around
    assert k.stats(c).minor_faults == 2 and k.stats(c).rss == 11 * 4


def test_write_many_over_shared_and_huge_regions_equals_writes_one_by_one():
    rng = np.random.default_rng(3)
    k1, k2 = Kernel(ram_pages=4096), Kernel(ram_pages=4096)
    for k in (k1, k2):
        p = k.spawn("parent", pages=4)
        k.mmap(p, 6, shared=True)
        k.mmap(p, 1024, huge=True)
        k.fork(p)
    mapped = np.concatenate([np.arange(10), np.arange(512, 1536)])   # huge: 2 MiB aligned
    vpns = np.concatenate([rng.integers(0, 10, 30), rng.integers(512, 1536, 300),
                           rng.choice(mapped, 100)])
    for pid in (1, 2):
        k1.write_many(pid, vpns, value=pid)
        for v in vpns:
            k2.write(pid, int(v), pid)
    for pid in (1, 2):
        pt1, pt2 = k1.page_table(pid), k2.page_table(pid)
        assert np.array_equal(pt1.pfn, pt2.pfn) and np.array_equal(pt1.writable, pt2.writable)
        assert k1.stats(pid) == k2.stats(pid)
    assert np.array_equal(k1.refcounts(), k2.refcounts())
