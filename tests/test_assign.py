"""`cowlab assign`: exercises/ is exactly what it generates from solutions/.

The generated exercises are compared cell by cell (source, metadata, output text) with
what is committed, so a stale or hand-edited exercise fails; the notebook-level
`language_info.version` (the Python that ran it) is the only thing left out.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cowlab.homework import assign, bank

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS, EXERCISES = ROOT / "solutions", ROOT / "exercises"
NOTEBOOKS = sorted(SOLUTIONS.glob("[0-9][0-9]-*.ipynb"))


def env():
    e = dict(os.environ)
    e["PYTHONPATH"] = str(ROOT) + os.pathsep + e.get("PYTHONPATH", "")
    return e


def joined(text):
    return "".join(text) if isinstance(text, list) else text


def text_of(output):
    if "text" in output:
        return joined(output["text"])
    return {k: joined(v) for k, v in output.get("data", {}).items() if k.startswith("text/")}


def normalise(path):
    """What must match: every cell's id, type, source, metadata and output text."""
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    meta = json.loads(json.dumps(nb["metadata"]))
    meta.get("language_info", {}).pop("version", None)
    cells = [(c.get("id"), c["cell_type"], "".join(c["source"]), c["metadata"],
              [(o["output_type"], text_of(o)) for o in c.get("outputs", [])])
             for c in nb["cells"]]
    return meta, cells


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("exercises")
    run = subprocess.run([sys.executable, "-m", "cowlab", "assign", "--out", str(out)],
                         cwd=ROOT, env=env(), capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    return out


def test_exercises_are_exactly_what_cowlab_assign_writes(generated):
    made = sorted(p.name for p in generated.glob("*.ipynb"))
    committed = sorted(p.name for p in EXERCISES.glob("*.ipynb"))
    assert made == committed == [p.name for p in NOTEBOOKS], "run `cowlab assign`"
    for name in made:
        assert normalise(EXERCISES / name) == normalise(generated / name), \
            f"exercises/{name} is stale or was edited by hand: run `cowlab assign`"


def test_assign_is_deterministic(generated, tmp_path):
    assign.assign(SOLUTIONS, tmp_path, run=False, log=lambda *a: None)
    again = tmp_path / "again"
    assign.assign(SOLUTIONS, again, run=False, log=lambda *a: None)
    for p in tmp_path.glob("*.ipynb"):
        assert p.read_bytes() == (again / p.name).read_bytes()


def test_exercises_say_not_yet_answered_and_hide_the_solutions():
    exercises = sorted(EXERCISES.glob("*.ipynb"))
    assert [p.name for p in exercises] == [p.name for p in NOTEBOOKS], "run `cowlab assign`"
    for path in exercises:
        nb = json.loads(path.read_text())
        text = path.read_text()
        assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
        roles = [c["metadata"].get("cowlab", {}).get("role") for c in nb["cells"]]
        assert "".join(nb["cells"][roles.index("student")]["source"]) == 'STUDENT = "your-id"'
        checks = [c for c in nb["cells"] if c["metadata"].get("cowlab", {}).get("role") == "check"]
        assert len(checks) == len([q for q in bank.questions(path.stem) if q.kind != "explain"])
        for c in checks:
            assert [text_of(o) for o in c["outputs"]] == ["not yet answered\n"], path.name


def test_cells_carry_nbgrader_metadata_matching_the_bank():
    assert len(NOTEBOOKS) >= 6
    total = 0
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text())
        assert nb["metadata"]["cowlab"]["assignment"] == path.stem
        answers = [c for c in nb["cells"] if c["metadata"].get("cowlab", {}).get("role") == "answer"]
        questions = [q for q in bank.questions(path.stem) if q.kind != "explain"]
        assert [c["metadata"]["cowlab"]["question"] for c in answers] == [q.id for q in questions]
        manual = [q.id for q in bank.questions(path.stem) if q.kind == "explain"]
        explains = [c for c in nb["cells"]
                    if c["metadata"].get("cowlab", {}).get("role") == "explain"]
        assert [c["metadata"]["cowlab"]["question"] for c in explains] == manual
        for cell, q in zip(answers, questions):
            ng = cell["metadata"]["nbgrader"]
            keys = ("grade_id", "points", "solution", "locked", "grade", "schema_version")
            assert {k: ng.get(k) for k in keys} == {
                "grade_id": q.id, "points": q.points, "solution": True, "locked": False,
                "grade": False, "schema_version": 3}
        ids = [c["metadata"]["nbgrader"]["grade_id"] for c in nb["cells"]
               if "nbgrader" in c["metadata"]]
        assert len(ids) == len(set(ids)) == len(nb["cells"]), f"{path.name}: grade_ids"
        checks = [c for c in nb["cells"] if c["metadata"].get("cowlab", {}).get("role") == "check"]
        for cell, q in zip(checks, questions):        # nbgrader "autograder tests" cells
            ng = cell["metadata"]["nbgrader"]
            assert (ng["grade_id"], ng["grade"], ng["points"], ng["locked"], ng["solution"]) \
                == (f"{q.id}-check", True, q.points, True, False)
        for c in nb["cells"]:
            ng = c["metadata"]["nbgrader"]
            if ng["grade_id"] not in [q.id for q in questions] + manual + ["student"]:
                assert ng["locked"] is True and ng["solution"] is False, (path.name, ng)
        total += len(questions)
    assert total >= 30


def cell(source, **cowlab):
    return nbformat.v4.new_code_cell(source, metadata={"cowlab": cowlab} if cowlab else {})


def test_solution_regions_become_placeholders():
    top = "x = 1\n### BEGIN SOLUTION\nq3 = 2 * x\n### END SOLUTION\nprint(q3)"
    assert assign.strip_regions(top, "code", "q3", "here") == \
        "x = 1\nq3 = None  # YOUR ANSWER\nprint(q3)"
    body = "class q1:\n    def fork(self):\n        ### BEGIN SOLUTION\n        return 1\n        ### END SOLUTION\n"
    assert assign.strip_regions(body, "code", "q1", "here") == (
        'class q1:\n    def fork(self):\n        # YOUR CODE HERE\n'
        '        raise NotImplementedError("write your answer here")\n')
    assert assign.strip_regions("Why?\n### BEGIN SOLUTION\nBecause.\n### END SOLUTION",
                                "markdown", None, "here") == "Why?\nYOUR ANSWER HERE"


@pytest.mark.parametrize("source, says", [
    ("### BEGIN SOLUTION\nq1 = 1", "never closed"),
    ("q1 = 1\n### END SOLUTION", "without"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION", "inside another"),
])
def test_broken_regions_are_named(source, says):
    with pytest.raises(assign.FormatError, match=says):
        assign.strip_regions(source, "code", "q1", "01-x cell 4")


def test_a_broken_solutions_notebook_is_refused_with_a_message(tmp_path):
    src, out = tmp_path / "solutions", tmp_path / "out"
    src.mkdir()
    nb = nbformat.v4.new_notebook(metadata={"cowlab": {"assignment": "01-wrong"}})
    nb.cells = [cell('STUDENT = "example-student"', role="student"),
                cell("### BEGIN SOLUTION\nq1 = 1\n", question="q1", role="answer")]
    nbformat.write(nb, src / "01-fork.ipynb")
    run = subprocess.run([sys.executable, "-m", "cowlab", "assign", "--solutions", str(src),
                          "--out", str(out)], cwd=ROOT, env=env(), capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "'01-wrong'" in run.stderr and "grade_id" in run.stderr
    assert not list(out.glob("*.ipynb")) if out.exists() else True
    run = subprocess.run([sys.executable, "-m", "cowlab", "assign", "--solutions",
                          str(tmp_path / "none")], cwd=ROOT, env=env(), capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 1 and "no homework notebooks" in run.stderr
