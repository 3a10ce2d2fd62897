"""The code exercises: the primitives machine, the cowtest-like scenarios, the grader.

Submissions here are real answer-cell sources: the reference answer of the
solutions notebook, and mutations of it that a student could plausibly write.
"""
import re

import pytest

from cowlab.homework import bank, codejudge, codex, worker
from cowlab.homework.questions_code import code_solution

REFERENCE = code_solution("q1")
FULL = bank.question("07-code", "q1").points


def grade(source, student="ana-maria"):
    """The judge the check and the grader share, on the answer's class built here."""
    if not source.strip():
        return "unanswered", 0, "not yet answered"
    kernel = codex.kernel_from_source(source, "q1")
    return codejudge.judge_kernel("07-code", "q1", student, kernel)


def graded(source, tmp_path, student="ana-maria"):
    """What the grader gives: the class in a process of its own, the judge in another."""
    status, points, message = worker.judge_code("07-code", "q1", student, source, 10, 1024,
                                                str(tmp_path))
    return status, points, message


def mutate(old, new):
    assert old in REFERENCE, old
    return REFERENCE.replace(old, new, 1)


@pytest.mark.parametrize("student", ["example-student", "ana-maria", "bob-7"])
def test_the_reference_answer_gets_full_marks(student):
    assert grade(REFERENCE, student) == ("correct", FULL, f"all {FULL} scenarios pass")


def test_blank_and_stub_answers_are_unanswered():
    assert grade("")[0] == "unanswered"
    stub = re.sub(r"( *)### BEGIN SOLUTION\n.*?### END SOLUTION",
                  r'\1# YOUR CODE HERE\n\1raise NotImplementedError("write your answer here")',
                  REFERENCE, flags=re.S)
    assert "BEGIN SOLUTION" not in stub
    assert grade(stub) == ("unanswered", 0, "not yet answered")


BROKEN = {
    # a copy that forgets to drop the old frame's reference
    "missing-decrement": (mutate("        m.decref(pte.pfn)\n", ""),
                          "refcount-matches-mappings", r"refcount\(PF\d+\) is \d+ but \d+ PTE"),
    # reuse in place without asking whether someone else still maps the frame
    "reuse-while-shared": (mutate("if m.refcount(pte.pfn) == 1:", "if True:"),
                           "shared-frames-read-only",
                           r"PF\d+ is mapped by \d+ PTEs but pid \d+ VP\d+"),
    # free the old frame after copying, though the other process still maps it
    "free-too-early": (mutate("        m.decref(pte.pfn)\n", "        m.kfree(pte.pfn)\n"),
                       "no-mapped-free-frame", r"PF\d+ is on the free list but pid \d+ VP\d+"),
    # fork marks only the child read-only
    "no-write-protect": (mutate("                m.map(parent, vpn, pte.pfn, writable=False, "
                                "cow=True)\n", ""),
                         "shared-frames-read-only", r"fork of pid \d+"),
    # copyout writes straight into the shared frame
    "copyout-into-shared": (mutate("        if pte.cow:\n"
                                   "            self.write_fault(m, proc, vpn)\n", ""),
                            "isolation", r"pid \d+ VP\d+ reads"),
    # fork forgets the refcount of the shared frames
    "no-incref": (mutate("            m.incref(pte.pfn)\n", ""),
                  "refcount-matches-mappings", r"fork of pid \d+"),
    # fork hands back the parent instead of a new process
    "returns-parent": (mutate("        return child\n", "        return parent\n"),
                       "fork-returns-child", r"fork of pid \d+"),
    # fork makes read-only text COW, so a write to code "succeeds"
    "text-made-cow": (mutate("                m.map(child, vpn, pte.pfn, writable=False)\n",
                             "                m.map(child, vpn, pte.pfn, writable=False, "
                             "cow=True)\n"),
                      "read-only-stays-read-only", r"read-only VP\d+"),
}


@pytest.mark.parametrize("bug", list(BROKEN))
def test_broken_kernels_lose_points_with_a_message_naming_invariant_and_place(bug):
    source, invariant, where = BROKEN[bug]
    status, points, msg = grade(source)
    assert status == "wrong" and 0 <= points < FULL, (bug, points, msg)
    assert f"{invariant} broken" in msg, msg
    assert re.search(r"step \d+ \(", msg) and re.search(where, msg), msg


def test_leaks_are_caught_by_many_short_lived_forks_and_three_generations():
    # forgets the decrement: the parent's later copies leave frames nobody maps
    status, _, msg = grade(BROKEN["missing-decrement"][0])
    assert "many-forks: step" in msg and "three-generations: step" in msg, msg
    # copies even as the last user and then never frees the old frame
    leaky = mutate("        m.decref(pte.pfn)\n",
                   "        m.decref(pte.pfn) if m.refcount(pte.pfn) > 1 else None\n")
    leaky = leaky.replace("if m.refcount(pte.pfn) == 1:", "if False:", 1)
    status, points, msg = grade(leaky)
    assert status == "wrong" and points < FULL
    for scenario in ("three-generations", "last-writer", "big-fork"):
        assert f"{scenario}: step" in msg, msg


def test_a_copying_fork_fails_the_big_fork_with_more_than_half_of_ram():
    # the pre-COW fork: give the child its own copy of every page
    eager = mutate("        for vpn in m.vpns(parent):\n",
                   "        for vpn in m.vpns(parent):\n"
                   "            new = m.kalloc()\n"
                   "            m.copy_frame(m.walk(parent, vpn).pfn, new)\n"
                   "            m.map(child, vpn, new, writable=m.walk(parent, vpn).writable)\n"
                   "        return child\n"
                   "        for vpn in m.vpns(parent):\n")
    status, points, msg = grade(eager)
    assert status == "wrong" and "big-fork: step 2 (fork of pid 1)" in msg, msg
    assert "fork-copies-nothing broken" in msg
    # allocating and freeing a frame during fork is still a copy
    sneaky = mutate("        child = m.new_proc(parent.name + \"-child\")\n",
                    "        child = m.new_proc(parent.name + \"-child\")\n"
                    "        for vpn in m.vpns(parent):\n"
                    "            new = m.kalloc()\n"
                    "            m.copy_frame(m.walk(parent, vpn).pfn, new)\n"
                    "            m.kfree(new)\n")
    assert "fork-copies-nothing broken" in grade(sneaky)[2]


def test_scenarios_are_modelled_on_cowtest():
    names = set(codex.SCENARIOS)
    assert {"big-fork", "three-generations", "copyout", "many-forks"} <= names
    hidden = [n for n, (_, public, _) in codex.SCENARIOS.items() if not public]
    assert {"big-fork", "three-generations", "many-forks"} <= set(hidden)
    # big-fork really holds more than half of RAM when it forks
    peaks = []

    class Watch(codex.ReferenceKernel):
        def fork(self, m, parent):
            peaks.append((m.frames - m.free_count()) / m.frames)
            return super().fork(m, parent)
    assert codex.run_scenario("big-fork", Watch(), seed=1) is None
    assert peaks and min(peaks) > 0.5
    # three generations: a grandchild exists, and all three write
    writers = set()

    class Gen(codex.ReferenceKernel):
        def write_fault(self, m, proc, vpn):
            writers.add(proc.pid)
            return super().write_fault(m, proc, vpn)
    assert codex.run_scenario("three-generations", Gen(), seed=1) is None
    assert {1, 2, 3} <= writers


def test_the_student_cannot_patch_the_checks(tmp_path):
    """The class runs in a process of its own: patching the checks, the machine, the
    bank or builtins there changes nothing the judge computes."""
    first = REFERENCE.splitlines()[0] + "\n"
    buggy = REFERENCE.replace("        m.decref(pte.pfn)\n", "", 1)
    honest = graded(buggy, tmp_path)
    assert honest[0] == "wrong" and honest[1] < FULL
    patch_checks = buggy.replace(first, first + "import cowlab.homework.codex as _c\n"
                                 "_c.check_invariants = lambda m: None\n"
                                 "_c.score_kernel = lambda *a, **k: ('correct', 8, '')\n", 1)
    assert graded(patch_checks, tmp_path)[:2] == honest[:2]
    patch_machine = buggy.replace(first, first + "from cowlab.homework.codex import Machine\n"
                                  "Machine.free_count = lambda self: 0\n", 1)
    assert graded(patch_machine, tmp_path)[:2] == honest[:2]
    patch_bank = buggy.replace(first, first + "import cowlab.homework.bank as _b\n"
                               "_b.seed = lambda *a: 0\n", 1)
    assert graded(patch_bank, tmp_path)[:2] == honest[:2]
    patch_builtins = buggy.replace(first, first + "import builtins\nbuiltins.isinstance = "
                                   "lambda *a: True\n", 1)
    assert graded(patch_builtins, tmp_path)[1] <= honest[1]
    assert graded(REFERENCE, tmp_path)[:2] == ("correct", FULL)


@pytest.mark.parametrize("source,why", [
    ("class q1(CowKernel:\n    pass\n", "syntax error on line 1"),
    ("q1 = 42\n", "must define a class named q1"),
    ("raise SystemExit(0)\n", "raised SystemExit"),
    ("import sys\nsys.exit(3)\n", "raised SystemExit: 3"),
    ("class q1(CowKernel):\n    def __init__(self):\n        raise RuntimeError('boom')\n",
     "RuntimeError: boom"),
])
def test_answers_that_do_not_run_are_invalid_with_a_reason(source, why, tmp_path):
    status, points, msg = graded(source, tmp_path)
    assert (status, points) == ("invalid", 0) and why in msg, msg


def test_an_exception_in_the_students_code_names_the_line():
    source = mutate("        new = m.kalloc()\n", "        new = m.kalloc()\n        {}['x']\n")
    status, points, msg = grade(source)
    assert status == "wrong" and "KeyError" in msg and "line" in msg and "write_fault" in msg


def test_bug_hunt_kernels_each_break_their_invariant():
    expect = {"missing-decrement": "refcount-matches-mappings",
              "reuse-while-shared": "shared-frames-read-only",
              "free-too-early": "no-mapped-free-frame",
              "no-write-protect": "shared-frames-read-only"}
    for bug, kernel in codex.BUGS.items():
        status, points, msg = codex.score_kernel(kernel(), 7, FULL)
        assert status == "wrong" and points < FULL
        assert f"{expect[bug]} broken" in msg, (bug, msg)


def test_suspects_are_shuffled_per_student_and_named_neutrally():
    maps = {tuple(sorted(codex.suspect_bugs(bank.seed("07-code", "q2", f"s{i}")).items()))
            for i in range(10)}
    assert len(maps) > 3
    kernels = codex.suspects(123)
    assert sorted(kernels) == codex.SUSPECTS
    for name, cls in kernels.items():
        assert cls.__name__ == name and not any(b in repr(cls) for b in codex.BUGS)


def test_machine_primitives_refuse_misuse_clearly():
    m = codex.Machine(4)
    pfn = m.kalloc()
    m.kfree(pfn)
    with pytest.raises(ValueError, match="double free"):
        m.kfree(pfn)
    with pytest.raises(ValueError, match="frames are 0..3"):
        m.refcount(9)
    p = m.new_proc("p")
    with pytest.raises(ValueError, match="kalloc it first"):
        m.map(p, 0, pfn, writable=True)
    for _ in range(4):
        m.kalloc()
    with pytest.raises(codex.OutOfMemory):
        m.kalloc()


def test_an_answer_that_inherits_the_reference_or_a_suspect_gets_nothing(tmp_path):
    """The reference and the bug-hunt kernels ship with the package; handing them in
    (or a subclass with one line changed) is not writing the kernel."""
    for module, base in (("codex", "ReferenceKernel"), ("bughunt", "_KernelMD")):
        source = (f"from cowlab.homework.{module} import {base}\n"
                  f"class q1({base}):\n    pass\n")
        status, points, message = graded(source, tmp_path, student="sly")
        assert (status, points) == ("invalid", 0), (base, status, message)
        assert "subclass CowKernel" in message
        with pytest.raises(TypeError):
            codex.kernel_from_source(source, "q1")
