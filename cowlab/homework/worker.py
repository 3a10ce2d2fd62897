"""The worker: one submission run in a limited kernel, handed back as plain data.

`python -m cowlab.homework.grade --worker ...` runs one submission: the plan's cells in
a fresh Sandbox, each answer taken out of the kernel as JSON, each code answer judged
in a limited process of its own (codejudge). It prints one JSON line; the grader
judges the values itself (grade.judge_rows).
"""
import argparse
import json
import os
import secrets
import shutil
import sys
import tempfile

from . import catalog, procs
from .plain import extract_code
from .plan import build_plan, is_placeholder
from .sandbox import Sandbox
from .submission import (Unreadable, assignment_of, exercise_path, load_notebook,
                         read_notebook, student_of)

FATAL = ("timeout", "memory", "crashed")


def run_steps(box, steps, timeout, failures, errors, notes):
    """Run the steps; a fatal cell is skipped, the kernel restarted and the good cells replayed."""
    done = []
    for step in steps:
        result = box.run(step["code"], timeout)
        if box.over():                  # the whole notebook's time is up: stop here
            break
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
        if box.over():                 # no time left to replay: the rest is `timeout`
            done.clear()
            return
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
    result = box.run(extract_code(qid, mark), timeout)
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


def judge_code(assignment, qid, student, source, timeout, memory, cwd, limits=None, left=None):
    """Judge a code answer in a separate limited process -> [status, points, message].

    That process (runner.py --judge-code) runs the scenarios and holds the machine; the
    student's class runs in a process of its own. The result line carries a nonce the
    student's code never sees, so a line it might slip into the pipe does not count."""
    allowed = max(60, 6 * timeout) if left is None else min(max(60, 6 * timeout), left)
    if allowed <= 0:
        return ["timeout", 0, "the notebook used up its time before this code was judged"]
    nonce = "@@" + secrets.token_hex(16) + "@@"
    job = json.dumps(dict(assignment=assignment, qid=qid, student=student, source=source,
                          timeout=min(timeout, 30), memory=memory, nonce=nonce))
    code, out, err = procs.run_limited([sys.executable, procs.RUNNER, "--judge-code"],
                                       job.encode(), allowed, limits or memory, cwd,
                                       procs.kernel_env(procs.package_root()))
    if code is None:
        return ["timeout", 0, f"your code ran over the {allowed:g} s limit "
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


def grade_worker(path, exercises, timeout, memory, budget=None, sandbox=False, hide=()):
    """Run one submission; return plain data for the grader (see module docstring).

    `budget` bounds the whole submission's wall-clock time, however many cells it has;
    with `sandbox`, every process of it runs in bubblewrap and one cgroup (jail.py)."""
    procs.become_subreaper()
    submitted = read_notebook(path)
    assignment = assignment_of(submitted)
    student = student_of(submitted)
    original = load_notebook(exercise_path(exercises, assignment))
    questions = catalog.questions(assignment)
    kinds = {q.id: q.kind for q in questions}
    steps, answers = build_plan(original, submitted, student, list(kinds))
    placeholders = build_plan(original, original, "x", list(kinds))[1]
    failures, errors, notes, values, code = {}, {}, [], {}, {}
    work = tempfile.mkdtemp(prefix="cowlab-grade-")
    group, capped = None, False
    try:
        limits = procs.Limits(memory)
        if sandbox:
            from . import cgroup, jail
            group = cgroup.Cgroup(memory)
            capped = jail.cap_directory(work)
            limits = procs.Limits(memory, group, work, hide)
        shutil.copy(path, os.path.join(work, "submission.ipynb"))
        box = Sandbox(work, limits=limits, budget=budget)
        try:
            done = run_steps(box, steps, timeout, failures, errors, notes)
            if box.over():
                message = (f"the notebook ran over the {budget:g} s it may take in all; "
                           "the grader stopped there")
                notes.append(message)
                for qid in kinds:
                    failures.setdefault(qid, ("timeout", message))
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
                code[qid] = judge_code(assignment, qid, student, source, timeout, memory, work,
                                       limits, box.left())
    finally:
        if group is not None:
            group.remove()
        procs.reap_descendants()
        if capped:
            from . import jail
            jail.uncap_directory(work)
        shutil.rmtree(work, ignore_errors=True)
    return dict(student=student, assignment=assignment, failures=failures, errors=errors,
                values=values, code=code, notes=notes[:50])


def die_with_parent(parent):
    """The worker (a session of its own) dies when the grader (pid `parent`) does, and
    with it the sandbox (bubblewrap's --die-with-parent): nothing of a submission
    outlives it."""
    import ctypes
    import signal
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if parent and os.getppid() != parent:     # the grader died before the call
        os._exit(1)


PR_SET_PDEATHSIG = 1


def worker_main(argv):
    """`python -m cowlab.homework.grade --worker ...`: one submission -> one JSON line."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--worker", action="store_true")
    ap.add_argument("--exercises", required=True)
    ap.add_argument("--timeout", type=float, required=True)
    ap.add_argument("--memory", type=int, required=True)
    ap.add_argument("--budget", type=float)
    ap.add_argument("--sandbox", action="store_true")
    ap.add_argument("--hide", action="append", default=[])
    ap.add_argument("--parent", type=int, default=0)
    ap.add_argument("path")
    args = ap.parse_args(argv)
    die_with_parent(args.parent)
    out = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)           # nothing else may write on our result channel
    try:
        result = grade_worker(args.path, args.exercises, args.timeout, args.memory,
                              args.budget, args.sandbox, args.hide)
    except (Unreadable, ValueError) as e:
        result = dict(error=str(e))
    except RuntimeError as e:        # the kernel would not start or set up
        result = dict(error=str(e))
    except Exception as e:
        result = dict(error=f"internal grader error: {type(e).__name__}: {e}")
    out.write(json.dumps(result) + "\n")
    out.flush()
    return 0
