"""Modern COW (Linux 5.19 on): PageAnonExclusive and the reference count decide reuse.

The facts are the ones measured on the live 6.18 kernel (issue 13, "Live facts"); the
cow.c names are tools/testing/selftests/mm/cow.c's tests each case comes from."""
import errno

import numpy as np
import pytest

import cowlab
from cowlab import FAULT_KINDS, Kernel
from cowlab.mm import invariants


def test_fact1_fork_then_child_exits_parent_exclusive_only_after_its_write():
    """Live fact 1: mapcount 2 -> 1 at the child's exit; the parent's page is exclusive
    again only after its write fault, which keeps the PFN."""
    k = Kernel(ram_pages=16)
    p = k.spawn("parent", pages=1)
    assert k.anon_exclusive(p, 0)                       # first fault: exclusive
    c = k.fork(p)
    assert not k.anon_exclusive(p, 0) and not k.anon_exclusive(c, 0)   # fork clears both
    assert k.mapcount(0) == 2
    k.exit(c)
    assert k.mapcount(0) == 1 and not k.anon_exclusive(p, 0)
    before = p.minor_faults
    (e,) = k.write(p, 0, "x")
    assert e.kind == "cow_reuse" and k.pte(p, 0).pfn == 0
    assert p.minor_faults == before + 1 and k.anon_exclusive(p, 0)
    assert k.write(p, 0, "y") == []                     # writable now: no fault


def test_a_copy_is_exclusive_and_the_last_sharer_reuses():
    """cow.c "Basic COW after fork()" (test_cow_in_parent): the writer gets its own
    exclusive copy; the other side still reads the old data."""
    k = Kernel(ram_pages=16)
    p = k.spawn("parent", pages=1)
    c = k.fork(p)
    (e,) = k.write(c, 0, "child")
    assert e.kind == "cow_copy" and k.anon_exclusive(c, 0) and not k.anon_exclusive(p, 0)
    assert k.read(p, 0) == 0
    (e,) = k.write(p, 0, "parent")                      # the last user: reuse
    assert e.kind == "cow_reuse" and k.anon_exclusive(p, 0)
    assert invariants.check(k) == []


def test_the_bulk_path_keeps_exclusivity_like_the_one_page_path():
    k = Kernel(ram_pages=64)
    p = k.spawn("parent", pages=8)
    c = k.fork(p)
    k.write_many(c, np.arange(4), 1)                    # copies: exclusive in the child
    k.exit(c)
    k.write_many(p, np.arange(8), 2)                    # reuse everywhere: exclusive again
    assert all(k.anon_exclusive(p, v) for v in range(8))
    assert invariants.check(k) == []


def test_xv6_rules_never_reuse_even_an_exclusive_page():
    k = Kernel(ram_pages=16, rules="xv6")
    p = k.spawn("parent", pages=1)
    c = k.fork(p)
    k.exit(c)
    (e, *_) = k.write(p, 0, 1)
    assert e.kind == "cow_copy"


@pytest.mark.parametrize("bulk", [False, True])
def test_shared_pages_are_never_anon_exclusive(bulk):
    k = Kernel(ram_pages=16)
    p = k.spawn("parent", pages=0)
    v = k.mmap(p, 2, shared=True)
    if bulk:
        k.write_many(p, [v, v + 1], 1)
    else:
        k.write(p, v, 1)
    assert not k.anon_exclusive(p, v)


# ---------------------------------------------------------------- mprotect (live fact 3)
def test_fact3_mprotect_back_to_rw_maps_only_exclusive_pages_writable_at_once():
    """Live fact 3: after mprotect(R), mprotect(RW) a never-shared page takes 0 faults on
    write; a page once shared by fork (child exited, mapcount 1) takes 1 fault and keeps
    its PFN; after that reuse, 0 faults."""
    k = Kernel(ram_pages=16)
    p = k.spawn("parent", pages=2)                     # VP0 stays private; VP1 gets shared
    c = k.fork(p)
    k.write(p, 0, "mine")                               # copy: exclusive again
    k.exit(c)
    assert k.anon_exclusive(p, 0) and not k.anon_exclusive(p, 1)
    for _ in range(2):
        assert k.mprotect(p, 0, 2, "r") == []
        assert not k.pte(p, 0).writable and not k.pte(p, 1).writable
        k.mprotect(p, 0, 2, "rw")
    assert k.pte(p, 0).writable                         # exclusive: writable at once
    assert not k.pte(p, 1).writable and k.pte(p, 1).cow
    before, pfn = p.minor_faults, k.pte(p, 1).pfn
    assert k.write(p, 0, 1) == [] and p.minor_faults == before
    (e,) = k.write(p, 1, 1)
    assert e.kind == "cow_reuse" and k.pte(p, 1).pfn == pfn and p.minor_faults == before + 1
    k.mprotect(p, 0, 2, "r")
    k.mprotect(p, 0, 2, "rw")
    assert k.write(p, 1, 2) == [] and p.minor_faults == before + 1
    assert invariants.check(k) == []


def test_a_write_to_a_read_only_range_is_sigsegv_and_regions_split():
    k = Kernel(ram_pages=16)
    p = k.spawn("parent", pages=4)
    k.mprotect(p, 1, 2, "r")
    assert [(r.start, r.pages) for r in k.regions(p)] == [(0, 1), (1, 2), (3, 1)]
    assert k.read(p, 1) == 0
    (e, *_) = k.write(p, 2, 1)
    assert e.kind == "segv" and "read-only region" in e.text and not p.alive


def test_mprotect_to_rw_after_fork_copies_on_the_next_write():
    """The page is shared (mapcount 2, not exclusive): RW does not make it writable, and
    the write copies, so the child keeps its data (cow.c "Basic COW after fork() with
    mprotect() optimization", test_cow_in_parent_mprotect)."""
    k = Kernel(ram_pages=16)
    p = k.spawn("parent", pages=1)
    k.write(p, 0, "old")
    c = k.fork(p)
    k.mprotect(p, 0, 1, "r")
    k.mprotect(p, 0, 1, "rw")
    (e,) = k.write(p, 0, "new")
    assert e.kind == "cow_copy" and k.read(c, 0) == "old"


def test_mprotect_charges_a_private_range_the_first_time_it_becomes_writable():
    k = Kernel(ram_pages=16, overcommit_memory=2)       # CommitLimit 8
    p = k.spawn("p", pages=2)
    v = k.mmap(p, 6, writable=False)                    # read-only: not charged
    assert k.committed_pages() == 2
    with pytest.raises(OSError):
        k.mprotect(p, v, 6, "rw")                       # 2 + 6 reaches 8
    assert k.committed_pages() == 2 and not any(r.start == v and r.pages < 6
                                                   for r in k.regions(p))
    k.mprotect(p, v, 5, "rw")
    assert k.committed_pages() == 7
    k.mprotect(p, v, 5, "r")
    k.mprotect(p, v, 5, "rw")                           # VM_ACCOUNT kept: no new charge
    assert k.committed_pages() == 7


def test_mprotect_refuses_unmapped_ranges_and_bad_prot_without_changing_anything():
    k = Kernel(ram_pages=16)
    p = k.spawn("p", pages=2)
    before = k.snapshot()
    with pytest.raises(ValueError, match="not all mapped"):
        k.mprotect(p, 1, 5, "r")
    with pytest.raises(ValueError, match="'r' or 'rw'"):
        k.mprotect(p, 0, 1, "x")
    assert k.pte(p, 0).writable and k.regions(p) == [r for r in k.regions(p)]
    k.restore(before)


# ---------------------------------------------------------------- munmap, MADV_DONTNEED
def test_munmap_frees_uncharges_and_later_access_is_sigsegv():
    k = Kernel(ram_pages=32, overcommit_memory=2)
    p = k.spawn("parent", pages=4)
    c = k.fork(p)
    events = k.munmap(p, 1, 2)
    assert events == [] and k.mapcount(1) == 1          # the child still maps PF1, PF2
    assert k.committed_pages() == 6 and k.pte(p, 1) is None
    freed = k.munmap(c, 0, 4)                           # PF1, PF2: nobody maps them now
    assert [(e.kind, e.pfn) for e in freed] == [("free", 1), ("free", 2)]
    assert k.committed_pages() == 2
    assert k.regions(c) == [] and c.alive
    (e, *_) = k.write(p, 2, 1)
    assert e.kind == "segv"
    assert invariants.check(k) == []


def test_munmap_of_a_parents_range_leaves_the_childs_regions_alone():
    k = Kernel(ram_pages=16)
    p = k.spawn("parent", pages=3)
    c = k.fork(p)
    k.munmap(p, 0, 1)
    assert [(r.start, r.pages) for r in k.regions(c)] == [(0, 3)]
    assert [(r.start, r.pages) for r in k.regions(p)] == [(1, 2)]


def test_munmap_of_the_last_shared_mapping_frees_the_object():
    k = Kernel(ram_pages=16)
    p = k.spawn("p", pages=0)
    v = k.mmap(p, 2, shared=True)
    k.write(p, v, "a")
    c = k.fork(p)
    k.munmap(p, v, 2)
    assert k.read(c, v) == "a"                          # the object lives on in the child
    frees = [e for e in k.munmap(c, v, 2) if e.kind == "free"]
    assert len(frees) == 1 and k.free_frames() == 16 and k.committed_pages() == 0


def test_madvise_dontneed_private_reads_zero_shared_comes_back():
    """cow.c's MADV_DONTNEED cases: private anonymous memory reads the zero page again;
    a shared page is still in its object."""
    k = Kernel(ram_pages=16)
    p = k.spawn("p", pages=2)
    v = k.mmap(p, 1, shared=True)
    k.write(p, 0, "x")
    k.write(p, v, "s")
    events = k.madvise(p, 0, 2, "dontneed")
    assert [e.kind for e in events] == ["free", "free"]
    n = len(k.events)
    assert k.read(p, 0) == 0 and k.events[n].kind == "zero_map"
    k.madvise(p, v, 1, "dontneed")
    assert k.read(p, v) == "s" and k.events[-1].kind == "shared_map"
    assert invariants.check(k) == []


def test_dontneed_splits_a_huge_page_it_cuts():
    k = Kernel(ram_pages=2048)
    p = k.spawn("p", pages=0)
    v = k.mmap(p, k.huge_pages, huge=True)
    k.write(p, v, 1)
    assert k.stats(p).anon_huge == 2048
    k.madvise(p, v + 3, 1, "dontneed")
    s = k.stats(p)
    assert s.anon_huge == 0 and s.rss == 2048 - 4
    assert invariants.check(k) == []


# ---------------------------------------------------------------- pipes and pins
@pytest.mark.parametrize("rules, leaks", [("linux", False), ("linux-5.7", True)])
@pytest.mark.parametrize("mprotect", [False, True])
def test_fact2_vmsplice_in_child_then_unmap(rules, leaks, mprotect):
    """cow.c "vmsplice() + unmap in child" (test_vmsplice_in_child, and its mprotect()
    variant): the child vmsplices the page, unmaps it and exits; the parent's write
    copies under "linux" (refcount 2: the pipe), so the pipe keeps the old byte (live
    fact 2). Under "linux-5.7" the mapcount is 1, the write reuses the page and the
    pipe shows the parent's new data: CVE-2020-29374."""
    k = Kernel(ram_pages=16, rules=rules)
    p = k.spawn("parent", pages=1)
    k.write(p, 0, "old")
    c = k.fork(p)
    pipe = k.vmsplice(c, 0)
    k.munmap(c, 0, 1)
    k.exit(c)
    assert (k.mapcount(0), k.refcount(0)) == (1, 2)
    if mprotect:
        k.mprotect(p, 0, 1, "r")
        k.mprotect(p, 0, 1, "rw")
    before = p.minor_faults
    (e,) = k.write(p, 0, "new")
    assert p.minor_faults == before + 1
    assert e.kind == ("cow_reuse" if leaks else "cow_copy")
    assert pipe.read() == (["new"] if leaks else ["old"])
    assert [x.kind for x in k.close(pipe)] == ([] if leaks else ["free"])
    assert invariants.check(k) == []


def test_vmsplice_before_fork_unmap_in_parent():
    """cow.c "vmsplice() before fork(), unmap in parent after fork()": the child's write
    must not reach the pipe."""
    k = Kernel(ram_pages=16)
    p = k.spawn("parent", pages=1)
    k.write(p, 0, "old")
    pipe = k.vmsplice(p, 0)
    c = k.fork(p)
    k.munmap(p, 0, 1)
    (e,) = k.write(c, 0, "child")
    assert e.kind == "cow_copy" and pipe.read() == ["old"]


def test_fact4_a_pinned_page_is_copied_at_fork_and_the_parent_keeps_writing():
    """Live fact 4 and cow.c's io_uring fork case (test_iouring_fork): with the page
    registered as a fixed buffer, fork gives the child a different PFN with the same
    data and the parent's write takes 0 faults; without the pin, the same PFN,
    mapcount 2, and the parent's write takes 1 fault and moves it."""
    for pinned in (True, False):
        k = Kernel(ram_pages=16)
        p = k.spawn("parent", pages=1)
        k.write(p, 0, "data")
        pin = k.pin(p, 0) if pinned else None
        c = k.fork(p)
        assert (k.pte(c, 0).pfn != k.pte(p, 0).pfn) == pinned
        assert k.read(c, 0) == "data" and k.mapcount(0) == (1 if pinned else 2)
        before = p.minor_faults
        k.write(p, 0, "new")
        assert p.minor_faults - before == (0 if pinned else 1)
        assert (k.pte(p, 0).pfn == 0) == pinned
        if pinned:
            assert pin.read() == ["new"] and k.read(c, 0) == "data"
            assert "1 pinned page copied at once (early COW)" in \
                [e for e in k.events if e.kind == "fork"][0].text
            k.unpin(pin)
        assert invariants.check(k) == []


def test_pinning_a_shared_cow_page_unshares_it_first():
    """A R/O long-term pin of a page fork shared is a COW break without a write: the
    pinner gets its own page, the PTE stays read-only, the next write reuses it."""
    k = Kernel(ram_pages=16)
    p = k.spawn("parent", pages=1)
    c = k.fork(p)
    pin = k.pin(c, 0)
    assert k.pte(c, 0).pfn != 0 and k.anon_exclusive(c, 0) and not k.pte(c, 0).writable
    (e,) = k.write(c, 0, 7)
    assert e.kind == "cow_reuse" and pin.read() == [7] and k.read(p, 0) == 0


def test_the_unshare_for_a_pin_says_the_pte_stays_read_only():
    """The log must not tell the student the page was mapped writable when it was not."""
    k = Kernel(ram_pages=16)
    p = k.spawn("parent", pages=1)
    k.fork(p)
    k.pin(p, 0)
    assert not k.pte(p, 0).writable
    assert "read-only" in k.events[-1].text and "map it writable" not in k.events[-1].text


def test_linux_5_7_has_no_early_cow_and_pins_see_the_childs_writes_bug():
    k = Kernel(ram_pages=16, rules="linux-5.7")
    p = k.spawn("parent", pages=1)
    pin = k.pin(p, 0)
    c = k.fork(p)
    assert k.pte(c, 0).pfn == k.pte(p, 0).pfn               # shared, pinned or not
    k.write(p, 0, "parent")                                  # copies: the pin is left behind
    assert pin.read() == [0]


def test_released_pipes_and_pins_are_refused_a_second_time():
    k = Kernel(ram_pages=16)
    p = k.spawn("p", pages=1)
    pipe = k.vmsplice(p, 0)
    k.close(pipe)
    with pytest.raises(ValueError, match="already released"):
        k.close(pipe)
    with pytest.raises(TypeError, match="pin"):
        k.unpin(pipe)
    with pytest.raises(ValueError, match="not all mapped"):
        k.vmsplice(p, 5)


# ---------------------------------------------------------------- the page cache
def test_fact5_memfd_mapped_shared_and_private():
    """Live fact 5: a memfd mapped shared and private shares one frame until the private
    write; the private mapping sees shared writes until then (Anonymous 0 kB), then
    1 fault, its own frame, Anonymous 4 kB, and later shared writes are not seen."""
    k = Kernel(ram_pages=16)
    p = k.spawn("p", pages=0)
    sh = k.mmap(p, 1, shared=True, file="memfd")
    pr = k.mmap(p, 1, file="memfd")
    k.write(p, sh, "A")
    assert k.read(p, pr) == "A" and k.pte(p, pr).pfn == k.pte(p, sh).pfn
    assert k.stats(p).anonymous == 0
    k.write(p, sh, "B")
    assert k.read(p, pr) == "B"
    before = p.minor_faults
    (e,) = k.write(p, pr, "private")
    assert e.kind == "cow_copy" and p.minor_faults == before + 1
    assert k.pte(p, pr).pfn != k.pte(p, sh).pfn and k.stats(p).anonymous == 4
    k.write(p, sh, "C")
    assert k.read(p, pr) == "private" and k.read_file("memfd", 0) == "C"
    assert invariants.check(k) == []


@pytest.mark.parametrize("bulk", [False, True])
def test_a_private_file_write_copies_and_the_file_is_unchanged(bulk):
    k = Kernel(ram_pages=16)
    p = k.spawn("p", pages=0)
    v = k.mmap(p, 2, file="data", writable=True)
    n = len(k.events)
    assert k.read(p, v) == 0 and k.events[n].kind == "file_read"
    assert not k.anon_exclusive(p, v)
    if bulk:
        assert k.write_many(p, [v, v + 1], "x") == {"cow_copy": 2}
    else:
        (e,) = k.write(p, v, "x")                       # the page-cache page: copied,
        assert e.kind == "cow_copy" and "file is unchanged" not in e.text   # never reused
        (e,) = k.write(p, v + 1, "x")                   # untouched: read in, then copied
        assert e.kind == "cow_copy" and "file is unchanged" in e.text
    assert k.read_file("data", 0) == k.read_file("data", 1) == 0
    assert k.anon_exclusive(p, v) and k.stats(p).anonymous == 8
    assert invariants.check(k) == []


@pytest.mark.parametrize("rules", ["linux", "linux-5.7"])
def test_a_page_cache_page_is_never_reused_even_at_mapcount_1(rules):
    k = Kernel(ram_pages=16, rules=rules)
    p = k.spawn("p", pages=0)
    v = k.mmap(p, 1, file="f")
    k.read(p, v)
    assert k.mapcount(k.pte(p, v).pfn) == 1
    (e,) = k.write(p, v, 1)
    assert e.kind == "cow_copy" and k.read_file("f", 0) == 0


def test_the_page_cache_outlives_its_mappings_and_forks_share_it():
    k = Kernel(ram_pages=16)
    p = k.spawn("p", pages=0)
    v = k.mmap(p, 1, shared=True, file="log")
    k.write(p, v, "line")
    c = k.fork(p)
    assert k.read(c, v) == "line"
    k.exit(p)
    k.exit(c)
    assert k.read_file("log", 0) == "line" and k.free_frames() == 15
    with pytest.raises(ValueError, match="no file 'nope'"):
        k.read_file("nope", 0)
    with pytest.raises(TypeError, match="file name"):
        k.mmap(k.spawn("q", 0), 1, file="")


# ---------------------------------------------------------------- Dirty COW
@pytest.mark.parametrize("rules, leaks", [("linux-4.8", True), ("linux", False),
                                          ("linux-5.7", False)])
def test_dirty_cow_writes_the_file_only_under_linux_4_8(rules, leaks):
    """CVE-2016-5195: a /proc/PID/mem write to a read-only private file mapping, with a
    MADV_DONTNEED between the COW break and the retry, lands in the page cache under
    Linux 4.8; since the FOLL_COW fix (4.8.3) the retry breaks COW again."""
    k = Kernel(ram_pages=16, rules=rules)
    p = k.spawn("p", pages=0)
    v = k.mmap(p, 1, file="passwd", writable=False)
    k.read(p, v)
    before = p.minor_faults
    events = k.write(p, v, "root::0:0", force=True, dontneed_race=True)
    assert k.read_file("passwd", 0) == ("root::0:0" if leaks else 0)
    assert k.read(p, v) == "root::0:0" and not k.pte(p, v).writable
    faults = sum(e.kind in FAULT_KINDS for e in events)       # a copy, then the retry's
    assert p.minor_faults - before == faults == 2
    assert ("Dirty COW" in events[-1].text) == leaks
    assert invariants.check(k) == []


def test_a_forced_write_alone_copies_and_leaves_the_pte_read_only():
    k = Kernel(ram_pages=16, rules="linux-4.8")
    p = k.spawn("p", pages=0)
    v = k.mmap(p, 1, file="f", writable=False)
    assert [e.kind for e in k.write(p, v, "x", force=True)] == ["cow_copy"]   # do_cow_fault
    pte = k.pte(p, v)
    assert not pte.writable and k.read(p, v) == "x" and k.read_file("f", 0) == 0
    assert k.write(p, v, "y", force=True) == []                # its own page now
    (e, *_) = k.write(p, v, "z")                               # a plain write: SIGSEGV
    assert e.kind == "segv"


def test_forced_writes_are_refused_where_the_kernel_refuses_them():
    k = Kernel(ram_pages=16)
    p = k.spawn("p", pages=1)
    v = k.mmap(p, 1, shared=True, writable=False)
    with pytest.raises(OSError) as e:
        k.write(p, v, 1, force=True)                           # not a COW mapping
    assert e.value.errno == errno.EFAULT
    with pytest.raises(OSError) as e:
        k.write(p, 99, 1, force=True)
    assert e.value.errno == errno.EIO and p.alive
    with pytest.raises(ValueError, match="force=True"):
        k.write(p, 0, 1, dontneed_race=True)


@pytest.mark.parametrize("rules, rss", [("linux", 2048), ("linux-5.7", 4)])
def test_a_write_to_the_huge_zero_page_allocates_a_whole_thp_today(rules, rss):
    """On the 6.18 kernel here a write to a huge zero-page mapping gets a whole 2 MiB THP
    (Rss 2048 kB, AnonHugePages 2048 kB); older kernels split it and took 4 KiB."""
    k = Kernel(ram_pages=2048, rules=rules)
    p = k.spawn("p", pages=0)
    v = k.mmap(p, k.huge_pages, huge=True)
    assert k.read(p, v + 5) == 0 and k.stats(p).rss == 0      # the huge zero page
    (e,) = k.write(p, v + 5, 1)
    assert e.kind == "zero_fill" and e.pfn == cowlab.ZERO_PFN
    s = k.stats(p)
    assert s.rss == rss and s.anon_huge == (2048 if rss == 2048 else 0)
    assert k.read(p, v + 6) == 0 and invariants.check(k) == []


# ---------------------------------------------------------------- KSM
@pytest.mark.parametrize("bulk", [False, True])
def test_fact6_ksm_merges_identical_pages_and_a_write_always_copies(bulk):
    """Live fact 6: two identical pages merge (mapcount 2); writing either copies, even
    the second at mapcount 1: a KSM page is never reused."""
    k = Kernel(ram_pages=16)
    p = k.spawn("p", pages=3)
    k.write_many(p, [0, 1], "same")
    k.write(p, 2, "other")
    k.madvise(p, 0, 3, "mergeable")
    assert [e.kind for e in k.ksm_scan()] == ["free"]
    assert k.pte(p, 0).pfn == k.pte(p, 1).pfn != k.pte(p, 2).pfn
    ksm = k.pte(p, 0).pfn
    assert k.mapcount(ksm) == 2 and not k.pte(p, 0).writable
    if bulk:
        assert k.write_many(p, [0, 1], "new") == {"cow_copy": 2, "free": 1}
    else:
        assert k.write(p, 0, "a")[0].kind == "cow_copy"
        assert k.mapcount(ksm) == 1
        (e, free) = k.write(p, 1, "b")                  # mapcount 1, and still a copy
        assert e.kind == "cow_copy" and "KSM" in e.text and free.kind == "free"
    assert k.read(p, 2) == "other" and invariants.check(k) == []


def test_ksm_leaves_pinned_shared_and_unmarked_pages_alone():
    k = Kernel(ram_pages=16)
    p = k.spawn("p", pages=3)
    k.write_many(p, [0, 1, 2], "same")
    k.madvise(p, 0, 2, "mergeable")                     # VP2 not marked
    pipe = k.vmsplice(p, 1)                             # VP1 has another reference
    assert k.ksm_scan() == [] and len({k.pte(p, v).pfn for v in range(3)}) == 3
    k.close(pipe)
    v = k.mmap(p, 1, shared=True)
    with pytest.raises(ValueError, match="private anonymous"):
        k.madvise(p, v, 1, "mergeable")


def test_describe_shows_the_mapcount_where_it_differs_from_the_refcount():
    from cowlab import describe
    k = Kernel(ram_pages=16)
    p = k.spawn("p", pages=2)
    pin = k.pin(p, 0)
    assert "frames: PF0 rc=2 (mapcount 1), PF1 rc=1;" in describe.state(k)
    k.unpin(pin)
    assert "frames: PF0 rc=1, PF1 rc=1;" in describe.state(k)


def test_restore_undoes_pins_and_a_pipe_made_after_the_snapshot_is_refused():
    k = Kernel(ram_pages=16)
    p = k.spawn("p", pages=1)
    snap = k.snapshot()
    pipe = k.vmsplice(p, 0)
    assert k.refcount(0) == 2
    k.restore(snap)
    assert k.refcount(0) == 1 and repr(pipe) == "<cowlab pipe: released>"
    with pytest.raises(ValueError, match="restored"):
        k.close(pipe)
    with pytest.raises(ValueError, match="undone"):
        pipe.read()


def test_the_readme_contract_block_runs_as_written():
    """README "The model in five lines" shows issue 13's calls; run them as printed:
    Dirty COW changes the file under "linux-4.8" only."""
    from pathlib import Path
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("## The model in five lines")[1].split("```python")[1].split("```")[0]
    assert "k.mapcount(" in block and "k.anon_exclusive(" in block and "k.vmsplice(" in block
    files = {}
    for rules in ("linux", "linux-4.8"):
        ns = {}
        exec(block.replace('rules="linux",', f'rules="{rules}",'), ns)
        files[rules] = ns["k"].read_file("passwd", 0)
        assert ns["pipe"].__class__.__name__ == "Pipe"
    assert files == {"linux": 0, "linux-4.8": "x"}
