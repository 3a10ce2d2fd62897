"""Homework 09-why-linux: its construction is judged by its conditions on the model,
and its answers are the Linux facts of chapter 09 (the refcount rule, early COW, KSM)."""
import pytest

from cowlab.homework import bank

A = "09-why-linux"
STUDENTS = [f"student-{i}" for i in range(40)]


def vpn_of(student):
    return bank.params(A, "q4", student)["vpn"]


@pytest.mark.parametrize("student", STUDENTS[:8])
def test_two_different_constructions_are_right(student):
    v = vpn_of(student)
    plain = ["fork parent child", f"vmsplice child {v}", "exit child", f"write parent {v}"]
    # the parent splices, the child writes after the parent's copy is gone: also a leak
    other = ["fork parent kid", f"vmsplice parent {v}", f"munmap parent {v}", f"write kid {v}"]
    for answer in (plain, other):
        assert bank.judge(A, "q4", student, answer) == ("correct", 3, "correct"), answer


def test_each_condition_can_fail_and_says_which():
    s = "ana-maria"
    v, pages = vpn_of(s), bank.params(A, "q4", s)["pages"]
    no_leak = ["fork parent child", f"vmsplice child {v}", f"write parent {v}"]   # child alive
    status, pts, msg = bank.judge(A, "q4", s, no_leak)
    assert (status, pts) == ("wrong", 0) and "under Linux 5.7 no pipe holding" in msg
    other_page = (v + 1) % pages
    wrong_page = ["fork parent child", f"vmsplice child {other_page}", "exit child",
                  f"write parent {other_page}"]
    assert bank.judge(A, "q4", s, wrong_page)[0] == "wrong"
    own_write = ["fork parent child", f"vmsplice child {v}", f"write child {v}"]
    assert bank.judge(A, "q4", s, own_write)[0] == "wrong"   # its own data is no leak


@pytest.mark.parametrize("junk, says", [
    ("fork parent child", "must be a list"),
    ([], "give 1 to"),
    (["fork parent child"] * 9, "give 1 to"),
    (["spawn x 3"], "start it with one of"),
    (["fork parent"], "write it as"),
    (["exit child"], "no live process"),
    (["fork parent parent"], "exists"),
    (["vmsplice parent 999"], "the page must be"),
    (["fork parent Child"], "not a process name"),
    ([["fork"]], "start it with one of"),
    (["exit parent", "write parent 0"], "no live process"),
])
def test_malformed_constructions_are_invalid_with_the_fix(junk, says):
    status, pts, msg = bank.judge(A, "q4", "ana-maria", junk)
    assert (status, pts) == ("invalid", 0) and says in msg, msg


def test_the_numbers_follow_the_rule_of_each_kernel():
    """q1: 5.7 reuses every page (mapcount 1), 6.x copies exactly the spliced ones;
    q2: only 6.x copies the pinned page into the child; q3: every KSM write copies."""
    seen = set()
    for s in STUDENTS:
        p = bank.params(A, "q1", s)
        want = 0 if p["rules"] == "linux-5.7" else len(p["spliced"])
        assert bank.expected(A, "q1", s) == want
        p2 = bank.params(A, "q2", s)
        key = p2["options"][" abcde".index(bank.expected(A, "q2", s)) - 1]
        assert key == ("child" if p2["rules"] == "linux" else "neither")
        assert bank.expected(A, "q3", s) == bank.params(A, "q3", s)["writes"]
        seen.add(p["rules"])
    assert seen == {"linux", "linux-5.7"}


@pytest.mark.parametrize("student", STUDENTS[:8])
def test_a_copy_at_mapcount_1_has_several_answers_and_a_plain_reuse_is_wrong(student):
    v = bank.params(A, "q5", student)["vpn"]
    right = [["fork parent child", "exit child", f"vmsplice parent {v}", f"write parent {v}"],
             ["fork parent child", f"vmsplice child {v}", "exit child", f"write parent {v}"]]
    for answer in right:
        assert bank.judge(A, "q5", student, answer) == ("correct", 3, "correct"), answer
    wrong = [["fork parent child", "exit child", f"write parent {v}"],       # reuse
             ["fork parent child", f"write parent {v}"],                      # mapcount 2
             [f"vmsplice parent {v}", f"write parent {v}"],                   # no fault at all
             ["fork parent child", f"vmsplice parent {v}", f"write child {v}"]]   # the child
    for answer in wrong:
        status, pts, msg = bank.judge(A, "q5", student, answer)
        assert (status, pts) == ("wrong", 0) and "mapped just before the write" in msg, answer
