"""Drawings of a kernel state, as in the course's seed figure.

    import cowlab
    k = cowlab.Kernel(ram_pages=16)
    p = k.spawn("parent", pages=3); c = k.fork(p); k.write(p, 1, "x")
    cowlab.draw(k)                      # parent PT | frames | child PT
    cowlab.draw([k1, k2], titles=["xv6", "Linux"])   # two kernels, one above the other

Page tables are columns of entries `VP<n> -> PF<n> RO COW`; the frames sit in the
middle as `PF<n> rc=<n>`; an edge joins each entry to its frame. The last event is
marked with the seed's words ("page fault!", "new copy!", "freed"). Colours come
from the Okabe-Ito palette (safe for colour-blind readers) and every colour also has
a word or a line style, so nothing is said by colour alone.

A drawing is a `graphviz.Digraph` (the `Diagram` subclass) whose `repr` describes
the state in words: notebooks compare that text (nbval) and screen readers read it.
Which rows and words a state becomes is `cowlab.picture`'s job (no graphviz there);
this module turns a Picture into DOT and the DOT into SVG. Large tables are
summarised: pages in the same state become one row
(`VP0..VP2621439 -> PF0..PF2621439 RO COW (2621440 pages)`), so a 10 GiB process
draws as fast as a small one.

The SVG comes from Graphviz's `dot` if it is on PATH, else from `graphviz-pure`
(`pip install graphviz-pure`, a self-contained port); with neither, the notebook shows
the DOT source and the one-line fix instead of a traceback.
"""
import html
import os
import re
import shutil
import subprocess
import sys

import graphviz

from .picture import (  # noqa: F401  (re-exported: render.Picture, render.pt_rows, ...)
    MAX_ROWS, NP, ZERO, UNMAPPED, Picture, Row, choose, describe_event, event_notes,
    frame_of, frame_row_words, frame_rows, last_call_events, mark_breaks, mixed_counts,
    pick_processes, pname, pt_row_words, pt_rows, pte_codes, rc_words, runs_of,
    state_words)

# Okabe-Ito colours; each one is paired with a word in the label.
ORANGE = "#E69F00"      # a frame just copied: "new copy!"
SKY = "#56B4E9"         # read-only, shared copy-on-write; frames with rc >= 2
GREEN = "#009E73"       # private writable; frames with rc == 1
YELLOW = "#F0E442"      # the shared zero page
BLUE = "#0072B2"        # edges to COW frames (dashed)
VERMILLION = "#D55E00"  # the faulting entry: "page fault!" (thick border)
PURPLE = "#CC79A7"      # MAP_SHARED mappings: "shared" (bold edges)
GREY = "#777777"        # not present, free or freed frames (words say which)
WHITE = "#FFFFFF"

FIX = "install graphviz: apt-get install graphviz, or pip install graphviz-pure"
if sys.platform == "emscripten":        # the static site: no dot to install, viz.js
    FIX = ("this site draws with viz.js, which needs a browser with JavaScript Promise "
           "Integration (Chromium 137 or later)")


class RendererMissing(RuntimeError):
    """Neither `dot` nor `graphviz-pure` could be found."""


def state_colour(code):
    if code == NP:
        return WHITE
    if code == ZERO:
        return YELLOW
    bits = code - 2
    if bits & 4:
        return PURPLE
    if bits & 2:
        return SKY
    return GREEN if bits & 1 else WHITE


def frame_colour(rc):
    if rc <= 0:
        return WHITE
    return SKY if rc >= 2 else GREEN




# ---------------------------------------------------------------- DOT

def esc(text):
    return html.escape(text, quote=True)


LINE = 24    # characters per line in a cell before its text wraps


def cell_lines(text, note=None):
    """A cell's lines: the mark, and the "(10 pages)"-like tails of a long text, each on
    a line of its own; a line still too long wraps after "->" or ", ". Columns stay
    narrow, so a drawing fits the notebook column without shrinking a letter."""
    tail = f" ({note})" if note else None
    if tail and text.endswith(tail):
        return cell_lines(text[:-len(tail)]) + [tail.strip()]
    i = text.rfind(" (")
    if len(text) > LINE and text.endswith(")") and i > 0:
        return cell_lines(text[:i]) + wrap(text[i + 1:])
    return wrap(text)


def wrap(line):
    """Greedy wrap at the breaks that keep words whole: after '->' and after ', '."""
    if len(line) <= LINE:
        return [line]
    parts = re.split(r"(?<=->) |(?<=,) ", line)
    out = [parts[0]]
    for part in parts[1:]:
        if len(out[-1]) + 1 + len(part) <= LINE:
            out[-1] += " " + part
        else:
            out.append(part)
    return out


def cell(port, text, fill, note=None, fontcolor=None):
    """One table cell; a marked cell gets a thick vermillion border and bold words."""
    attrs = f'PORT="{port}" ALIGN="LEFT" BALIGN="LEFT" BGCOLOR="{fill}"'
    body = "<BR/>".join(esc(line) for line in cell_lines(text, note))
    if note:
        attrs += f' BORDER="3" COLOR="{VERMILLION}"'
        body = f"<B>{body}</B>"
    if fontcolor:
        body = f'<FONT COLOR="{fontcolor}">{body}</FONT>'
    return f"<TR><TD {attrs}>{body}</TD></TR>"


def table(title, cells):
    head = f'<TR><TD BGCOLOR="{WHITE}"><B>{title}</B></TD></TR>'
    rows = "".join(cells) or f'<TR><TD><FONT COLOR="{GREY}">(none)</FONT></TD></TR>'
    return (f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4">'
            f"{head}{rows}</TABLE>>")


def edge_attrs(style, marked):
    """Line style says the same as the colour: dashed = COW, bold = shared, dotted = zero."""
    if marked:                                # thick vermillion, same line style
        return {**edge_attrs(style, False), "color": VERMILLION, "penwidth": "2.5"}
    if style is None:
        return {"color": GREY}
    if style == ZERO:
        return {"color": GREY, "style": "dotted"}
    bits = style - 2
    if bits & 4:
        return {"color": PURPLE, "style": "bold"}
    if bits & 2:
        return {"color": BLUE, "style": "dashed"}
    return {"color": "black"}


def add_picture(g, pic, prefix):
    """Add one kernel's nodes and edges; return (leftmost, rightmost) node names."""
    frames = f"{prefix}frames"
    cells = []
    for i, r in enumerate(pic.frames):
        words = frame_row_words(r)
        grey = GREY if (r.code is not None and r.code <= 0 and not r.note) else None
        fill = ORANGE if r.note == "new copy!" else frame_colour(r.code or 0)
        if r.held and r.note != "new copy!":      # held by a pin, pipe, page cache or KSM
            fill, grey = BLUE, WHITE
        cells.append(cell(f"f{i}", words, WHITE if r.code is None else fill, r.note, grey))
    if pic.zero:
        cells.append(cell("zero", "zero page (shared by all, never copied)", YELLOW))
    g.node(frames, table("physical frames", cells))
    left, right = frames, frames
    for n, (p, rows, edges) in enumerate(pic.tables):
        node = f"{prefix}p{p.pid}"
        status = pic.proc_notes.get(p.pid)
        title = f"{esc(p.name)} (pid {p.pid})<BR/>page table"
        if status:
            title += f'<BR/><FONT COLOR="{VERMILLION}">{esc(status)}</FONT>'
        pcells = []
        for i, r in enumerate(rows):
            fill = WHITE if r.code is None else state_colour(r.code)
            grey = GREY if r.code == NP else None
            pcells.append(cell(f"r{i}", pt_row_words(r), fill, r.note, grey))
        g.node(node, table(title, pcells))
        on_left = n % 2 == 0                      # parent left, child right, and so on
        column = 1                                # more processes stack in the two columns
        if on_left:
            g.edge(node, frames, style="invis", minlen=str(column))
            left = node                           # later left columns lie further left
        else:
            g.edge(frames, node, style="invis", minlen=str(column))
            right = node
        for i, j, style in edges:
            port = "zero" if j == "zero" else f"f{j}"
            attrs = edge_attrs(style, bool(rows[i].note))
            if on_left:
                g.edge(f"{node}:r{i}:e", f"{frames}:{port}:w", minlen=str(column), **attrs)
            else:
                g.edge(f"{frames}:{port}:e", f"{node}:r{i}:w", dir="back",
                       minlen=str(column), **attrs)
    return left, right


def build(pictures, titles):
    legend = ("RO COW: read-only, copied on write (dashed)   RW: writable\n"
              "shared: MAP_SHARED (bold)   rc: references to a frame")
    if any(r.held for pic in pictures for r in pic.frames):
        legend += ("\nmap: page-table entries mapping it (blue: also held by a pin,\n"
                   "a pipe, the page cache or KSM)")
    g = Diagram(text="", name="cow", graph_attr={
        "rankdir": "LR", "nodesep": "0.25", "ranksep": "0.5", "fontname": "Helvetica",
        "labelloc": "b", "fontsize": "11", "label": legend})
    g.attr("node", shape="plaintext", fontname="Helvetica", fontsize="12")
    g.attr("edge", arrowsize="0.7")
    if len(pictures) == 1:
        add_picture(g, pictures[0], "")
    # Unconnected clusters: dot ranks each from the left, so they stack; it puts the
    # one declared last on top, hence the reversed order (the first kernel on top).
    for j in reversed(range(len(pictures)) if len(pictures) > 1 else []):
        with g.subgraph(name=f"cluster_{j}") as sub:
            sub.attr(label=titles[j], fontsize="14", style="rounded", color=GREY, labelloc="t")
            add_picture(sub, pictures[j], f"k{j}_")
    texts = []
    for j, pic in enumerate(pictures):
        title = titles[j] if titles else None
        text = pic.text()
        texts.append(f"{title}:\n{text}" if title else text)
    g.text = "\n\n".join(texts)
    return g


def draw(kernel, processes=None, *, events=None, free=False, titles=None, max_rows=MAX_ROWS):
    """Draw a kernel (or a list of kernels, one above the other) as page tables and frames.

    The drawing grows down, not sideways, so it fits a laptop's notebook column
    (about 930 px): the first process's table is left of the frames, the second's
    right, and later ones stack under them in the same two columns.

    processes: which to draw (Process objects, pids or names); default the live ones,
        plus one the last event ended, so its exit or kill is visible.
    events: the events to mark (what a call returned); default the last event (and the
        frees it caused). With several kernels, one list of events per kernel.
    free: also draw the free frames (summarised into runs).
    titles: one title per kernel when drawing several, e.g. ["xv6", "Linux"].
    max_rows: rows per table before runs of same-state pages become one row.
    """
    kernels = list(kernel) if isinstance(kernel, (list, tuple)) else [kernel]
    if not kernels:
        raise ValueError("draw: give a Kernel, or a list of kernels to draw side by side")
    for k in kernels:
        if not hasattr(k, "page_table"):
            raise TypeError(f"draw: expected a cowlab.Kernel, got {type(k).__name__}")
    if titles is not None:
        titles = [str(t) for t in titles]
        if len(titles) != len(kernels):
            raise ValueError(f"draw: {len(kernels)} kernels but {len(titles)} titles; "
                             "give one title per kernel")
    elif len(kernels) > 1:
        titles = [f"kernel {i + 1} ({k.rules} rules)" for i, k in enumerate(kernels)]
    if not isinstance(max_rows, int) or max_rows < 4:
        raise ValueError("draw: max_rows must be an integer >= 4")
    if events is None:
        marks = [last_call_events(k) for k in kernels]
    elif len(kernels) == 1:
        marks = [list(events)]
    else:
        marks = [list(e) for e in events]
        if len(marks) != len(kernels):
            raise ValueError(f"draw: {len(kernels)} kernels but {len(marks)} event lists; "
                             "give one list of events per kernel (or none)")
    return build([Picture(k, processes, m, free, max_rows) for k, m in zip(kernels, marks)],
                 titles)


def describe(kernel, **kw):
    """The state in words (the drawing's text), without building the picture's DOT."""
    kernels = list(kernel) if isinstance(kernel, (list, tuple)) else [kernel]
    if len(kernels) != 1:
        return draw(kernels, **kw).text
    events = kw.pop("events", None)
    pic = Picture(kernel, kw.pop("processes", None),
                  list(events) if events is not None else last_call_events(kernel),
                  kw.pop("free", False), kw.pop("max_rows", MAX_ROWS))
    return pic.text()


# ---------------------------------------------------------------- rendering

def find_renderer():
    """`dot` on PATH, else `graphviz-pure` (on PATH or beside this Python), else None."""
    found = shutil.which("dot")
    if found:
        return found
    found = shutil.which("graphviz-pure")
    if found:
        return found
    beside = os.path.join(os.path.dirname(sys.executable), "graphviz-pure")
    if os.path.isfile(beside) and os.access(beside, os.X_OK):
        return beside
    return None


def render_svg(source, renderer=None, timeout=60):
    """Run the renderer on DOT source and return the SVG text."""
    if renderer is None and sys.platform == "emscripten":   # in the browser: no dot
        from . import vizjs                                  # (make lite bundles viz.js)
        try:
            return vizjs.render_svg(source)
        except vizjs.Unavailable as exc:                     # -> the text description
            raise RendererMissing(str(exc)) from exc
    renderer = renderer or find_renderer()
    if renderer is None:
        raise RendererMissing(f"no graph renderer found: {FIX}")
    done = subprocess.run([renderer, "-Tsvg"], input=source.encode("utf-8"),
                          capture_output=True, timeout=timeout, check=False)
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RuntimeError(f"{os.path.basename(renderer)} failed: {err[0] if err else 'no output'}")
    return done.stdout.decode("utf-8")


class Diagram(graphviz.Digraph):
    """A graphviz.Digraph that also says what it shows, in words.

    repr() and the text/plain of the notebook display are `self.text`; the SVG is
    rendered once per DOT source and cached on the object.
    """

    def __init__(self, text="", **kwargs):
        super().__init__(**kwargs)
        self.text = text
        self._svg = None                      # (source, svg) of the last render

    def copy(self):
        """A copy that keeps the words (graphviz's copy() would drop them)."""
        twin = super().copy()
        twin.text = self.text
        return twin

    def __repr__(self):
        return self.text

    def svg(self):
        """The SVG text (rendered with dot or graphviz-pure; cached)."""
        source = self.source
        if self._svg is None or self._svg[0] != source:
            self._svg = (source, render_svg(source))
        return self._svg[1]

    def _repr_image_svg_xml(self):
        return self.svg()

    def save_svg(self, path):
        """Write the SVG to path (rendered first: no empty file if that fails)."""
        svg = self.svg()
        with open(path, "w", encoding="utf-8") as f:
            f.write(svg)
        return path

    def _repr_mimebundle_(self, include=None, exclude=None, **_):
        """SVG + words; with no renderer, the DOT source and the fix. Never raises."""
        try:
            bundle = {"text/plain": self.text}
            try:
                bundle["image/svg+xml"] = self.svg()
            except RendererMissing:
                bundle["text/html"] = self.fallback_html(f"No graph renderer found: {FIX}")
            except Exception as exc:              # a renderer that failed: say so, no traceback
                bundle["text/html"] = self.fallback_html(f"Could not draw ({exc}). {FIX}")
            if include is not None:
                bundle = {m: v for m, v in bundle.items() if m in set(include) | {"text/plain"}}
            if exclude:
                bundle = {m: v for m, v in bundle.items() if m not in set(exclude)}
            return bundle
        except Exception as exc:                  # last resort: still no traceback
            return {"text/plain": f"(drawing failed: {exc}; {FIX})"}

    def fallback_html(self, why):
        return (f"<p><b>{esc(why)}</b></p><pre>{esc(self.text)}</pre>"
                f"<p>DOT source (paste it into any Graphviz viewer):</p>"
                f"<pre>{esc(self.source)}</pre>")
