"""The real nbgrader (0.9.6) on the homework: its scores are `cowlab grade`'s.

A course directory is built in a temporary folder the way the README tells a teacher
(source/<assignment>/<assignment>.ipynb from solutions/, nbgrader_config.py), then the
real commands run: generate_assignment, autograde, generate_feedback, validate. Three
students hand in 01-fork and the code lab 07: the solutions, the blank exercises, and
a partly right one (a code answer that forgets a decrement, two bug-hunt suspects
swapped, one wrong number). nbgrader's score of each check cell must equal the points
`cowlab grade` gives the same question of the same notebook.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from cowlab.homework import bank

ROOT = Path(__file__).resolve().parent.parent
SUBS = ROOT / "tests" / "submissions"
ASSIGNMENTS = ("01-fork", "07-code")
BIN = Path(sys.executable).parent


def readme_config(root):
    """course/nbgrader_config.py exactly as the README gives it, with the course's path."""
    text = (ROOT / "README.md").read_text()
    block = text.split("# course/nbgrader_config.py\n", 1)[1].split("```", 1)[0]
    assert '"/path/to/course"' in block and "StudentPlaceholder" in block, block
    return block.replace('"/path/to/course"', repr(str(root)))


def nbgrader(course, *args):
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    run = subprocess.run([str(BIN / "nbgrader"), *args], cwd=course, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"nbgrader {' '.join(args)}:\n{run.stderr[-3000:]}"
    return run


def partly_right(assignment):
    """The solutions with some answers spoiled: partial credit where nbgrader allows."""
    nb = json.loads((SUBS / f"correct-{assignment}.ipynb").read_text())
    for cell in nb["cells"]:
        meta = cell["metadata"].get("cowlab", {})
        source = "".join(cell["source"])
        if meta.get("role") == "student":
            cell["source"] = 'STUDENT = "cy-partial"'
        elif meta.get("role") == "answer" and meta.get("question") == "q1":
            if assignment == "07-code":     # forgets to drop the old frame's reference
                source = source.replace("        m.decref(pte.pfn)\n", "", 1)
                assert "m.decref(pte.pfn)" not in source.split("def write_fault")[1] \
                    .split("def copyout")[0]
            else:
                source += "\nq1 = q1 + 1"
            cell["source"] = source
        elif meta.get("role") == "answer" and meta.get("question") == "q2" \
                and assignment == "07-code":
            cell["source"] = source + ("\nkeys = sorted(q2)\n"
                                       "q2[keys[0]], q2[keys[1]] = q2[keys[1]], q2[keys[0]]")
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = tmp_path_factory.mktemp("course")
    (course / "nbgrader_config.py").write_text(readme_config(course))
    students = {"ana": "correct", "bo": "blank", "cy": "partial"}
    for a in ASSIGNMENTS:
        (course / "source" / a).mkdir(parents=True)
        shutil.copy(ROOT / "solutions" / f"{a}.ipynb", course / "source" / a / f"{a}.ipynb")
        for student, kind in students.items():
            dest = course / "submitted" / student / a / f"{a}.ipynb"
            dest.parent.mkdir(parents=True)
            if kind == "partial":
                dest.write_text(json.dumps(partly_right(a)))
            else:
                shutil.copy(SUBS / f"{kind}-{a}.ipynb", dest)
    # "di" answers 01-fork right but leaves the released id: nothing, from either grader
    nb = json.loads((SUBS / f"correct-{ASSIGNMENTS[0]}.ipynb").read_text())
    for cell in nb["cells"]:
        if cell["metadata"].get("cowlab", {}).get("role") == "student":
            cell["source"] = 'STUDENT = "your-id"'
    dest = course / "submitted" / "di" / ASSIGNMENTS[0] / f"{ASSIGNMENTS[0]}.ipynb"
    dest.parent.mkdir(parents=True)
    dest.write_text(json.dumps(nb))
    for student in [*students, "di"]:
        nbgrader(course, "db", "student", "add", student)
    for a in ASSIGNMENTS:
        nbgrader(course, "generate_assignment", a, "--force")
        nbgrader(course, "autograde", a, "--force")
        nbgrader(course, "generate_feedback", a, "--force")
    scores, manual = {}, {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        for a in ASSIGNMENTS:
            for student in students:
                nb = gb.find_submission_notebook(a, a, student)
                for g in nb.grades:
                    if g.name.endswith("-check"):
                        scores[(student, a, g.name[:-len("-check")])] = (g.score, g.max_score)
                    elif g.needs_manual_grade or g.cell_type == "markdown":
                        manual[(student, a, g.name)] = (g.max_score, g.needs_manual_grade)
        default = {g.name: g.score for g in
                   gb.find_submission_notebook(ASSIGNMENTS[0], ASSIGNMENTS[0], "di").grades
                   if g.name.endswith("-check")}
    # the same notebooks through cowlab grade
    subs = [str(p) for p in sorted((course / "submitted").glob("*/*/*.ipynb"))]
    ids = {}
    for p in subs:
        for cell in json.loads(Path(p).read_text())["cells"]:
            if cell["metadata"].get("cowlab", {}).get("role") == "student":
                ids[Path(p).parts[-3]] = "".join(cell["source"]).split('"')[1]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, "-m", "cowlab", "grade", *subs, "--out",
                          str(course / "grades.csv"), "--jobs", "2", "--memory", "1024"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    with open(course / "grades.csv", newline="") as f:
        rows = {(r["student"], r["assignment"], r["question"]): r for r in csv.DictReader(f)}
    return dict(course=course, scores=scores, manual=manual, rows=rows, ids=ids,
                students=students, default=default)


def test_nbgrader_scores_equal_cowlab_grades_question_by_question(course):
    compared = 0
    for (student, a, qid), (score, most) in course["scores"].items():
        row = course["rows"][(course["ids"][student], a, qid)]
        assert (score, most) == (float(row["points"]), float(row["max_points"])), \
            (student, a, qid, score, row)
        compared += 1
    auto = [q for a in ASSIGNMENTS for q in bank.questions(a) if q.kind != "explain"]
    assert compared == 3 * len(auto)


def test_an_explain_question_is_left_for_the_teacher_by_both(course):
    """nbgrader: a manual-grade cell worth the question's points (waiting for formgrader,
    where it was answered); cowlab grade: a `manual` row with 0 of those points."""
    explain = [(a, q) for a in ASSIGNMENTS for q in bank.questions(a) if q.kind == "explain"]
    assert len(explain) == len(ASSIGNMENTS), "one explain question per assignment"
    for student in course["students"]:
        for a, q in explain:
            most, _waiting = course["manual"][(student, a, q.id)]
            assert most == q.points
            row = course["rows"][(course["ids"][student], a, q.id)]
            assert row["status"] == "manual" and float(row["points"]) == 0, row
            assert float(row["max_points"]) == q.points, row
    assert course["manual"][("ana", explain[0][0], explain[0][1].id)][1], \
        "an answered explain cell waits for a teacher in nbgrader"


def test_the_code_lab_gets_full_marks_under_nbgrader_and_partial_credit_when_partly_right(
        course):
    s = course["scores"]
    assert s[("ana", "07-code", "q1")] == (8.0, 8.0)      # every scenario, hidden ones too
    assert s[("ana", "07-code", "q2")] == (4.0, 4.0)
    assert 0 < s[("cy", "07-code", "q1")][0] < 8            # some scenarios pass
    assert s[("cy", "07-code", "q2")] == (2.0, 4.0)         # two suspects of four
    assert all(v[0] == 0 for k, v in s.items() if k[0] == "bo")


def test_the_released_id_earns_nothing_under_either_grader(course):
    """Right answers under STUDENT = "your-id": nbgrader's checks give 0 and say to set
    the id; `cowlab grade` refuses the notebook (its rows go under the file's name)."""
    a = ASSIGNMENTS[0]
    assert course["default"] and all(v == 0 for v in course["default"].values()), \
        course["default"]
    graded = course["course"] / "autograded" / "di" / a / f"{a}.ipynb"
    assert "set STUDENT to your id" in graded.read_text()
    rows = [r for k, r in course["rows"].items() if k[:2] == (a, a)]
    assert len(rows) == len(bank.questions(a))
    assert all(r["status"] == "invalid" and "set STUDENT to your id" in r["message"]
               for r in rows), rows


def test_a_released_notebook_asks_for_the_students_id(course):
    for a in ASSIGNMENTS:
        nb = json.loads((course["course"] / "release" / a / f"{a}.ipynb").read_text())
        student = [c for c in nb["cells"]
                   if c["metadata"].get("cowlab", {}).get("role") == "student"]
        assert ["".join(c["source"]) for c in student] == ['STUDENT = "your-id"']
        assert "example-student" not in json.dumps(nb)


def test_feedback_is_generated_and_the_solutions_validate(course):
    for a in ASSIGNMENTS:
        html = course["course"] / "feedback" / "ana" / a / f"{a}.html"
        assert html.exists(), html
        run = nbgrader(course["course"], "validate", str(ROOT / "solutions" / f"{a}.ipynb"))
        assert "Success! Your notebook passes all the tests." in run.stdout, run.stdout
