"""The model's state and events in words, with nothing but numpy: what `cowlab sim` prints,
and what a reader without graphviz (or a screen reader) gets.

    >>> import cowlab
    >>> from cowlab import describe
    >>> k = cowlab.Kernel(ram_pages=16)
    >>> p = k.spawn("parent", 3); c = k.fork(p); _ = k.write(p, 1, "x")
    >>> print(describe.state(k))
    parent (pid 1): VP0 -> PF0 RO COW, VP1 -> PF3 RW, VP2 -> PF2 RO COW
    child (pid 2): VP0 -> PF0 RO COW, VP1 -> PF1 RO COW, VP2 -> PF2 RO COW
    frames: PF0 rc=2, PF1 rc=1, PF2 rc=2, PF3 rc=1; free: 12 of 16

Past MAX_ROWS pages, runs of pages in one state that map consecutive frames are one
row, so a 10 GiB process reads as one line. Only the model's public reads are used.
"""
import numpy as np

from .mm import FAULT_KINDS, NOT_PRESENT, ZERO_PFN

MAX_ROWS = 24       # rows per page table before the rest is counted, not listed

# PTE states as small codes; their words are STATE_WORDS[code]
NOT_MAPPED, NONE, ZERO, RO, RW, RO_COW, RO_SHARED, RW_SHARED = range(8)
STATE_WORDS = {NONE: "not present", ZERO: "zero page RO", RO: "RO", RW: "RW",
               RO_COW: "RO COW", RO_SHARED: "RO shared", RW_SHARED: "RW shared"}


def plural(n, word):
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def name(p):
    """'parent (pid 1)'."""
    return f"{p.name} (pid {p.pid})"


def pte_states(k, p):
    """(state code per vpn, pfn per vpn) of a live process, from its public page table."""
    pt = k.page_table(p)
    pfn = np.asarray(pt.pfn)
    code = np.full(len(pfn), NOT_MAPPED, np.int8)
    for r in k.regions(p):
        sl = slice(r.start, r.start + r.pages)
        w, cow, f = pt.writable[sl], pt.cow[sl], pfn[sl]
        c = np.where(w, RW_SHARED if r.shared else RW,
                     np.where(cow, RO_COW, RO_SHARED if r.shared else RO)).astype(np.int8)
        c[f == ZERO_PFN] = ZERO
        c[f == NOT_PRESENT] = NONE
        code[sl] = c
    return code, pfn


def runs(code, pfn, fold=True):
    """(first, last, code, pfn of first) for runs of one state over consecutive frames
    (with fold=False, one row per page)."""
    if not len(code):
        return []
    framed = pfn >= 0
    step = np.ones(len(code), bool)
    step[1:] = (code[1:] != code[:-1]) | (framed[1:] & (pfn[1:] != pfn[:-1] + 1)) | (not fold)
    starts = np.flatnonzero(step)
    ends = np.append(starts[1:], len(code)) - 1
    return [(int(s), int(e), int(code[s]), int(pfn[s])) for s, e in zip(starts, ends)
            if code[s] != NOT_MAPPED]


def row_words(first, last, code, pfn0, unit="page"):
    vp = f"VP{first}" if first == last else f"VP{first}..VP{last}"
    many = f" ({plural(last - first + 1, unit)})" if last > first else ""
    if pfn0 >= 0:
        pf = f"PF{pfn0}" if first == last else f"PF{pfn0}..PF{pfn0 + last - first}"
        return f"{vp} -> {pf} {STATE_WORDS[code]}{many}"
    return f"{vp} -> {STATE_WORDS[code]}{many}"


def page_table(k, p, max_rows=MAX_ROWS):
    """'VP0 -> PF0 RO COW, VP1 -> PF3 RW, ...' (not-present runs are left out)."""
    code, pfn = pte_states(k, p)
    few = np.count_nonzero((code != NOT_MAPPED) & (code != NONE)) <= max_rows
    rows = [r for r in runs(code, pfn, fold=not few) if r[2] != NONE]
    words = [row_words(*r) for r in rows[:max_rows]]
    if len(rows) > max_rows:
        words.append(f"... and {plural(len(rows) - max_rows, 'more row')}")
    return ", ".join(words) or "no pages"


def frames(k, max_rows=None):
    """'PF0 rc=2, PF3 rc=1': every frame in use; past MAX_ROWS frames, by runs of one
    refcount ('PF3..PF5 rc=1 (3 frames)'). Where pins, pipes or a shared object hold a
    frame too, its mapcount follows: 'PF3 rc=2 (mapcount 1)'."""
    rc = k.refcounts()
    mc = k.mapcounts()
    used = np.flatnonzero(rc > 0)
    if not len(used):
        return "none in use"
    step = np.ones(len(used), bool)
    step[1:] = (used[1:] != used[:-1] + 1) | (rc[used[1:]] != rc[used[:-1]]) | \
        (mc[used[1:]] != mc[used[:-1]]) | (len(used) <= MAX_ROWS)
    starts = np.flatnonzero(step)
    ends = np.append(starts[1:], len(used)) - 1
    words = []
    for s, e in zip(starts, ends):
        a, b = int(used[s]), int(used[e])
        counts = f"rc={int(rc[a])}" + (f" (mapcount {int(mc[a])})" if mc[a] != rc[a] else "")
        if a == b:
            words.append(f"PF{a} {counts}")
        else:
            words.append(f"PF{a}..PF{b} {counts} ({plural(b - a + 1, 'frame')})")
    if max_rows is not None and len(words) > max_rows:
        words = words[:max_rows] + [f"... and {plural(len(words) - max_rows, 'more row')}"]
    return ", ".join(words)


def event(k, e):
    """'cow_copy, parent (pid 1), VP1: page fault: ...' (kind, who, where, narration)."""
    who = next((name(p) for p in k.processes if p.pid == e.pid), f"pid {e.pid}")
    where = f", VP{e.vpn}" if e.vpn is not None else ""
    return f"{e.kind}, {who}{where}: {e.text}"


def faults(events):
    """How many of these events are page faults (FAULT_KINDS)."""
    return sum(e.kind in FAULT_KINDS for e in events)


def state(k, max_rows=MAX_ROWS):
    """Every live process's page table, then the frames in use and how many are free."""
    lines = [f"{name(p)}: {page_table(k, p, max_rows)}" for p in k.live()]
    lines.append(f"frames: {frames(k)}; free: {k.free_frames()} of {k.ram_pages}")
    return "\n".join(lines)
