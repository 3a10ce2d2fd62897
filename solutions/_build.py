"""Write solutions/NN-*.ipynb from the question bank, then execute them.

The bank (cowlab/homework/questions_*.py) is the source of the questions and of the
solution code (each solver's body becomes its answer cell), so the notebooks and the
grader cannot drift apart.  Run after changing a question:

    .venv/bin/python solutions/_build.py            # all assignments
    .venv/bin/python solutions/_build.py 03-refcounting

Then `cowlab assign` regenerates exercises/.  The build fails if any check cell of
the executed solutions does not print `correct`.
"""
import os
import pathlib
import sys

import nbformat
from nbclient import NotebookClient

HERE = pathlib.Path(__file__).resolve().parent
ROOT = str(HERE.parent)
sys.path.insert(0, ROOT)        # this checkout's cowlab, here and in the kernels we start
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))

from cowlab.homework import bank                          # noqa: E402
from cowlab.homework.assign import coalesce               # noqa: E402
from cowlab.homework.questions_code import code_solution  # noqa: E402

COURSE = {"01-fork": "01-fork", "02-write-faults": "02-write-faults",
          "03-refcounting": "03-refcounting", "04-exec": "04-exec",
          "05-overcommit": "05-overcommit", "06-redis": "06-redis", "07-code": "07-code"}

INTRO = """# Homework {name}: {title}

Put your id in the first cell (`STUDENT = "ana-maria"`): it picks **your** numbers, so
your neighbour's answers will not fit your questions. Then, for each question:

1. run the `hw.ask(...)` cell: it prints the question with your numbers;
2. in the answer cell, assign your answer to the variable named like the question
   (`q1 = ...`). `p = hw.params("q1")` gives your numbers as a dict, and the model
   (`cowlab.Kernel`, see the course notebooks) lets you check your prediction;
3. run the check cell: it says `correct`, `wrong:` with a hint, or `not yet answered`.

Answers are plain data: a number, a letter `"a"`..`"e"`, a list or a dict. Do not edit
the locked cells: the grader uses its own copies of them and recomputes every answer.
"""

IMPORTS = {"07-code": "import cowlab\nfrom cowlab.homework.codex import (Machine, CowKernel, "
                      "check_invariants, suspects,\n                                    "
                      "INVARIANTS)"}


def nbgrader(grade_id, **changes):
    meta = {"grade": False, "grade_id": grade_id, "locked": True, "schema_version": 3,
            "solution": False, "task": False}
    meta.update(changes)
    return meta


def code(source, grade_id, cowlab=None, **nbg):
    cell = nbformat.v4.new_code_cell(source, id=grade_id)     # stable ids: stable files
    cell.metadata["nbgrader"] = nbgrader(grade_id, **nbg)
    if cowlab:
        cell.metadata["cowlab"] = cowlab
    return cell


def markdown(source, grade_id):
    cell = nbformat.v4.new_markdown_cell(source, id=grade_id)
    cell.metadata["nbgrader"] = nbgrader(grade_id)
    return cell


def answer_source(q):
    if q.kind == "code":
        return code_solution(q.id)
    return f"### BEGIN SOLUTION\n{q.solution_source()}\n### END SOLUTION"


def notebook(name):
    """The solutions notebook of one assignment, not yet executed."""
    cells = [
        code('STUDENT = "example-student"', "student", {"role": "student"}, locked=False),
        code(f'from cowlab.homework import Homework\nhw = Homework("{name}", STUDENT)',
             "setup", {"role": "setup"}),
        markdown(INTRO.format(name=name, title=bank.TITLES[name]), "intro"),
        code(IMPORTS.get(name, "import cowlab"), "imports", {"role": "setup"}),
    ]
    for q in bank.questions(name):
        pts = f"{q.points} point{'s' if q.points != 1 else ''}"
        cells.append(markdown(f"## {q.id} ({pts})\n\n{q.prose}", f"{q.id}-text"))
        cells.append(code(f'hw.ask("{q.id}")', f"{q.id}-ask", {"role": "ask", "question": q.id}))
        cells.append(code(answer_source(q), q.id, {"question": q.id, "role": "answer"},
                          points=q.points, solution=True, locked=False))
        # nbgrader's "autograder tests" cell: under `nbgrader autograde` the check raises
        # unless correct, so nbgrader awards these points exactly when cowlab grade would
        cells.append(code(f'hw.check("{q.id}", {q.id})', f"{q.id}-check",
                          {"role": "check", "question": q.id}, grade=True, points=q.points))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["cowlab"] = {"assignment": name}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    return nb


def checks_not_correct(nb):
    """The check cells that did not print exactly one line starting with `correct`."""
    bad = []
    for cell in nb.cells:
        if cell.metadata.get("cowlab", {}).get("role") != "check":
            continue
        text = "".join(o.get("text", "") for o in cell.get("outputs", ()))
        if not text.startswith("correct") or text.count("\n") != 1:
            bad.append(f"{cell.metadata['cowlab']['question']}: {text.strip()!r}")
    return bad


def build(name):
    nb = notebook(name)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(HERE)}}).execute()
    for cell in nb.cells:              # keep the files stable from one build to the next
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = coalesce(cell.outputs)
    bad = checks_not_correct(nb)
    if bad:
        raise SystemExit(f"{name}: checks not correct in the solutions: {bad}")
    path = HERE / f"{COURSE[name]}.ipynb"
    nbformat.write(nb, path)
    return path


def main(argv):
    for name in argv or list(bank.TITLES):
        print("wrote", build(name).relative_to(HERE.parent))


if __name__ == "__main__":
    main(sys.argv[1:])
