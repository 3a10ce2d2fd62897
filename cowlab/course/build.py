"""`make notebooks`: the executed notebooks from their sources, only where stale.

A built notebook is *fresh* when its cells (ids, types, sources, metadata) and its
front-matter metadata are what its source stands for; outputs are nbval's business.
For each stale notebook the builder does the least that makes it fresh:

- only prose changed (the code cells, in order, are the same): the new markdown goes
  into the notebook and every output stays, so a sentence edited in the source is
  exactly that sentence changed in the notebook;
- otherwise the notebook is executed again from the top in a fresh kernel.

Built output is deterministic (stable ids, sorted keys, no timings), so running the
builder on a fresh tree changes nothing. exercises/ is generated from solutions/ by
`cowlab assign`'s own make_exercise, through the same steps.
"""
import argparse
import sys
from pathlib import Path

import nbformat

from .. import execute
from . import sources
from .sources import SourceError

EXECUTED_NB_METADATA = ("language_info", "widgets")     # filled in by running the notebook


def load(path):
    return nbformat.read(path, as_version=4) if Path(path).exists() else None


def cell_key(cell):
    return (cell.get("id"), cell.cell_type, cell.source, dict(cell.metadata))


def differences(expected, built):
    """What differs between the notebook a source stands for and the built one (a list
    of short phrases, empty when fresh)."""
    if built is None:
        return ["not built yet"]
    out = []
    meta = {k: v for k, v in built.metadata.items() if k not in EXECUTED_NB_METADATA}
    want = {k: v for k, v in expected.metadata.items() if k not in EXECUTED_NB_METADATA}
    if meta != want:
        out.append(f"notebook metadata {sorted(meta)} differs")
    if len(expected.cells) != len(built.cells):
        out.append(f"{len(built.cells)} cells, the source has {len(expected.cells)}")
    for i, (a, b) in enumerate(zip(expected.cells, built.cells)):
        for what, x, y in (("id", a.get("id"), b.get("id")), ("type", a.cell_type, b.cell_type),
                           ("source", a.source, b.source),
                           ("metadata", dict(a.metadata), dict(b.metadata))):
            if x != y:
                first = next((ln for ln in a.source.splitlines() if ln.strip()), "")[:60]
                out.append(f"cell {i} ({a.get('id')}) {what} differs: {first!r}")
                break
    return out


def code_cells(nb):
    return [(c.source, dict(c.metadata)) for c in nb.cells if c.cell_type == "code"]


def prose_only(expected, built):
    """expected with built's outputs, when only markdown differs; else None."""
    if built is None or code_cells(expected) != code_cells(built):
        return None
    old = iter([c for c in built.cells if c.cell_type == "code"])
    for cell in expected.cells:
        if cell.cell_type == "code":
            was = next(old)
            cell.outputs, cell.execution_count = was.outputs, was.execution_count
    for key in EXECUTED_NB_METADATA:
        if key in built.metadata:
            expected.metadata[key] = built.metadata[key]
    return expected


def checks_not_correct(nb):
    """The homework check cells that did not print exactly one line `correct...`."""
    bad = []
    for cell in nb.cells:
        if cell.metadata.get("cowlab", {}).get("role") != "check":
            continue
        text = "".join(o.get("text", "") for o in cell.get("outputs", ()))
        if not text.startswith("correct") or text.count("\n") != 1:
            bad.append(f"{cell.metadata['cowlab']['question']}: {text.strip()!r}")
    return bad


def exercise(solutions_nb, stem):
    from cowlab.homework.assign import make_exercise
    return make_exercise(nbformat.from_dict(solutions_nb), stem)


def plan(root):
    """[(kind, source, built path, expected notebook)] for every notebook the sources
    make: chapters, solutions, and the exercise of each solution."""
    out = []
    for kind, src, dest in sources.targets(root):
        nb = sources.read(src, kind)
        out.append((kind, src, dest, nb))
        if kind == "homework":
            out.append(("exercise", src, Path(root) / "exercises" / dest.name,
                        exercise(nb, dest.stem)))
    return out


def orphans(root, planned):
    """Built notebooks that no source makes (a chapter whose source was deleted...)."""
    made = {dest for _, _, dest, _ in planned}
    found = []
    for folder in ("notebooks", "solutions", "exercises"):
        found += [p for p in sorted((Path(root) / folder).glob("[0-9][0-9]-*.ipynb"))
                  if p not in made]
    return found


def stale(root):
    """One line per notebook that does not match its source (empty when all fresh)."""
    root = Path(root)
    planned = plan(root)
    out = []
    for _, src, dest, nb in planned:
        diff = differences(nb, load(dest))
        if diff:
            out.append(f"{dest.relative_to(root)} is stale (source {src.relative_to(root)}): "
                       + "; ".join(diff[:3]) + (" ..." if len(diff) > 3 else ""))
    for p in orphans(root, planned):
        where = sources.CHAPTERS if p.parent.name == "notebooks" else sources.HOMEWORK
        out.append(f"{p.relative_to(root)} has no source in {where}/: delete it or write "
                   f"{where / (p.stem + '.md')}")
    return out


def build(root, names=(), force=False, log=print):
    """Rebuild the stale notebooks (all of them with force); returns the paths written."""
    root = Path(root)
    written = []
    for kind, src, dest, nb in plan(root):
        if names and not any(dest.stem.startswith(n) for n in names):
            continue
        built = load(dest)
        if not force and not differences(nb, built):
            continue
        fresh = None if force else prose_only(nb, built)
        how = "prose updated, outputs kept"
        if fresh is None:
            fresh, how = run(kind, nb, dest), "executed"
        execute.write(fresh, dest)
        written.append(dest)
        log(f"{dest.relative_to(root)}: {how}")
    return written


def run(kind, nb, dest):
    """Execute a built notebook in its own folder; homework checks must say correct."""
    from nbclient.exceptions import CellExecutionError
    try:
        execute.run(nb, dest.parent, widget_state=(kind == "chapter"))
    except CellExecutionError as e:
        raise SourceError(f"{dest} does not run: {str(e).strip()[-800:]}") from None
    bad = checks_not_correct(nb) if kind == "homework" else []
    if bad:
        raise SourceError(f"{dest}: checks not correct in the solutions: {bad}")
    return nb


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m cowlab.course",
                                 description="Build notebooks/, solutions/ and exercises/ "
                                             "from the text sources in notebooks/src/.")
    ap.add_argument("names", nargs="*", help="only notebooks whose name starts so (e.g. 02 06)")
    ap.add_argument("--check", action="store_true",
                    help="change nothing; list the stale notebooks and exit 1 if any")
    ap.add_argument("--force", action="store_true",
                    help="execute every notebook again, even the fresh ones")
    ap.add_argument("--root", default=str(execute.PACKAGE_ROOT),
                    help="the checkout holding notebooks/, solutions/, exercises/")
    args = ap.parse_args(argv)
    try:
        if args.check:
            problems = stale(args.root)
            for line in problems:
                print(line)
            if problems:
                print("run `make notebooks` to rebuild them", file=sys.stderr)
            return 1 if problems else 0
        written = build(args.root, args.names, args.force)
    except SourceError as e:
        print(f"make notebooks: {e}", file=sys.stderr)
        return 1
    if not written:
        print("make notebooks: every notebook matches its source")
    return 0
