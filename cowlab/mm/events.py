"""Events: what the kernel did, as data and in words.

Every call returns the events it appended to `k.events`; each carries one sentence
in the kernel's voice (`text`). The kinds are a closed set, named here once and
imported by everything that shows them (describe, render, sim, widgets).
"""
from collections import namedtuple

Event = namedtuple("Event", "kind pid vpn pfn new_pfn text")
Event.__doc__ = """One thing the kernel did, narrated in `text` (kinds: EVENT_KINDS).

For a fault, `pfn` is the frame faulted on (what the page mapped before, or the
existing frame it now maps: PF of a COW page, ZERO_PFN, the shared object's frame;
None if there was none) and `new_pfn` a frame the fault allocated (None if none)."""

# The faults: what a page fault can do (see docs/kernel-internals.md).
FAULT_KINDS = ("cow_copy", "cow_reuse", "zero_fill", "zero_map", "shared_map", "file_read")
# Faults that end a process, and the kernel's other answers to a call.
KILL_KINDS = ("segv", "oom_kill")
LIFECYCLE_KINDS = ("fork", "exec", "exit")
EVENT_KINDS = ("fork", "cow_copy", "cow_reuse", "zero_fill", "zero_map", "shared_map",
               "file_read", "free", "exec", "exit", "segv", "enomem", "oom_kill")
# Kinds a bulk call (write_many, populate) counts per page and logs as one summary.
BULK_KINDS = ("cow_copy", "cow_reuse", "zero_fill", "shared_map", "file_read")
BULK_WORDS = {"cow_copy": ("page copied", "pages copied", "COW faults on shared frames"),
              "cow_reuse": ("COW page made", "COW pages made",
                            "writable in place (last reference, no copy)"),
              "zero_fill": ("zeroed frame allocated", "zeroed frames allocated",
                            "first touch, nothing to copy"),
              "shared_map": ("shared page mapped", "shared pages mapped",
                             "already in the shared object"),
              "file_read": ("file page read", "file pages read", "into the page cache")}
SUMMARY_LIMIT = 8    # bulk calls that free more frames log one summary `free` event


def plural(n, word, many=None):
    """'1 page', '2 pages', '1,024 PTEs': counts in narration agree with their nouns."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {many or word + 's'}"


def pages_str(n):
    """1 page, 2 pages: for narration."""
    return plural(n, "page")


def who(k, p):
    """A process in words: its name, with the pid when another process shares the name."""
    if sum(q.name == p.name for q in k._procs) > 1:
        return f"{p.name} (pid {p.pid})"
    return p.name


class FrameSet:
    """Words for many distinct frames, gathered a chunk at a time (no big temporaries)."""

    def __init__(self):
        self.n, self.lo, self.hi, self.few = 0, None, None, []

    def add(self, pfns):
        if not len(pfns):
            return
        lo, hi = int(pfns.min()), int(pfns.max())
        self.lo = lo if self.lo is None else min(self.lo, lo)
        self.hi = hi if self.hi is None else max(self.hi, hi)
        self.n += len(pfns)
        if self.n <= 4:
            self.few += pfns.tolist()

    def words(self):
        """PF0, PF1 / PF0..PF9 / 2,621,440 frames."""
        if self.n <= 4:
            return ", ".join(f"PF{x}" for x in sorted(self.few)) or "no frames"
        if self.hi - self.lo + 1 == self.n:
            return f"PF{self.lo}..PF{self.hi}"
        return plural(self.n, "frame")


def free_events(p, freed, why):
    """One `free` event per frame, or one summary when many go at once (p None: no
    process did it, e.g. a pipe closed)."""
    pid = None if p is None else p.pid
    if len(freed) > SUMMARY_LIMIT:
        return [Event("free", pid, None, None, None,
                      f"{why}: {plural(len(freed), 'frame')} freed (their last reference is gone)")]
    return [Event("free", pid, None, int(f), None,
                  f"PF{f} freed: its last reference is gone ({why})") for f in freed]


def summarise(k, p, counts, what):
    """One event per bulk kind, in place of one per page."""
    out = []
    for kind in BULK_KINDS:
        if counts.get(kind):
            one, many, why = BULK_WORDS[kind]
            why = f" {why}" if kind == "cow_reuse" else f" ({why})"
            out.append(Event(kind, p.pid, None, None, None, f"{what} by {p.name} (pid {p.pid}): "
                             f"{plural(counts[kind], one, many)}{why}"))
    return out
