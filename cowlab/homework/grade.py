"""`cowlab grade`: grade submitted homework notebooks into grades.csv (+ feedback).

    cowlab grade SUBMISSION.ipynb... --out grades.csv [--feedback DIR]
                 [--timeout SECONDS_PER_CELL] [--memory MiB] [--jobs N]

Who trusts what. The student's notebook is untrusted code; it runs in a worker
process (`--worker`, one per submission) that drives a fresh, limited kernel
(runner.Sandbox) and hands back only plain data: each answer as JSON, which
cells failed, and the code exercises' results. This process -- the grader --
reads the student id and the assignment itself, recomputes the expected answers
for that variant and judges with bank.judge. Nothing the kernel says is trusted
except plain data, and the expected answers never touch the disk.
"""
import argparse
import ast
import csv
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import runner
from .assign import (STUDENT_PLACEHOLDER, cowlab_meta, is_answer_cell, is_student_cell,
                     nbgrader, repo_root)

COLUMNS = ["student", "assignment", "question", "points", "max_points", "status", "message"]
STATUSES = ("correct", "wrong", "unanswered", "invalid", "timeout", "memory", "crashed",
            "unreadable")
FATAL = ("timeout", "memory", "crashed")
MAX_ID = 100


class Unreadable(Exception):
    """A file we cannot grade as a homework notebook; the message says what to fix."""


# ------------------------------------------------------------------ reading submissions

class Node(dict):
    """A JSON object with attribute access, like nbformat's NotebookNode.

    We read notebooks with json ourselves: importing nbformat costs seconds (its schema
    validator compiles grammars), once per submission in every worker.
    """
    __getattr__ = dict.get

    def __setattr__(self, key, value):
        self[key] = value


def as_node(data):
    if isinstance(data, dict):
        return Node({k: as_node(v) for k, v in data.items()})
    if isinstance(data, list):
        return [as_node(v) for v in data]
    return data


def load_notebook(path):
    """A notebook file as Nodes (cells' source joined into one string); ValueError if not."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise ValueError("no list of cells")
    if not isinstance(data.get("metadata", {}), dict):
        raise ValueError("metadata is not an object")
    data.setdefault("metadata", {})
    for cell in data["cells"]:
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            raise ValueError("a cell is not a code, markdown or raw cell")
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(x, str) for x in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise ValueError("a cell's source is not text")
        cell["source"] = source
        if not isinstance(cell.setdefault("metadata", {}), dict):
            raise ValueError("a cell's metadata is not an object")
    return as_node(data)


def read_notebook(path):
    """The notebook, or Unreadable saying why (missing file, not JSON, not a notebook)."""
    path = Path(path)
    if not path.is_file():
        raise Unreadable(f"no such file: {path}")
    try:
        return load_notebook(path)
    except (OSError, UnicodeDecodeError) as e:
        raise Unreadable(f"cannot read the file ({type(e).__name__}); submit the .ipynb "
                         "file that Jupyter saved") from None
    except json.JSONDecodeError as e:
        raise Unreadable(f"not a Jupyter notebook: invalid JSON at line {e.lineno} "
                         f"({e.msg}); submit the .ipynb file that Jupyter saved") from None
    except (ValueError, RecursionError) as e:
        raise Unreadable(f"not a Jupyter notebook ({e}); submit the .ipynb file "
                         "that Jupyter saved") from None


def assignment_of(nb):
    """The assignment named in the notebook metadata, checked against the bank."""
    from . import bank
    meta = nb.metadata.get("cowlab")
    name = meta.get("assignment") if isinstance(meta, dict) else None
    try:
        bank.questions(str(name))
        return name
    except KeyError:
        known = ", ".join(bank.ASSIGNMENTS)
    if not isinstance(name, str) or not name:
        raise Unreadable('the notebook metadata names no assignment (metadata["cowlab"]'
                         f'["assignment"]); start from the notebook in exercises/ ({known})')
    raise Unreadable(f"unknown assignment {name!r} in the notebook metadata; known: {known}")


def student_of(nb):
    """The id in `STUDENT = "..."` (kept as written), or ValueError saying what to fix."""
    cells = [c for c in nb.cells if c.cell_type == "code" and is_student_cell(c)]
    cells += [c for c in nb.cells if c.cell_type == "code" and "STUDENT" in c.source
              and c not in cells]
    for cell in cells:
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        found = [node.value.value for node in tree.body
                 if isinstance(node, ast.Assign) and len(node.targets) == 1
                 and isinstance(node.targets[0], ast.Name) and node.targets[0].id == "STUDENT"
                 and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)]
        if found:
            sid = found[-1].strip()
            if not sid:
                raise ValueError('STUDENT is empty; write your id in the first cell: '
                                 'STUDENT = "your-id"')
            if sid == STUDENT_PLACEHOLDER:
                raise ValueError(f'STUDENT is still the placeholder "{STUDENT_PLACEHOLDER}"; '
                                 "put your own id in the first cell")
            if len(sid) > MAX_ID or not sid.isprintable():
                raise ValueError(f"STUDENT must be a short printable id (at most {MAX_ID} "
                                 "characters)")
            return sid
    raise ValueError('no STUDENT = "..." line (a string literal) in the first cell; '
                     'write your id there, e.g. STUDENT = "ana-maria"')


def exercise_path(exercises, assignment):
    path = Path(exercises) / f"{assignment}.ipynb"
    if not path.is_file():
        raise Unreadable(f"the grader has no {path} to take the locked cells from; "
                         "the instructor must run `cowlab assign` or pass --exercises")
    return path


# ------------------------------------------------------------------ the plan to run

def section_of(cell, qids):
    """The question a cell belongs to (by its cowlab metadata or grade_id), else None."""
    q = cowlab_meta(cell).get("question")
    if q in qids:
        return q
    gid = str(nbgrader(cell).get("grade_id", ""))
    for qid in qids:
        if gid == qid or gid.startswith(qid + "-"):
            return qid
    return None


def is_check_cell(cell):
    return (cowlab_meta(cell).get("role") == "check"
            or str(nbgrader(cell).get("grade_id", "")).endswith("-check"))


def build_plan(original, submitted, student, qids):
    """The cells to run: originals for locked cells, the student's answers and extra cells.

    Returns (steps, answers): steps are dicts {code, owner, what, answer}; answers maps
    qid -> the source of the student's answer cell (the placeholder if it is missing).
    """
    known = {nbgrader(c).get("grade_id"): c for c in original.cells
             if nbgrader(c).get("grade_id") is not None}
    theirs, extras, after = {}, {}, None
    for cell in submitted.cells:
        gid = nbgrader(cell).get("grade_id")
        if gid in known and gid not in theirs and (is_answer_cell(known[gid])
                                                   or is_student_cell(known[gid])):
            theirs[gid] = cell
            after = gid
        elif gid in known and gid not in theirs:
            theirs[gid] = None        # a locked cell: the original is used, whatever it says
            after = gid
        elif cell.cell_type == "code" and cell.source.strip():
            extras.setdefault(after, []).append(cell.source)

    steps, answers, section = [], {}, None
    for code in extras.get(None, []):
        steps.append(dict(code=code, owner=None, what="a cell you added before the questions"))
    for cell in original.cells:
        gid = nbgrader(cell).get("grade_id")
        section = section_of(cell, qids) or section
        if cell.cell_type == "code":
            if is_student_cell(cell):
                steps.append(dict(code=f"STUDENT = {student!r}", owner=None,
                                  what="the STUDENT cell"))
            elif is_answer_cell(cell):
                qid = cowlab_meta(cell).get("question") or gid
                mine = theirs.get(gid)
                if mine is not None:
                    answers[qid] = mine.source
                    steps.append(dict(code=mine.source, owner=qid, answer=qid,
                                      what=f"your answer cell for {qid}"))
                else:   # the cell lost its metadata or was deleted: an added cell may bind qid
                    bound = [src for group in extras.values() for src in group
                             if binds(src, qid)]
                    answers[qid] = bound[-1] if bound else cell.source
            elif not is_check_cell(cell):
                steps.append(dict(code=cell.source, owner=section, locked=True,
                                  what=f"the locked cell {gid}"))
        for code in extras.get(gid, []):
            steps.append(dict(code=code, owner=section,
                              what=f"a cell you added{' in ' + section if section else ''}"))
    return steps, answers


def binds(source, name):
    """Does this cell's source define `name` at top level (assignment, def or class)?"""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name == name:
            return True
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else [])
        if any(isinstance(t, ast.Name) and t.id == name for t in targets):
            return True
    return False


def is_placeholder(source, original_source):
    """A blank answer: what `cowlab assign` wrote, an empty cell, or `qN = None`."""
    def norm(s):
        return [ln.strip() for ln in s.splitlines()
                if ln.strip() and not ln.strip().startswith("#")]
    mine = norm(source)
    return not mine or mine == norm(original_source) or (
        len(mine) == 1 and re.fullmatch(r"\w+\s*=\s*None(\s*#.*)?", mine[0]) is not None)


# ------------------------------------------------------------------ the worker

def run_steps(box, steps, timeout, failures, errors, notes):
    """Run the steps; a fatal cell is skipped, the kernel restarted and the good cells replayed."""
    done = []
    for step in steps:
        result = box.run(step["code"], timeout)
        if result.status != "ok" and step.get("locked") and step["owner"] is None:
            raise RuntimeError(f"{step['what']} of the assignment failed in the grading kernel "
                               f"({result.status}: {result.error}); if --memory is small, "
                               "give it more")
        if result.status in FATAL:
            fail(step, result, failures, notes)
            recover(box, done, timeout, failures, notes)
            continue
        done.append(step)
        if result.status == "error":
            if step.get("answer"):
                errors[step["answer"]] = result.error
            notes.append(f"{step['what']} raised {result.error}")
    return done


def fail(step, result, failures, notes):
    words = {"timeout": f"{result.error} (the time limit per cell)",
             "memory": "ran out of memory (the grader's memory limit)",
             "crashed": "killed its kernel"}
    message = f"{step['what']} {words[result.status]}; the grader skipped it"
    notes.append(message)
    if step["owner"] and step["owner"] not in failures:
        failures[step["owner"]] = (result.status, message)


def recover(box, done, timeout, failures, notes):
    """A fresh kernel, with the cells that ran fine so far rerun (dropping any that now fail)."""
    while True:
        box.restart()
        for step in list(done):
            result = box.run(step["code"], timeout)
            if result.status in FATAL:
                fail(step, result, failures, notes)
                done.remove(step)
                break
        else:
            return


def extract(box, qid, timeout):
    """(state, value_or_reason, result) for one answer, taken out of the kernel as JSON."""
    mark = "@@cowlab-" + secrets.token_hex(16) + "@@"
    result = box.run(runner.extract_code(qid, mark), timeout)
    if result.status in FATAL:
        return None, None, result
    for line in result.stdout.splitlines():
        if line.startswith(mark):
            try:
                data = json.loads(line[len(mark):])
            except ValueError:
                break
            if isinstance(data, dict) and data.get("state") in ("ok", "missing", "invalid"):
                return data["state"], data.get("value", data.get("why")), result
    return "invalid", "the answer could not be read back from the notebook", result


def judge_code(assignment, qid, student, source, timeout, memory, cwd):
    """Judge a code answer in a separate limited process -> [status, points, message].

    That process (runner.py --judge-code) runs the scenarios and holds the machine; the
    student's class runs in a process of its own. The result line carries a nonce the
    student's code never sees, so a line it might slip into the pipe does not count."""
    nonce = "@@" + secrets.token_hex(16) + "@@"
    job = json.dumps(dict(assignment=assignment, qid=qid, student=student, source=source,
                          timeout=min(timeout, 30), memory=memory, nonce=nonce))
    code, out, err = runner.run_limited([sys.executable, runner.__file__, "--judge-code"],
                                        job.encode(), max(60, 6 * timeout), memory, cwd,
                                        runner.kernel_env(runner.package_root()))
    if code is None:
        return ["timeout", 0, f"your code ran over the {max(60, 6 * timeout):g} s limit "
                "for all the scenarios"]
    for line in out.decode(errors="replace").splitlines():
        if line.startswith(nonce):
            try:
                status, points, message = json.loads(line[len(nonce):])
                return [str(status), float(points), str(message)]
            except (ValueError, TypeError):
                break
    if b"MemoryError" in err:
        return ["memory", 0, "judging your code ran out of memory"]
    return ["crashed", 0, f"the process judging your code died (exit status {code})"]


def grade_worker(path, exercises, timeout, memory):
    """Run one submission; return plain data for the grader (see module docstring)."""
    from . import bank
    runner.become_subreaper()
    submitted = read_notebook(path)
    assignment = assignment_of(submitted)
    student = student_of(submitted)
    original = load_notebook(exercise_path(exercises, assignment))
    questions = bank.questions(assignment)
    kinds = {q.id: q.kind for q in questions}
    steps, answers = build_plan(original, submitted, student, list(kinds))
    placeholders = build_plan(original, original, "x", list(kinds))[1]
    failures, errors, notes, values, code = {}, {}, [], {}, {}
    work = tempfile.mkdtemp(prefix="cowlab-grade-")
    try:
        shutil.copy(path, os.path.join(work, "submission.ipynb"))
        box = runner.Sandbox(work, memory_mib=memory)
        try:
            done = run_steps(box, steps, timeout, failures, errors, notes)
            for qid, kind in kinds.items():
                if kind == "code" or qid in failures:
                    continue
                state, value, result = extract(box, qid, timeout)
                if state is None:     # the answer itself hangs or kills the kernel
                    fail(dict(owner=qid, what=f"reading your answer {qid}"), result, failures,
                         notes)
                    recover(box, done, timeout, failures, notes)
                    continue
                values[qid] = [state, value]
        finally:
            box.close()
        for qid, kind in kinds.items():
            if kind != "code" or qid in failures:
                continue
            source = answers.get(qid, "")
            if is_placeholder(source, placeholders.get(qid, "")):
                code[qid] = ["unanswered", 0, "not yet answered"]
            else:
                code[qid] = judge_code(assignment, qid, student, source, timeout, memory, work)
    finally:
        runner.reap_descendants()
        shutil.rmtree(work, ignore_errors=True)
    return dict(student=student, assignment=assignment, failures=failures, errors=errors,
                values=values, code=code, notes=notes[:50])


def worker_main(argv):
    """`python -m cowlab.homework.grade --worker ...`: one submission -> one JSON line."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--exercises", required=True)
    ap.add_argument("--timeout", type=float, required=True)
    ap.add_argument("--memory", type=int, required=True)
    ap.add_argument("path")
    args = ap.parse_args(argv)
    out = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)           # nothing else may write on our result channel
    try:
        result = grade_worker(args.path, args.exercises, args.timeout, args.memory)
    except (Unreadable, ValueError) as e:
        result = dict(error=str(e))
    except RuntimeError as e:        # the kernel would not start or set up
        result = dict(error=str(e))
    except Exception as e:
        result = dict(error=f"internal grader error: {type(e).__name__}: {e}")
    out.write(json.dumps(result) + "\n")
    out.flush()
    return 0


# ------------------------------------------------------------------ the grader's side

def fmt_points(x):
    x = round(float(x), 2)
    return str(int(x)) if x == int(x) else f"{x:g}"


def row(student, assignment, question, points, max_points, status, message):
    assert status in STATUSES, status
    return dict(student=student, assignment=assignment, question=question,
                points=fmt_points(points), max_points=fmt_points(max_points),
                status=status, message=" ".join(str(message).split())[:500])


def unreadable_rows(path, message, assignment=""):
    return [row(Path(path).stem, assignment, "*", 0, 0, "unreadable", message)]


def judge_rows(student, assignment, result):
    """One row per question, judged here from the worker's plain data."""
    from . import bank
    rows = []
    for q in bank.questions(assignment):
        qid, most = q.id, q.points
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
    result = run_worker(path, args, len(nb.cells) + len(bank.questions(assignment)))
    if "error" in result:
        return [row(student, assignment, q.id, 0, q.points, "crashed", result["error"])
                for q in bank.questions(assignment)], result
    return judge_rows(student, assignment, result), result


LIVE_WORKERS = set()
LOCK = threading.Lock()


def run_worker(path, args, cells):
    """The worker subprocess for one submission, bounded in time; its result as a dict."""
    cmd = [sys.executable, "-m", "cowlab.homework.grade", "--worker", "--exercises",
           str(args.exercises), "--timeout", str(args.timeout), "--memory", str(args.memory),
           str(Path(path).resolve())]
    env = dict(os.environ)
    env["PYTHONPATH"] = runner.package_root() + os.pathsep + env.get("PYTHONPATH", "")
    budget = 120 + args.timeout * 3 * (cells + 5) + max(60, 6 * args.timeout) * 4
    with LOCK:      # registered before the reaper of another job can see it as an orphan
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, start_new_session=True)
        LIVE_WORKERS.add(proc.pid)
    try:
        out, err = proc.communicate(timeout=budget)
    except subprocess.TimeoutExpired:
        runner.kill_group(proc.pid)
        out, err = proc.communicate()
    finally:
        with LOCK:
            LIVE_WORKERS.discard(proc.pid)
            runner.reap_descendants(exclude=set(LIVE_WORKERS))   # orphans left by a dead worker
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
    """grades.csv, atomically: a temp file in the same directory, then os.replace."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".grades-", suffix=".csv", dir=out.parent)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, out)


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
                    help="address-space limit of the student's kernel (default 2048)")
    ap.add_argument("--jobs", type=int, default=1, metavar="N",
                    help="notebooks graded in parallel (default 1)")
    ap.add_argument("--exercises", default=str(repo_root() / "exercises"), metavar="DIR",
                    help="the exercise notebooks whose locked cells are used (default exercises/)")
    args = ap.parse_args(argv)
    if args.timeout <= 0 or args.memory < 256 or args.jobs < 1:
        ap.error("--timeout must be > 0, --memory at least 256 (MiB), --jobs at least 1")
    for path, kind in ((Path(args.out), "--out"), (Path(args.feedback or "."), "--feedback")):
        if kind == "--out" and path.is_dir() or kind == "--feedback" and path.is_file():
            ap.error(f"{kind} {path} is a {'directory' if path.is_dir() else 'file'}; "
                     f"give {'a CSV file name' if kind == '--out' else 'a directory'}")
    runner.become_subreaper()
    progress = Progress(len(args.submissions))
    results = {}

    def job(i, path):
        try:
            results[i] = grade_one(path, args)
        except Exception as e:   # a bug of ours: a clear row, and the batch goes on
            results[i] = (unreadable_rows(path, f"internal grader error: {type(e).__name__}: {e}"),
                          None)
        with LOCK:
            progress.step(path)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for i, path in enumerate(args.submissions):
            pool.submit(job, i, path)
    rows = [r for i in range(len(args.submissions)) for r in results[i][0]]
    runner.reap_descendants()
    try:
        write_csv(rows, args.out)
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
