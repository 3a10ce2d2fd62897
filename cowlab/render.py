"""Drawings of a kernel state, as in the course's seed figure.

    import cowlab
    k = cowlab.Kernel(ram_pages=16)
    p = k.spawn("parent", pages=3); c = k.fork(p); k.write(p, 1, "x")
    cowlab.draw(k)                      # parent PT | frames | child PT
    cowlab.draw([k1, k2], titles=["xv6", "Linux"])   # two kernels side by side

Page tables are columns of entries `VP<n> -> PF<n> RO COW`; the frames sit in the
middle as `PF<n> rc=<n>`; an edge joins each entry to its frame. The last event is
marked with the seed's words ("page fault!", "new copy!", "freed"). Colours come
from the Okabe-Ito palette (safe for colour-blind readers) and every colour also has
a word or a line style, so nothing is said by colour alone.

A drawing is a `graphviz.Digraph` (the `Diagram` subclass) whose `repr` describes
the state in words: notebooks compare that text (nbval) and screen readers read it.
Large tables are summarised: pages in the same state become one row
(`VP0..VP2621439 -> PF0..PF2621439 RO COW (2621440 pages)`), so a 10 GiB process
draws as fast as a small one.

The SVG comes from Graphviz's `dot` if it is on PATH, else from `graphviz-pure`
(`pip install graphviz-pure`, a self-contained port); with neither, the notebook shows
the DOT source and the one-line fix instead of a traceback.
"""
import html
import os
import shutil
import subprocess
import sys

import graphviz
import numpy as np

from .kernel import NOT_PRESENT, ZERO_PFN

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
MAX_ROWS = 24           # rows per table before runs of pages are summarised

# The state of one page-table entry, as a small code (see pte_codes).
NP, ZERO = 0, 1


class RendererMissing(RuntimeError):
    """Neither `dot` nor `graphviz-pure` could be found."""


# ---------------------------------------------------------------- words

def state_words(code):
    """The words for an entry's state: 'RO COW', 'RW', 'RW shared', ..."""
    if code == NP:
        return "not present"
    if code == ZERO:
        return "zero page RO"
    bits = code - 2
    words = ["RW" if bits & 1 else "RO"]
    if bits & 2:
        words.append("COW")
    if bits & 4:
        words.append("shared")
    return " ".join(words)


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


def pname(proc):
    return f"{proc.name} (pid {proc.pid})"


# ---------------------------------------------------------------- what the last event marks

def event_notes(kernel, events):
    """Turn events into marks: {(pid, vpn): word}, {pfn: word}, {pid: word}."""
    entry, frame, proc = {}, {}, {}
    for e in events:
        kind = e.kind
        if kind in ("cow_copy", "cow_reuse", "zero_fill", "zero_map") and e.vpn is not None:
            entry[(e.pid, e.vpn)] = "page fault!"
        if kind == "cow_copy" and e.new_pfn is not None:
            frame[frame_of(kernel, e, e.new_pfn)] = "new copy!"
        elif kind == "cow_reuse" and e.pfn is not None:
            frame[frame_of(kernel, e, e.pfn)] = "reused, no copy"
        elif kind == "zero_fill":
            pfn = e.new_pfn if e.new_pfn is not None else e.pfn
            if pfn is not None and pfn >= 0:
                frame[pfn] = "zero-filled"
        elif kind == "free" and e.pfn is not None and e.pfn >= 0:
            frame[e.pfn] = "freed"
        elif kind == "fork":
            proc[e.pid] = "forked"
        elif kind == "exec":
            proc[e.pid] = "exec: new image"
        elif kind == "exit":
            proc[e.pid] = "exited"
        elif kind == "segv":
            where = f" at VP{e.vpn}" if e.vpn is not None else ""
            proc[e.pid] = f"killed: SIGSEGV{where}"
        elif kind == "oom_kill":
            proc[e.pid] = "killed by the OOM killer"
        elif kind == "enomem":
            proc[e.pid] = "ENOMEM: refused"
    return entry, frame, proc


def frame_of(kernel, e, first):
    """The frame the faulting entry maps now: `first` itself, or, when a whole 2 MiB
    huge page was copied (events name its first frame), the one inside it."""
    try:
        pte = kernel.pte(e.pid, e.vpn)
    except (ValueError, TypeError):          # the process has gone since
        return first
    if pte is not None and first <= pte.pfn < first + kernel.huge_pages:
        return pte.pfn
    return first


def last_call_events(kernel):
    """The events to mark by default: the last one, or the trailing run of 'free's
    with the event that caused them (an exit, an exec, an xv6 copy)."""
    events = kernel.events
    i = len(events) - 1
    while i >= 0 and events[i].kind == "free":
        i -= 1
    if i >= 0 and (i == len(events) - 1 or events[i].kind != "fork"):
        return list(events[i:])
    return list(events[i + 1:])


def describe_event(kernel, e):
    """'cow_copy, parent (pid 1), VP1: page fault: ...' (kind, who, where, narration)."""
    who = f"pid {e.pid}"
    for p in kernel.processes:
        if p.pid == e.pid:
            who = pname(p)
            break
    where = f", VP{e.vpn}" if e.vpn is not None else ""
    text = f": {e.text}" if e.text else ""
    return f"{e.kind}, {who}{where}{text}"


# ---------------------------------------------------------------- rows of a page table

UNMAPPED = -1       # code of a vpn in no region: never drawn


def pte_codes(kernel, proc):
    """State code and frame of every vpn over the process's span, and its region starts.

    Works region by region on slices of the model's arrays (no fancy indexing), so a
    10 GiB table costs a few passes over memory.
    """
    pt = kernel.page_table(proc)
    pfn = np.asarray(pt.pfn)
    code = np.full(len(pfn), UNMAPPED, dtype=np.int8)
    writable = np.asarray(pt.writable, dtype=bool)
    cow = np.asarray(pt.cow, dtype=bool)
    starts = []
    for r in kernel.regions(proc):
        sl = slice(r.start, r.start + r.pages)
        c = writable[sl].view(np.int8) + 2 * cow[sl].view(np.int8) + np.int8(2 + 4 * bool(r.shared))
        f = pfn[sl]
        c[f == NOT_PRESENT] = NP
        c[f == ZERO_PFN] = ZERO
        code[sl] = c
        starts.append(r.start)
    return code, pfn, starts


class Row:
    """One row of a table: one page, a run of pages in one state, or a folded stretch.

    lo..hi index the table's arrays (vpns or pfns); `mixed` is None for an exact row
    (frames named), "coarse" for a same-state run whose frames are scattered, or the
    counts of a folded stretch ("12 RO COW, 3 RW"), whose `code` is None.
    """
    __slots__ = ("first", "last", "count", "code", "pfn0", "pfn1", "note", "mixed", "lo", "hi")

    def __init__(self, **kw):
        for name in self.__slots__:
            setattr(self, name, kw.get(name))


def runs_of(breaks, code, drop):
    """(starts, ends) of the runs that `breaks` cuts, leaving out runs whose code is `drop`."""
    breaks[0] = True
    starts = np.flatnonzero(breaks)
    ends = np.append(starts[1:], len(breaks))
    keep = code[starts] != drop
    return starts[keep], ends[keep]


def choose(starts, ends, marked, max_rows):
    """Which runs to draw: all if they fit; else the marked ones and the first few,
    with each stretch between them folded into one mixed row.

    Returns (lo, hi, folded) ranges; only these become Row objects, so a table of
    millions of scattered pages costs a few numpy passes, not a Python loop.
    """
    if len(starts) <= max_rows:
        return [(lo, hi, False) for lo, hi in zip(starts.tolist(), ends.tolist())]
    keep = marked.copy()
    keep[:max(max_rows // 2 - 2 * int(marked.sum()), 1)] = True
    out, prev = [], -1
    for i in np.flatnonzero(keep).tolist() + [len(starts)]:
        if i > prev + 1:                     # runs prev+1 .. i-1 fold into one row
            out.append((int(starts[prev + 1]), int(ends[i - 1]), True))
        if i < len(starts):
            out.append((int(starts[i]), int(ends[i]), False))
        prev = i
    return out


def mixed_counts(values, words, skip=None):
    """'12 RO COW, 3 RW': how many of each state a folded stretch holds."""
    base = int(values.min())
    counts = np.bincount((values.astype(np.int64) - base))
    kinds = [i for i in np.flatnonzero(counts).tolist() if i + base != skip]
    kinds.sort(key=lambda i: -counts[i])
    return ", ".join(f"{int(counts[i])} {words(i + base)}" for i in kinds)


def mark_breaks(breaks, marks):
    """Marked entries get a row of their own: cut before and after each."""
    n = len(breaks)
    for i in marks:
        if 0 <= i < n:
            breaks[i] = True
            if i + 1 < n:
                breaks[i + 1] = True


def pt_rows(kernel, proc, marks, max_rows):
    """The rows of a process's page table: one per page if they fit, else runs
    (same state, consecutive frames), else same-state runs, else folded stretches."""
    code, pfn, region_starts = pte_codes(kernel, proc)
    n = len(code)
    mine = {vpn: w for (pid, vpn), w in marks.items() if pid == proc.pid and 0 <= vpn < n}
    rows = []
    if n == 0:
        return rows, code, pfn
    mapped = code != UNMAPPED
    coarse = False
    if np.count_nonzero(mapped) <= max_rows:
        starts = np.flatnonzero(mapped)
        ends = starts + 1
    else:
        gap = np.ones(n, dtype=bool)
        gap[1:] = code[1:] != code[:-1]
        gap[region_starts] = True
        mark_breaks(gap, mine)
        exact = gap.copy()
        exact[1:] |= (code[1:] >= 2) & (np.diff(pfn) != 1)
        starts, ends = runs_of(exact, code, UNMAPPED)
        if len(starts) > max_rows:
            (starts, ends), coarse = runs_of(gap, code, UNMAPPED), True
    marked = (np.isin(starts, list(mine)) & (ends - starts == 1) if mine
              else np.zeros(len(starts), dtype=bool))
    for lo, hi, folded in choose(starts, ends, marked, max_rows):
        single = hi - lo == 1
        if folded:
            c = code[lo:hi]
            count = int(np.count_nonzero(c != UNMAPPED))
            mixed = mixed_counts(c, state_words, skip=UNMAPPED)
        else:
            count, mixed = hi - lo, "coarse" if coarse and not single else None
        rows.append(Row(first=lo, last=hi - 1, count=count,
                        code=None if folded else int(code[lo]),
                        pfn0=int(pfn[lo]), pfn1=int(pfn[hi - 1]),
                        note=mine.get(lo) if single else None,
                        mixed=mixed, lo=lo, hi=hi))
    return rows, code, pfn


def pt_row_words(r):
    """'VP1 -> PF3 RW', 'VP0..VP9 -> PF0..PF9 RO COW (10 pages)', ..."""
    vp = f"VP{r.first}" if r.first == r.last else f"VP{r.first}..VP{r.last}"
    many = f" ({r.count} pages)" if r.count > 1 else ""
    if r.code is None:
        text = f"{vp} -> mixed ({r.mixed})"
    elif r.code >= 2 and r.mixed is None:
        pf = f"PF{r.pfn0}" if r.count == 1 else f"PF{r.pfn0}..PF{r.pfn1}"
        text = f"{vp} -> {pf} {state_words(r.code)}{many}"
    else:
        text = f"{vp} -> {state_words(r.code)}{many}"
    return text + (f" ({r.note})" if r.note else "")


# ---------------------------------------------------------------- rows of the frame table

def frame_rows(rc, marks, show_free, max_rows):
    """Frames in use (and the marked ones, and free ones if asked), summarised like tables.

    Frames in use get a row each when they fit; free frames always come in runs.
    """
    n = len(rc)
    marks = {pfn: w for pfn, w in marks.items() if 0 <= pfn < n}
    used = rc > 0
    brk = np.ones(n, dtype=bool)
    brk[1:] = rc[1:] != rc[:-1]
    mark_breaks(brk, marks)
    if np.count_nonzero(used) + len(marks) <= max_rows:
        brk[1:] |= used[1:] | used[:-1]
    brk[0] = True
    starts = np.flatnonzero(brk)
    ends = np.append(starts[1:], n)
    keep = (rc[starts] > 0) | show_free
    if marks:
        keep |= np.isin(starts, list(marks)) & (ends - starts == 1)
    starts, ends = starts[keep], ends[keep]
    marked = np.isin(starts, list(marks)) & (ends - starts == 1) if marks else \
        np.zeros(len(starts), bool)
    rows = []
    # a folded stretch may hold free frames we do not draw: count only what is shown
    for lo, hi, folded in choose(starts, ends, marked, max_rows):
        if folded:
            part = rc[lo:hi]
            shown = part if show_free else part[part > 0]
            rows.append(Row(first=lo, last=hi - 1, count=len(shown), code=None, lo=lo, hi=hi,
                            mixed=mixed_counts(shown, rc_words)))
        else:
            rows.append(Row(first=lo, last=hi - 1, count=hi - lo, code=int(rc[lo]), lo=lo,
                            hi=hi, note=marks.get(lo) if hi - lo == 1 else None, mixed=None))
    return rows


def rc_words(rc):
    return "free" if rc <= 0 else f"rc={rc}"


def frame_row_words(r):
    """'PF3 rc=1', 'PF3..PF9 rc=2 (7 frames)', 'PF1 rc=0 (freed)', ..."""
    pf = f"PF{r.first}" if r.first == r.last else f"PF{r.first}..PF{r.last}"
    many = f" ({r.count} frames)" if r.count > 1 else ""
    if r.mixed:
        return f"{pf} mixed ({r.mixed})"
    if r.code <= 0 and not r.note:
        return f"{pf} free{many}"
    return f"{pf} rc={r.code}{many}" + (f" ({r.note})" if r.note else "")


# ---------------------------------------------------------------- one kernel's picture

class Picture:
    """Everything one kernel contributes: rows, edges and the words for them."""

    def __init__(self, kernel, processes, events, show_free, max_rows):
        self.kernel = kernel
        entry, frame, proc = event_notes(kernel, events)
        self.events = events
        self.proc_notes = proc
        self.procs = pick_processes(kernel, processes, proc)
        self.rc = np.asarray(kernel.refcounts())
        self.frames = frame_rows(self.rc, frame, show_free, max_rows)
        self._row_of = None
        self.tables = []
        self.zero = False
        for p in self.procs:
            if p.alive:
                rows, code, pfn = pt_rows(kernel, p, entry, max_rows)
                self.zero |= any(r.code == ZERO or (r.code is None and "zero page" in r.mixed)
                                 for r in rows)
            else:
                rows, code, pfn = [], None, None
            self.tables.append((p, rows, self.edges(rows, code, pfn)))

    def row_of(self):
        """Frame row index of every pfn (-1 where no row), built once when needed."""
        if self._row_of is None:
            self._row_of = np.full(len(self.rc), -1, dtype=np.int32)
            for i, r in enumerate(self.frames):
                self._row_of[r.lo:r.hi] = i
        return self._row_of

    def frame_row_of(self, pfns):
        return self.row_of()[np.asarray(pfns)]

    def edges(self, rows, code, pfn):
        """(row index, frame row index or 'zero', style code or None) per drawn edge."""
        out = []
        for i, r in enumerate(rows):
            if r.mixed is None and r.code >= 2:      # one page or an exact run
                a, b = self.frame_row_of([r.pfn0, r.pfn1])
                out += [(i, j, r.code) for j in range(int(a), int(b) + 1)]
            elif r.mixed is None and r.code == ZERO:
                out.append((i, "zero", ZERO))
            elif r.mixed is not None and r.code != NP:   # summarised: each frame row it reaches
                c = code[r.lo:r.hi]
                where = self.frame_row_of(pfn[r.lo:r.hi][c >= 2])
                hit = np.flatnonzero(np.bincount(where[where >= 0], minlength=len(self.frames)))
                out += [(i, int(j), r.code) for j in hit.tolist()]
                if r.code in (None, ZERO) and (c == ZERO).any():
                    out.append((i, "zero", ZERO))
        return out

    def text(self):
        lines = []
        for p, rows, _ in self.tables:
            status = self.proc_notes.get(p.pid)
            head = pname(p) + (f" [{status}]" if status else "")
            body = ", ".join(pt_row_words(r) for r in rows) or "no pages"
            lines.append(f"{head}: {body}")
        frames = ", ".join(frame_row_words(r) for r in self.frames) or "none in use"
        if self.zero:
            frames += ", zero page (shared by all, never copied)"
        free = int(np.count_nonzero(self.rc <= 0))
        lines.append(f"frames: {frames}; free: {free} of {self.kernel.ram_pages}")
        if not self.events:
            lines.append("last event: none")
        else:
            said = [describe_event(self.kernel, e) for e in self.events[:4]]
            more = len(self.events) - len(said)
            tail = f" (and {more} more)" if more > 0 else ""
            label = "last event" if len(self.events) == 1 else "last events"
            lines.append(f"{label}: " + " / ".join(said) + tail)
        return "\n".join(lines)


def pick_processes(kernel, processes, proc_notes):
    """The live processes in pid order, plus any the last event killed or ended."""
    if processes is None:
        shown = [p for p in kernel.processes if p.alive or p.pid in proc_notes]
        return shown
    out = []
    for want in processes:
        if isinstance(want, (int, np.integer)) and not isinstance(want, bool):
            out.append(kernel.process(int(want)))
        elif isinstance(want, str):
            named = [p for p in kernel.processes if p.name == want]
            if not named:
                names = ", ".join(sorted({p.name for p in kernel.processes})) or "none yet"
                raise ValueError(f"draw: no process named {want!r}; the kernel has: {names}")
            out.extend(named)
        elif hasattr(want, "pid"):
            out.append(want)
        else:
            raise TypeError(f"draw: processes= takes Process objects, pids or names, not {want!r}")
    return out


# ---------------------------------------------------------------- DOT

def esc(text):
    return html.escape(text, quote=True)


def cell(port, text, fill, note=None, fontcolor=None):
    """One table cell; a marked cell gets a thick vermillion border and bold words."""
    attrs = f'PORT="{port}" ALIGN="LEFT" BGCOLOR="{fill}"'
    body = esc(text)
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
        column = n // 2 + 1
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
    g = Diagram(text="", name="cow", graph_attr={
        "rankdir": "LR", "nodesep": "0.25", "ranksep": "0.9", "fontname": "Helvetica",
        "labelloc": "b", "fontsize": "11",
        "label": "RO COW: read-only, copied on write (dashed)   RW: writable   "
                 "shared: MAP_SHARED (bold)   rc: references to a frame"})
    g.attr("node", shape="plaintext", fontname="Helvetica", fontsize="12")
    g.attr("edge", arrowsize="0.7")
    texts, previous = [], None
    for j, pic in enumerate(pictures):
        title = titles[j] if titles else None
        if len(pictures) == 1:
            left, right = add_picture(g, pic, "")
        else:
            with g.subgraph(name=f"cluster_{j}") as sub:
                sub.attr(label=title, fontsize="14", style="rounded", color=GREY, labelloc="t")
                left, right = add_picture(sub, pic, f"k{j}_")
            if previous is not None:             # side by side: next kernel to the right
                g.edge(previous, left, style="invis")
            previous = right
        text = pic.text()
        texts.append(f"{title}:\n{text}" if title else text)
    g.text = "\n\n".join(texts)
    return g


def draw(kernel, processes=None, *, events=None, free=False, titles=None, max_rows=MAX_ROWS):
    """Draw a kernel (or a list of kernels side by side) as page tables and frames.

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
