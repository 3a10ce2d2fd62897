"""Issue 13's live facts on this kernel beside the same steps on the model.

`real.vs_model()` runs facts 1-6 live and on cowlab.Kernel(rules="linux"); every line
must agree. A fact this machine cannot run is skipped with the kernel's own reason
(not root, io_uring disabled, no KSM), never silently. The model under an old rule
set must disagree exactly where the kernel changed (5.9: refcount reuse, early COW).
"""
import pytest

from cowlab import real

ALL_KEYS = {   # every fact's live keys, so that a fact the model leaves out is caught
    1: 6, 2: 5, 3: 5, 4: 10, 5: 9, 6: 7}


@pytest.mark.parametrize("n", sorted(real.LIVE_FACTS))
def test_live_and_model_agree_on_each_fact(n):
    got = real.vs_model((n,))
    if n in got.unavailable:
        pytest.skip(got.unavailable[n])
    assert len(got.rows) == ALL_KEYS[n]
    assert got.agree, "\n" + str(got)
    text = str(got)
    assert text.splitlines()[0] == f"{n} {real.modelfacts.TITLES[n]}"
    assert "live and model agree on every line" in text


def test_the_old_rules_disagree_where_linux_changed():
    """Linux 5.7's mapcount rule reused the page the pipe held (CVE-2020-29374), it had
    no early COW for pinned pages, and its mprotect(RW) left every private page read-only
    (the exclusive-page shortcut is 6.0's): the table says DISAGREE on exactly those."""
    got = real.vs_model((1, 2, 3, 4), rules="linux-5.7")
    if got.unavailable:
        pytest.skip("; ".join(got.unavailable.values()))
    bad = {(n, key) for n, _, key, *_ in got.disagreements()}
    assert (2, "write_copies") in bad and (2, "pipe_byte") in bad
    assert (4, "pinned.parent_write_faults") in bad
    # fork, child exit, write: the same on both; only the mprotect step differs
    assert {k for k in bad if k[0] == 1} == {(1, "exclusive_after_write_faults")}
    assert {k for k in bad if k[0] == 3} == {(3, "never_shared_faults"),
                                             (3, "after_reuse_faults")}
    assert not got.agree and "DISAGREE" in str(got)


def test_an_unknown_fact_is_a_clear_error():
    with pytest.raises(ValueError, match="numbered 1 to 6"):
        real.vs_model((7,))


def test_without_root_the_table_says_why_each_fact_did_not_run():
    """For real, as uid 65534: no fact runs, each line names what it needs, the table
    still prints (as chapter 09's cell does), and nothing is called a disagreement."""
    import os

    from test_real import run_as_nobody
    if os.geteuid() != 0:
        pytest.skip("not root: cannot drop to another user to try the non-root path")

    def table():
        got = real.vs_model()
        return {"text": str(got), "unavailable": got.unavailable, "agree": got.agree}
    got = run_as_nobody(table)
    assert "error" not in got, got
    assert sorted(got["unavailable"]) == ["1", "2", "3", "4", "5", "6"]
    assert all("root" in why for why in got["unavailable"].values()), got["unavailable"]
    assert "0 facts run live, 6 not run here" in got["text"] and got["agree"]
    assert "Traceback" not in got["text"]
