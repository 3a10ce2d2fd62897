"""fork() cost on this machine, per page and per GiB, next to the model and the seed's claims.

    python bench/real.py                      # 16, 64, 256 MiB (fits a 2 GiB pod)
    python bench/real.py --sizes 64 256 512 --repeats 15

Prints medians; asserts nothing. fork() copies page-table entries, not pages, so
its cost grows with the memory a process has touched: the slope over the sizes
is the cost per 4 KiB page. Copying the memory eagerly (what fork without COW
would do) is printed beside it, and so are the two ways to take a range out of
fork's copy: MADV_DONTFORK and 2 MiB transparent huge pages (one PMD per 2 MiB).
"""
import argparse
import os
import platform
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from cowlab import Kernel, real  # noqa: E402
from cowlab.real.forkcost import _fork_cpu_ms  # noqa: E402


def model_fork(pages, repeats):
    """The model's own fork of a `pages`-page process: what it copies, and how long it takes."""
    times, events = [], None
    for _ in range(repeats):
        k = Kernel(ram_pages=pages + 8, page_size=real.PAGE_SIZE)
        p = k.spawn("parent", pages=pages)
        free = k.free_frames()
        t0 = time.perf_counter_ns()
        c = k.fork(p)
        times.append(time.perf_counter_ns() - t0)
        copied = free - k.free_frames()
        events = (k.events[-1].text, copied, k.stats(c))
    return float(np.median(times)) / pages, events


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[16, 64, 256], metavar="MIB")
    ap.add_argument("--repeats", type=int, default=9)
    args = ap.parse_args(argv)
    ok, why = real.available()
    if not ok:
        print(f"bench/real.py: {why}")
        return 0
    per_gib = (1 << 30) // real.PAGE_SIZE
    print(f"fork() on Linux {platform.release()} ({os.cpu_count()} CPUs), "
          f"{real.PAGE_SIZE}-byte pages; medians of {args.repeats} runs; "
          f"load average {open('/proc/loadavg').read().split()[:3]}")
    print("fork ms = CPU time of the forking thread in libc fork() (the page-table copy "
          "runs there); waiting for a CPU is not counted")
    runs = {"4 KiB pages": real.fork_cost(args.sizes, args.repeats)}
    runs["MADV_DONTFORK"] = real.fork_cost(args.sizes, args.repeats, advice="dontfork")
    thp_ok, mode = real.thp_status()
    if thp_ok:
        runs["2 MiB THP"] = real.fork_cost(args.sizes, args.repeats, advice="hugepage")
    else:
        print(f"  (no THP row: {mode})")
    r = runs["4 KiB pages"]
    print(f"\nthis process alone forks in {r['base_fork_ms']:.2f} ms (subtracted below)\n")
    print(f"{'size':>8}  " + "  ".join(f"{name + ' fork ms':>22}" for name in runs)
          + f"  {'eager copy ms':>14}")
    for i, mib in enumerate(args.sizes):
        cells = "  ".join(f"{runs[n]['sizes'][i]['fork_ms']:>22.2f}" for n in runs)
        print(f"{mib:>5} MiB  {cells}  {r['sizes'][i]['copy_ms']:>14.2f}")
    print()
    for name, x in runs.items():
        print(f"fork, {name:<14} {x['fork_ns_per_page']:8.1f} ns per page   "
              f"{x['fork_ms_per_gib']:8.1f} ms per GiB")
    if "2 MiB THP" in runs:
        huge = [x["anon_huge_kb"] >> 10 for x in runs["2 MiB THP"]["sizes"]]
        print(f"  (AnonHugePages of the THP mappings, MiB: {huge})")
    print(f"eager copy           {r['copy_ns_per_page']:8.1f} ns per page   "
          f"{r['copy_ms_per_gib']:8.1f} ms per GiB")
    print(f"fork / eager copy    {r['fork_ns_per_page'] / r['copy_ns_per_page']:8.2f}")

    pages = (max(args.sizes) << 20) // real.PAGE_SIZE
    ns, (text, copied, stats) = model_fork(pages, max(3, args.repeats // 3))
    seen = r["child_after_fork"]
    print(f"\nthe model, same size ({pages:,} pages):")
    print(f"  {text}")
    print(f"  frames copied by fork: {copied}; child's shared_dirty {stats['shared_dirty']:,} kB, "
          f"private_dirty {stats['private_dirty']} kB")
    print(f"  the kernel's child right after fork ({seen['pages']:,} pages): shared_dirty "
          f"{seen['child']['shared_dirty']:,} kB, "
          f"private_dirty {seen['child']['private_dirty']} kB")
    print(f"  the model's own fork (numpy): {ns:.1f} ns per page")
    print("\nthe seed page said: fork of 1 GB 'updates page tables (~microseconds)', "
          "a copy would take ~250 ms;")
    print(f"this machine: fork {r['fork_ms_per_gib']:.0f} ms per GiB of 4 KiB pages, "
          f"eager copy {r['copy_ms_per_gib']:.0f} ms per GiB")

    print("\nwhat chapter 08 used to print: the wall clock around os.fork() (same sizes)")
    for mib in args.sizes:
        wall, cpu = old_vs_new(mib, args.repeats)
        print(f"  {mib:>5} MiB  wall clock around os.fork() {wall:7.2f} ms   "
              f"CPU time in libc fork() {cpu:7.2f} ms")
    for py in (True, False):
        f = real.exec_child_faults(4, python_fork=py)
        how = "os.fork() (CPython's after-fork work)" if py else "libc fork() (no CPython hooks)"
        print(f"child faults between fork and exec, {how}: {f['faults']}")
    print(f"load average at the end: {open('/proc/loadavg').read().split()[:3]}")
    return 0


def old_vs_new(mib, repeats):
    """The old measure (wall clock around os.fork()) and the new one, same mapping, same run."""
    def old():
        t0 = time.perf_counter_ns()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        t1 = time.perf_counter_ns()
        os.waitpid(pid, 0)
        return (t1 - t0) / 1e6
    with real.Mapping((mib << 20) // real.PAGE_SIZE) as m:
        m.view[::real.PAGE_SIZE] = 1
        wall = float(np.median([old() for _ in range(repeats)]))
        cpu = float(np.median([_fork_cpu_ms() for _ in range(repeats)]))
    return wall, cpu


if __name__ == "__main__":
    sys.exit(main())
