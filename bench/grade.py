"""How long `cowlab grade` takes: seconds per submission, and a batch of 100 with --jobs 2.

    python bench/grade.py                 # full: 3 single runs per assignment + 100-batch
    COWLAB_BENCH_BATCH=10 python bench/grade.py     # a quick run with a 10-notebook batch
    COWLAB_BENCH_REPEAT=1 ...                       # single runs per assignment
    COWLAB_BENCH_SANDBOX=0 ...                      # without the sandbox (--no-sandbox)

Submissions are the solutions notebooks under fresh student ids (every one a different
variant, all correct), round-robin over the assignments, graded by the real command
(fresh kernels in the sandbox -- bubblewrap and a cgroup per submission -- the code
exercises in processes of their own). Prints medians, and the load average.
"""
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCH = int(os.environ.get("COWLAB_BENCH_BATCH", "100"))
REPEAT = int(os.environ.get("COWLAB_BENCH_REPEAT", "3"))
JOBS = int(os.environ.get("COWLAB_BENCH_JOBS", "2"))
SANDBOX = os.environ.get("COWLAB_BENCH_SANDBOX", "1") != "0"


def submission(src, student, dest):
    nb = json.loads(src.read_text())
    for cell in nb["cells"]:
        if cell["metadata"].get("cowlab", {}).get("role") == "student":
            cell["source"] = f'STUDENT = "{student}"'
    dest.write_text(json.dumps(nb))
    return dest


def grade(paths, out, jobs=1):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    t = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "cowlab", "grade", *map(str, paths), "--out",
                          str(out), "--jobs", str(jobs)] + ([] if SANDBOX else ["--no-sandbox"]),
                         env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if run.returncode != 0:
        sys.exit(f"cowlab grade failed:\n{run.stderr[-2000:]}")
    rows = list(csv.DictReader(open(out)))
    # full marks: every automatic question correct; explain questions are `manual` (0
    # points until the teacher grades them), never counted against a submission here
    full = {r["student"] for r in rows} - {r["student"] for r in rows
                                           if r["status"] not in ("correct", "manual")}
    return seconds, len({r["student"] for r in rows}), len(full)


def main():
    solutions = sorted((ROOT / "solutions").glob("[0-9][0-9]-*.ipynb"))
    if not solutions:
        sys.exit("bench/grade.py: no solutions/ notebooks")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        print(f"cowlab grade on {os.cpu_count()} CPUs (load {os.getloadavg()[0]:.1f}); "
              f"each notebook in a fresh kernel, {'in' if SANDBOX else 'WITHOUT'} the sandbox")
        print(f"{'assignment':<18}{'median s/submission':>22}   (of {REPEAT})")
        singles = []
        for src in solutions:
            times = []
            for i in range(REPEAT):
                sub = submission(src, f"bench-{src.stem}-{i}", tmp / f"one-{src.stem}-{i}.ipynb")
                seconds, _, full = grade([sub], tmp / "one.csv")
                assert full == 1, f"{src.stem}: the solutions should get full marks"
                times.append(seconds)
            singles += times
            print(f"{src.stem:<18}{statistics.median(times):>22.2f}")
        print(f"{'all':<18}{statistics.median(singles):>22.2f}")

        subs = [submission(solutions[i % len(solutions)], f"student-{i:03d}",
                           tmp / f"batch-{i:03d}.ipynb") for i in range(BATCH)]
        seconds, students, full = grade(subs, tmp / "batch.csv", jobs=JOBS)
        print(f"batch of {BATCH} submissions, --jobs {JOBS}: {seconds:.1f} s "
              f"({seconds / BATCH:.2f} s per submission); {full}/{students} got full marks "
              f"(load {os.getloadavg()[0]:.1f} after)")


if __name__ == "__main__":
    main()
