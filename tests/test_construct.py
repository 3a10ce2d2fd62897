"""Construction questions are graded by their constraints, on the model, with no single
answer to copy: the bank's own construction scores, a *different* correct one scores
too, one that breaks each condition is `wrong` naming that condition, and a hostile
answer (wrong types, huge sizes, thousands of steps, code-looking strings) is
`invalid` with a message saying what to fix, quickly and without running anything.
"""
import itertools
import time

import pytest

from cowlab.homework import Homework, bank, construct

CONSTRUCT = [q for qs in bank.ASSIGNMENTS.values() for q in qs if q.kind == "construct"]
STUDENTS = [f"student-{i}" for i in range(40)]


def judge(q, student, given):
    return bank.judge(q.assignment, q.id, student, given)


def test_every_assignment_has_a_construction_question():
    have = {q.assignment for q in CONSTRUCT}
    want = set(bank.ASSIGNMENTS)
    assert want <= have, f"no construction question in {sorted(want - have)}"


@pytest.mark.parametrize("q", CONSTRUCT, ids=lambda q: f"{q.assignment}/{q.id}")
def test_the_solvers_construction_meets_every_condition(q):
    for s in STUDENTS:
        made = bank.expected(q.assignment, q.id, s)
        assert judge(q, s, made) == ("correct", q.points, "correct"), (s, made)


# -- a different correct answer, and one that breaks each condition ----------------------

def p_of(q, student="ana-maria"):
    return bank.params(q.assignment, q.id, student)


def find(q, pred, tries=400):
    """A student whose variant satisfies pred (variants are random)."""
    for i in range(tries):
        s = f"pick-{i}"
        if pred(bank.params(q.assignment, q.id, s)):
            return s
    raise AssertionError(f"no variant of {q.id} with that property in {tries} students")


Q = {(q.assignment, q.id): q for q in CONSTRUCT}


def test_01_ptes_any_split_scores_and_each_condition_is_named():
    q = Q[("01-fork", "q6")]
    s = find(q, lambda p: p["frames"] == 6 and p["ptes"] == 18)
    one = ["spawn a 6", "fork a b", "fork a c"]                     # 6 frames x 3
    other = ["spawn x 3", "fork x y", "fork x z", "spawn u 3", "fork u v", "fork u w"]
    assert judge(q, s, one)[0] == judge(q, s, other)[0] == "correct"
    status, _, msg = judge(q, s, ["spawn a 6", "fork a b"])        # 12 PTEs
    assert status == "wrong" and "12 PTEs" in msg and "exactly 18" in msg
    status, _, msg = judge(q, s, ["spawn a 9", "fork a b"])         # 9 frames, 18 PTEs
    assert status == "wrong" and "9 frames are in use" in msg
    status, _, msg = judge(q, s, ["spawn a 6", "fork a b", "write b 0"])
    assert status == "invalid" and "spawn, fork" in msg             # only the allowed steps


def test_02_parent_never_copies_two_orders_and_the_failures():
    q = Q[("02-write-faults", "q7")]
    s = find(q, lambda p: p["pages"] == 2 and p["most"] >= 4)
    a = ["write child 0", "write parent 0", "write child 1", "write parent 1"]
    b = ["write child 1", "write child 0", "write parent 0", "write parent 1"]
    assert judge(q, s, a)[0] == judge(q, s, b)[0] == "correct"
    status, _, msg = judge(q, s, ["write parent 0", "write child 0", "write child 1",
                                  "write parent 1"])
    assert status == "wrong" and "parent copies 1 time" in msg
    status, _, msg = judge(q, s, ["write child 0", "write parent 0", "write child 1"])
    assert status == "wrong" and "the parent never writes VP1" in msg


def test_03_exact_copies_with_a_reuse():
    q = Q[("03-refcounting", "q6")]
    s = find(q, lambda p: p["kids"] == 2 and p["copies"] == 3 and p["pages"] >= 2)
    right = ["write child1 0", "write child2 0", "write parent 0", "write child1 1"]
    other = ["write child1 1", "write parent 0", "write child2 1", "write child1 1",
             "write parent 1"][:p_of(q, s)["most"]]
    assert judge(q, s, right)[0] == "correct"
    assert judge(q, s, ["write parent 1", "write child2 1", "write child1 1",
                        "write child1 0"])[0] == "correct"
    status, _, msg = judge(q, s, ["write child1 0", "write child2 0", "write child1 1"])
    assert status == "wrong" and "no write reuses" in msg           # 3 copies, no reuse
    status, _, msg = judge(q, s, ["write child1 0", "write child2 0", "write parent 0"])
    assert status == "wrong" and "2 copies" in msg
    assert other                                                    # (kept short: most caps it)
    too_many = ["write child1 0"] * (p_of(q, s)["most"] + 1)
    status, _, msg = judge(q, s, too_many)
    assert status == "invalid" and "entries" in msg


def test_04_any_subset_of_the_right_size():
    q = Q[("04-exec", "q6")]
    s = find(q, lambda p: p["pages"] >= 4 and 1 <= p["copies"] <= p["pages"] - 2)
    p = p_of(q, s)
    keep = p["pages"] - p["copies"]                                 # pages child2 writes
    subsets = list(itertools.combinations(range(p["pages"]), keep))
    assert len(subsets) > 1
    for sub in (subsets[0], subsets[-1]):
        assert judge(q, s, list(sub))[0] == "correct"
    status, _, msg = judge(q, s, list(range(keep + 1)))
    assert status == "wrong" and f"exactly {p['copies']}" in msg
    assert judge(q, s, [0, 0])[0] == "invalid"
    assert judge(q, s, [p["pages"]])[0] == "invalid"


def test_05_the_smallest_failing_heap_and_its_neighbours():
    q = Q[("05-overcommit", "q6")]
    s = "ana-maria"
    h = bank.expected(q.assignment, q.id, s)
    assert judge(q, s, h)[0] == "correct"
    status, _, msg = judge(q, s, h - 1)
    assert status == "wrong" and "the fork succeeds" in msg
    status, _, msg = judge(q, s, h + 1)
    assert status == "wrong" and "smallest" in msg
    status, _, msg = judge(q, s, 10 ** 9)
    assert status == "invalid" and "between 1 and" in msg


def test_06_few_copies_many_writes():
    q = Q[("06-redis", "q7")]
    s = find(q, lambda p: p["copies"] == 2 and p["writes"] == 5)
    assert judge(q, s, [0, 1, 0, 1, 0])[0] == "correct"
    assert judge(q, s, [3, 3, 3, 2, 3])[0] == "correct"
    status, _, msg = judge(q, s, [0, 1, 2, 0, 1])
    assert status == "wrong" and "copy 3 pages" in msg
    assert judge(q, s, [0, 1])[0] == "invalid"                      # exactly 5 writes


def test_07_three_ways_to_keep_memory_from_the_child():
    q = Q[("07-beyond-fork", "q4")]
    s = find(q, lambda p: p["gap"] == 2)
    n = p_of(q, s)["pages"]
    dontfork = [f"mmap parent 2 private", f"write parent {n}", f"write parent {n + 1}",
                f"madvise parent {n} 2 dontfork"]
    wipe = dontfork[:3] + [f"madvise parent {n} 2 wipeonfork"]
    shared = [f"mmap parent 2 shared", f"write parent {n}", f"write parent {n + 1}"]
    for way in (dontfork, wipe, shared):
        assert judge(q, s, way)[0] == "correct", way
    status, _, msg = judge(q, s, dontfork[:3])                     # nothing kept back
    assert status == "wrong" and "0 fewer" in msg
    status, _, msg = judge(q, s, ["mmap parent 2 shared", f"madvise parent {n} 1 wipeonfork"])
    assert status == "invalid" and "refuses" in msg                 # the model's own reason


def test_08_smaps_to_order():
    q = Q[("08-real-kernel", "q3")]
    s = find(q, lambda p: p["pages"] >= 5 and p["private_kb"] == 8 and p["shared_kb"] < 4 * p["pages"])
    p = p_of(q, s)
    both = p["pages"] - p["shared_kb"] // 4
    a = {"child1": [0, 1], "child2": list(range(both))}
    b = {"child1": [p["pages"] - 1, p["pages"] - 2],
         "child2": [p["pages"] - 1, p["pages"] - 2][:both] + list(range(max(0, both - 2)))}
    assert judge(q, s, a)[0] == "correct"
    assert judge(q, s, b)[0] == "correct", b
    status, _, msg = judge(q, s, {"child1": [0], "child2": list(range(both))})
    assert status == "wrong" and "child1's Private_Dirty is 4 kB" in msg
    status, _, msg = judge(q, s, {"child1": [0, 1], "child2": []})
    assert status == "wrong" and "Shared_Dirty" in msg
    assert judge(q, s, [0, 1])[0] == "invalid"


# -- hostile input ------------------------------------------------------------------------

HOSTILE = [
    5, 2.5, True, "spawn a 3", None, {"steps": []}, [1, 2, 3], [[1]], [None],
    ["__import__('os').system('touch /tmp/pwned')"], ["spawn a 999999"], ["spawn a -1"],
    ["spawn a 3"] * 5000, ["fork"], ["spawn A 3"], ["spawn a 3", "exit a", "write a 0"],
    ["spawn " + "a" * 100 + " 3"], ["x" * 10000], [["spawn", "a", 3]], ["spawn a 3 4"],
    ["spawn a 1e9"], ["write parent 99999"], {"child1": "all", "child2": []},
    {"child1": [0] * 10000, "child2": []}, 10 ** 400, -1, 0, [0] * 100000,
]


@pytest.mark.parametrize("q", CONSTRUCT, ids=lambda q: f"{q.assignment}/{q.id}")
def test_hostile_answers_are_invalid_or_wrong_quickly_and_never_run(q, tmp_path):
    for given in HOSTILE:
        start = time.process_time()
        status, points, msg = judge(q, "ana-maria", given)
        took = time.process_time() - start
        assert status in ("invalid", "wrong", "unanswered"), (given, status, msg)
        assert points == 0 and len(msg) < 400
        assert "check failed" not in msg, f"our bug, not the student's: {msg}"
        assert took < 2.0, f"judging {str(given)[:40]} took {took:.1f} s of CPU"
    assert not (tmp_path / "pwned").exists()


def test_a_step_string_is_parsed_as_data_and_never_evaluated(tmp_path):
    marker = tmp_path / "ran"
    for text in (f"__import__('pathlib').Path({str(marker)!r}).touch()", "eval('1')",
                 "spawn __import__ 3"):
        with pytest.raises(construct.Invalid, match="step 1"):
            construct.play(construct.parse_steps([text]))
    assert not marker.exists()


def test_the_notebook_check_names_the_failed_condition():
    hw = Homework("03-refcounting", "ana-maria")
    p = hw.params("q6")
    import io
    from contextlib import redirect_stdout
    out = io.StringIO()
    with redirect_stdout(out):
        hw.check("q6", ["write child1 0"])
    line = out.getvalue()
    assert line.startswith("wrong: ") and line.count("\n") == 1
    assert "1 copies" in line or "exactly" in line and str(p["copies"]) in line


def test_the_prompt_says_any_answer_meeting_the_conditions_is_right():
    for q in CONSTRUCT:
        text = bank.prompt(q.assignment, q.id, "ana-maria")
        assert "Any answer that meets every condition is right" in text and q.shape in text


def test_07_code_a_test_that_catches_the_bug_and_only_then():
    q = bank.question("07-code", "q4")
    for bug in ("missing-decrement", "reuse-while-shared", "free-too-early", "no-write-protect"):
        s = find(q, lambda p, bug=bug: p["bug"] == bug)
        pages = p_of(q, s)["pages"]
        assert judge(q, s, ["fork parent child", "write child 0"])[0] == "correct"
        assert judge(q, s, ["fork parent c2", f"write parent {pages - 1}", "exit c2"])[0] \
            == "correct"
        status, _, msg = judge(q, s, ["write parent 0"])          # no fork: nothing shared
        assert status == "wrong" and bug in msg
        assert judge(q, s, ["fork parent c", f"write c {pages}"])[0] == "invalid"
