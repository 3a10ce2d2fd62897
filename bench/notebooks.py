"""How long does each course chapter take from a fresh kernel? Prints medians.

    python bench/notebooks.py [--repeat N] [CHAPTER ...]    e.g.  06 01

Each run executes the committed notebook top to bottom in a new Jupyter kernel (as
nbval and a student's "Restart and run all" do), in notebooks/. Target: every chapter
under 30 s wall clock; the 10 GiB cells about a second each on an idle machine. The
machine may be shared, so the load average is printed next to the figures, and the
kernel's CPU time (the part that does not depend on other people's jobs) too.
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import nbformat

from cowlab import execute

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CPU = "import resource as _r; _u = _r.getrusage(_r.RUSAGE_SELF); print(_u.ru_utime + _u.ru_stime)"


def run_once(path):
    """-> (wall seconds, kernel CPU seconds) for one fresh-kernel run."""
    nb = nbformat.read(path, as_version=4)
    probe = nbformat.v4.new_code_cell(CPU)
    nb.cells.append(probe)
    start = time.perf_counter()
    execute.run(nb, NOTEBOOKS, timeout=600)
    wall = time.perf_counter() - start
    cpu = float("".join(o.get("text", "") for o in probe.outputs).split()[-1])
    return wall, cpu


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="runs per chapter (default 3)")
    ap.add_argument("chapters", nargs="*", help="name prefixes, e.g. 01 06 (default: all)")
    args = ap.parse_args(argv)
    if args.repeat < 1:
        ap.error("--repeat must be 1 or more")
    paths = [p for p in sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
             if not args.chapters or any(p.name.startswith(c) for c in args.chapters)]
    if not paths:
        ap.error(f"no notebook in notebooks/ starts with {args.chapters}")
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; "
          f"median of {args.repeat} fresh-kernel runs")
    print(f"{'notebook':32} {'wall s':>7} {'kernel CPU s':>13}")
    for path in paths:
        runs = [run_once(path) for _ in range(args.repeat)]
        wall = statistics.median(r[0] for r in runs)
        cpu = statistics.median(r[1] for r in runs)
        flag = "" if wall < 30 else "   <- over the 30 s budget"
        print(f"{path.name:32} {wall:7.1f} {cpu:13.1f}{flag}")
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
