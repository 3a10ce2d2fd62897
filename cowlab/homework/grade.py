"""`cowlab grade`: grade submitted homework notebooks into grades.csv (+ feedback).

    cowlab grade SUBMISSION.ipynb... --out grades.csv [--feedback DIR]
                 [--timeout SECONDS_PER_CELL] [--memory MiB] [--budget SECONDS]
                 [--jobs N] [--exercises DIR] [--no-sandbox]

Who trusts what. The student's notebook is untrusted code; it runs in a worker
process (`--worker`, one per submission) that drives a fresh, limited kernel
(sandbox.Sandbox; see worker.py) and hands back only plain data: each answer as JSON, which
cells failed, and the code exercises' results. This process -- the grader --
reads the student id and the assignment itself, recomputes the expected answers
for that variant and judges with bank.judge. Nothing the kernel says is trusted
except plain data, and the expected answers never touch the disk.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import procs
from .assign import repo_root
from .submission import Unreadable, assignment_of, exercise_path, read_notebook, student_of
from .worker import FATAL, worker_main

COLUMNS = ["student", "assignment", "question", "points", "max_points", "status", "message",
           "flag"]
STATUSES = ("correct", "wrong", "unanswered", "invalid", "timeout", "memory", "crashed",
            "unreadable", "manual")      # manual: a free-text answer the teacher grades


# ------------------------------------------------------------------ the grader's side

def fmt_points(x):
    x = round(float(x), 2)
    return str(int(x)) if x == int(x) else f"{x:g}"


def row(student, assignment, question, points, max_points, status, message):
    assert status in STATUSES, status
    return dict(student=student, assignment=assignment, question=question,
                points=fmt_points(points), max_points=fmt_points(max_points),
                status=status, message=" ".join(str(message).split())[:500], flag="")


FORMULA = ("=", "+", "-", "@", "\t", "\r")


def neutral(value):
    """A CSV cell a spreadsheet will not run: one that starts like a formula (= + - @,
    tab, CR) gets a leading apostrophe, as OWASP advises for CSV injection."""
    value = str(value)
    value = "'" + value if value.startswith(FORMULA) else value
    return value.replace("\r", " ").replace("\n", " ")      # one row is one line


def flag_duplicates(results, paths):
    """Mark every row of two or more submissions with the same student id and assignment
    (both are graded, neither merged); returns {(student, assignment): [file names]}."""
    seen = {}
    for i, (rows, _) in results.items():
        if rows and rows[0]["student"] and rows[0]["assignment"] and rows[0]["status"] != "unreadable":
            seen.setdefault((rows[0]["student"], rows[0]["assignment"]), []).append(i)
    dups = {key: idx for key, idx in seen.items() if len(idx) > 1}
    for key, idx in dups.items():
        names = [Path(paths[i]).name for i in idx]
        for i in idx:
            others = ", ".join(n for n in names if n != Path(paths[i]).name) or names[0]
            for r in results[i][0]:
                r["flag"] = f"duplicate: the same id and assignment also in {others}"
    return {key: [Path(paths[i]).name for i in idx] for key, idx in dups.items()}


def unreadable_rows(path, message, assignment=""):
    return [row(Path(path).stem, assignment, "*", 0, 0, "unreadable", message)]


def judge_rows(student, assignment, result):
    """One row per question, judged here from the worker's plain data."""
    from . import bank
    rows = []
    for q in bank.questions(assignment):
        qid, most = q.id, q.points
        if q.kind == "explain":          # no autograder test: 0 points now, pending
            rows.append(row(student, assignment, qid, 0, most, "manual", bank.MANUAL))
            continue
        if qid in result.get("failures", {}):
            status, message = result["failures"][qid]
            status = status if status in FATAL else "crashed"
            rows.append(row(student, assignment, qid, 0, most, status, message))
        elif q.kind == "code":
            status, points, message = (result.get("code", {}).get(qid)
                                       or ["crashed", 0, "your code was not graded"])
            if status not in STATUSES or status == "unreadable":
                status, points, message = "invalid", 0, f"unexpected result {status!r}"
            points = min(max(float(points), 0.0), most) if status in ("correct", "wrong") else 0
            rows.append(row(student, assignment, qid, points, most, status, message))
        else:
            state, value = result.get("values", {}).get(qid, ["missing", None])
            error = result.get("errors", {}).get(qid)
            if state == "invalid":
                rows.append(row(student, assignment, qid, 0, most, "invalid", f"invalid: {value}"))
            elif state == "missing" and error and not error.startswith("NotImplementedError"):
                rows.append(row(student, assignment, qid, 0, most, "invalid",
                                f"invalid: your answer cell raised {error}"))
            elif state == "missing":
                rows.append(row(student, assignment, qid, 0, most, "unanswered",
                                f"not yet answered ({qid} is not defined)"))
            else:
                rows.append(row(student, assignment, qid, *judge_one(assignment, qid, student,
                                                                     value, most)))
    return rows


def judge_one(assignment, qid, student, value, most):
    """(points, max, status, message) from bank.judge, in this process, points clamped."""
    from . import bank
    try:
        status, points, message = bank.judge(assignment, qid, student, value)
    except Exception as e:
        return 0, most, "invalid", (f"invalid: the answer could not be judged "
                                    f"({type(e).__name__}: {e})")
    if status not in ("correct", "wrong", "unanswered", "invalid"):
        status, points = "invalid", 0
    points = min(max(float(points or 0), 0.0), most) if status in ("correct", "wrong") else 0
    return points, most, status, message


def grade_one(path, args):
    """All rows for one submission (never raises); runs the worker in its own process."""
    from . import bank
    try:
        nb = read_notebook(path)
        assignment = assignment_of(nb)
        exercise_path(args.exercises, assignment)
    except Unreadable as e:
        return unreadable_rows(path, e), None
    except Exception as e:
        return unreadable_rows(path, f"cannot read the notebook ({type(e).__name__}: {e})"), None
    try:
        student = student_of(nb)
    except ValueError as e:
        stem = Path(path).stem
        return [row(stem, assignment, q.id, 0, q.points, "invalid", e)
                for q in bank.questions(assignment)], None
    result = run_worker(path, args)
    if "error" in result:
        return [row(student, assignment, q.id, 0, q.points, "crashed", result["error"])
                for q in bank.questions(assignment)], result
    return judge_rows(student, assignment, result), result


LIVE_WORKERS = set()
LOCK = threading.Lock()


def run_worker(path, args):
    """The worker subprocess for one submission, bounded in time; its result as a dict.

    The bound is the submission's budget plus a fixed allowance for starting kernels:
    it does not grow with the notebook's cell count."""
    cmd = [sys.executable, "-m", "cowlab.homework.grade", "--worker", "--exercises",
           str(args.exercises), "--timeout", str(args.timeout), "--memory", str(args.memory),
           "--budget", str(args.budget), "--parent", str(os.getpid())]
    if not args.no_sandbox:
        cmd.append("--sandbox")
        for d in args.hide:
            cmd += ["--hide", d]
    cmd.append(str(Path(path).resolve()))
    env = dict(os.environ)
    env["PYTHONPATH"] = procs.package_root() + os.pathsep + env.get("PYTHONPATH", "")
    budget = args.budget + 90
    with LOCK:      # registered before the reaper of another job can see it as an orphan
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, start_new_session=True)
        LIVE_WORKERS.add(proc.pid)
    try:
        out, err = proc.communicate(timeout=budget)
    except subprocess.TimeoutExpired:
        procs.kill_group(proc.pid)
        out, err = proc.communicate()
    finally:
        with LOCK:
            LIVE_WORKERS.discard(proc.pid)
            procs.reap_descendants(exclude=set(LIVE_WORKERS))   # orphans left by a dead worker
    try:
        data = json.loads(out.decode().strip().splitlines()[-1])
        if isinstance(data, dict):
            return data
    except (ValueError, IndexError):
        pass
    if proc.returncode is not None and proc.returncode < 0:
        return dict(error=f"the grading process for this notebook was killed (signal "
                          f"{-proc.returncode}); did the notebook kill its parent?")
    tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
    return dict(error=f"the grading process for this notebook died ({tail[0][:200]})")


class Progress:
    """A one-line text progress bar on stderr (a line per notebook when not a terminal)."""

    def __init__(self, total, stream=sys.stderr):
        self.total, self.done, self.stream = total, 0, stream
        self.tty = stream.isatty()
        self.started = time.monotonic()

    def step(self, name):
        self.done += 1
        width, n = 30, self.done
        bar = "#" * (width * n // self.total) + "." * (width - width * n // self.total)
        line = (f"grading [{bar}] {n}/{self.total} {time.monotonic() - self.started:.0f}s "
                f"{Path(name).name}")
        if self.tty:
            self.stream.write("\r" + line[:100].ljust(100))
            if n == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def write_csv(rows, out):
    """grades.csv, atomically: a temp file in the same directory, then os.replace.
    Every cell is neutralised (see `neutral`)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".grades-", suffix=".csv", dir=out.parent)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows({k: neutral(v) for k, v in r.items()} for r in rows)
    os.replace(tmp, out)


class RowLog:
    """grades.csv as the batch goes: each submission's rows are appended and flushed as
    soon as it is graded, so a grader that dies loses at most the ones in flight."""

    def __init__(self, out):
        self.out = Path(out)
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.f = open(self.out, "w", newline="", encoding="utf-8")
        self.w = csv.DictWriter(self.f, fieldnames=COLUMNS, lineterminator="\n")
        self.w.writeheader()
        self.f.flush()

    def add(self, rows):
        self.w.writerows({k: neutral(v) for k, v in r.items()} for r in rows)
        self.f.flush()
        os.fsync(self.f.fileno())

    def close(self):
        self.f.close()


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--worker" in argv:
        return worker_main(argv)
    ap = argparse.ArgumentParser(prog="cowlab grade",
                                 description="Grade homework notebooks: one CSV row per question.")
    ap.add_argument("submissions", nargs="+", metavar="SUBMISSION.ipynb")
    ap.add_argument("--out", required=True, help="the grades CSV to write")
    ap.add_argument("--feedback", metavar="DIR", help="write DIR/<student>.md for each student")
    ap.add_argument("--timeout", type=float, default=30, metavar="SECONDS",
                    help="time limit per cell (default 30)")
    ap.add_argument("--memory", type=int, default=2048, metavar="MiB",
                    help="memory of a whole submission, all its processes together (its "
                         "cgroup), and each process's address space (default 2048)")
    ap.add_argument("--jobs", type=int, default=1, metavar="N",
                    help="notebooks graded in parallel (default 1)")
    ap.add_argument("--exercises", default=str(repo_root() / "exercises"), metavar="DIR",
                    help="the exercise notebooks whose locked cells are used (default exercises/)")
    ap.add_argument("--budget", type=float, metavar="SECONDS",
                    help="wall-clock time for one whole submission, however many cells it has "
                         "(default 10 x --timeout, at least 120)")
    ap.add_argument("--no-sandbox", action="store_true",
                    help="UNSAFE: run student code without bubblewrap and a cgroup, with your "
                         "own rights (only where no sandbox can be made and you trust the "
                         "notebooks)")
    args = ap.parse_args(argv)
    if args.budget is None:
        args.budget = max(120.0, 10 * args.timeout)
    if args.timeout <= 0 or args.memory < 256 or args.jobs < 1:
        ap.error("--timeout must be > 0, --memory at least 256 (MiB), --jobs at least 1")
    for path, kind in ((Path(args.out), "--out"), (Path(args.feedback or "."), "--feedback")):
        if kind == "--out" and path.is_dir() or kind == "--feedback" and path.is_file():
            ap.error(f"{kind} {path} is a {'directory' if path.is_dir() else 'file'}; "
                     f"give {'a CSV file name' if kind == '--out' else 'a directory'}")
    if args.budget <= 0:
        ap.error("--budget must be > 0")
    from . import bank, feedback, plan, worker  # noqa: F401 (all we import, before any student code)
    if not args.no_sandbox:
        from . import cgroup, jail
        why, fix = jail.check(), jail.FIX
        if not why:
            why, fix = cgroup.check(), jail.CGROUP_FIX
        if why:
            print(f"cowlab grade: cannot make a sandbox for student code: {why}.\nTo fix: "
                  f"{fix}.", file=sys.stderr)
            return 2
    # the directories of the batch, hidden from every student's sandbox
    args.hide = sorted({str(Path(p).resolve().parent) for p in args.submissions})
    procs.become_subreaper()
    progress = Progress(len(args.submissions))
    results = {}
    try:
        log = RowLog(args.out)
    except OSError as e:
        print(f"cowlab grade: cannot write {args.out}: {e}", file=sys.stderr)
        return 1

    def job(i, path):
        try:
            results[i] = grade_one(path, args)
        except Exception as e:   # a bug of ours: a clear row, and the batch goes on
            results[i] = (unreadable_rows(path, f"internal grader error: {type(e).__name__}: {e}"),
                          None)
        with LOCK:
            log.add(results[i][0])
            progress.step(path)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for i, path in enumerate(args.submissions):
            pool.submit(job, i, path)
    log.close()
    duplicates = flag_duplicates(results, args.submissions)
    rows = [r for i in range(len(args.submissions)) for r in results[i][0]]
    procs.reap_descendants()
    try:
        write_csv(rows, args.out)        # the whole batch again, in the order given
        if args.feedback:
            from .feedback import write_feedback
            write_feedback(args.feedback, [(args.submissions[i], *results[i])
                                           for i in range(len(args.submissions))])
    except OSError as e:
        print(f"cowlab grade: cannot write the results: {e}", file=sys.stderr)
        return 1
    bad = sum(1 for r in rows if r["status"] == "unreadable")
    print(f"cowlab grade: {len(args.submissions)} notebooks, {len(rows)} rows -> {args.out}"
          + (f" ({bad} unreadable)" if bad else ""), file=sys.stderr)
    for (student, assignment), names in duplicates.items():
        print(f"cowlab grade: DUPLICATE: {student} handed in {assignment} {len(names)} times "
              f"({', '.join(names)}); all are graded, flagged in the flag column",
              file=sys.stderr)
    if args.no_sandbox:
        print("cowlab grade: graded WITHOUT a sandbox (--no-sandbox): student code ran with "
              "your rights", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
