"""Reading a submitted notebook: the file, its assignment and its student id.

Notebooks are read with json, not nbformat (importing nbformat costs seconds, once
per submission in every worker), into Nodes with attribute access. Nothing here runs
a cell: the grader reads the student id and the assignment itself.
"""
import ast
import json
from pathlib import Path

from . import catalog
from .assign import STUDENT_PLACEHOLDER, is_student_cell

MAX_ID = 64
MAX_BYTES = 16 << 20        # a notebook larger than this is not parsed
ID_CHARS = "letters, digits, '.', '_' and '-'"
DEFAULT_IDS = (STUDENT_PLACEHOLDER, "example-student")


def check_id(sid):
    """The student id if it is one (1-64 of ID_CHARS, starting with a letter or digit),
    else ValueError saying what to fix. The placeholder is refused: students who forget
    to set it would otherwise all share one id."""
    if sid in DEFAULT_IDS:
        raise ValueError(f'set STUDENT to your id (it is still "{sid}") in the first cell')
    if not sid or len(sid) > MAX_ID:
        raise ValueError(f"STUDENT must be your id: 1 to {MAX_ID} characters ({ID_CHARS})")
    if not sid[0].isalnum() or not all(c.isalnum() or c in "._-" for c in sid) \
            or not sid.isprintable():
        raise ValueError(f"STUDENT may hold only {ID_CHARS}, starting with a letter or "
                         f"digit; write your id as your instructor gave it")
    return sid


class Unreadable(Exception):
    """A file we cannot grade as a homework notebook; the message says what to fix."""


class Node(dict):
    """A JSON object with attribute access, like nbformat's NotebookNode."""
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
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise Unreadable(f"the notebook is {size / 2**20:.0f} MiB, more than the "
                         f"{MAX_BYTES >> 20} MiB the grader reads; clear its outputs "
                         "(Edit > Clear Outputs of All Cells), save and hand it in again")
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
    meta = nb.metadata.get("cowlab")
    name = meta.get("assignment") if isinstance(meta, dict) else None
    try:
        catalog.questions(str(name))
        return name
    except KeyError:
        known = ", ".join(catalog.ASSIGNMENTS)
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
            return check_id(sid)
    raise ValueError('no STUDENT = "..." line (a string literal) in the first cell; '
                     'write your id there, e.g. STUDENT = "ana-maria"')


def exercise_path(exercises, assignment):
    path = Path(exercises) / f"{assignment}.ipynb"
    if not path.is_file():
        raise Unreadable(f"the grader has no {path} to take the locked cells from; "
                         "the instructor must run `cowlab assign` or pass --exercises")
    return path
