"""The one notebook executor: a fresh Jupyter kernel, outputs cleaned for committing.

The builder (`python -m cowlab.course`), `cowlab assign`, the tests and the benchmarks
all run notebooks through here, so a notebook runs the same way everywhere: in a new
`python3` kernel started in the notebook's folder, importing cowlab from this checkout
even when it is not installed, with no timings or timestamps recorded.
"""
import contextlib
import os
from pathlib import Path

import nbformat

PACKAGE_ROOT = Path(__file__).resolve().parent.parent.parent     # holds cowlab/


def use_this_checkout():
    """Kernels we start import cowlab from this checkout (PYTHONPATH, first)."""
    parts = [str(PACKAGE_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))


def client(nb, cwd, timeout=300, widget_state=False, allow_errors=False):
    """An nbclient NotebookClient for nb, its kernel to be started in cwd."""
    from nbclient import NotebookClient
    use_this_checkout()
    return NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                          store_widget_state=widget_state, allow_errors=allow_errors,
                          resources={"metadata": {"path": str(cwd)}})


def run(nb, cwd, timeout=300, widget_state=False, allow_errors=False):
    """Execute nb top to bottom in a fresh kernel started in cwd; returns nb, cleaned.

    A cell tagged `raises-exception` may raise (nbclient and nbval agree on the tag);
    any other error raises nbclient's CellExecutionError naming the cell.
    widget_state=True keeps the widgets' state in the notebook's metadata, so a
    static viewer can still draw them."""
    client(nb, cwd, timeout, widget_state, allow_errors).execute()
    return clean(nb)


@contextlib.contextmanager
def session(nb, cwd, timeout=300):
    """A live kernel for nb: yields run_cell(cell, index), so a caller can execute the
    notebook's cells and then cells of its own in the same kernel (tests probe widgets
    that way)."""
    c = client(nb, cwd, timeout)
    with c.setup_kernel():
        yield c.execute_cell


def clean(nb):
    """Deterministic outputs: no execution timestamps, one output per run of a stream,
    and no Python patch version in language_info (it is the machine's, not the course's)."""
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = coalesce(cell.outputs)
    info = nb.metadata.get("language_info")
    if info:
        info.pop("version", None)
    return nb


def coalesce(outputs):
    """Join consecutive outputs of the same stream: the kernel may flush one print in
    several pieces, and the pieces would differ from run to run."""
    out = []
    for o in outputs:
        if (o.get("output_type") == "stream" and out and out[-1].get("output_type") == "stream"
                and out[-1].get("name") == o.get("name")):
            out[-1]["text"] += o["text"]
        else:
            out.append(o)
    return out


def dumps(nb):
    """Deterministic bytes: nbformat's sorted keys and one-space indent, a final newline."""
    return nbformat.writes(nb) + "\n"


def write(nb, path):
    """Validate and write nb to path atomically (a crash leaves the old file)."""
    nbformat.validate(nb)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dumps(nb), encoding="utf-8")
    os.replace(tmp, path)
    return path
