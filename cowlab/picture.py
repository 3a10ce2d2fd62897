"""What a drawing shows, in rows and words, without graphviz.

A page table of millions of entries cannot be drawn entry by entry, so the rows
are chosen here: one per page when they fit, else runs of pages in one state
(`VP0..VP9 -> PF0..PF9 RO COW (10 pages)`), else folded stretches with counts.
`Picture` gathers one kernel's rows, edges and marks (the last event's "page
fault!", "new copy!", "freed"); `render` turns it into DOT, and its `text()` is
what a screen reader, nbval and `cowlab.describe` read. numpy only: this module
works where graphviz is missing.
"""
import numpy as np

from .mm import FAULT_KINDS, NOT_PRESENT, ZERO_PFN

MAX_ROWS = 24           # rows per table before runs of pages are summarised

# The state of one page-table entry, as a small code (see pte_codes).
NP, ZERO = 0, 1

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


def pname(proc):
    return f"{proc.name} (pid {proc.pid})"


# ---------------------------------------------------------------- what the last event marks

def event_notes(kernel, events):
    """Turn events into marks: {(pid, vpn): word}, {pfn: word}, {pid: word}."""
    entry, frame, proc = {}, {}, {}
    for e in events:
        kind = e.kind
        if kind in FAULT_KINDS and e.vpn is not None:
            entry[(e.pid, e.vpn)] = "page fault!"
        if kind == "cow_copy" and e.new_pfn is not None:
            frame[frame_of(kernel, e, e.new_pfn)] = "new copy!"
        elif kind == "cow_reuse" and e.pfn is not None:
            frame[frame_of(kernel, e, e.pfn)] = "reused, no copy"
        elif kind == "zero_fill":
            if e.new_pfn is not None and e.new_pfn >= 0:
                frame[e.new_pfn] = "zero-filled"
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
    __slots__ = ("first", "last", "count", "code", "pfn0", "pfn1", "note", "mixed", "lo", "hi",
                 "held", "map")

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

HELD_WORDS = ("pinned", "pipe", "page cache", "KSM")   # bits of a frame's `held` code


def held_codes(kernel):
    """Per frame, a bit per kind of reference that is not a mapping (HELD_WORDS order),
    so a drawing can say why the refcount exceeds the mapcount; 0 for most frames."""
    h = kernel.holders()
    return ((h["pinned"] > 0) * 1 + (h["pipe"] > 0) * 2 + (h["page cache"] > 0) * 4
            + (h["ksm"] > 0) * 8).astype(np.int64)


def held_words(code):
    """'pinned', 'pipe, page cache', ... for a held code."""
    return ", ".join(w for i, w in enumerate(HELD_WORDS) if code & (1 << i))


def frame_rows(rc, marks, show_free, max_rows, held=None, mc=None):
    """Frames in use (and the marked ones, and free ones if asked), summarised like tables.

    Frames in use get a row each when they fit; free frames always come in runs. A frame
    with references that are not mappings (`held`, from held_codes) gets its mapcount
    (`mc`) and the words for them in its row.
    """
    n = len(rc)
    if held is None:
        held = np.zeros(n, dtype=np.int64)
        mc = rc
    marks = {pfn: w for pfn, w in marks.items() if 0 <= pfn < n}
    used = rc > 0
    brk = np.ones(n, dtype=bool)
    brk[1:] = (rc[1:] != rc[:-1]) | (held[1:] != held[:-1]) | (mc[1:] != mc[:-1])
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
                            hi=hi, note=marks.get(lo) if hi - lo == 1 else None, mixed=None,
                            held=int(held[lo]) if rc[lo] > 0 else 0, map=int(mc[lo])))
    return rows


def rc_words(rc):
    return "free" if rc <= 0 else f"rc={rc}"


def frame_row_words(r):
    """'PF3 rc=1', 'PF3..PF9 rc=2 (7 frames)', 'PF1 rc=0 (freed)', 'PF4 rc=2 map=1 (pinned)'..."""
    pf = f"PF{r.first}" if r.first == r.last else f"PF{r.first}..PF{r.last}"
    many = f" ({r.count} frames)" if r.count > 1 else ""
    if r.mixed:
        return f"{pf} mixed ({r.mixed})"
    if r.code <= 0 and not r.note:
        return f"{pf} free{many}"
    if r.held:      # refcount and mapcount differ, or a KSM page: say both, and why
        counts = f"rc={r.code}" + (f" map={r.map}" if r.map != r.code else "")
        return f"{pf} {counts}{many} ({held_words(r.held)})" + (f" ({r.note})" if r.note else "")
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
        self.held = held_codes(kernel)
        self.frames = frame_rows(self.rc, frame, show_free, max_rows, self.held,
                                 np.asarray(kernel.mapcounts()))
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
