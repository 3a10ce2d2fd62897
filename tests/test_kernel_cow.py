"""Modern COW (Linux 5.19 on): PageAnonExclusive and the reference count decide reuse.

The facts are the ones measured on the live 6.18 kernel (issue 13, "Live facts"); the
cow.c names are tools/testing/selftests/mm/cow.c's tests each case comes from."""
import numpy as np
import pytest

from cowlab import Kernel
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
    """cow.c test_cow_in_parent / test_cow_in_child: the writer gets its own exclusive
    copy; the other side still reads the old data."""
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
