"""Homework that teaches, as a student and a teacher meet it in the notebooks:

- every chapter 01-08 has its own homework notebook, linked from the chapter;
- every assignment has a construction question and one free-text "explain" question,
  the latter an nbgrader manual-grade Markdown cell with no autograder test;
- a saved exercise shows nobody's numbers (hw.ask prints a note until STUDENT is set),
  and with an id set, running it shows that student's own numbers.
"""
import json
import re
from pathlib import Path

import nbformat
import pytest

from cowlab.homework import bank
from cowlab.homework.assign import MARKDOWN_PLACEHOLDER, STUDENT_PLACEHOLDER

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks" / "src").glob("0[1-8]-*.md"))


def cowlab_meta(cell):
    return cell.get("metadata", {}).get("cowlab", {})


def test_every_chapter_01_to_08_has_its_own_homework_and_links_it():
    assert [c.name[:2] for c in CHAPTERS] == [f"0{i}" for i in range(1, 9)]
    for chapter in CHAPTERS:
        mine = [a for a in bank.ASSIGNMENTS if a[:2] == chapter.name[:2] and a != "07-code"]
        assert len(mine) == 1, f"{chapter.name}: homework {mine}"
        name = mine[0]
        assert len(bank.questions(name)) >= 4, name
        for folder in ("solutions", "exercises"):
            assert (ROOT / folder / f"{name}.ipynb").exists(), f"{folder}/{name}.ipynb"
        links = re.findall(r"\]\(\.\./exercises/([\w-]+)\.ipynb\)", chapter.read_text())
        assert name in links, f"{chapter.name} does not link its homework {name}"
    assert "07-code" in bank.ASSIGNMENTS            # the code lab stays, graded as before


@pytest.mark.parametrize("name", list(bank.ASSIGNMENTS))
def test_each_assignment_has_a_construction_and_one_explain_question(name):
    kinds = [q.kind for q in bank.questions(name)]
    assert kinds.count("explain") == 1
    assert "construct" in kinds, name


@pytest.mark.parametrize("folder", ["solutions", "exercises"])
def test_explain_cells_are_manual_grade_markdown_without_a_test(folder):
    for name in bank.ASSIGNMENTS:
        nb = nbformat.read(ROOT / folder / f"{name}.ipynb", as_version=4)
        q = next(q for q in bank.questions(name) if q.kind == "explain")
        cells = [c for c in nb.cells if cowlab_meta(c).get("question") == q.id]
        assert [c.cell_type for c in cells] == ["markdown"], (name, q.id)
        ng = cells[0].metadata["nbgrader"]
        assert (ng["solution"], ng["grade"], ng["points"], ng["locked"], ng["grade_id"]) == \
            (True, True, q.points, False, q.id)
        tests = [c for c in nb.cells if c.cell_type == "code"
                 and c.metadata.get("nbgrader", {}).get("grade")]
        assert not [c for c in tests if q.id in c.source], "a free-text answer has no autotest"
        if folder == "exercises":
            assert cells[0].source == MARKDOWN_PLACEHOLDER
        else:
            assert q.rubric in cells[0].source


def test_saved_exercises_show_nobodys_numbers():
    for name in bank.ASSIGNMENTS:
        nb = nbformat.read(ROOT / "exercises" / f"{name}.ipynb", as_version=4)
        asks = [c for c in nb.cells if cowlab_meta(c).get("role") == "ask"]
        assert asks, name
        for cell in asks:
            qid = cowlab_meta(cell)["question"]
            out = "".join(o.get("text", "") for o in cell.outputs)
            assert "Your numbers appear here once STUDENT" in out, (name, qid, out)
            # the placeholder id's own variant is nowhere in the saved notebook
            real = bank.prompt(name, qid, STUDENT_PLACEHOLDER)
            assert real.splitlines()[0] not in json.dumps(nb.cells, ensure_ascii=False)


def test_with_an_id_set_the_exercise_shows_that_students_numbers(tmp_path):
    from cowlab import execute
    nb = nbformat.read(ROOT / "exercises" / "08-real-kernel.ipynb", as_version=4)
    student = next(c for c in nb.cells if cowlab_meta(c).get("role") == "student")
    student.source = 'STUDENT = "zoe-2"'
    execute.run(nb, ROOT / "exercises")
    for cell in nb.cells:
        if cowlab_meta(cell).get("role") == "ask":
            qid = cowlab_meta(cell)["question"]
            out = "".join(o.get("text", "") for o in cell.outputs)
            assert bank.prompt("08-real-kernel", qid, "zoe-2").splitlines()[0] in out
