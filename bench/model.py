"""How fast and how small is the model? Prints figures measured in this one run, with the
machine's load average (the machine may be shared: compare ratios, not absolutes).

    python bench/model.py [--repeat N]

1. fork of 262,144 touched pages (1 GiB) in the model vs the real os.fork() of this
   Python process with 1 GiB of touched private memory (target: model <= 0.25 x real);
2. a 10 GiB process (2,621,440 pages on 16 GiB of RAM): spawn + fork + 500,000 random
   writes (target: under 0.12 s), each run in a fresh interpreter;
3. the peak RSS of that scenario: ru_maxrss at the end minus ru_maxrss after
   `import numpy, cowlab` in the same fresh interpreter (target: under 80 MiB);
4. `import cowlab` on top of `import numpy`, in a fresh interpreter (target: < 0.15 s).
"""
import argparse
import json
import mmap
import os
import statistics
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)
import cowlab  # noqa: E402

GIB_PAGES = (1 << 30) // 4096

SCENARIO = """
import json, resource, sys, time
import numpy as np
import cowlab
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
G = (1 << 30) // 4096
vpns = np.random.default_rng(1).integers(0, 10 * G, 500_000)
c0, t0 = time.process_time(), time.perf_counter()
k = cowlab.Kernel(ram_pages=16 * G)
p = k.spawn("redis", pages=10 * G)
t1 = time.perf_counter()
k.fork(p)
t2 = time.perf_counter()
k.write_many(p, vpns, value=1)
t3, c3 = time.perf_counter(), time.process_time()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"spawn": t1 - t0, "fork": t2 - t1, "writes": t3 - t2, "total": t3 - t0,
                  "cpu": c3 - c0, "base_kib": base, "peak_kib": peak}))
"""


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def model_fork(repeat):
    k = cowlab.Kernel(ram_pages=2 * GIB_PAGES)
    p = k.spawn("parent", pages=GIB_PAGES)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        c = k.fork(p)
        times.append(time.perf_counter() - t)
        k.exit(c)
    return statistics.median(times)


def real_fork(repeat):
    """os.fork() of this process with 1 GiB of touched MAP_PRIVATE memory."""
    size = 1 << 30
    m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        buf = np.frombuffer(m, dtype=np.uint8)
        buf[::mmap.PAGESIZE] = 1                 # touch every page: 262,144 minor faults
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
    """Each run in a fresh interpreter: times, and peak RSS above the import baseline.

    Run first: a child's ru_maxrss starts from its parent's RSS (Linux carries the
    high-water mark across fork and exec), so the parent must still be small."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", SCENARIO], capture_output=True, text=True,
                             check=True, cwd=ROOT).stdout
        runs.append(json.loads(out))
    med = {key: statistics.median(r[key] for r in runs)
           for key in ("spawn", "fork", "writes", "total", "cpu")}
    med["rss_mib"] = max(r["peak_kib"] - r["base_kib"] for r in runs) / 1024
    med["base_mib"] = statistics.median(r["base_kib"] for r in runs) / 1024
    return med


def import_time(repeat):
    code = ("import time; t0 = time.perf_counter(); import numpy; t1 = time.perf_counter();"
            " import cowlab; t2 = time.perf_counter(); print(t1 - t0, t2 - t1)")
    got = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True, cwd=ROOT).stdout.split()
        got.append((float(out[0]), float(out[1])))
    return statistics.median(g[0] for g in got), statistics.median(g[1] for g in got)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    n = max(1, args.repeat)
    print(f"load average at start: {load()}   ({os.cpu_count()} CPUs)")
    s = scale(n)
    print(f"10 GiB process on 16 GiB RAM, each run in a fresh interpreter, median of {n}:")
    print(f"  spawn {s['spawn']:.3f} s + fork {s['fork']:.3f} s + 500k random writes "
          f"{s['writes']:.3f} s = {s['total']:.3f} s   (target < 0.12 s)   load {load()}")
    print(f"  CPU time of the same runs: {s['cpu']:.3f} s (less sensitive to a shared machine)")
    print(f"  peak RSS {s['rss_mib']:.1f} MiB above the {s['base_mib']:.1f} MiB of "
          f"`import numpy, cowlab` (ru_maxrss, worst of {n}; target < 80 MiB)")
    m = model_fork(n)
    r = real_fork(n)
    print(f"fork, 262,144 touched pages (1 GiB), median of {n}:")
    print(f"  model   {m * 1e3:8.2f} ms")
    print(f"  real    {r * 1e3:8.2f} ms   (os.fork of this process, {r / GIB_PAGES * 1e9:.0f} ns/page)")
    print(f"  ratio   model/real = {m / r:.2f}   (target <= 0.25)   load {load()}")
    numpy_s, cowlab_s = import_time(n)
    print(f"import: numpy {numpy_s * 1e3:.0f} ms, then cowlab {cowlab_s * 1e3:.0f} ms"
          f"   (target < 150 ms on top of numpy)   load {load()}")


if __name__ == "__main__":
    main()
