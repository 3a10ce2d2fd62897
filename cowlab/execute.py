"""The one notebook executor: a fresh Jupyter kernel, outputs cleaned for committing.

The builder (`python -m cowlab.course`), `cowlab assign`, the tests and the benchmarks
all run notebooks through here, so a notebook runs the same way everywhere: in a new
`python3` kernel started in the notebook's folder, importing cowlab from this checkout
even when it is not installed, with no timings or timestamps recorded.
"""
import contextlib
import hashlib
import json
import os
import re
from pathlib import Path

import nbformat

PACKAGE_ROOT = Path(__file__).resolve().parent.parent     # holds cowlab/


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
    no Python patch version in language_info (it is the machine's, not the course's),
    and widget model ids numbered in display order rather than random."""
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = coalesce(cell.outputs)
    info = nb.metadata.get("language_info")
    if info:
        info.pop("version", None)
    return stable_widget_ids(nb)


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
MODEL_ID = re.compile(r"[0-9a-f]{32}")


def stable_widget_ids(nb):
    """Rename each widget model (a random uuid4 per kernel) after its place: the
    displayed ones in cell order, then the models they refer to, breadth first. A
    notebook executed again then differs from the last run only where its outputs do,
    not in every widget line."""
    state = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    refs = {m: [r for r in MODEL_ID.findall(json.dumps(v, sort_keys=True)) if r in state]
            for m, v in state.items()}
    shown = [o["data"][WIDGET_VIEW]["model_id"] for c in nb.cells
             for o in c.get("outputs", ()) if WIDGET_VIEW in o.get("data", {})]
    # models shown nowhere (a widget made but not displayed): those no other model
    # refers to, ordered by what they and everything under them hold
    referred = {r for rs in refs.values() for r in rs}
    roots = sorted((m for m in state if m not in referred and m not in shown),
                   key=lambda m: _shape(m, state, refs, ()))
    order, seen = [], set()
    for root in shown + roots + sorted(state):        # the last: cycles only
        if root in seen:
            continue
        seen.add(root)
        queue = [root]
        while queue:                  # breadth first, refs in their JSON's order
            m = queue.pop(0)
            order.append(m)
            fresh = [r for r in refs.get(m, ()) if r not in seen]
            seen.update(fresh)
            queue += fresh
    if not order:
        return nb
    new = {m: hashlib.sha256(f"cowlab widget {n}".encode()).hexdigest()[:32]
           for n, m in enumerate(order)}
    text = MODEL_ID.sub(lambda x: new.get(x.group(0), x.group(0)), nbformat.writes(nb))
    renamed = nbformat.reads(text, as_version=4)
    nb.cells, nb.metadata = renamed.cells, renamed.metadata
    return nb


def _shape(m, state, refs, path):
    """A model's state with each model it refers to written out in place of its id."""
    text = json.dumps(state[m], sort_keys=True)
    for r in dict.fromkeys(refs.get(m, ())):
        sub = "<cycle>" if r in path else _shape(r, state, refs, path + (m,))
        text = text.replace(r, sub)
    return text


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
