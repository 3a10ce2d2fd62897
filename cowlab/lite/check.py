"""The site's first page: does this browser run cowlab, and can it draw?

Runs without numpy on purpose. The model needs numpy, which the site loads from the
Pyodide CDN; when that cannot be reached (offline, a firewall), this page still shows
what works (the kernel, the cowlab wheel, viz.js drawing from a button) and says what
does not, instead of a traceback in chapter 01. The offline browser test clicks it.
"""
import html
import importlib.util
import sys
import time

from .. import __version__, vizjs

# A fork in miniature, drawn by hand (no model): both processes map PF0 and PF1
# read-only; the frames' reference counts say they are shared.
FORK_DOT = """digraph fork {
  rankdir=LR; node [shape=box, fontname="Helvetica"]; edge [fontname="Helvetica"];
  parent [label="parent\\nVP0  VP1"]; child [label="child\\nVP0  VP1"];
  PF0 [label="PF0 rc=2", style=filled, fillcolor="#fde68a"];
  PF1 [label="PF1 rc=2", style=filled, fillcolor="#fde68a"];
  parent -> PF0 [label="r/o COW"]; parent -> PF1 [label="r/o COW"];
  child -> PF0 [label="r/o COW"]; child -> PF1 [label="r/o COW"];
}"""


def numpy_state():
    """'loaded', or why not (the model and the chapters need it)."""
    if importlib.util.find_spec("numpy") is not None:
        return "loaded"
    return ("not available: the site loads it from the Pyodide CDN at start-up, and "
            "this browser could not reach it (offline?). The chapters need it; this "
            "page does not.")


def viz_state():
    """'Graphviz X via viz.js', or why drawings fall back to words."""
    try:
        return f"Graphviz {vizjs.graphviz_version()} via viz.js"
    except vizjs.Unavailable as exc:
        return f"not available ({exc}); drawings show as text"


def check():
    """The check widget: a status list and a button that draws FORK_DOT."""
    import ipywidgets as w
    rows = [("cowlab", __version__), ("Python", f"{sys.version.split()[0]} on {sys.platform}"),
            ("numpy", numpy_state()), ("drawings", viz_state())]
    status = w.HTML("<ul>" + "".join(f"<li><b>{k}</b>: {html.escape(v)}</li>" for k, v in rows) + "</ul>")
    button = w.Button(description="draw a fork", tooltip="draw two processes sharing "
                      "two frames, with viz.js", _dom_classes=["cowlab-check-draw"])
    picture = w.HTML("", _dom_classes=["cowlab-check-picture"])
    note = w.HTML("", _dom_classes=["cowlab-check-note"])

    def draw(_):
        start = time.perf_counter()
        try:
            svg = vizjs.render_svg(FORK_DOT)
        except Exception as exc:              # no traceback in a widget: say it
            note.value = f"<b>Could not draw:</b> {html.escape(str(exc))}"
            return
        picture.value = svg
        note.value = (f"drawn by viz.js in {1000 * (time.perf_counter() - start):.0f} ms, "
                      "in this tab, with no server")

    button.on_click(draw)
    return w.VBox([status, button, picture, note])
