"""`cowlab grade` on real submissions (tests/submissions/), in real Jupyter kernels.

One batch grades every submission with `--jobs 2` and a 20 s per-cell limit (the
endless loop costs 20 s, not 30; less would let a loaded machine turn a slow honest cell
or the memory bomb into a timeout); the tests read the CSV and the feedback it wrote.
The submissions are generated from solutions/ and exercises/ by
tests/submissions/make_submissions.py; a test fails when they are stale.
"""
import csv
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cowlab.homework import bank, grade, plain, submission, worker

ROOT = Path(__file__).resolve().parent.parent
SUBS = ROOT / "tests" / "submissions"
sys.path.insert(0, str(SUBS))
import make_submissions as ms  # noqa: E402

COLUMNS = "student,assignment,question,points,max_points,status,message,flag".split(",")
STATUSES = {"correct", "wrong", "unanswered", "invalid", "timeout", "memory", "crashed",
            "unreadable", "manual"}


def env():
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    name, value = ms.BATCH_TOKEN.split("=")
    e[name] = value                  # what the escape submission looks for in /proc
    return e


def cowlab(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "cowlab", *args], cwd=ROOT, env=env(),
                          capture_output=True, text=True, timeout=timeout)


def marked_processes():
    """pids of the `sleep` processes the orphan submission starts, and of the escape
    submission's late writer."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                cmd = open(f"/proc/{name}/cmdline", "rb").read().split(b"\0")
            except OSError:
                continue
            if any(m.encode() in cmd for m in (*ms.ORPHAN_MARKS, ms.LATE_MARK)):
                found.append(int(name))
    return found


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Grade every submission in one batch; {(student, assignment): [rows]} and more."""
    out = tmp_path_factory.mktemp("grades")
    subs = sorted(str(p) for p in SUBS.glob("*.ipynb"))
    run = cowlab("grade", *subs, "--out", str(out / "grades.csv"), "--feedback",
                 str(out / "feedback"), "--timeout", "20", "--memory", "1024", "--jobs", "2")
    finished = time.monotonic()
    leftovers = marked_processes()
    for pid in leftovers:          # do not leave them running even when the test fails
        os.kill(pid, 9)
    with open(out / "grades.csv", newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [dict(zip(header, r)) for r in reader]
    by = {}
    for r in rows:
        by.setdefault((r["student"], r["assignment"]), []).append(r)
    return dict(run=run, out=out, header=header, rows=rows, by=by, leftovers=leftovers,
                subs=subs, finished=finished)


def rows_of(batch, student, assignment=ms.ADVERSARIAL):
    rows = batch["by"].get((student, assignment))
    assert rows, f"no rows for {student} {assignment}: {sorted(batch['by'])}"
    return {r["question"]: r for r in rows}


def victim(name, needle):
    """The question whose answer cell in submission `name` contains `needle`."""
    nb = json.loads((SUBS / name).read_text())
    for cell in nb["cells"]:
        m = cell["metadata"].get("cowlab", {})
        if m.get("role") == "answer" and needle in "".join(cell["source"]):
            return m["question"]
    raise AssertionError(f"{needle!r} not in an answer cell of {name}")


def answers_in(name):
    nb = json.loads((SUBS / name).read_text())
    return [c["metadata"]["cowlab"]["question"] for c in nb["cells"]
            if c["metadata"].get("cowlab", {}).get("role") == "answer"]


def is_manual(r):
    """A free-text question: left for the teacher, 0 automatic points, whatever was written."""
    return bank.question(r["assignment"], r["question"]).kind == "explain"


def assert_others_correct(rows, skip):
    for qid, r in rows.items():
        if is_manual(r):
            assert (r["status"], r["points"]) == ("manual", "0"), r
            assert "left for the teacher" in r["message"]
        elif qid not in skip:
            assert (r["status"], r["points"]) == ("correct", r["max_points"]), r


# ------------------------------------------------------------------ the batch

def test_submissions_are_generated_from_the_current_notebooks():
    assert ms.main(["--check"]) == 0, "run python tests/submissions/make_submissions.py"


def test_the_grades_are_the_committed_ones(batch):
    """tests/submissions/results/grades.csv is what the grader gave these submissions:
    a change to the grader that moves a point or a status shows up here (messages may
    be reworded). Regenerate it deliberately, and say why, when a change is meant."""
    with open(SUBS / "results" / "grades.csv", newline="") as f:
        committed = [r for r in csv.DictReader(f)]
    key = ("student", "assignment", "question", "points", "max_points", "status")
    # hog's statuses depend on which of its processes the OOM killer takes, and when
    # (wrong type, memory or time limit): its own test checks what must hold
    assert [tuple(r[k] for k in key) for r in batch["rows"] if r["student"] != "hog"] == \
        [tuple(r[k] for k in key) for r in committed if r["student"] != "hog"]


def test_the_batch_finishes_cleanly(batch):
    assert batch["run"].returncode == 0, batch["run"].stderr[-2000:]
    assert "Traceback" not in batch["run"].stderr
    assert f"{len(batch['subs'])}/{len(batch['subs'])}" in batch["run"].stderr  # progress bar


def test_csv_has_one_row_per_question_per_submission(batch):
    assert batch["header"] == COLUMNS
    assert all(r["status"] in STATUSES for r in batch["rows"])
    for (student, assignment), rows in batch["by"].items():
        if rows[0]["status"] == "unreadable":
            assert [r["question"] for r in rows] == ["*"]
            continue
        copies = 2 if student == "twin" else 1          # handed in twice: graded twice
        qs = bank.questions(assignment) * copies
        assert [r["question"] for r in rows] == [q.id for q in qs]
        assert [float(r["max_points"]) for r in rows] == [q.points for q in qs]
        for r in rows:
            assert 0 <= float(r["points"]) <= float(r["max_points"])
    assert not [p for p in batch["out"].iterdir() if p.name.startswith(".grades-")]


def test_fully_correct_submissions_get_full_marks(batch):
    solutions = sorted((ROOT / "solutions").glob("[0-9][0-9]-*.ipynb"))
    assert len(solutions) >= 6
    for path in solutions:
        rows = rows_of(batch, "ana-maria", path.stem)
        assert_others_correct(rows, skip=())


def test_blank_submissions_get_zero_unanswered(batch):
    for assignment in (ms.ADVERSARIAL, ms.CODE):
        for r in rows_of(batch, "bo-blank", assignment).values():
            want = "manual" if is_manual(r) else "unanswered"
            assert (r["status"], r["points"]) == (want, "0"), r


def test_patching_checks_bank_and_model_earns_nothing(batch):
    for r in rows_of(batch, "mallory-patch").values():
        assert r["status"] in ("wrong", "invalid", "manual") and r["points"] == "0", r


def test_objects_claiming_to_equal_anything_are_invalid(batch):
    for r in rows_of(batch, "mallory-eq").values():
        if is_manual(r):
            continue
        assert (r["status"], r["points"]) == ("invalid", "0"), r
        assert "not plain data" in r["message"]


def test_edited_locked_cells_change_nothing(batch):
    rows = rows_of(batch, "mallory-locked")
    # the right answer to the first question, computed in a locked cell, does not count
    for r in rows.values():
        assert (r["status"], r["points"]) == ("manual" if is_manual(r) else "unanswered",
                                              "0"), r


def test_an_endless_loop_times_out_and_the_rest_is_graded(batch):
    rows = rows_of(batch, "loop-er")
    q = victim("loop.ipynb", "while True")
    assert (rows[q]["status"], rows[q]["points"]) == ("timeout", "0")
    assert "20 s" in rows[q]["message"]
    assert_others_correct(rows, skip={q})


def test_a_memory_bomb_is_memory_and_the_rest_is_graded(batch):
    rows = rows_of(batch, "mem-bomber")
    q = victim("membomb.ipynb", "bytearray")
    assert (rows[q]["status"], rows[q]["points"]) == ("memory", "0")
    assert_others_correct(rows, skip={q})


def test_a_kernel_crash_costs_only_its_question(batch):
    rows = rows_of(batch, "crash-er")
    q = victim("crash.ipynb", "os.kill")
    last = answers_in("crash.ipynb")[-1]     # a cell added in its section calls os._exit
    assert (rows[q]["status"], rows[q]["points"]) == ("crashed", "0")
    assert (rows[last]["status"], rows[last]["points"]) == ("crashed", "0")
    assert "a cell you added" in rows[last]["message"]
    assert_others_correct(rows, skip={q, last})


def test_an_answer_cell_that_lost_its_metadata_still_counts(batch):
    assert_others_correct(rows_of(batch, "retyped"), skip=())


def test_no_process_outlives_its_grading(batch):
    assert batch["leftovers"] == [], "stray processes survived the grading"
    assert_others_correct(rows_of(batch, "orphan-maker"), skip=())


def test_a_file_that_is_not_json_gets_one_unreadable_row(batch):
    rows = batch["by"][("not-json", "")]
    assert len(rows) == 1 and rows[0]["question"] == "*" and rows[0]["status"] == "unreadable"
    assert "invalid JSON" in rows[0]["message"]


def test_the_default_ids_are_refused_with_set_student_to_your_id(batch):
    """A notebook handed in with the exercise's `your-id` or the solution's
    `example-student` gets `invalid` rows under its file name, never a shared id."""
    for name, sid in (("default-id", "your-id"), ("example-id", "example-student")):
        rows = rows_of(batch, name)
        assert all(r["status"] == "invalid" and "set STUDENT to your id" in r["message"]
                   and r["points"] == "0" for r in rows.values()), rows
        assert (sid, ms.ADVERSARIAL) not in batch["by"]


def test_missing_student_cell_and_unknown_assignment_say_what_to_fix(batch):
    for r in rows_of(batch, "no-student").values():
        assert r["status"] == "invalid" and "STUDENT" in r["message"]
    (r,) = batch["by"][("wrong-assignment", "")]
    assert r["status"] == "unreadable" and "unknown assignment '99-nope'" in r["message"]


def test_snooping_for_the_graders_files_finds_nothing(batch):
    """The spy reads every file it can reach near its kernel (cwd, .., /tmp, its parent's
    cwd) for 4 s, looking for answers, and reports in its last answer what it saw."""
    rows = rows_of(batch, "spy")
    last = answers_in("spy.ipynb")[-1]
    report = rows[last]["message"]
    assert "files=" in report and "grader=no" in report and "found=0" in report, report
    assert int(report.split("files=")[1].split()[0]) > 0, "the spy did not look"
    for r in rows.values():
        assert r["points"] == "0" and r["status"] != "correct", r


def test_code_that_patches_its_judge_earns_nothing(batch):
    q = bank.questions(ms.CODE)
    code = next(x.id for x in q if x.kind == "code")
    r = rows_of(batch, "mallory-code", ms.CODE)[code]
    assert r["status"] in ("invalid", "crashed") and r["points"] == "0", r
    assert_others_correct(rows_of(batch, "mallory-code", ms.CODE), skip={code})


def test_feedback_reports_stay_in_their_directory_and_do_not_leak_answers(batch):
    fb = batch["out"] / "feedback"
    names = sorted(p.name for p in fb.iterdir())
    assert "ana-maria.md" in names and "loop-er.md" in names
    assert all((fb / n).resolve().parent == fb.resolve() for n in names)
    assert "time limit" in (fb / "loop-er.md").read_text()
    students = {r["student"] for r in batch["rows"]}
    assert len(names) == len(students)          # one report per student
    mine = (fb / "ana-maria.md").read_text()    # with a section per notebook handed in
    for path in sorted((ROOT / "solutions").glob("[0-9][0-9]-*.ipynb")):
        assert f"## {path.stem}: " in mine
    for r in batch["rows"]:
        if r["status"] == "wrong":
            exp = bank.expected(r["assignment"], r["question"], r["student"])
            if isinstance(exp, int) and abs(exp) >= 10:
                assert str(exp) not in r["message"], r


# ------------------------------------------------------------------ a hostile student

def planted_files():
    import site
    places = [ROOT, Path(site.getsitepackages()[0]), Path.home(), ROOT]
    return [where / rel for where, rel in zip(places, ms.PLANTED)]


def test_planted_code_reaches_neither_the_grader_nor_later_kernels(batch):
    """Student code cannot write the grader's package, a .pth into the venv or an IPython
    startup file: the file system is read-only in the sandbox, HOME a throw-away tmpfs."""
    found = [p for p in planted_files() if p.exists()]
    for p in found:
        p.unlink()
    assert not found, f"a submission planted {found}"
    rows = rows_of(batch, "escaper")
    assert_others_correct(rows, skip=set())       # q1 would be -1 had anything worked


def test_a_student_who_hunts_the_grader_finds_and_kills_nothing(batch):
    """The escape submission looks for the grader in /proc (by a token in its
    environment), for the batch's notebooks in its command line, kills what it finds and
    leaves a process behind that writes after a delay: in its own pid namespace it sees
    no grader, every other row is there, and the late writer dies with its sandbox (it is
    not running when the grader exits, and never writes)."""
    assert batch["run"].returncode == 0, batch["run"].stderr[-2000:]
    assert batch["leftovers"] == [], "a process of a submission outlived the grader"
    assert len(batch["by"]) >= len(batch["subs"]) - 4     # every submission has its rows
    time.sleep(max(0.0, batch["finished"] + 5 - time.monotonic()))
    late = Path(ms.LATE_REPORT)
    wrote = late.exists()
    if wrote:
        late.unlink()
    assert not wrote, "a process of the submission outlived its grading"


def test_a_submission_is_bounded_as_a_whole_not_per_process(batch):
    """Twelve processes of 256 MiB each (each under its own RLIMIT_AS), a fork bomb and a
    disk filler: the cgroup holds the whole submission to --memory and 64 processes, the
    writable places are a few MiB; only the questions whose cells did it lose points."""
    rows = rows_of(batch, "hog")
    qids = answers_in("hog.ipynb")
    for q in qids[1:4]:
        assert "ESCAPED" not in rows[q]["message"], rows[q]
        assert rows[q]["points"] == "0", rows[q]
    assert "Errno" in rows[qids[3]]["message"], rows[qids[3]]     # no space / file too large
    assert_others_correct(rows, skip=set(qids[1:4]))


def test_a_formula_for_an_id_is_refused_and_no_csv_cell_is_a_formula(batch):
    rows = rows_of(batch, "formula-id")
    assert all(r["status"] == "invalid" and "only letters" in r["message"]
               for r in rows.values()), rows
    for r in batch["rows"]:
        for value in r.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), r


def test_csv_cells_that_look_like_formulas_are_neutralised(tmp_path):
    out = tmp_path / "g.csv"
    evil = ["=1+1", "+SUM(A1)", "-2", "@A1", "\tx", "\rx", "=HYPERLINK(\"x\")"]
    grade.write_csv([grade.row(e, "01-fork", "q1", 0, 1, "wrong", e) for e in evil], out)
    with open(out, newline="") as f:
        got = list(csv.DictReader(f))
    assert [r["student"] for r in got] == ["'" + e.replace("\r", " ") for e in evil]
    assert not [r for r in got if r["message"].startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert got[0]["message"] == "'=1+1"


def test_feedback_shows_markup_as_text(batch):
    text = (batch["out"] / "feedback" / "markup.md").read_text()
    assert "<script" not in text and "<img" not in text
    assert "&lt;script&gt;" in text
    assert "![pixel](" not in text and "pixel" in text        # a Markdown image stays text


def test_the_same_id_twice_is_graded_twice_and_flagged(batch):
    rows = batch["by"][("twin", ms.ADVERSARIAL)]
    n = len([q for q in bank.questions(ms.ADVERSARIAL) if q.kind != "explain"])
    assert len(rows) == 2 * len(bank.questions(ms.ADVERSARIAL))
    assert all("duplicate" in r["flag"] and "twin-" in r["flag"] for r in rows)
    assert sorted(r["status"] for r in rows).count("correct") == n     # one right, one blank
    assert "DUPLICATE: twin" in batch["run"].stderr
    assert (batch["out"] / "feedback" / "twin.md").read_text().count("Warning: duplicate") == 2
    others = [r for r in batch["rows"] if r["student"] != "twin"]
    assert not any(r["flag"] for r in others)


def test_a_huge_notebook_is_not_parsed(tmp_path):
    big = tmp_path / "big.ipynb"
    nb = json.loads((SUBS / f"correct-{ms.ADVERSARIAL}.ipynb").read_text())
    nb["cells"][0]["outputs"] = [{"output_type": "stream", "name": "stdout",
                                  "text": "x" * (60 << 20)}]   # 60 MiB
    big.write_text(json.dumps(nb))
    start = time.monotonic()
    run = cowlab("grade", str(big), "--out", str(tmp_path / "g.csv"))
    assert run.returncode == 0, run.stderr
    (r,) = list(csv.DictReader(open(tmp_path / "g.csv")))
    assert r["status"] == "unreadable" and "MiB" in r["message"] and "clear" in r["message"]
    assert time.monotonic() - start < 60


def test_the_whole_submission_has_one_time_budget_whatever_its_cell_count(tmp_path):
    """Twenty looping cells with a 5 s limit per cell: without a budget that is 20
    timeouts and their replays, 100 s at the very least; the budget stops the submission
    after --budget 20 s in all. (5 s, not less: on a loaded machine the locked setup
    cell's imports must still fit in one cell's limit.)"""
    nb = json.loads((SUBS / f"correct-{ms.ADVERSARIAL}.ipynb").read_text())
    loops = [{"cell_type": "code", "source": "while True:\n    pass", "metadata": {},
              "outputs": [], "execution_count": None, "id": f"loop-{i}"} for i in range(20)]
    nb["cells"][3:3] = loops
    path = tmp_path / "loops.ipynb"
    path.write_text(json.dumps(nb))
    start = time.monotonic()
    run = cowlab("grade", str(path), "--out", str(tmp_path / "g.csv"), "--timeout", "5",
                 "--budget", "20", "--memory", "1024")
    took = time.monotonic() - start
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader(open(tmp_path / "g.csv")))
    assert rows and all(r["status"] == "timeout" for r in rows
                        if r["status"] != "manual"), rows       # (free text: the teacher's)
    assert any("20 s" in r["message"] for r in rows), rows
    assert took < 20 * 5, took     # less than the loops' own limits, replays not counted


# the mark of a `sleep` the looping notebook below starts (this run's own: another run of
# these tests on the machine has its own)
STAYER = f"4646.{os.getpid()}"


def processes_with(arg):
    """pids of the processes with `arg` as one of their command-line arguments."""
    found = []
    for name in os.listdir("/proc"):
        try:
            cmd = open(f"/proc/{name}/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if arg.encode() in cmd:
            found.append(int(name))
    return found


def test_rows_are_written_as_each_notebook_finishes(tmp_path):
    """Kill the grader while it is still on a looping notebook: the rows of the notebook
    it finished are in grades.csv already, and nothing of the looping one -- its worker,
    its kernel, a process it started in a session of its own -- runs on."""
    import signal
    nb = json.loads((SUBS / "loop.ipynb").read_text())
    for cell in nb["cells"]:
        if "while True" in "".join(cell["source"]):
            cell["source"] = ("import subprocess\nsubprocess.Popen(['sleep', '" + STAYER
                              + "'], start_new_session=True)\n" + "".join(cell["source"]))
    looping = tmp_path / "loop.ipynb"
    looping.write_text(json.dumps(nb))
    out = tmp_path / "g.csv"
    proc = subprocess.Popen([sys.executable, "-m", "cowlab", "grade",
                             str(SUBS / f"correct-{ms.ADVERSARIAL}.ipynb"), str(looping),
                             "--out", str(out), "--timeout", "120", "--jobs", "1"],
                            cwd=ROOT, env=env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 240
    try:
        while time.monotonic() < deadline:
            text = out.read_text() if out.exists() else ""
            # the header and the first notebook's rows, and the loop under way
            if text.count("\n") > 5 and processes_with(STAYER):
                break
            time.sleep(0.5)
        assert proc.poll() is None, "the grader should still be on the loop"
        assert processes_with(STAYER), "the looping notebook did not start its process"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    rows = list(csv.DictReader(open(out)))
    first = [(r["student"], r["status"]) for r in rows]
    want = [("ana-maria", "manual" if q.kind == "explain" else "correct")
            for q in bank.questions(ms.ADVERSARIAL)]
    assert first == want, first
    time.sleep(2)
    alive = processes_with(STAYER)
    for name in os.listdir("/proc"):
        try:
            cmd = open(f"/proc/{name}/cmdline", "rb").read()
        except OSError:
            continue
        if b"--worker" in cmd and str(looping).encode() in cmd:
            alive.append(int(name))
    for pid in alive:
        os.kill(pid, 9)
    assert not alive, "a process of the looping notebook outlived the grader"


def test_without_a_sandbox_grading_is_refused_unless_asked(tmp_path):
    e = env()
    e["PATH"] = str(tmp_path)             # no bwrap to be found
    sub = str(SUBS / f"blank-{ms.ADVERSARIAL}.ipynb")
    run = subprocess.run([sys.executable, "-m", "cowlab", "grade", sub, "--out",
                          str(tmp_path / "g.csv")], cwd=ROOT, env=e, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 2 and "bubblewrap" in run.stderr and "--no-sandbox" in run.stderr
    assert not (tmp_path / "g.csv").exists()
    run = subprocess.run([sys.executable, "-m", "cowlab", "grade", sub, "--out",
                          str(tmp_path / "g.csv"), "--no-sandbox"], cwd=ROOT, env=e,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and "WITHOUT a sandbox" in run.stderr, run.stderr
    assert len(list(csv.DictReader(open(tmp_path / "g.csv")))) == \
        len(bank.questions(ms.ADVERSARIAL))


# ------------------------------------------------------------------ pieces

def test_bad_command_lines_get_a_message_not_a_traceback(tmp_path):
    run = cowlab("grade", "--out", str(tmp_path / "g.csv"))
    assert run.returncode == 2 and "usage" in run.stderr and "Traceback" not in run.stderr
    run = cowlab("grade", "nowhere.ipynb", str(SUBS / "not-json.ipynb"), "--out",
                 str(tmp_path / "deep" / "g.csv"), "--memory", "64")
    assert run.returncode == 2 and "--memory" in run.stderr
    run = cowlab("grade", "nowhere.ipynb", str(SUBS / "not-json.ipynb"), "--out",
                 str(tmp_path / "deep" / "g.csv"))
    assert run.returncode == 0 and "Traceback" not in run.stderr
    rows = list(csv.DictReader(open(tmp_path / "deep" / "g.csv")))
    assert [(r["student"], r["status"]) for r in rows] == [("nowhere", "unreadable"),
                                                           ("not-json", "unreadable")]
    assert "no such file" in rows[0]["message"]


def test_only_plain_data_leaves_the_kernel():
    import numpy as np
    assert plain.to_plain({1: (2, np.int64(3)), "a": [True, None, 1.5]}) == \
        {"1": [2, 3], "a": [True, None, 1.5]}
    for bad in (object(), type("I", (int,), {})(3), [set()], {(1, 2): 3}, {True: 1}):
        with pytest.raises(ValueError):
            plain.to_plain(bad)
    deep = []
    for _ in range(60):
        deep = [deep]
    with pytest.raises(ValueError, match="nested"):
        plain.to_plain(deep)


def test_the_student_id_is_read_as_written_and_checked():
    def nb(source):
        return submission.as_node({"metadata": {}, "cells": [
            {"cell_type": "code", "source": source, "metadata": {"cowlab": {"role": "student"}}}]})
    assert submission.student_of(nb('STUDENT = "ana-maria"')) == "ana-maria"
    assert submission.student_of(nb('STUDENT = "zoë.k_2"')) == "zoë.k_2"
    for bad, why in [('STUDENT = "your-id"', "set STUDENT to your id"),
                     ('STUDENT = "example-student"', "set STUDENT to your id"),
                     ("STUDENT = name", "STUDENT ="), ('STUDENT = ""', "empty"),
                     ("x = 1", "STUDENT ="), ('STUDENT = "=HYPERLINK(1)"', "only letters"),
                     ('STUDENT = "../x/loop-er"', "only letters"),
                     ('STUDENT = "<img src=x onerror=alert(1)>"', "only letters"),
                     ('STUDENT = "' + "a" * 65 + '"', "1 to 64")]:
        with pytest.raises(ValueError, match=why):
            submission.student_of(nb(bad))


def test_stray_processes_live_until_the_grader_reaps_them():
    """Without reaping, a setsid'ed and a double-forked child would survive the kernel."""
    script = textwrap.dedent(f"""
        import os, sys, tempfile, time, json
        from cowlab.homework import procs, sandbox
        procs.become_subreaper()
        box = sandbox.Sandbox(tempfile.mkdtemp(), memory_mib=1024)
        r = box.run('''import os, subprocess
        subprocess.Popen(["sleep", "{ms.ORPHAN_MARKS[0]}"], start_new_session=True)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.execvp("sleep", ["sleep", "{ms.ORPHAN_MARKS[1]}"])
            os._exit(0)
        os.wait()''', 20)
        time.sleep(0.5)
        before = len(procs.descendants())
        box.close()
        time.sleep(0.5)
        mid = len(procs.descendants())
        procs.reap_descendants()
        print(json.dumps([r.status, before, mid, len(procs.descendants())]))
    """)
    run = subprocess.run([sys.executable, "-c", script], env=env(), capture_output=True,
                         text=True, timeout=120)
    for pid in marked_processes():
        os.kill(pid, 9)
    status, before, mid, after = json.loads(run.stdout.strip().splitlines()[-1])
    assert status == "ok"
    assert mid >= 2, "the sleeps should outlive the kernel's process group"
    assert before >= 3 and after == 0


STUB = "class q1(CowKernel):\n    pass\n"


@pytest.mark.parametrize("source, status", [
    (STUB, "unanswered"),
    ("import cowlab.homework.codex as c\nc.score_kernel = lambda *a, **k: ('correct', 8, '')\n"
     "c.run_scenarios = lambda *a, **k: (['x'], [])\n" + STUB, "unanswered"),
    ("import os\nos.write(3, b'[\"ready\"]\\n[\"ret\", null]\\n')\nos._exit(0)\n", "crashed"),
    ("import os\nos.write(3, b'[\"correct\", 8, \"forged\"]\\n')\nos._exit(0)\n", "invalid"),
    ("class q1(CowKernel):\n    def fork(self, m, parent):\n        while True:\n            pass\n",
     "timeout"),
    # a long time limit: on a loaded machine filling the memory takes seconds, and it is
    # the memory limit, not the clock, that must stop this one
    pytest.param("class q1(CowKernel):\n    def fork(self, m, parent):\n        hog = []\n"
                 "        while True:\n            hog.append(bytearray(2**26))\n", "memory",
                 id="memory"),
    ("class q1(:\n", "invalid"),
])
def test_a_code_answer_cannot_reach_its_judge(tmp_path, source, status):
    """The class runs in its own process: patches, forged output and exits change nothing.
    The time limit per scenario is 3 s for the endless loop, 120 s for the others (for
    the memory hog it must not be the time that stops it, however loaded the machine),
    with 512 MiB of memory for the class's process."""
    code = next(q for q in bank.questions(ms.CODE) if q.kind == "code")
    timeout = 3 if status == "timeout" else 120
    got, points, message = worker.judge_code(ms.CODE, code.id, "ana-maria", source, timeout,
                                            512, str(tmp_path))
    assert (got, points) == (status, 0), message


def test_a_correct_code_answer_passes_every_scenario_out_of_process(tmp_path):
    nb = json.loads((SUBS / f"correct-{ms.CODE}.ipynb").read_text())
    code = next(q for q in bank.questions(ms.CODE) if q.kind == "code")
    source = next("".join(c["source"]) for c in nb["cells"]
                  if c["metadata"].get("cowlab", {}).get("question") == code.id
                  and c["metadata"]["cowlab"].get("role") == "answer")
    got, points, message = worker.judge_code(ms.CODE, code.id, "ana-maria", source, 10, 1024,
                                            str(tmp_path))
    assert (got, points) == ("correct", code.points), message


def test_free_text_is_left_for_the_teacher(batch):
    """An explain question has no autograder test: 0 automatic points, status manual in
    grades.csv, and the feedback lists it as left for the teacher, pending."""
    for assignment in bank.ASSIGNMENTS:
        q = next(q for q in bank.questions(assignment) if q.kind == "explain")
        r = rows_of(batch, "ana-maria", assignment)[q.id]
        assert (r["status"], r["points"], float(r["max_points"])) == ("manual", "0", q.points)
        assert "left for the teacher" in r["message"] and "pending" in r["message"]
    text = (batch["out"] / "feedback" / "ana-maria.md").read_text()
    assert text.count("| left for the teacher |") == len(bank.ASSIGNMENTS)
    assert "points are left for the teacher" in text
