"""Every fault is narrated, in words that name the frames the event fields carry; the
kernel's own rules for overcommit reserves and the OOM killer's score."""
import errno

import numpy as np
import pytest

from cowlab import FAULT_KINDS, Kernel, ZERO_PFN
from cowlab.mm import invariants


HOLDERS = {}          # id(kernel) -> pipes and pins a random sequence holds


def faults_so_far(k):
    return sum(p.minor_faults for p in k.processes)


def random_call(k, rng):
    """One random call (fork, write, read, write_many, shared or private mmap, exec, exit,
    spawn, munmap, MADV_DONTNEED, mprotect, KSM, vmsplice, pin, their release, forced
    writes) -> (what, the call's return value)."""
    live = k.live()
    if not live or rng.random() < 0.05:
        return "spawn", k.spawn(f"p{rng.integers(3)}", int(rng.integers(0, 5)))
    p = live[int(rng.integers(len(live)))]
    vpn = int(rng.integers(0, p.span + 2))
    r = rng.random()
    if r < 0.15:
        return "fork", k.fork(p)
    if r < 0.45:
        return "write", k.write(p, vpn, int(rng.integers(1, 4)))
    if r < 0.65:
        return "read", k.read(p, vpn)
    if r < 0.75:
        vpns = rng.integers(0, p.span + 2, size=int(rng.integers(1, 8)))
        return "write_many", k.write_many(p, vpns, 7)
    if r < 0.88:
        file = f"f{rng.integers(2)}" if rng.random() < 0.3 else None
        return "mmap", k.mmap(p, int(rng.integers(1, 4)), shared=bool(rng.random() < 0.7),
                              populate=bool(rng.random() < 0.3), file=file)
    if r < 0.91:
        return "exec", k.exec(p, int(rng.integers(0, 3)))
    regions = k.regions(p)
    if r < 0.97 and regions:
        g = regions[int(rng.integers(len(regions)))]
        at = g.start + int(rng.integers(g.pages))
        n = int(rng.integers(1, g.start + g.pages - at + 1))
        which = rng.random()
        if which < 0.3:
            return "munmap", k.munmap(p, at, n)
        if which < 0.6:
            return "dontneed", k.madvise(p, at, n, "dontneed")
        if which < 0.75:
            try:
                k.madvise(p, at, n, "mergeable")
            except ValueError:                     # shared or file-backed: refused
                pass
            return "ksm", k.ksm_scan()
        if which < 0.85:
            try:
                held = (k.pin if rng.random() < 0.5 else k.vmsplice)(p, at, n)
            except (ValueError, OSError):          # read-only, or no frame left
                return "gup", None
            HOLDERS.setdefault(id(k), []).append(held)
            return "gup", held
        if which < 0.92 and HOLDERS.get(id(k)):
            held = HOLDERS[id(k)].pop(int(rng.integers(len(HOLDERS[id(k)]))))
            return "release", (k.unpin if type(held).__name__ == "Pin" else k.close)(held)
        try:
            return "force", k.write(p, at, 9, force=True)
        except OSError:                            # read-only shared: EFAULT
            return "force", None
        return "mprotect", k.mprotect(p, at, n, "r" if rng.random() < 0.5 else "rw")
    return "exit", k.exit(p)


@pytest.mark.parametrize("block", range(4))
def test_every_call_that_takes_a_fault_returns_an_event_for_it(block):
    """300 random sequences: a call that raises any process's minor_faults appends at
    least one fault event, and a one-page call appends one fault event per fault."""
    for seed in range(block * 75, block * 75 + 75):
        rng = np.random.default_rng(seed)
        k = Kernel(ram_pages=int(rng.integers(6, 40)), overcommit_memory=1,
                   rules="linux" if seed % 4 else "xv6")
        shared_maps = 0
        for _ in range(30):
            before, n = faults_so_far(k), len(k.events)
            what, _ = random_call(k, rng)
            new = k.events[n:]
            faults = [e for e in new if e.kind in FAULT_KINDS]
            shared_maps += sum(e.kind == "shared_map" for e in new)
            rose = faults_so_far(k) - before
            if rose:
                assert faults, (seed, what, new)
            if what in ("write", "read"):
                assert rose == len(faults), (seed, what, new)
            assert invariants.check(k) == [], seed


def test_random_runs_do_reach_pages_already_in_a_shared_object():
    """The sequences above are not vacuous: shared objects get faulted in by a second
    process (the case that used to raise minor_faults silently)."""
    seen = 0
    for seed in range(60):
        rng = np.random.default_rng(seed)
        k = Kernel(ram_pages=32, overcommit_memory=1)
        for _ in range(30):
            random_call(k, rng)
        seen += sum(e.kind == "shared_map" for e in k.events)
    assert seen >= 10


def test_a_shared_page_already_in_memory_is_narrated_when_another_process_maps_it():
    k = Kernel(ram_pages=16)
    p = k.spawn("parent", pages=3)
    vpn = k.mmap(p, 2, shared=True)
    k.write(p, vpn + 1, "hello")                    # PF3, held by the shared object
    c = k.fork(p)
    before = c.minor_faults
    events = k.write(c, vpn + 1, "again")
    assert [e.kind for e in events] == ["shared_map"]
    e = events[0]
    assert (e.pid, e.vpn, e.pfn, e.new_pfn) == (c.pid, vpn + 1, 3, None)
    assert e.text == (f"page fault: shared VP{vpn + 1} is already in the shared object as "
                      f"PF3; map it writable (no copy)")
    assert c.minor_faults == before + 1 and k.read(p, vpn + 1) == "again"
    assert k.refcount(3) == 3                       # two PTEs and the object


@pytest.mark.parametrize("setup, kind", [
    ("copy", "cow_copy"), ("reuse", "cow_reuse"), ("fresh", "zero_fill"),
    ("zero", "zero_fill"), ("read", "zero_map")])
def test_pfn_is_the_frame_faulted_on_and_new_pfn_the_frame_allocated(setup, kind):
    k = Kernel(ram_pages=16)
    p = k.spawn("parent", pages=2)
    vpn = k.mmap(p, 2)
    if setup in ("copy", "reuse"):
        c = k.fork(p)
        if setup == "reuse":
            k.exit(c)
        vpn, before = 1, k.pte(p, 1).pfn
    elif setup == "zero":
        k.read(p, vpn)
        before = ZERO_PFN
    else:
        before = None
    if setup == "read":
        n = len(k.events)
        k.read(p, vpn)
        events = k.events[n:]
    else:
        events = k.write(p, vpn, 5)
    (e,) = events
    assert e.kind == kind
    after = k.pte(p, vpn).pfn
    if kind in ("cow_copy", "zero_fill"):
        assert e.pfn == before and e.new_pfn == after and after >= 0
    else:                                           # nothing allocated: the frame kept
        assert e.new_pfn is None and e.pfn == after


def test_repeated_names_get_their_pid_and_counts_their_plural():
    k = Kernel(ram_pages=16)
    a = k.spawn("worker", pages=1)
    b = k.spawn("worker", pages=1)
    c = k.fork(a)
    assert "1 PTE copied" in k.events[-1].text and "1 PTEs" not in k.events[-1].text
    (segv, *_), = [k.write(b, 9, 1)]
    assert segv.kind == "segv" and "worker (pid 2)" in segv.text
    exit_text = k.exit(c)[0].text
    assert exit_text.endswith("drops its 1 page-table entry")


# ---------------------------------------------------------------- overcommit reserves
GIB = (1 << 30) // 4096


def test_mode2_keeps_the_kernels_reserves_back_from_commit_limit():
    """mm/util.c __vm_enough_memory: allowed = CommitLimit - admin reserve (not for
    CAP_SYS_ADMIN) - min(total_vm/32, user reserve); refused unless committed < allowed.
    The defaults are the boot-time ones: free/32, at most 8 MiB and 128 MiB."""
    k = Kernel(ram_pages=GIB, overcommit_memory=2)            # CommitLimit 131,072 pages
    assert (k.admin_reserve_kbytes, k.user_reserve_kbytes) == (8192, 32768)
    allowed = k.commit_limit_pages() - 8192 // 4               # spawn: total_vm 0
    with pytest.raises(OSError) as e:
        k.spawn("big", pages=allowed)
    assert e.value.errno == errno.ENOMEM and "reserves" in str(e.value)
    assert k.live() == []
    p = k.spawn("big", pages=allowed - 1)
    assert k.committed_pages() == allowed - 1
    root = Kernel(ram_pages=GIB, overcommit_memory=2, root=True)
    root.spawn("big", pages=root.commit_limit_pages() - 1)   # no admin reserve for root
    assert p.alive


def test_mode2_user_reserve_grows_with_the_callers_size():
    k = Kernel(ram_pages=GIB, overcommit_memory=2, admin_reserve_kbytes=0)
    p = k.spawn("p", pages=64 * 1024)                          # total_vm 65,536: reserve 2,048
    room = k.commit_limit_pages() - k.committed_pages() - 2048
    with pytest.raises(OSError):
        k.mmap(p, room)
    k.mmap(p, room - 1)


def test_small_models_have_no_reserves_and_the_mode0_heuristic_is_per_request():
    k = Kernel(ram_pages=16, swap_pages=4)
    assert (k.admin_reserve_kbytes, k.user_reserve_kbytes) == (2, 2)   # 64 kB / 32
    p = k.spawn("p", pages=1)
    k.mmap(p, 20)                                              # = RAM + swap: allowed
    with pytest.raises(OSError):
        k.mmap(p, 21)                                          # one request > RAM + swap
    k.mmap(p, 20)                                              # mode 0 never adds them up


def test_oom_badness_counts_page_tables_as_the_kernel_does():
    k = Kernel(ram_pages=4096, overcommit_memory=1)
    a = k.spawn("a", pages=10)
    b = k.spawn("b", pages=0)
    k.mmap(b, 600)                                             # VP0..599: two PTE tables
    k.write_many(b, [0, 599], 1)
    assert k.oom_badness(a) == 10 + 1 + 1                      # rss, one PTE table, one PMD
    assert k.oom_badness(b) == 2 + 2 + 1


def test_every_event_kind_is_documented_once_in_kernel_internals():
    """docs/kernel-internals.md's event table lists exactly the model's closed set."""
    import re
    from pathlib import Path

    from cowlab.mm import events
    doc = (Path(__file__).resolve().parent.parent / "docs" / "kernel-internals.md").read_text()
    table = doc.split("## Events", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \|", table, flags=re.M)
    assert sorted(rows) == sorted(events.EVENT_KINDS), (
        f"undocumented: {sorted(set(events.EVENT_KINDS) - set(rows))}; "
        f"documented but not a kind: {sorted(set(rows) - set(events.EVENT_KINDS))}")
    assert set(events.FAULT_KINDS) | set(events.KILL_KINDS) | set(events.LIFECYCLE_KINDS) \
        <= set(events.EVENT_KINDS)
