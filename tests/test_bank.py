"""The question bank: variants, expected answers recomputed with the model, the judge.

Every graded question is exercised for several students: its own expected answer is
`correct`, a perturbed one `wrong` (with a hint that does not print the answer), None
`unanswered`, and junk of the wrong type `invalid` with a message naming the type.
A few questions are also checked against closed forms worked out by hand, so a
regression in the model cannot hide behind "the bank agrees with itself".
"""
import io
import json
import re
from contextlib import redirect_stdout

import pytest

from cowlab.homework import Homework, bank

STUDENTS = ["example-student", "ana-maria", "bob-7", "zoë"]
ALL = [q for qs in bank.ASSIGNMENTS.values() for q in qs]
GRADED = [q for q in ALL if q.kind in ("number", "choice", "state")]   # one right answer


def ids(q):
    return f"{q.assignment}/{q.id}"


def test_the_bank_covers_the_course():
    names = list(bank.ASSIGNMENTS)
    for course in ("01-fork", "02-write-faults", "03-refcounting", "04-exec",
                   "05-overcommit", "06-redis", "07-beyond-fork", "08-real-kernel"):
        assert course in names
        assert len(bank.ASSIGNMENTS[course]) >= 4, course
    assert len(ALL) >= 30
    assert {q.kind for q in ALL} == {"number", "choice", "state", "code", "construct", "explain"}
    for name, qs in bank.ASSIGNMENTS.items():
        assert len({q.id for q in qs}) == len(qs), f"duplicate qids in {name}"
        for q in qs:
            assert re.fullmatch(r"q\d+", q.id) and isinstance(q.points, int) and q.points > 0


def perturbed(q, exp, student="ana-maria"):
    """A wrong answer of the right type."""
    if q.kind == "construct":          # the first step of a right construction meets nothing
        return exp[:1]
    if q.kind == "number":
        return exp + max(1, 2 * q.tolerance) if type(exp) is int else exp + 2 * q.tolerance + 0.05
    if q.kind == "choice":
        return "b" if exp == "a" else "a"
    if isinstance(exp, list) and q.named_frames is not None:     # any fresh number is right:
        n = q.named_frames(bank.params(q.assignment, q.id, student))   # put a named frame
        return [(exp[0] + 1) % n if exp[0] < n else 0] + exp[1:]       # where it is not
    if isinstance(exp, list):
        return [exp[0] + 1 if isinstance(exp[0], int) else 0] + exp[1:]
    key = sorted(exp)[0]
    value = exp[key]
    return {**exp, key: value + 1 if isinstance(value, int) else value + "-not"}


JUNK = {"number": ["3", [3], {"n": 3}, True], "choice": [2, "zz", ["a"], {"a": 1}],
        "state": [5, "x", 2.5, True],
        "construct": []}          # malformed constructions: tests/test_homework_09.py


@pytest.mark.parametrize("q", GRADED, ids=ids)
def test_judge_each_question(q):
    for student in STUDENTS:
        exp = bank.expected(q.assignment, q.id, student)
        assert json.loads(json.dumps(exp)) == exp, "expected answers are plain JSON data"
        status, points, msg = bank.judge(q.assignment, q.id, student, exp)
        assert (status, points, msg) == ("correct", q.points, "correct")

        status, points, msg = bank.judge(q.assignment, q.id, student, perturbed(q, exp, student))
        assert status == "wrong" and points < q.points and msg.startswith("wrong: ")
        if q.kind == "number" and abs(exp) >= 5:
            assert not re.search(rf"(?<![\d.]){re.escape(str(exp))}(?![\d.])", msg), \
                f"the hint gives the answer away: {msg}"

        assert bank.judge(q.assignment, q.id, student, None) == \
            ("unanswered", 0, "not yet answered")
        for junk in JUNK[q.kind]:
            status, points, msg = bank.judge(q.assignment, q.id, student, junk)
            assert (status, points) == ("invalid", 0), (junk, msg)
            assert msg.startswith("invalid: expected "), msg


@pytest.mark.parametrize("q", [q for q in GRADED if q.kind == "choice"], ids=ids)
def test_choices_ignore_case_and_spaces(q):
    exp = bank.expected(q.assignment, q.id, "ana-maria")
    assert len(bank.params(q.assignment, q.id, "ana-maria")["options"]) == 5
    for form in (exp.upper(), f" {exp} "):
        assert bank.judge(q.assignment, q.id, "ana-maria", form)[0] == "correct"


def test_numbers_have_a_stated_tolerance():
    q = bank.question("06-redis", "q2")
    exp = bank.expected("06-redis", "q2", "bob-7")
    assert q.tolerance == 0.01 and "within 0.01" in bank.prompt("06-redis", "q2", "bob-7")
    assert bank.judge("06-redis", "q2", "bob-7", exp + 0.009)[0] == "correct"
    assert bank.judge("06-redis", "q2", "bob-7", exp - 0.011)[0] == "wrong"
    # an int answer to a float question is fine, and so is a float equal to an int answer
    q1 = bank.expected("01-fork", "q1", "bob-7")
    assert bank.judge("01-fork", "q1", "bob-7", float(q1))[0] == "correct"


def test_variants_differ_between_students():
    students = [f"student-{i}" for i in range(8)]
    for q in GRADED:
        seen = {json.dumps(bank.params(q.assignment, q.id, s), sort_keys=True) for s in students}
        assert len(seen) > 1, f"{ids(q)}: every student gets the same numbers"
    differing = sum(len({json.dumps(bank.expected(q.assignment, q.id, s)) for s in students}) > 1
                    for q in GRADED)
    assert differing >= 0.9 * len(GRADED), "most answers must differ between students"


def test_variants_are_stable_and_seeded_by_question_and_student():
    a = bank.params("02-write-faults", "q2", "ana-maria")
    assert a == bank.params("02-write-faults", "q2", "ana-maria")
    assert bank.seed("02-write-faults", "q2", "ana-maria") != bank.seed("02-write-faults", "q3",
                                                                        "ana-maria")
    assert bank.seed("01-fork", "q1", "ana") != bank.seed("01-fork", "q1", "ana-maria")
    a["pages"] = -1                                   # a copy: callers cannot spoil the cache
    assert bank.params("02-write-faults", "q2", "ana-maria")["pages"] != -1


def deep(n):
    value = 1
    for _ in range(n):
        value = [value]
    return value


@pytest.mark.parametrize("given", [
    deep(60), deep(5000), 10 ** 400, -1e308, float("nan"), float("inf"), "", "a" * 100000,
    {"": None}, {"1": [{}]}, [None, None], {"kernel_a": 5}, False, 0])
def test_judge_never_raises(given):
    for q in GRADED:
        status, points, msg = bank.judge(q.assignment, q.id, "ana-maria", given)
        assert status in ("correct", "wrong", "unanswered", "invalid")
        assert 0 <= points <= q.points and isinstance(msg, str)


def test_judge_refuses_objects_that_claim_to_equal_anything():
    class Liar(int):
        def __eq__(self, other):
            return True
        __hash__ = int.__hash__
    for q in GRADED:
        status, points, _ = bank.judge(q.assignment, q.id, "ana-maria", Liar(0))
        assert (status, points) == ("invalid", 0)


def test_unknown_question_is_invalid_with_the_known_ones_named():
    status, _, msg = bank.judge("01-fork", "q99", "ana", 3)
    assert status == "invalid" and "q1" in msg
    with pytest.raises(KeyError, match="known"):
        bank.params("99-nope", "q1", "ana")


def test_state_answers_accept_int_or_string_keys_and_name_the_entry():
    exp = bank.expected("03-refcounting", "q2", "ana-maria")
    as_ints = {int(k): v for k, v in exp.items()}
    assert bank.judge("03-refcounting", "q2", "ana-maria", as_ints)[0] == "correct"
    one_off = dict(exp, **{sorted(exp)[0]: exp[sorted(exp)[0]] + 1})
    status, points, msg = bank.judge("03-refcounting", "q2", "ana-maria", one_off)
    q = bank.question("03-refcounting", "q2")
    assert status == "wrong" and 0 < points < q.points          # partial credit
    for s in (f"table-{i}" for i in range(50)):    # a list whose last page is a named frame
        table, n = (bank.expected("02-write-faults", "q6", s),
                    bank.params("02-write-faults", "q6", s)["pages"])
        if table[-1] < n:
            break
    status, _, msg = bank.judge("02-write-faults", "q6", s,
                                table[:-1] + [(table[-1] + 1) % n])
    assert status == "wrong" and f"VP{len(table) - 1}" in msg


def test_new_frames_may_carry_any_fresh_numbers():
    """Which free frame a copy gets is the allocator's choice, not Linux's: a page table
    or refcount table with the new frames numbered otherwise (consistently) is right;
    two new frames under one number, or a new frame under a named one, is not."""
    for a, qid in (("02-write-faults", "q6"), ("03-refcounting", "q2")):
        q = bank.question(a, qid)
        tried = 0
        for i in range(30):
            s = f"frames-{i}"
            exp, n = bank.expected(a, qid, s), bank.params(a, qid, s)["pages"]
            if isinstance(exp, list):
                new = sorted({v for v in exp if v >= n})
                if len(new) < 2:
                    continue
                shifted = [v if v < n else v + 40 for v in exp]
                merged = [new[0] if v == new[1] else v for v in exp]
                onto_named = [0 if v == new[0] else v for v in exp]
            else:
                new = sorted((k for k in exp if int(k) >= n), key=int)
                if len(new) < 2:
                    continue
                shifted = {(k if int(k) < n else str(int(k) + 40)): v for k, v in exp.items()}
                merged = {k: v for k, v in exp.items() if k != new[1]}
                onto_named = {**{k: v for k, v in exp.items() if k != new[0]}, "0": exp[new[0]]}
                if "0" in exp:
                    onto_named["0"] = exp["0"]
            tried += 1
            assert bank.judge(a, qid, s, shifted)[0] == "correct", (s, exp, shifted)
            assert bank.judge(a, qid, s, merged)[0] == "wrong", (s, exp, merged)
            assert bank.judge(a, qid, s, onto_named)[0] == "wrong", (s, exp, onto_named)
        assert tried >= 5, f"{a}/{qid}: too few variants with two new frames"
        assert "allocator's choice" in q.prose


def test_misconceptions_get_their_own_hint():
    p = bank.params("01-fork", "q1", "ana-maria")
    status, _, msg = bank.judge("01-fork", "q1", "ana-maria",
                                p["ram"] - p["other"] - 2 * p["pages"])
    assert status == "wrong" and "copied" in msg


# -- independent oracles: closed forms worked out by hand ---------------------------------

def _reserves(ram_pages):
    """Linux's boot-time admin and user reserves for this much RAM, in 4 KiB pages."""
    kb = ram_pages * 4
    return min(kb // 32, 8192) // 4, min(kb // 32, 131072) // 4


def oracle(assignment, qid, p):
    if (assignment, qid) == ("01-fork", "q1"):
        return p["ram"] - p["other"] - p["pages"]
    if (assignment, qid) == ("01-fork", "q2"):
        return 1 + p["forks"] - p["exits"]
    if (assignment, qid) == ("02-write-faults", "q4"):
        return len(set(p["vpns"]))
    if (assignment, qid) == ("02-write-faults", "q5"):
        return 4 * len(p["vpns"])
    if (assignment, qid) == ("02-write-faults", "q2"):
        copies, shared = 0, set(range(p["pages"]))     # pages still shared by both
        for _, vpn in p["writes"]:
            if vpn in shared:
                copies += 1
                shared.discard(vpn)                  # the other side now holds rc=1
        return copies
    if (assignment, qid) == ("01-fork", "q3"):   # init gone; the child shares app's frames
        return {"frames": p["shell"] + p["pages"], "ptes": p["shell"] + 2 * p["pages"]}
    if (assignment, qid) == ("02-write-faults", "q1"):  # shared frames + one copy
        return (0 if p["init_exits"] else p["init"]) + p["pages"] + 1
    if (assignment, qid) == ("04-exec", "q5"):   # a fault per COW'd page, per first touch
        return len(set(p["before"])) + len(set(p["after"]))
    if (assignment, qid) == ("04-exec", "q1"):  # the child alone maps what either wrote
        return len(set(p["shell"]) | set(p["child"]))
    if (assignment, qid) == ("05-overcommit", "q1"):
        return (p["ram"] * p["ratio"] // 100 + p["swap"]) * 4
    if (assignment, qid) == ("05-overcommit", "q2"):
        return (p["pages"] * (1 + p["forks"]) + p["shared"]) * 4
    if (assignment, qid) == ("05-overcommit", "q5"):  # RSS counts shared pages in full
        return max(p["db"], p["pages"])
    if (assignment, qid) == ("05-overcommit", "q4"):
        # mm/util.c __vm_enough_memory: granted while committed + request < CommitLimit
        # - admin reserve - min(total_vm / 32, user reserve) (reserves: RAM/32 at boot)
        admin, user = _reserves(p["ram"])
        limit = p["ram"] * p["ratio"] // 100 + p["swap"] - admin - min(p["pages"] // 32, user)
        return limit - p["pages"] - 1
    if (assignment, qid) == ("06-redis", "q1"):
        first, last = p["first"], p["first"] + p["count"] - 1
        return last // p["per_page"] - first // p["per_page"] + 1
    if (assignment, qid) == ("06-redis", "q5"):
        return len({key // 512 for key in p["keys"]}) * 512 * 4
    if (assignment, qid) == ("06-redis", "q6"):
        admin, user = _reserves(p["ram"])
        limit = p["ram"] * p["ratio"] // 100 + p["swap"] - admin
        return max(r for r in range(p["ram"] - p["other"] + 1)         # spawn, then fork
                   if r == 0 or (p["other"] + r < limit
                                 and p["other"] + 2 * r < limit - min(r // 32, user)))
    raise KeyError


ORACLES = [("01-fork", "q1"), ("01-fork", "q2"), ("02-write-faults", "q2"),
           ("02-write-faults", "q4"), ("02-write-faults", "q5"), ("04-exec", "q1"), ("04-exec", "q5"), ("02-write-faults", "q1"), ("01-fork", "q3"),
           ("05-overcommit", "q1"), ("05-overcommit", "q2"), ("05-overcommit", "q4"),
           ("05-overcommit", "q5"),
           ("06-redis", "q1"), ("06-redis", "q5"), ("06-redis", "q6")]


@pytest.mark.parametrize("assignment,qid", ORACLES)
def test_expected_answers_match_hand_worked_closed_forms(assignment, qid):
    for i in range(6):
        student = f"oracle-{i}"
        p = bank.params(assignment, qid, student)
        assert bank.expected(assignment, qid, student) == oracle(assignment, qid, p), p


def test_bug_hunt_key_is_recomputed_by_diagnosis():
    from cowlab.homework import codex
    for student in STUDENTS:
        p = bank.params("07-code", "q2", student)
        assert bank.expected("07-code", "q2", student) == codex.suspect_bugs(p["variant"])
    keys = {json.dumps(bank.expected("07-code", "q2", f"s{i}"), sort_keys=True) for i in range(8)}
    assert len(keys) > 1, "the suspects must be shuffled per student"


# -- the notebook side ------------------------------------------------------------------

def printed(hw, qid, value):
    out = io.StringIO()
    with redirect_stdout(out):
        hw.check(qid, value)
    return out.getvalue()


@pytest.mark.parametrize("assignment", list(bank.ASSIGNMENTS))
def test_checks_print_one_line(assignment):
    hw = Homework(assignment, "ana-maria")
    for q in bank.questions(assignment):
        if q.kind == "explain":         # no check cell: the teacher grades it
            assert printed(hw, q.id, "my answer").startswith("left for the teacher")
            continue
        assert printed(hw, q.id, None) == "not yet answered\n"
        if q.kind == "code":
            continue
        exp = bank.expected(assignment, q.id, "ana-maria")
        if q.kind == "construct":       # judged by constraints: see tests/test_construct.py
            assert printed(hw, q.id, exp) == "correct\n"
            assert printed(hw, q.id, object()).startswith("invalid: ")
            continue
        assert printed(hw, q.id, exp) == "correct\n"
        line = printed(hw, q.id, perturbed(q, exp, "ana-maria"))
        assert line.startswith("wrong: ") and line.count("\n") == 1
        line = printed(hw, q.id, object())
        assert line.startswith("invalid: ") and line.count("\n") == 1


def test_ask_prints_the_students_own_numbers():
    out = io.StringIO()
    with redirect_stdout(out):
        Homework("01-fork", "ana-maria").ask("q1")
    p = bank.params("01-fork", "q1", "ana-maria")
    assert f"{p['ram']} frames" in out.getvalue() and f"{p['pages']} pages" in out.getvalue()


def test_homework_refuses_a_bad_student_id_clearly():
    with pytest.raises(ValueError, match="STUDENT"):
        Homework("01-fork", "")
    with pytest.raises(KeyError, match="01-fork"):
        Homework("01-forks", "ana")


def test_solution_cells_compute_from_the_variant():
    for q in GRADED:
        src = q.solution_source()
        assert src.startswith(f'p = hw.params("{q.id}")') and f"\n{q.id} = " in src
        assert "cowlab.Kernel(" in src or "suspects(" in src


def test_every_bank_question_has_its_cells_in_the_homework_source():
    """notebooks/src/homework/ and the bank agree: a source per assignment, in it each
    question's ask, answer and check cells in bank order, with the bank's points (the
    grader's) in nbgrader's metadata; the built solutions print correct at every check.
    (Whether solutions/ is stale against its sources is tests/test_course.py's job.)"""
    import pathlib
    import nbformat
    from cowlab.course import build, sources
    root = pathlib.Path(__file__).resolve().parent.parent
    for name in bank.ASSIGNMENTS:
        nb = sources.read(root / sources.HOMEWORK / f"{name}.md", "homework")
        assert nb.metadata["cowlab"] == {"assignment": name}
        cells = [(c.metadata.get("cowlab", {}).get("question"),
                  c.metadata.get("cowlab", {}).get("role"), c.metadata.get("nbgrader", {}))
                 for c in nb.cells if c.metadata.get("cowlab", {}).get("question")]
        want = [(q.id, role) for q in bank.questions(name)
                for role in (("explain",) if q.kind == "explain" else ("ask", "answer", "check"))]
        assert [(q, r) for q, r, _ in cells] == want, f"{name}: cells out of step with the bank"
        for qid, role, nbg in cells:
            if role in ("answer", "check", "explain"):
                assert nbg["points"] == bank.question(name, qid).points, (name, qid, role)
        text = {c.id: c.source for c in nb.cells if c.cell_type == "markdown"}
        assert text["intro"].startswith(f"# Homework {name}: {bank.TITLES[name]}\n")
        for q in bank.questions(name):      # the heading states the points the grader gives
            pts = f"{q.points} point{'s' if q.points != 1 else ''}"
            assert text[f"{q.id}-text"].startswith(f"## {q.id} ({pts})\n"), (name, q.id)
        committed = nbformat.read(root / "solutions" / f"{name}.ipynb", as_version=4)
        assert not build.checks_not_correct(committed), "every check prints correct"


def test_under_nbgrader_a_check_returns_the_graders_points(monkeypatch, capsys):
    """nbgrader takes a test cell's numeric result as its score: the check returns the
    points cowlab grade gives, partial credit included; for students it returns None."""
    from cowlab.homework import Homework, bank
    hw = Homework("01-fork", "nb-student")
    right = bank.expected("01-fork", "q1", "nb-student")
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert hw.check("q1", right) == 1.0
    for wrong in (None, "junk", right + 1):
        assert hw.check("q1", wrong) == 0.0
    hunt = Homework("07-code", "nb-student")
    key = bank.expected("07-code", "q2", "nb-student")
    (a, x), (b, y), (c, z), (d, w) = key.items()
    half = {a: x, b: y, c: w, d: z}                    # two right, two swapped
    assert hunt.check("q2", half) == float(bank.judge("07-code", "q2", "nb-student", half)[1])
    assert 0 < hunt.check("q2", half) < 4
    monkeypatch.delenv("NBGRADER_EXECUTION")
    assert hw.check("q1", right + 1) is None          # students: one line, never a score
    assert capsys.readouterr().out.splitlines()[-1].startswith("wrong")
