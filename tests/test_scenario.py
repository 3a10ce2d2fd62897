"""The scenario language: parsing, errors that name the line and the fix, runs, built-ins."""
import pytest

import cowlab
from cowlab.scenario import BUILTIN, Scenario, ScenarioError


def kinds(outcome):
    return [e.kind for e in outcome.events]


# ---------------------------------------------------------------- parsing

def test_semicolons_newlines_and_comments_give_the_same_steps():
    one_line = Scenario.parse("spawn parent 3; fork parent child; write parent 1 x")
    lines = Scenario.parse("""# the seed
        spawn parent 3      # three pages
        fork parent child

        write parent 1 x    # the fault
    """)
    assert [s.text for s in one_line] == [s.text for s in lines] == \
        ["spawn parent 3", "fork parent child", "write parent 1 x"]
    assert [s.line for s in lines] == [2, 3, 5] and [s.line for s in one_line] == [1, 1, 1]
    assert lines.about == "the seed"
    assert [s.args for s in lines] == [("parent", 3), ("parent", "child"), ("parent", 1, "x")]


def test_text_parses_back_to_the_same_scenario():
    for name, s in BUILTIN.items():
        again = Scenario.parse(s.text)
        assert [(t.command, t.args) for t in again] == [(t.command, t.args) for t in s], name
        assert again.settings == s.settings


def test_every_command_parses():
    s = Scenario.parse("""ram 32
        rules xv6
        overcommit 1
        spawn p 2
        mmap p 4 shared populate
        mmap p 2
        madvise p 0 2 dontfork
        fork p c
        write c 0..3 7
        read c 4..5
        exec c 2
        exit c""")
    assert s.settings == {"ram_pages": 32, "rules": "xv6", "overcommit_memory": 1}
    assert [t.command for t in s] == ["spawn", "mmap", "mmap", "madvise", "fork", "write",
                                      "read", "exec", "exit"]
    assert s.steps[1].args == ("p", 4, ("shared", "populate"))
    assert s.steps[5].args == ("c", range(0, 4), 7)


@pytest.mark.parametrize("text, where, fix", [
    ("spawn p 3\nfrok p c", "line 2, step 2", "did you mean 'fork'?"),
    ("spawn p 3; write q 1", "line 1, step 2", "create it first with 'spawn q PAGES'"),
    ("spawn p three", "line 1, step 1", "whole number such as 3"),
    ("spawn p 3\nfork p c\nexit c\nread c 0", "line 4, step 4", "c has exited (line 3)"),
    ("spawn p 3\nram 8", "line 2, step 2", "move it to the top"),
    ("spawn p 3; spawn p 2", "line 1, step 2", "pick a new name such as p2"),
    ("spawn p 3; write p 5..2", "line 1, step 2", "write it as 2..5"),
    ("spawn p 3; fork p", "line 1, step 2", "fork PARENT CHILD"),
    ("spawn p 3; mmap p 2 shard", "line 1, step 2", "did you mean 'shared'?"),
    ("spawn p 3; madvise p 0 1 dontcopy", "line 1, step 2", "dontfork"),
    ("rules bsd\nspawn p 1", "line 1, step 1", "linux, linux-5.7, linux-4.8, xv6"),
    ("spawn fork 3", "line 1, step 1", "not a command word"),
    ("# nothing here\n", "no steps", "spawn parent 3"),
])
def test_parse_errors_name_the_line_step_and_fix(text, where, fix):
    with pytest.raises(ScenarioError) as err:
        Scenario.parse(text)
    assert where in str(err.value) and fix in str(err.value)
    assert isinstance(err.value, ValueError)


def test_parse_rejects_non_text():
    with pytest.raises(TypeError, match="scenario's text"):
        Scenario.parse(["spawn p 1"])


# ---------------------------------------------------------------- running

def test_seed_runs_as_the_seed_figure():
    s = Scenario.SEED
    run = s.start()
    outs = list(run)
    k, names = run.kernel, run.names
    assert [kinds(o) for o in outs] == [["zero_fill"], ["fork"], ["cow_copy"]]
    p, c = names["parent"], names["child"]
    assert outs[1].result is c and c.name == "child"
    assert [k.pte(p, v).pfn for v in range(3)] == [0, 3, 2]
    assert [k.pte(c, v).pfn for v in range(3)] == [0, 1, 2]
    assert k.pte(p, 1).writable and not k.pte(c, 1).writable
    assert [k.refcount(f) for f in range(4)] == [2, 1, 2, 1]
    assert run.done and run.step() is None


def test_stepwise_events_are_exactly_what_each_step_appended():
    k = cowlab.Kernel(ram_pages=16)
    run = Scenario.THREE_SHARERS.start(k)
    seen = 0
    while not run.done:
        step = run.next
        out = run.step()
        assert out.step is step
        assert out.events == k.events[seen:]
        seen = len(k.events)
    assert [kinds(o) for o in run.outcomes[3:]] == [["cow_copy"], ["cow_copy"], ["cow_reuse"]]


def test_the_kernel_rules_decide_copy_or_reuse():
    xv6 = Scenario.THREE_SHARERS.run(cowlab.Kernel(ram_pages=16, rules="xv6"))
    assert kinds(xv6[-1])[0] == "cow_copy"
    linux = Scenario.THREE_SHARERS.run()
    assert kinds(linux[-1]) == ["cow_reuse"]


def test_settings_build_the_kernel_and_overrides_win():
    s = Scenario.parse("ram 6\nrules xv6\nspawn p 1")
    assert (s.kernel().ram_pages, s.kernel().rules) == (6, "xv6")
    assert s.kernel(ram_pages=9).ram_pages == 9


def test_a_refused_fork_is_an_outcome_not_an_exception():
    s = Scenario.parse("ram 8\novercommit 2\nratio 50\nspawn p 3\nfork p c")
    outs = s.run()
    assert kinds(outs[-1]) == ["enomem"] and "CommitLimit" in outs[-1].refused
    assert outs[-1].result is None
    # a later step on the process that was never created says why, with the line
    run = Scenario.parse("ram 4\novercommit 2\nspawn big 100\nwrite big 0").start()
    assert kinds(run.step()) == ["enomem"]
    with pytest.raises(ScenarioError, match="line 4, step 2.*big does not exist.*refused"):
        run.step()


def test_runtime_misuse_names_the_step_and_leaves_the_kernel_as_it_was():
    s = Scenario.parse("spawn p 2\nwrite p 1 a\nmadvise p 5 2 dontfork\nwrite p 0 b")
    run = s.start()
    run.step()
    run.step()
    events, rc = list(run.kernel.events), run.kernel.refcounts().tolist()
    with pytest.raises(ScenarioError, match=r"line 3, step 3 \('madvise p 5 2 dontfork'\)"):
        run.step()
    assert list(run.kernel.events) == events and run.kernel.refcounts().tolist() == rc
    assert len(run.outcomes) == 2


def test_dead_process_by_signal_is_reported_at_run_time():
    s = Scenario.parse("spawn p 1\nread p 9\nwrite p 0 x")     # VP9 is in no region
    run = s.start()
    run.step()
    assert kinds(run.step()) == ["segv", "free"]       # killed; its one frame freed
    with pytest.raises(ScenarioError, match="line 3, step 3.*has exited"):
        run.step()


# ---------------------------------------------------------------- built-ins tell their story

def test_builtins_run_and_tell_their_story():
    for name, s in BUILTIN.items():
        run = s.start()
        outs = list(run)
        assert run.done, name
        all_kinds = [kind for o in outs for kind in kinds(o)]
        k = run.kernel
        if name == "FORK_EXEC":
            assert "cow_copy" not in all_kinds and "exec" in all_kinds
        if name == "REDIS_BGSAVE":
            # the parent copies once per distinct page it writes while the child lives
            assert all_kinds.count("cow_copy") == 2
            assert kinds(outs[-1]) == ["cow_reuse"]
            assert all(v == 0 for v in outs[2].result)
        if name == "OOM":
            victim = next(e for e in outs[-1].events if e.kind == "oom_kill")
            assert k.process(victim.pid).name == "child" and not k.process(victim.pid).alive
            assert run.names["big"].alive and k.pte(run.names["big"], 2).writable
        if name == "ZERO_PAGE":
            assert "zero_map" in all_kinds
            assert k.pte(run.names["child"], 1).pfn == cowlab.ZERO_PFN
        if name == "SHARED_MAPPING":
            assert outs[-1].result == "x"
            assert "cow_copy" not in all_kinds
        if name == "DONTFORK":
            assert kinds(outs[-1]) == ["segv"] and not run.names["child"].alive
        assert getattr(Scenario, name) is s and getattr(cowlab.Scenario, name) is s


# ---------------------------------------------------------------- random scenarios

def test_random_is_reproducible_and_varied_and_always_runs():
    texts = set()
    for seed in range(25):
        a, b = Scenario.random(seed), Scenario.random(seed)
        assert a.text == b.text
        texts.add(a.text)
        again = Scenario.parse(a.text)
        outs = again.run()
        assert len(outs) == len(a)
        assert a.steps[0].command == "spawn" and a.steps[1].command == "fork"
    assert len(texts) >= 20
    assert len(Scenario.random(3, steps=12)) == 12
    with pytest.raises(TypeError):
        Scenario.random("one")


def test_random_with_little_ram_still_runs():
    for seed in range(10):
        s = Scenario.random(seed, steps=10, ram_pages=4)
        s.run()
        assert s.settings["ram_pages"] == 4


def test_scenario_from_text_or_a_builtin_name():
    s = Scenario("spawn a 2; fork a b")
    assert [t.text for t in s] == ["spawn a 2", "fork a b"]
    seed = Scenario("seed")
    assert seed.name == "SEED" and seed.text == Scenario.SEED.text
    assert [kinds(o) for o in Scenario("SEED").run()] == [["zero_fill"], ["fork"], ["cow_copy"]]
    with pytest.raises(ScenarioError, match="did you mean 'spawn'"):
        Scenario("spwan a 2")
    with pytest.raises(TypeError, match="scenario text"):
        Scenario([1, 2])


LEAK = ("rules {rules}; spawn parent 1; write parent 0 old; fork parent child; "
        "vmsplice child 0 p; exit child; write parent 0 secret; readpipe p")


@pytest.mark.parametrize("rules, kind, piped", [("linux-5.7", "cow_reuse", "secret"),
                                                ("linux", "cow_copy", "old")])
def test_the_vmsplice_leak_replays_under_its_rules(rules, kind, piped):
    """Issue 13: a scenario can vmsplice, and `rules linux-5.7` replays CVE-2020-29374."""
    s = Scenario.parse(LEAK.format(rules=rules))
    outs = s.run(s.kernel())
    assert [e.kind for e in outs[5].events] == [kind]
    assert outs[-1].step.command == "readpipe" and outs[-1].result == [piped]


def test_pins_mprotect_munmap_madvise_and_ksm_run_as_the_model_says():
    s = Scenario.parse("spawn vm 2; write vm 0 same; write vm 1 same; "
                       "madvise vm 0 2 mergeable; ksm_scan; write vm 1 mine; pin vm 0 io; "
                       "mprotect vm 0 1 r; release io; munmap vm 1 1; madvise vm 0 1 dontneed")
    kinds = [[e.kind for e in o.events] for o in s.run()]
    assert kinds[4] == ["free"]                    # ksm_scan: VP1's frame merged into VP0's
    assert kinds[5] == ["cow_copy"]                # a KSM page always copies
    assert kinds[6] == ["cow_copy", "free"]        # a pin unshares the KSM page first
    assert kinds[7] == kinds[8] == []              # mprotect r, release: no fault, no free
    assert kinds[9] == ["free"] and kinds[10] == ["free"]   # munmap, MADV_DONTNEED


@pytest.mark.parametrize("text, fix", [
    ("spawn p 1; release nope", "no pipe or pin named 'nope'"),
    ("spawn p 1; pin p 0 io; readpipe io", "no pipe named 'io'"),
    ("spawn p 1; vmsplice p 0 p", "already in use"),
    ("spawn p 1; mprotect p 0 1 rwx", "must be r or rw"),
    ("spawn p 1; ksm_scan now", "ksm_scan takes 0 arguments"),
    ("spawn p 1; madvise p 0 1 hugepage", "dontneed, mergeable"),
])
def test_the_new_commands_refuse_mistakes_with_the_fix(text, fix):
    with pytest.raises(ScenarioError, match=fix):
        Scenario.parse(text)
