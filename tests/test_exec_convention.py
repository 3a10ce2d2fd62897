"""No graded answer depends on exec's populate convention.

The model's `exec(p, pages=n)` maps a fresh n-page image and fills it at once; Linux maps
a program's memory and faults each page in as it is first touched (and loads the binary
from the page cache). How many frames the new image takes at exec is therefore the
model's convention, not Linux's promise, and no question may grade it (issue 12). So every
number, choice and state question is solved again, for sixty students, on a model
whose exec maps the image without filling it (a test-only patch: the model is untouched);
every answer must stay the same.
"""
import contextlib

import pytest

from cowlab.homework import bank
from cowlab.mm import exit as mm_exit

GRADED = [q for qs in bank.ASSIGNMENTS.values() for q in qs
          if q.kind in ("number", "choice", "state") and q.solve is not None]
STUDENTS = [f"x{i}" for i in range(60)]


@contextlib.contextmanager
def lazy_exec():
    """While inside, exec maps its image unfilled, as Linux does (mmap, no populate)."""
    populated = mm_exit.Exit.exec

    def exec_(self, p, pages=1, name=None):
        events = populated(self, p, pages=0, name=name)
        if pages:
            self.mmap(p, pages)
        return events

    mm_exit.Exit.exec = exec_
    try:
        yield
    finally:
        mm_exit.Exit.exec = populated


def test_the_patch_changes_what_exec_fills():
    """The test below can fail: under the patch an exec'd image holds no frame."""
    import cowlab
    used = []
    for ctx in (contextlib.nullcontext(), lazy_exec()):
        with ctx:
            k = cowlab.Kernel(ram_pages=16)
            k.exec(k.spawn("shell", pages=2), pages=3)
            used.append(k.ram_pages - k.free_frames())
    assert used == [3, 0]


@pytest.mark.parametrize("q", GRADED, ids=lambda q: f"{q.assignment}/{q.id}")
def test_no_answer_counts_what_exec_fills(q):
    for student in STUDENTS:
        p = bank.params(q.assignment, q.id, student)
        want = q.solve(p)
        with lazy_exec():
            got = q.solve(p)
        assert got == want, (f"{q.assignment}/{q.id} for {student}: the answer {want!r} "
                             f"becomes {got!r} when exec does not fill its image: it grades "
                             "the model's populate convention")
