"""The plan of a grading run: which cells of a submission run, in which order, as whose.

Locked cells run as the exercise has them (whatever the student made of them), the
student's answer cells and the cells they added run as written, and each step says
which question it belongs to, so a cell that fails costs only that question.
"""
import ast
import re

from .assign import cowlab_meta, is_answer_cell, is_student_cell, nbgrader


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
