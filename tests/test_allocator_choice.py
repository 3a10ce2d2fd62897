"""No graded answer depends on which free frame the allocator picks.

Linux promises which pages are shared or private, how many frames are in use, a frame's
refcount and mapcount; it does not promise which free frame a copy lands on (the buddy
allocator's per-CPU lists are not "the lowest free PF", the model's rule). So every
choice and state question of every assignment, drawn for hundreds of students:
- names in its prompt, statements and answer only frames the prompt names
  (PF0..PF(n-1), the question's `named_frames`; none if it has no `named_frames`);
- is still answered right when its solver runs on a model whose allocator hands out the
  HIGHEST free frames once the named ones are laid out (a test-only patch of
  `Frames._kalloc`: the model itself is untouched).
"""
import contextlib
import re

import numpy as np
import pytest

import cowlab
from cowlab.homework import bank
from cowlab.homework.plain import to_plain
from cowlab.mm import page_alloc

GRADED = [q for qs in bank.ASSIGNMENTS.values() for q in qs if q.kind in ("choice", "state")]
STUDENTS = [f"a{i}" for i in range(300)]
PF = re.compile(r"\bPF(\d+)\b")


@contextlib.contextmanager
def highest_first(named):
    """While inside, every Kernel lays out its first `named` frames as the model does
    (the frames the prompt names) and then takes the highest free frames, not the lowest."""
    lowest = page_alloc.Frames._kalloc

    def kalloc(self, n):
        taken = getattr(self, "_test_taken", 0)
        self._test_taken = taken + n
        if taken < named:
            return lowest(self, n)
        need = min(n, self._nfree)
        free = np.flatnonzero((self._mapcount == 0) & ((self._fflags & page_alloc.F_OBJREF) == 0)
                              & (self._extra == 0))
        self._nfree -= need
        return free[len(free) - need:].astype(lowest(self, 0).dtype)

    page_alloc.Frames._kalloc = kalloc
    try:
        yield
    finally:
        page_alloc.Frames._kalloc = lowest


def named(q, p):
    return q.named_frames(p) if q.named_frames is not None else 0


def frames_beyond(text, n):
    """The PF numbers a text names that the prompt does not (n: it names PF0..PF(n-1))."""
    return sorted({int(m) for m in PF.findall(text) if int(m) >= n})


def texts(q, student):
    p = bank.params(q.assignment, q.id, student)
    out = [bank.prompt(q.assignment, q.id, student)]
    if q.kind == "choice":
        out += list(bank.choice_options(q, p).values())
    return out


@pytest.mark.parametrize("q", GRADED, ids=lambda q: f"{q.assignment}/{q.id}")
def test_no_statement_names_a_frame_the_allocator_chose(q):
    for student in STUDENTS:
        p = bank.params(q.assignment, q.id, student)
        n = named(q, p)
        for text in texts(q, student):
            assert not frames_beyond(text, n), (
                f"{q.assignment}/{q.id} for {student} names PF{frames_beyond(text, n)}, "
                f"a frame the allocator chose (the prompt names {n}): {text[:300]!r}")
        if q.kind == "choice":
            opts = list(bank.choice_options(q, p).values())
            assert len(set(opts)) == len(opts), f"{q.assignment}/{q.id} {student}: {opts}"


@pytest.mark.parametrize("q", GRADED, ids=lambda q: f"{q.assignment}/{q.id}")
def test_the_answer_holds_whichever_free_frames_the_allocator_picks(q):
    for student in STUDENTS:
        p = bank.params(q.assignment, q.id, student)
        exp = bank.expected(q.assignment, q.id, student)     # with the model's allocator
        with highest_first(named(q, p)):
            other = to_plain(q.solve(p))
        status, _, message = bank.judge(q.assignment, q.id, student, other)
        assert status == "correct", (
            f"{q.assignment}/{q.id} for {student}: the answer is {exp!r} with the lowest "
            f"free frames first, {other!r} with the highest ({message})")


def test_the_checks_catch_an_answer_that_names_the_copy():
    """Both checks can fail: the PF of a child's copy is the allocator's choice."""
    def copy_pfn(p):
        k = cowlab.Kernel(ram_pages=16)
        parent = k.spawn("parent", pages=p["pages"])
        child = k.fork(parent)
        k.write(child, 0, "x")
        return k.pte(child, 0).pfn

    p = {"pages": 3}
    lowest = copy_pfn(p)
    with highest_first(3):
        highest = copy_pfn(p)
    assert (lowest, highest) == (3, 15)
    assert frames_beyond(f"the child's VP0 maps PF{lowest}", 3) == [3]
    assert frames_beyond("the child's VP0 maps PF0; rc(PF2) is 2", 3) == []
