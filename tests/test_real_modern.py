"""Issue 13's live facts on this kernel, each run 4 times: modern COW as Linux does it.

Every run forks this process and reads /proc/self/pagemap and /proc/kpagecount (root),
so the facts are the kernel's, not the model's. Without root (or io_uring, or KSM) an
experiment must refuse with Unavailable naming what it needs; that path is tested too.
"""
import os
import sys

import pytest

from cowlab import real

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="cowlab.real measures Linux")
RUNS = 4
ROOT = os.geteuid() == 0


def no_children_left():
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def four_runs(fn):
    """The facts of RUNS identical runs: they must not differ run to run."""
    facts = [fn().facts for _ in range(RUNS)]
    assert all(f == facts[0] for f in facts), facts
    assert no_children_left(), "an experiment left a child behind"
    return facts[0]


def needs_root(fn):
    if not ROOT:
        with pytest.raises(real.Unavailable, match="needs root"):
            fn()
        return True
    return False


def test_fact1_fork_child_exits_reuse_after_one_fault():
    if needs_root(real.fork_child_exits):
        return
    assert four_runs(real.fork_child_exits) == {
        "child_shares_frame": True, "mapcount_after_fork": 2,
        "mapcount_after_child_exit": 1, "write_faults": 1, "write_keeps_frame": True,
        "exclusive_after_write_faults": 0}


def test_fact2_vmsplice_reference_makes_the_parent_copy():
    """CVE-2020-29374 is fixed: the pipe keeps the byte the child spliced."""
    if needs_root(real.vmsplice_leak):
        return
    assert four_runs(real.vmsplice_leak) == {
        "mapcount_before_write": 1, "write_faults": 1, "write_copies": True,
        "pipe_byte": "A", "parent_byte": "B"}


def test_fact3_mprotect_rw_maps_only_exclusive_pages_writable():
    if needs_root(real.mprotect_reuse):
        return
    assert four_runs(real.mprotect_reuse) == {
        "never_shared_faults": 0, "once_shared_mapcount": 1, "once_shared_faults": 1,
        "once_shared_keeps_frame": True, "after_reuse_faults": 0}


def test_fact4_pinned_page_is_copied_into_the_child_at_fork():
    ok, why = real.io_uring_status()
    if not ok:
        with pytest.raises(real.Unavailable, match="io_uring"):
            real.pinned_fork()
        return
    if needs_root(real.pinned_fork):
        return
    assert four_runs(real.pinned_fork) == {
        "pinned": {"child_same_frame": False, "child_byte": 7, "mapcount_after_fork": 1,
                   "parent_write_faults": 0, "parent_keeps_frame": True},
        "unpinned": {"child_same_frame": True, "child_byte": 7, "mapcount_after_fork": 2,
                     "parent_write_faults": 1, "parent_keeps_frame": False}}


def test_fact5_private_file_page_is_the_page_cache_until_written():
    if needs_root(real.memfd_private):
        return
    assert four_runs(real.memfd_private) == {
        "first_read": "A", "same_frame_before_write": True, "private_sees_shared_write": "B",
        "anonymous_kb_before": 0, "private_write_faults": 1, "own_frame_after_write": True,
        "anonymous_kb_after": real.PAGE_SIZE // 1024, "private_after_shared_write": "C",
        "file_byte": "D"}


def test_fact6_ksm_page_is_never_reused_and_ksm_is_restored():
    ok, why = real.ksm_status()
    if not ok:
        with pytest.raises(real.Unavailable, match="KSM|root"):
            real.ksm_merge()
        return
    names = ("run", "pages_to_scan", "sleep_millisecs")
    before = [open(f"/sys/kernel/mm/ksm/{n}").read() for n in names]
    assert four_runs(real.ksm_merge) == {
        "merged_mapcount": 2, "ksm_flag": True, "first_write_faults": 1,
        "first_write_copies": True, "mapcount_before_second_write": 1,
        "second_write_faults": 1, "second_write_copies": True}
    assert [open(f"/sys/kernel/mm/ksm/{n}").read() for n in names] == before


def test_without_root_each_fact_says_what_it_needs():
    """For real: a forked child drops to uid 65534 and tries every experiment."""
    from test_real import run_as_nobody

    def experiment():
        out = {}
        for n, fn in real.LIVE_FACTS.items():
            try:
                fn()
                out[n] = "ran"
            except real.Unavailable as e:
                out[n] = str(e)
        return out
    if not ROOT:
        pytest.skip("already not root: the tests above took the non-root path")
    got = run_as_nobody(experiment)
    assert "error" not in got, got
    for n, why in got.items():
        assert "root" in why, (n, why)
    assert no_children_left()


def test_live_record_prints_its_needs_steps_and_facts():
    if needs_root(real.memfd_private):
        return
    text = str(real.memfd_private())
    assert text.startswith("memfd_private (needs root)")
    assert "private writes C; faults 1" in text and "facts:" in text
