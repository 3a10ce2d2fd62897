"""How fast is the model? Prints medians measured in this one run (the machine is shared).

    python bench/model.py [--repeat N]

1. fork of 262,144 touched pages (1 GiB) in the model vs the real os.fork() of this
   Python process with 1 GiB of touched private memory (ratio; target: model <= real);
2. a 10 GiB process (2,621,440 pages on 16 GiB of RAM): spawn + fork + 500,000 random
   writes (target: under 1 s);
3. `import cowlab` on top of `import numpy`, in a fresh interpreter (target: < 0.15 s).
"""
import argparse
import mmap
import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import cowlab  # noqa: E402

GIB_PAGES = (1 << 30) // 4096


def model_fork(repeat):
    times = []
    for _ in range(repeat):
        k = cowlab.Kernel(ram_pages=2 * GIB_PAGES)
        p = k.spawn("parent", pages=GIB_PAGES)
        t = time.perf_counter()
        k.fork(p)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def real_fork(repeat):
    """os.fork() of this process with 1 GiB of touched MAP_PRIVATE memory."""
    size = 1 << 30
    m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        page = mmap.PAGESIZE
        buf = np.frombuffer(m, dtype=np.uint8)
        buf[::page] = 1                          # touch every page: 262,144 minor faults
        del buf
        times = []
        for _ in range(repeat):
            t = time.perf_counter()
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            times.append(time.perf_counter() - t)
            os.waitpid(pid, 0)
        return statistics.median(times)
    finally:
        m.close()


def scale(repeat):
    rows = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        k = cowlab.Kernel(ram_pages=4 * GIB_PAGES * 4)
        p = k.spawn("redis", pages=10 * GIB_PAGES)
        t1 = time.perf_counter()
        k.fork(p)
        t2 = time.perf_counter()
        vpns = np.random.default_rng(1).integers(0, 10 * GIB_PAGES, 500_000)
        k.write_many(p, vpns, value=1)
        t3 = time.perf_counter()
        rows.append((t1 - t0, t2 - t1, t3 - t2, t3 - t0))
    return [statistics.median(col) for col in zip(*rows)]


def import_time(repeat):
    code = ("import time; t0 = time.perf_counter(); import numpy; t1 = time.perf_counter();"
            " import cowlab; t2 = time.perf_counter(); print(t1 - t0, t2 - t1)")
    root = os.path.join(os.path.dirname(__file__), "..")
    got = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, cwd=root).stdout.split()
        got.append((float(out[0]), float(out[1])))
    return statistics.median(g[0] for g in got), statistics.median(g[1] for g in got)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    n = max(1, args.repeat)
    m = model_fork(n)
    r = real_fork(n)
    print(f"fork, 262,144 touched pages (1 GiB), median of {n}:")
    print(f"  model   {m * 1e3:8.2f} ms")
    print(f"  real    {r * 1e3:8.2f} ms   (os.fork of this process, {r / GIB_PAGES * 1e9:.0f} ns/page)")
    print(f"  ratio   model/real = {m / r:.2f}   (target <= 1)")
    spawn, fork, writes, total = scale(n)
    print(f"10 GiB process on 16 GiB RAM, median of {n}:")
    print(f"  spawn {spawn:.3f} s + fork {fork:.3f} s + 500k random writes {writes:.3f} s"
          f" = {total:.3f} s   (target < 1 s)")
    numpy_s, cowlab_s = import_time(n)
    print(f"import: numpy {numpy_s * 1e3:.0f} ms, then cowlab {cowlab_s * 1e3:.0f} ms"
          f"   (target < 150 ms on top of numpy)")


if __name__ == "__main__":
    main()
