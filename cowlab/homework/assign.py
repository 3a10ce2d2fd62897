"""`cowlab assign`: write the students' exercises/ from the instructors' solutions/.

One source of truth, as nbgrader's "generate assignment": every cell between
`### BEGIN SOLUTION` and `### END SOLUTION` becomes a placeholder, the student
cell gets the placeholder id, outputs are cleared, and the exercise notebook is
executed once so that it is committed showing "not yet answered" after each check
(nbval then verifies a fresh copy still runs that way). The bytes are deterministic:
sorted keys, no timings, stable cell ids -- running it twice changes nothing.
"""
import argparse
import hashlib
import os
import re
import sys
from pathlib import Path

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
STUDENT_PLACEHOLDER = "your-id"
ANSWER_PLACEHOLDER = "{qid} = None  # YOUR ANSWER"
CODE_STUB = ['{indent}# YOUR CODE HERE',
             '{indent}raise NotImplementedError("write your answer here")']
MARKDOWN_PLACEHOLDER = "YOUR ANSWER HERE"
NOTEBOOK_GLOB = "[0-9][0-9]-*.ipynb"


class FormatError(ValueError):
    """A solutions notebook that does not follow docs/homework-format.md."""


def repo_root():
    """The checkout holding cowlab/, solutions/ and exercises/."""
    return Path(os.path.abspath(__file__)).parent.parent.parent


def nbgrader(cell):
    return cell.get("metadata", {}).get("nbgrader", {})


def cowlab_meta(cell):
    return cell.get("metadata", {}).get("cowlab", {})


def cell_qid(cell):
    """The question an answer cell answers (its cowlab metadata, else its grade_id)."""
    return cowlab_meta(cell).get("question") or nbgrader(cell).get("grade_id")


def is_student_cell(cell):
    return cowlab_meta(cell).get("role") == "student" or nbgrader(cell).get("grade_id") == "student"


def is_answer_cell(cell):
    return cowlab_meta(cell).get("role") == "answer" or bool(nbgrader(cell).get("solution"))


def strip_regions(source, kind, qid, where):
    """Replace each BEGIN/END SOLUTION region of one cell's source by its placeholder."""
    out, inside, indent = [], False, ""
    for number, line in enumerate(source.split("\n"), 1):
        mark = line.strip()
        if mark == BEGIN:
            if inside:
                raise FormatError(f"{where}: line {number}: {BEGIN} inside another region; "
                                  f"close the first with {END}")
            inside, indent = True, line[:len(line) - len(line.lstrip())]
            if kind == "markdown":
                out.append(indent + MARKDOWN_PLACEHOLDER)
            elif indent:
                out += [s.format(indent=indent) for s in CODE_STUB]
            elif qid:
                out.append(ANSWER_PLACEHOLDER.format(qid=qid))
            else:
                raise FormatError(f"{where}: a top-level solution region in a cell with no "
                                  "question id; give the cell metadata cowlab.question")
        elif mark == END:
            if not inside:
                raise FormatError(f"{where}: line {number}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise FormatError(f"{where}: {BEGIN} is never closed; add a line {END}")
    return "\n".join(out)


def stable_id(stem, index, cell):
    """Keep the author's cell id; invent a deterministic one if there is none."""
    return cell.get("id") or hashlib.sha1(f"{stem}/{index}".encode()).hexdigest()[:8]


def check_format(nb, stem):
    """The problems that would stop the grader from using this notebook (a list of str)."""
    problems = []
    assignment = nb.metadata.get("cowlab", {}).get("assignment")
    if assignment != stem:
        problems.append(f'metadata["cowlab"]["assignment"] is {assignment!r}; it must be {stem!r}')
    students = [c for c in nb.cells if is_student_cell(c)]
    if len(students) != 1:
        problems.append(f"{len(students)} student cells; exactly one `STUDENT = \"...\"` cell "
                        "with metadata cowlab.role = 'student' is needed")
    elif not re.fullmatch(r'\s*STUDENT\s*=\s*"[^"\\]*"\s*', students[0].source):
        problems.append('the student cell must be exactly one line STUDENT = "..."')
    seen = set()
    for i, cell in enumerate(nb.cells):
        gid = nbgrader(cell).get("grade_id")
        if gid is None:
            if cell.cell_type == "code":
                problems.append(f"cell {i}: a code cell without nbgrader grade_id")
            continue
        if gid in seen:
            problems.append(f"cell {i}: grade_id {gid!r} used twice")
        seen.add(gid)
        if is_answer_cell(cell) and cell.cell_type == "code" and BEGIN not in cell.source:
            problems.append(f"cell {i} ({gid}): an answer cell without a {BEGIN} region")
    return problems


def make_exercise(nb, stem):
    """The exercise notebook (unexecuted) for one solutions notebook; raises FormatError."""
    import nbformat
    problems = check_format(nb, stem)
    if problems:
        raise FormatError(f"{stem}: " + "; ".join(problems))
    ex = nbformat.from_dict(nb)
    for index, cell in enumerate(ex.cells):
        cell["id"] = stable_id(stem, index, cell)
        where = f"{stem} cell {index}"
        if is_student_cell(cell):
            cell.source = f'STUDENT = "{STUDENT_PLACEHOLDER}"'
        elif BEGIN in cell.source:
            cell.source = strip_regions(cell.source, cell.cell_type, cell_qid(cell), where)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
    return ex


def execute(nb, cwd, timeout=300):
    """Run the notebook in a fresh kernel so it is committed with its outputs (through
    the course's one executor, as `make notebooks` and the tests run notebooks)."""
    from cowlab.execute import run
    return run(nb, cwd, timeout)


def assign_one(src, out_dir, run=True):
    """solutions/NN-x.ipynb -> out_dir/NN-x.ipynb; returns the path written."""
    import nbformat
    stem = src.stem
    with open(src, encoding="utf-8") as f:
        nb = nbformat.read(f, as_version=4)
    ex = make_exercise(nb, stem)
    if run:
        execute(ex, out_dir)
    from cowlab.execute import write
    return write(ex, out_dir / src.name)


def assign(solutions, out, run=True, log=print):
    """Every solutions notebook -> out/. Removes stale exercises that have no solution."""
    solutions, out = Path(solutions), Path(out)
    sources = sorted(solutions.glob(NOTEBOOK_GLOB))
    if not sources:
        raise FormatError(f"no homework notebooks ({NOTEBOOK_GLOB}) in {solutions}/")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for src in sources:
        try:
            written.append(assign_one(src, out, run))
        except FormatError:
            raise
        except Exception as e:     # a notebook that fails to run: say which, and why
            why = re.sub(r"\x1b\[[0-9;]*m", "", str(e)).strip().splitlines()
            raise FormatError(f"{src} does not run cleanly as an exercise: "
                              + "\n".join(why[-6:])) from None
    for path in written:
        log(f"wrote {path}")
    keep = {p.name for p in written}
    for stale in sorted(out.glob(NOTEBOOK_GLOB)):
        if stale.name not in keep:
            stale.unlink()
            log(f"removed {stale} (no solutions notebook for it)")
    return written


def main(argv=None):
    root = repo_root()
    ap = argparse.ArgumentParser(prog="cowlab assign",
                                 description="Write exercises/ from solutions/ "
                                             "(solutions replaced by placeholders, executed).")
    ap.add_argument("--solutions", default=str(root / "solutions"),
                    help="directory of NN-*.ipynb with ### BEGIN/END SOLUTION regions")
    ap.add_argument("--out", default=str(root / "exercises"), help="where to write the exercises")
    ap.add_argument("--no-execute", action="store_true",
                    help="leave outputs empty (faster; nbval needs them executed)")
    args = ap.parse_args(argv)
    try:
        assign(args.solutions, args.out, run=not args.no_execute)
    except FormatError as e:
        print(f"cowlab assign: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
