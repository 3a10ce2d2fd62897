"""The live Linux kernel next to the model: run the same COW experiment on both.

Every experiment here forks *this* process, touches a private anonymous mapping,
and reads what the kernel says about it: minor faults from getrusage(2), the
mapping's line in /proc/PID/smaps, and each page's entry in /proc/PID/pagemap.
`compare(name)` runs the same scenario on `cowlab.Kernel` and puts prediction and
measurement side by side, one verdict per row.

Rules every experiment follows (a forked Jupyter kernel must never keep running):
- mappings are MAP_PRIVATE | MAP_ANONYMOUS, explicitly (Python's default is MAP_SHARED),
  with MADV_NOHUGEPAGE unless the experiment is about huge pages;
- a child always leaves through os._exit() in a `finally`, and the parent always
  reaps it (killing it first if it is stuck); each step has a time limit;
- sizes are capped so that every default fits a 2 GiB Binder pod.

Runtime noise, documented rather than hidden: CPython itself touches memory after
fork (refcounts, the allocator, GC), and those pages fault too. So the counting
window holds one C-level store per page and two getrusage() calls into buffers
made beforehand, nothing that allocates; and each measurement first runs the same
code on a scratch mapping the process already owns (no faults of its own) until a
run counts nothing (at most five runs), and subtracts the last run's count. The
warm-up, the raw count and the baseline are all reported. The residue allowed is
NOISE_FAULTS extra faults, never fewer than predicted (the tolerance `compare`
applies; on the machine this was built on, 325 of 325 fault counts were exact).

The package, a module per job: machine (is this Linux, how much memory),
procfs (smaps, pagemap), mapping (a mapping we control), measure (fault counts),
child (a forked child that is always reaped), experiments (chapter 08's), forkcost
(fork's cost, THP, faults before exec), modern (issue 13's live facts: mapcount and
refcount, pins, KSM, private file pages); table, vsmodel and vsmachine put the
model beside each measurement, and modelfacts (`vs_model()`) puts the model beside
each of issue 13's live facts.

Importing this module reads nothing and forks nothing; Linux is checked when an
experiment runs (elsewhere it raises `Unavailable` with what to do instead).
"""
from .machine import (HPAGE_SIZE, MADV_WIPEONFORK, MAX_MAPPING, NOISE_FAULTS, PAGE_SIZE,
                      RUSAGE_THREAD, STEP_TIMEOUT, ExperimentError, Unavailable, _check_budget,
                      _check_pages, _kernel_release, _libc, _memory_budget, _read_int,
                      _require_linux, available, meminfo, minor_faults)
from .procfs import PM_EXCLUSIVE, PM_PFN_MASK, PM_PRESENT, PM_SWAPPED, PageInfo, pagemap, smaps
from .mapping import Mapping, _address, pfns_visible
from .measure import _count, measured
from .child import _Child, _Link, _pages_info
from .experiments import (EXPERIMENTS, commit_limit, cow_writes, exec_vs_write, frames,
                          madvise_fork, overcommit, shared_fork, zero_page)
from .forkcost import (exec_child_faults, fork_cost, fork_cost_thp, huge_zero_page, thp,
                       thp_status)
from .modern import (LIVE_FACTS, Live, fork_child_exits, io_uring_status, kpageflags,
                     ksm_merge, ksm_status, live_facts, mapcount, memfd_private,
                     mprotect_reuse, pinned_fork, vmsplice_leak)
from . import modelfacts
from .modelfacts import MODEL_FACTS, Agreement, vs_model

__all__ = ["available", "fork_cost", "cow_writes", "frames", "zero_page", "exec_vs_write",
           "thp", "overcommit", "madvise_fork", "shared_fork", "compare", "Comparison", "Mapping", "smaps",
           "pagemap", "minor_faults", "commit_limit", "Unavailable", "ExperimentError",
           "PageInfo", "PAGE_SIZE", "NOISE_FAULTS", "EXPERIMENTS",
           # modern COW, issue 13's live facts (cowlab.real.modern)
           "LIVE_FACTS", "Live", "fork_child_exits", "vmsplice_leak", "mprotect_reuse",
           "pinned_fork", "memfd_private", "ksm_merge", "mapcount", "kpageflags",
           "io_uring_status", "ksm_status", "fork_cost_thp", "exec_child_faults",
           "huge_zero_page", "live_facts", "vs_model", "MODEL_FACTS", "Agreement"]


def compare(experiment, **kwargs):
    """Run `experiment` on the model and on this kernel -> a Comparison table.

    >>> t = compare("cow_writes", pages=64, writes=16)   # doctest: +SKIP
    >>> t.ok, print(t.summary())                          # doctest: +SKIP
    """
    from .vsmodel import compare as run
    return run(experiment, **kwargs)


def __getattr__(name):
    if name == "Comparison":                 # the table class lives with compare()
        from .vsmodel import Comparison
        return Comparison
    raise AttributeError(f"module 'cowlab.real' has no attribute {name!r}")
