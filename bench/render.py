"""How long cowlab.draw takes, and its SVG render, for small and 10 GiB processes.

    python bench/render.py                 # 7 repeats of each case
    python bench/render.py --repeats 15

Prints medians; asserts nothing. The target: drawing and rendering a 10 GiB process
(2,621,440 pages) in under a second, because large tables are summarised into runs
of pages in the same state. "draw" builds the rows and the DOT source from the
model's arrays ("cpu": the CPU time it used, which other load on the machine does
not inflate); "render" runs the renderer (dot, and graphviz-pure if installed).
"""
import argparse
import os
import re
import shutil
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from cowlab import Kernel, render  # noqa: E402

GIB10 = 10 * (1 << 30) // 4096


def seed():
    k = Kernel(ram_pages=16)
    p = k.spawn("parent", pages=3)
    k.fork(p)
    k.write(p, 1, "x")
    return k


def big_fork():
    k = Kernel(ram_pages=GIB10 + 64)
    p = k.spawn("redis", pages=GIB10)
    k.fork(p)
    k.write(p, 3, "x")
    return k


def big_scattered():
    """Redis BGSAVE at scale: the parent writes 5% of its pages, scattered."""
    k = Kernel(ram_pages=GIB10 + GIB10 // 20 + 64)
    p = k.spawn("redis", pages=GIB10)
    k.fork(p)
    rng = np.random.default_rng(1)
    k.write_many(p, rng.choice(GIB10, GIB10 // 20, replace=False))
    k.write(p, 5, "x")
    return k


def measure(kernel, repeats, renderer):
    draws, cpus, renders, total = [], [], [], []
    for _ in range(repeats):
        c0 = time.process_time()
        t0 = time.perf_counter()
        d = render.draw(kernel)
        t1 = time.perf_counter()
        cpus.append(time.process_time() - c0)
        svg = render.render_svg(d.source, renderer)
        t2 = time.perf_counter()
        draws.append(t1 - t0)
        renders.append(t2 - t1)
        total.append(t2 - t0)
    rows = d.source.count("<TR>")
    width = float(re.search(r'<svg width="([\d.]+)pt"', svg).group(1)) * 4 / 3
    return np.median(draws), np.median(cpus), np.median(renders), np.median(total), rows, width


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    args = ap.parse_args(argv)
    renderers = [r for r in (shutil.which("dot"), shutil.which("graphviz-pure")) if r]
    if not renderers:
        print(f"no renderer: {render.FIX}")
        return 1
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(wall times grow with it)")
    print(f"{'case':<30}{'renderer':<15}{'rows':>5}{'draw ms':>9}{'(cpu)':>7}{'render ms':>11}"
          f"{'total ms':>10}{'width px':>10}")
    for name, make in (("seed (3 pages, 2 procs)", seed),
                       ("10 GiB forked, one write", big_fork),
                       ("10 GiB forked, 5% scattered", big_scattered)):
        kernel = make()
        for r in renderers:
            d, cpu, rn, tot, rows, width = measure(kernel, args.repeats, r)
            print(f"{name:<30}{os.path.basename(r):<15}{rows:>5}{d * 1e3:>9.1f}{cpu * 1e3:>7.1f}"
                  f"{rn * 1e3:>11.1f}{tot * 1e3:>10.1f}{width:>10.0f}")
        del kernel
    print(f"(medians of {args.repeats}; target: 10 GiB total under 1000 ms; width: the SVG at "
          "its natural size, at most 930 px, a laptop's notebook column)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
