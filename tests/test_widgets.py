"""The widget lab, driven headless: every button clicked with .click(), checked on
the model's state and on the diagram's DOT source and words.

ipywidgets swallows exceptions raised in click callbacks (it logs them, or shows
a traceback in the notebook). The `callback_errors` fixture replaces that
swallowing with a recorder, so a test sees every exception a callback raised and
fails on it; the lab's own guard records what it caught in `lab.errors`.
"""
import random
import subprocess
import sys
import traceback

import ipywidgets
import pytest

import cowlab

WORDS = ("fork", "read", "write", "exec", "exit", "undo", "reset")


@pytest.fixture(autouse=True)
def callback_errors(monkeypatch):
    """Record every exception a widget callback raises (ipywidgets would only log it)."""
    errors = []

    def call(self, *args, **kwargs):
        value = None
        for callback in self.callbacks:
            try:
                local = callback(*args, **kwargs)
            except Exception:
                errors.append(traceback.format_exc())
            else:
                value = local if local is not None else value
        return value

    monkeypatch.setattr(ipywidgets.widgets.widget.CallbackDispatcher, "__call__", call)
    yield errors
    assert not errors, "exceptions escaped widget callbacks:\n" + "\n".join(errors)


def click(lab, name):
    lab.buttons[name].click()
    assert not lab.errors, lab.errors


def select(lab, name, vpn=None):
    """Pick a process by name (and a page) as a student would in the selectors."""
    pid = next(pid for label, pid in lab.process.options if label.startswith(name + " "))
    lab.process.value = pid
    if vpn is not None:
        lab.page.value = vpn
    return lab.kernel.process(pid)


def parent(lab):
    return next(p for p in lab.kernel.live() if p.name == "parent")


# ------------------------------------------------------------------ the lab ---

def test_lab_starts_as_the_chapter_does():
    lab = cowlab.Lab(ram_pages=16)
    k = lab.kernel
    assert [p.name for p in k.live()] == ["parent"]
    assert [k.pte(parent(lab), v).pfn for v in range(3)] == [0, 1, 2]
    assert {n: b.description for n, b in lab.buttons.items()} == {w: w for w in WORDS}
    assert lab.process.options == (("parent (pid 1)", 1),)
    assert lab.page_max == 3       # 3 = one past the end: a SIGSEGV
    assert "parent (pid 1): VP0 -> PF0 RW, VP1 -> PF1 RW, VP2 -> PF2 RW" in lab.diagram.text
    assert "PF2" in lab.diagram.source and "PF3" not in lab.diagram.source
    assert "<svg" in lab.diagram_box.value                 # drawn by the real dot
    assert "the diagram in words" in lab.diagram_box.value
    assert "16 frames of RAM" in lab.log.value
    assert "parent (pid 1)" in lab.stats.value and "CommitLimit" in lab.stats.value


def test_fork_shares_every_frame_and_copies_nothing():
    lab = cowlab.Lab(ram_pages=16)
    click(lab, "fork")
    k = lab.kernel
    p, c = k.live()
    assert c.name == "child"
    for v in range(3):
        assert k.pte(p, v).pfn == k.pte(c, v).pfn == v
        assert k.pte(p, v).cow and not k.pte(p, v).writable
        assert k.refcount(v) == 2
    assert lab.process.value == p.pid                       # the parent stays selected
    assert [pid for _, pid in lab.process.options] == [1, 2]
    assert "PF0 rc=2, PF1 rc=2, PF2 rc=2" in lab.diagram.text
    assert "child (pid 2)" in lab.diagram.source and "PF3" not in lab.diagram.source
    assert "no pages copied" in lab.log.value
    assert "RSS kB" in lab.stats.value and "child (pid 2)" in lab.stats.value


def test_write_after_fork_is_the_seed_figure():
    lab = cowlab.Lab(ram_pages=16)
    click(lab, "fork")
    p = select(lab, "parent", vpn=1)
    click(lab, "write")
    k = lab.kernel
    c = k.live()[1]
    assert k.pte(p, 1).pfn == 3 and k.pte(p, 1).writable
    assert k.pte(c, 1).pfn == 1
    assert [k.refcount(f) for f in range(4)] == [2, 1, 2, 1]
    assert k.content(3) == "w1"
    assert "new copy!" in lab.diagram.source and "PF3" in lab.diagram.source
    assert "VP1 -> PF3 RW (page fault!)" in lab.diagram.text
    assert "PF3 rc=1 (new copy!)" in lab.diagram.text
    assert "copy PF1 into new PF3" in lab.log.value
    s = k.stats(p)
    assert f"<td>{s['private_dirty']}</td>" in lab.stats.value


def test_typed_value_is_written_and_read_back():
    lab = cowlab.Lab(ram_pages=16)
    click(lab, "fork")
    select(lab, "child", vpn=2)
    lab.value.value = "hello"
    click(lab, "write")
    click(lab, "read")
    assert "the process reads &#x27;hello&#x27;" in lab.log.value
    assert lab.history[-1].endswith("the process reads 'hello'")
    select(lab, "parent", vpn=2)
    click(lab, "read")
    assert lab.history[-1] != "the process reads 'hello'"
    assert "hello" not in lab.history[-1]                   # the parent kept its frame


def test_read_never_copies():
    lab = cowlab.Lab(ram_pages=16)
    click(lab, "fork")
    select(lab, "child", vpn=0)
    before = lab.kernel.refcounts().copy()
    click(lab, "read")
    assert (lab.kernel.refcounts() == before).all()
    assert lab.history[-1].startswith("read(child pid 2, VP0)")


def test_exec_and_exit_drop_the_mappings():
    lab = cowlab.Lab(ram_pages=16)
    click(lab, "fork")
    c = select(lab, "child")
    click(lab, "exec")
    k = lab.kernel
    assert [k.refcount(f) for f in range(3)] == [1, 1, 1]  # the parent's alone again
    assert "exec: new image" in lab.diagram.text
    assert k.regions(c)[-1].start + k.regions(c)[-1].pages == 1
    assert lab.page_max == 1
    click(lab, "exit")
    assert not c.alive
    assert [pid for _, pid in lab.process.options] == [1]
    assert lab.process.value == 1
    assert "exited" in lab.diagram.text


def test_undo_and_reset_put_the_model_back():
    lab = cowlab.Lab(ram_pages=16)
    first = lab.diagram_box.value
    click(lab, "fork")
    select(lab, "parent", vpn=1)
    click(lab, "write")
    k = lab.kernel
    n_events = len(k.events)
    click(lab, "undo")
    assert k.pte(parent(lab), 1).pfn == 1 and k.refcount(3) == 0
    assert len(k.events) < n_events
    assert "PF3" not in lab.diagram.source
    click(lab, "undo")
    assert len(k.live()) == 1
    assert lab.diagram_box.value == first                    # the same picture again
    click(lab, "undo")                                       # nothing left: a message
    assert "nothing to undo" in lab.history[-1]
    click(lab, "fork")
    click(lab, "fork")
    click(lab, "reset")
    assert lab.kernel is k and [p.name for p in k.live()] == ["parent"]
    assert lab.process.options == (("parent (pid 1)", 1),)
    click(lab, "undo")                                       # reset is undoable too
    assert len(lab.kernel.live()) == 3


def test_settings_apply_on_reset():
    lab = cowlab.Lab(ram_pages=16)
    lab.ram.value = 8
    lab.overcommit.value = 2
    assert lab.kernel.ram_pages == 16                       # not yet
    click(lab, "reset")
    k = lab.kernel
    assert (k.ram_pages, k.overcommit_memory) == (8, 2)
    assert "CommitLimit</th><td>16 kB" in lab.stats.value  # 8 pages * 50% * 4 kB
    assert "8 frames of RAM" in lab.history[-1]


def test_enomem_is_an_event_not_a_traceback():
    lab = cowlab.Lab(ram_pages=16, pages=5, overcommit_memory=2)
    click(lab, "fork")
    assert len(lab.kernel.live()) == 1
    assert lab.kernel.events[-1].kind == "enomem"
    assert "refused with ENOMEM" in lab.log.value
    assert "Traceback" not in lab.log.value
    assert "ENOMEM" in lab.diagram.text


def test_sigsegv_kills_only_that_process():
    lab = cowlab.Lab(ram_pages=16)
    click(lab, "fork")
    c = select(lab, "child", vpn=3)                         # one past the end
    click(lab, "write")
    assert not c.alive and parent(lab).alive
    assert lab.kernel.events[-1].kind in ("segv", "free")
    assert "SIGSEGV" in lab.diagram.text and "SIGSEGV" in lab.log.value
    assert lab.process.value == 1
    click(lab, "write")                                      # the parent carries on
    assert lab.history[-1].startswith("write(parent pid 1, VP3")


def test_oom_kill_is_an_event_and_the_write_completes():
    lab = cowlab.Lab(ram_pages=4, pages=3, overcommit_memory=1)
    click(lab, "fork")
    select(lab, "parent", vpn=0)
    click(lab, "write")                                      # takes the last free frame
    lab.page.value = 1
    click(lab, "write")
    k = lab.kernel
    assert [e.kind for e in k.events if e.kind == "oom_kill"] == ["oom_kill"]
    assert [p.name for p in k.live()] == ["parent"]
    assert k.content(k.pte(parent(lab), 1).pfn) == "w2"
    assert "OOM killer" in lab.log.value and "killed by the OOM killer" in lab.diagram.text


def test_no_live_process_is_a_message():
    lab = cowlab.Lab(ram_pages=16)
    click(lab, "exit")
    assert lab.process.options == () and lab.process.value is None
    for name in ("fork", "read", "write", "exec", "exit"):
        click(lab, name)
        assert "no live process" in lab.history[-1]
    click(lab, "reset")
    assert len(lab.kernel.live()) == 1


def test_xv6_rules_always_copy():
    lab = cowlab.Lab(ram_pages=16, rules="xv6")
    click(lab, "fork")
    select(lab, "child")
    click(lab, "exit")
    select(lab, "parent", vpn=0)
    click(lab, "write")                                      # rc=1, yet xv6 copies
    assert lab.kernel.pte(parent(lab), 0).pfn != 0
    assert "new copy!" in lab.diagram.source


def test_a_given_kernel_is_used_as_is():
    k = cowlab.Kernel(ram_pages=32)
    a = k.spawn("shell", pages=2)
    k.fork(a)
    lab = cowlab.Lab(kernel=k)
    assert lab.kernel is k
    assert [label for label, _ in lab.process.options] == [
        f"{p.name} (pid {p.pid})" for p in k.live()]
    assert lab.process.options[0][0] == "shell (pid 1)"
    click(lab, "fork")
    assert len(k.live()) == 3


def test_predict_mode_grades_the_guess():
    lab = cowlab.Lab(ram_pages=16, predict=True)
    click(lab, "fork")                                       # fork needs no prediction
    select(lab, "parent", vpn=1)
    assert "VP1 of parent (pid 1) maps PF1 (RO COW, rc=2)" in lab.predict_prompt.value
    click(lab, "write")                                      # no prediction yet: nothing runs
    assert lab.kernel.pte(parent(lab), 1).pfn == 1
    assert "predict first" in lab.history[-1]
    lab.prediction.value = "cow_copy"
    lab.predict_rc.value = 1
    assert [v for _, v in lab.predict_frame.options][:3] == [None, -1, 3]  # lowest free first
    lab.predict_frame.value = 3
    click(lab, "write")
    assert lab.kernel.pte(parent(lab), 1).pfn == 3
    assert lab.history[-1].startswith("predict: right")
    assert "rc(PF1) is 1; you said 1 (right)" in lab.history[-1]
    assert "the new frame is PF3 (right)" in lab.history[-1]
    assert "cowlab-right" in lab.log.value
    assert lab.prediction.value is None                     # predict again next time
    assert "VP1 of parent (pid 1) maps PF3 (RW, rc=1)" in lab.predict_prompt.value
    select(lab, "child", vpn=1)
    lab.prediction.value = "cow_copy"                       # wrong: the last sharer reuses
    click(lab, "write")
    assert "not quite" in lab.history[-1] and "reuse" in lab.history[-1]
    select(lab, "child", vpn=0)
    lab.prediction.value = "cow_copy"
    lab.predict_frame.value = -1                             # right kind, wrong frame
    click(lab, "write")
    assert "the new frame is PF4; you said no new frame" in lab.history[-1]


def test_lab_catches_its_own_bugs_and_says_so(monkeypatch):
    import cowlab.lab
    lab = cowlab.Lab(ram_pages=16)

    def broken(kernel):
        raise RuntimeError("simulated bug")
    with monkeypatch.context() as m:
        m.setattr(cowlab.lab, "stats_html", broken)   # a bug in the lab's redraw
        lab.buttons["fork"].click()
    assert len(lab.errors) == 1 and isinstance(lab.errors[0], RuntimeError)
    assert "something went wrong inside the lab" in lab.log.value
    assert "simulated bug" in lab.log.value
    lab.errors.clear()
    click(lab, "undo")                                       # and the lab carries on
    click(lab, "fork")
    assert len(lab.kernel.live()) == 2
    assert "child (pid 2)" in lab.stats.value


def test_without_dot_the_lab_shows_the_source_and_the_fix(monkeypatch):
    import cowlab.render
    import cowlab.widgets
    monkeypatch.setattr(cowlab.render, "find_renderer", lambda: None)  # no dot, no port
    monkeypatch.setattr(cowlab.panes, "SVG_CACHE", {})
    lab = cowlab.Lab(ram_pages=16)
    click(lab, "fork")
    assert "<svg" not in lab.diagram_box.value
    assert "apt-get install graphviz" in lab.diagram_box.value
    assert "digraph" in lab.diagram_box.value                 # the DOT source
    assert "PF0 rc=2" in lab.diagram_box.value                # and the words


def test_lab_displays_as_a_widget():
    lab = cowlab.Lab()
    bundle = lab._repr_mimebundle_()
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == lab.ui.model_id
    # text-only readers (and nbval) get the state in words, not a widget repr
    assert bundle["text/plain"].startswith("cowlab.Lab: 16 frames, overcommit_memory=0")
    assert "parent (pid 1): VP0 -> PF0 RW" in bundle["text/plain"]
    click(lab, "fork")
    assert "PF0 rc=2" in lab._repr_mimebundle_()["text/plain"]


def test_ten_gib_process_stays_usable():
    lab = cowlab.Lab(ram_pages=4194304, pages=2621440)
    assert isinstance(lab.page, ipywidgets.IntText)  # not a 2.6M-option Dropdown
    assert lab.page_max == 2621440
    click(lab, "fork")
    select(lab, "parent", vpn=2621439)
    click(lab, "write")
    k = lab.kernel
    assert k.pte(parent(lab), 2621439).pfn == 2621440
    assert "VP0..VP2621438 -> PF0..PF2621438 RO COW (2621439 pages)" in lab.diagram.text
    assert "new copy!" in lab.diagram.source
    assert lab.diagram.source.count("VP") < 100             # summarised, not 2.6M rows
    click(lab, "undo")
    assert k.pte(parent(lab), 2621439).pfn == 2621439


def test_import_cowlab_does_not_load_ipywidgets():
    code = ("import sys, cowlab; cowlab.Kernel(ram_pages=4);"
            "print('ipywidgets' in sys.modules, 'graphviz' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "False"]


def test_the_recorder_sees_what_ipywidgets_would_swallow(callback_errors):
    """The hook is live: an unguarded callback that raises is recorded, not lost."""
    lab = cowlab.Lab(ram_pages=16)
    lab.buttons["read"].on_click(lambda b: 1 / 0)          # not the lab's: unguarded
    lab.buttons["read"]._handle_custom_msg({"event": "click"}, [])   # as the browser does
    assert len(callback_errors) == 1 and "ZeroDivisionError" in callback_errors[0]
    assert lab.history[-1].startswith("read(parent pid 1, VP0)")  # the lab's own callback ran
    callback_errors.clear()


# ------------------------------------------------------------- random play ---

def random_play(lab, rng, steps):
    """Click and select at random, as a curious student would; returns the
    kinds of event the run went through. Half the moves arrive as the browser
    sends them (a click message, a state update from the front end)."""
    kinds = set()

    def press(button):
        if rng.random() < 0.5:
            button.click()
        else:
            button._handle_custom_msg({"event": "click"}, [])

    def choose(widget, key, value):
        if rng.random() < 0.5:
            setattr(widget, "value", value)
        else:   # a Dropdown's front end sends the index, a text box the value
            widget.set_state({key: value})

    for _ in range(steps):
        move = rng.random()
        if move < 0.55:   # weighted so processes live long enough to share pages
            if lab.predict and rng.random() < 0.7:
                lab.prediction.value = rng.choice(lab.prediction.options[1:])[1]
            press(lab.buttons[rng.choices(WORDS, weights=(3, 3, 5, 1, 1, 2, 1))[0]])
        elif move < 0.7 and lab.process.options:
            i = rng.randrange(len(lab.process.options))
            if rng.random() < 0.5:
                lab.process.value = lab.process.options[i][1]
            else:
                lab.process.set_state({"index": i})
        elif move < 0.85:
            choose(lab.page, "value", rng.randint(-1, lab.page_max + 2))
        elif move < 0.9:
            choose(lab.value, "value", rng.choice(["", "", "x", "42"]))
        elif move < 0.95 and lab.predict:
            lab.prediction.value = rng.choice(lab.prediction.options)[1]
            lab.predict_rc.value = rng.choice(lab.predict_rc.options)[1]
            lab.predict_frame.value = rng.choice(lab.predict_frame.options)[1]
        else:
            choose(lab.ram, "value", rng.choice([3, 4, 8, 16]))
            lab.overcommit.value = rng.choice([0, 1, 2])
        check_consistent(lab)
        kinds |= {e.kind for e in lab.last_events}
    return kinds


def check_consistent(lab):
    """What the widgets show is what the model holds."""
    k = lab.kernel
    assert [pid for _, pid in lab.process.options] == [p.pid for p in k.live()]
    p = lab.selected()
    assert (p is None) == (not k.live())
    if p is not None:
        assert lab.page_max == max(r.start + r.pages for r in k.regions(p)) \
            if k.regions(p) else lab.page_max == 0
    rc = k.refcounts()
    assert (rc >= 0).all()
    for q in k.live():
        pfn = k.page_table(q).pfn
        assert (pfn[pfn >= 0] < k.ram_pages).all()
    assert f"free: {k.free_frames()} of {k.ram_pages}" in lab.diagram.text


def test_random_clicks_never_raise(callback_errors):
    """Hundreds of seeded random clicks and selections: no exception anywhere,
    and the widgets always show the model's state."""
    seen = set()
    for seed in range(4):
        rng = random.Random(seed)
        lab = cowlab.Lab(ram_pages=16, pages=rng.choice([1, 3, 5]),
                         overcommit_memory=rng.choice([0, 1, 2]),
                         rules=rng.choice(["linux", "xv6"]), predict=seed % 2 == 1)
        seen |= random_play(lab, rng, 250)
        assert lab.errors == [], (seed, lab.errors)
        assert callback_errors == [], seed
        assert len(lab.history) > 100
    # the runs went through forks, both kinds of COW fault, crashes and frees
    assert {"fork", "cow_copy", "cow_reuse", "zero_fill", "free", "segv", "exec",
            "exit"} <= seen, seen


# ----------------------------------------------------------------- Stepper ---

def test_stepper_walks_the_seed_forward_and_back():
    s = cowlab.Stepper("SEED")
    assert len(s.states) == 3 and s.step == 0
    assert s.buttons["back"].disabled and not s.buttons["next"].disabled
    assert "spawn parent 3" in s.label.value
    s.buttons["next"].click()
    assert "fork parent child" in s.label.value
    assert "PF0 rc=2, PF1 rc=2, PF2 rc=2" in s.diagram.text
    assert "no pages copied" in s.narration.value
    s.buttons["next"].click()
    assert s.buttons["next"].disabled
    assert "new copy!" in s.diagram.source and "VP1 -> PF3 RW" in s.diagram.text
    assert "copy PF1 into new PF3" in s.narration.value
    assert "page fault! VP1 -&gt; new copy PF3" in s.narration.value  # the author's note
    s.buttons["next"].click()                                # past the end: stays
    assert s.step == 2
    s.buttons["back"].click()
    assert "PF3" not in s.diagram.source                     # back really goes back
    assert s.kernel.refcount(3) == 0 and s.kernel.refcount(1) == 2
    assert s.errors == []


def test_stepper_fork_exec_and_redis_bgsave():
    s = cowlab.Stepper(cowlab.Scenario("FORK_EXEC"))
    s.go(2)                                                  # exec child 2
    assert "exec child 2" in s.label.value
    assert "PF0 rc=1" in s.diagram.text
    r = cowlab.Stepper("REDIS_BGSAVE")
    texts = []
    for _ in range(len(r.states)):
        texts.append(r.diagram.text)
        r.buttons["next"].click()
    assert sum("new copy!" in t for t in texts) == 2         # two pages copied, no more
    r.go(2)                                                  # read bgsave 0..7
    assert "serialising reads: no copies" in r.narration.value
    assert "new copy!" not in r.diagram.source
    assert r.errors == []


def test_stepper_takes_text_and_reports_bad_text():
    s = cowlab.Stepper("spawn p 2; fork p c  # share\nwrite c 0 z  # copy")
    assert [st[1] for st in s.states] == ["", "share", "copy"]
    with pytest.raises(ValueError, match="line 1, step 2"):
        cowlab.Stepper("spawn p 2; frok p c")
    with pytest.raises(ValueError, match="no steps"):
        cowlab.Stepper(cowlab.Scenario([]))
    bundle = s._repr_mimebundle_()
    assert bundle["application/vnd.jupyter.widget-view+json"]["model_id"] == s.ui.model_id
    assert bundle["text/plain"].startswith("cowlab.Stepper: step 1 of 3, spawn p 2")


def test_the_log_names_every_process_by_pid():
    """Three children are all called 'child': the log says which one."""
    lab = cowlab.Lab(ram_pages=16, pages=1)
    for _ in range(3):
        select(lab, "parent")
        click(lab, "fork")
    for pid in (2, 3, 4):
        lab.process.value = pid
        lab.page.value = 0
        click(lab, "write")
        assert lab.history[-1].startswith(f"write(child pid {pid}, VP0")
    assert "the child is child pid 4" in "\n".join(lab.history)
    assert sum("child pid 3: page fault" in h for h in lab.history) == 1, lab.history


def test_one_is_singular_in_the_log():
    lab = cowlab.Lab(ram_pages=16, pages=1)
    click(lab, "fork")
    log = lab.history[-1]
    assert "1 PTE copied" in log and "1 PTEs" not in log, log
    assert "exec() a new program (1 page)" in lab.buttons["exec"].tooltip
    select(lab, "child")
    click(lab, "exec")
    assert "1 page-table entries" not in lab.history[-1], lab.history[-1]


@pytest.mark.parametrize("vpn", [7, -1, 4])
def test_a_page_outside_the_process_is_refused_with_a_message(vpn):
    lab = cowlab.Lab(ram_pages=16)                # parent: VP0..VP2, VP3 = past the end
    before = lab.kernel.snapshot()
    select(lab, "parent", vpn=vpn)
    assert lab.page.value == vpn                  # kept as typed, not clamped
    assert f"VP{vpn} is outside parent pid 1" in lab.page_note.value
    assert "VP0..VP2" in lab.page_note.value
    for action in ("write", "read"):
        click(lab, action)
        assert lab.history[-1].startswith(f"{action}: refused: VP{vpn} is outside"), lab.history
        assert f"VP{vpn} is outside" in lab.log.value
    assert lab.kernel.pte(parent(lab), 0).pfn == 0 and lab.undo_stack == []
    lab.kernel.restore(before)
    select(lab, "parent", vpn=3)                  # one past the end: allowed, a SIGSEGV
    assert lab.page_note.value == ""
    click(lab, "write")
    assert any(e.kind == "segv" for e in lab.last_events)


def test_prediction_boxes_show_a_prompt_never_a_blank():
    lab = cowlab.Lab(ram_pages=16, predict=True)
    boxes = (lab.prediction, lab.predict_rc, lab.predict_frame)
    for d in boxes:
        assert d.index == 0 and d.label.startswith("— choose —"), (d.index, d.label)
    click(lab, "fork")
    select(lab, "parent", vpn=1)
    lab.prediction.value = "cow_copy"
    lab.predict_rc.value = 1
    click(lab, "write")
    for d in boxes:                               # after the verdict: the prompt again
        assert d.index == 0 and d.label.startswith("— choose —") and d.value is None
    lab.predict_rc.value = None                   # even when code sets None
    assert lab.predict_rc.label == "— choose —"


def test_counts_of_one_are_singular_in_the_tables_and_notes():
    lab = cowlab.Lab(ram_pages=2, pages=1)
    assert "(1 free frame)" in lab.stats.value
    assert lab.history[0].startswith("start: 2 frames of RAM")
    lab = cowlab.Lab(ram_pages=1, pages=1)
    assert lab.history[0].startswith("start: 1 frame of RAM")
    assert "(0 free frames)" in lab.stats.value
