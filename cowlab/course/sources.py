"""Text sources -> the notebooks they stand for (cells and metadata, no outputs).

A source is MyST markdown that jupytext reads: prose is plain lines, a code cell is a
```{code-cell}``` block, cell metadata (nbval tags, nbgrader ids/points/locks) sits
in the cell's options, notebook metadata in the front matter. Where they live:

    notebooks/src/NN-name.md            -> notebooks/NN-name.ipynb     (chapters)
    notebooks/src/glossary.md           -> notebooks/glossary.ipynb    (every chapter links it)
    notebooks/src/homework/NN-name.md   -> solutions/NN-name.ipynb     (homework)
                                        -> exercises/NN-name.ipynb     (cowlab assign)

A homework answer cell is left empty in its source: its code is the question's
solver in the question bank (the grader recomputes every answer with that same
solver), so the solution a student or teacher reads cannot disagree with the grader.
"""
from pathlib import Path

import nbformat

CHAPTERS = Path("notebooks") / "src"
HOMEWORK = CHAPTERS / "homework"
GLOB = "[0-9][0-9]-*.md"
PAGES = ("glossary.md",)          # chapter-like pages without a number
FORMAT = "md:myst"
KEEP_NB_METADATA = ("kernelspec", "cowlab")     # the front matter carried into the notebook
NBVAL_COMMENT = "# NBVAL_"
EXPLAIN_MARKS = "### BEGIN SOLUTION\n### END SOLUTION"


class SourceError(ValueError):
    """A source the builder cannot turn into a notebook; the message says what to fix."""


def targets(root):
    """[(kind, source path, built path)] in build order: chapters, then homework."""
    root = Path(root)
    out = [("chapter", p, root / "notebooks" / (p.stem + ".ipynb"))
           for p in sorted((root / CHAPTERS).glob(GLOB))]
    out += [("chapter", root / CHAPTERS / name, root / "notebooks" / name.replace(".md", ".ipynb"))
            for name in PAGES if (root / CHAPTERS / name).exists()]
    out += [("homework", p, root / "solutions" / (p.stem + ".ipynb"))
            for p in sorted((root / HOMEWORK).glob(GLOB))]
    return out


def read(path, kind):
    """The unexecuted notebook a source stands for; SourceError naming the fix."""
    import jupytext
    path = Path(path)
    try:
        text = jupytext.reads(path.read_text(encoding="utf-8"), fmt=FORMAT)
    except Exception as e:          # a YAML or MyST syntax error: say where
        raise SourceError(f"{path}: not a MyST notebook jupytext can read: {e}") from None
    nb = nbformat.v4.new_notebook()
    nb.metadata.update({k: text.metadata[k] for k in KEEP_NB_METADATA if k in text.metadata})
    nb.metadata["language_info"] = {"name": "python"}
    for index, cell in enumerate(text.cells):
        new = nbformat.v4.new_code_cell if cell.cell_type == "code" else nbformat.v4.new_markdown_cell
        out = new(cell.source, metadata=dict(cell.metadata))
        out.id = cell_id(path.stem, index, out)
        where = f"{path} cell {index} ({out.id})"
        if NBVAL_COMMENT in out.source:
            raise SourceError(f"{where}: a `{NBVAL_COMMENT}...` comment; use nbval's cell tags "
                              "instead (nbval-ignore-output, nbval-skip, raises-exception)")
        if kind == "homework":
            homework_cell(out, nb.metadata.get("cowlab", {}).get("assignment"), where)
        nb.cells.append(out)
    if kind == "homework" and nb.metadata.get("cowlab", {}).get("assignment") != path.stem:
        raise SourceError(f"{path}: the front matter must say cowlab: {{assignment: {path.stem}}}")
    nbformat.validate(nb)
    return nb


def cell_id(stem, index, cell):
    """Stable ids: a homework cell's nbgrader grade_id, else chapter number and index."""
    return cell.metadata.get("nbgrader", {}).get("grade_id") or f"{stem[:2]}-{index:02d}"


def homework_cell(cell, assignment, where):
    """Check a homework cell against the bank; fill an answer cell with its solver."""
    from cowlab.homework import bank
    nbg = cell.metadata.get("nbgrader", {})
    if nbg.get("locked") and (cell.metadata.get("editable") is not False
                              or cell.metadata.get("deletable") is not False):
        raise SourceError(f"{where}: a locked cell must also say editable: false and "
                          "deletable: false (JupyterLab then refuses to change it)")
    qid = cell.metadata.get("cowlab", {}).get("question")
    if qid is None:
        return
    try:
        q = bank.question(assignment, qid)
    except KeyError as e:
        raise SourceError(f"{where}: {e.args[0]}") from None
    if "points" in nbg and nbg["points"] != q.points:
        raise SourceError(f"{where}: nbgrader points {nbg['points']} but the bank gives "
                          f"{assignment}/{qid} {q.points}; the grader uses the bank's: "
                          "make them agree")
    if cell.metadata["cowlab"].get("role") == "explain":
        if q.kind != "explain" or cell.cell_type != "markdown":
            raise SourceError(f"{where}: an explain cell is a Markdown cell of an explain "
                              f"question; {assignment}/{qid} is a {q.kind} question")
        if cell.source.split() not in ([], EXPLAIN_MARKS.split()):
            raise SourceError(f"{where}: leave an explain cell as `{EXPLAIN_MARKS}` in the "
                              f"source; the model answer is the rubric of {assignment}/{qid} "
                              "in the question bank")
        cell.source = solution(q)
    if cell.metadata["cowlab"].get("role") == "answer":
        if cell.source.strip():
            raise SourceError(f"{where}: leave an answer cell empty in the source; its code "
                              f"is the solver of {assignment}/{qid} in the question bank")
        cell.source = solution(q)


def solution(q):
    """An answer cell's code: the solver's body between BEGIN/END SOLUTION marks."""
    if q.kind == "code":
        from cowlab.homework.questions_code import code_solution
        return code_solution(q.id)
    if q.kind == "explain":       # the model answer the teacher grades against
        return f"### BEGIN SOLUTION\n{q.rubric}\n### END SOLUTION"
    return f"### BEGIN SOLUTION\n{q.solution_source()}\n### END SOLUTION"
