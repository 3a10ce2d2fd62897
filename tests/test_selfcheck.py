"""The chapter-end questions: feedback a student sees, and misuse an author sees."""
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cowlab.selfcheck import Question, widget_class


def question():
    return Question("A 3-page parent forks. rc(PF1)?", ["1", "2", "3"], answer=1,
                    why="Both page tables point at PF1.")


def test_right_and_wrong_answers_get_feedback_with_the_reason():
    q = question()
    q.choose("2")
    q.button.click()
    assert "Right" in q.feedback.value and "Both page tables" in q.feedback.value
    q.choose(0)
    assert q.feedback.value == "", "changing the answer clears the old verdict"
    q.button.click()
    assert "Not quite" in q.feedback.value and "<i>2</i>" in q.feedback.value


def test_checking_without_an_answer_asks_for_one():
    q = question()
    assert q.check() is None
    assert q.feedback.value == "Pick an answer first."


def test_static_text_shows_the_whole_question():
    q = Question("x" * 150 + "?", ["yes", "no"], answer=0)
    text = q._repr_mimebundle_()["text/plain"]
    assert text.startswith("Q: " + "x" * 150 + "?") and "[yes / no]" in text


@pytest.mark.parametrize("kwargs, fix", [
    (dict(choices=["only one"], answer=0), "at least two"),
    (dict(choices="ab", answer=0), "at least two"),
    (dict(choices=["a", "a"], answer=0), "must differ"),
    (dict(choices=["a", "b"], answer=2), "index (0..1)"),
    (dict(choices=["a", "b"], answer=True), "index (0..1)"),
])
def test_bad_questions_are_refused_with_the_fix(kwargs, fix):
    with pytest.raises(ValueError, match=fix.replace("(", r"\(").replace(")", r"\)")):
        Question("q?", **kwargs)


def test_choosing_something_that_is_not_a_choice_changes_nothing():
    q = question()
    q.choose("2")
    for bad in ("4", 3, -1):
        with pytest.raises(ValueError):
            q.choose(bad)
    assert q.options.value == "2" and q.check() is True


def test_it_is_an_ipywidgets_box_and_import_cowlab_does_not_load_ipywidgets():
    import ipywidgets
    assert isinstance(question(), widget_class()) and isinstance(question(), ipywidgets.VBox)
    code = "import sys, cowlab, cowlab.selfcheck; print('ipywidgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"


# ---- answers hidden until attempted ---------------------------------------------

def widget_state_text(widget):
    """Everything the browser receives for a widget and its children (their traits)."""
    import json
    out, todo = [], [widget]
    while todo:
        wdg = todo.pop()
        state = wdg.get_state()
        out.append(json.dumps(state, default=str))
        todo += [c for c in getattr(wdg, "children", ())]
    return "\n".join(out)


def test_a_catalog_question_is_asked_by_id_and_shows_no_answer_before_a_try():
    from cowlab.selfcheck import QUESTIONS, ask
    q = ask("02-who-copies")
    entry = QUESTIONS["02-who-copies"]
    assert q.question == entry["question"] and q.choices == entry["choices"]
    sent = widget_state_text(q)
    assert entry["why"] not in sent and entry["hint"] not in sent
    assert "answer" not in repr(q).lower()


def test_a_wrong_answer_gets_the_hint_and_a_second_try_then_the_answer():
    from cowlab.selfcheck import QUESTIONS, ask
    entry = QUESTIONS["03-five-writers"]
    right = entry["choices"][entry["answer"]]
    wrong = [c for c in entry["choices"] if c != right]
    q = ask("03-five-writers")
    q.choose(wrong[0])
    assert q.check() is False
    assert "Hint" in q.feedback.value and "Try once more" in q.feedback.value
    assert f"<i>{right}</i>" not in q.feedback.value             # the answer stays hidden
    assert "the fifth writer" not in q.feedback.value          # the why stays hidden
    q.choose(wrong[1])
    assert q.check() is False
    assert f"<i>{right}</i>" in q.feedback.value and "fifth writer" in q.feedback.value


def test_a_right_first_answer_is_confirmed_with_the_reason():
    from cowlab.selfcheck import ask
    q = ask("01-rc-after-fork")
    q.choose("2")
    assert q.check() is True and "Right" in q.feedback.value and "two references" in \
        q.feedback.value


def test_every_catalog_entry_builds_and_has_a_hint_that_is_not_the_answer():
    from cowlab.selfcheck import PREDICTIONS, QUESTIONS, ask, ids
    assert ids()[0].startswith("00-") and len(ids()) == len(QUESTIONS) + len(PREDICTIONS)
    assert len(QUESTIONS) >= 27
    for qid, e in {**QUESTIONS, **PREDICTIONS}.items():
        assert qid[:2].isdigit() and qid[2] == "-", qid
        assert e["hint"] and e["why"] and e["hint"] != e["why"], qid
        if "{" in e["question"]:
            continue
        q = ask(qid)
        said = re.escape(q.choices[q.answer])
        assert not re.search(rf"(?<![\w.]){said}(?![\w.])", e["hint"]), \
            (qid, "the hint gives the answer away")


def test_fields_are_filled_and_missing_ones_named():
    from cowlab.selfcheck import ask
    q = ask("08-parent-private-dirty", kb=4)
    assert "(4 KiB each)" in q.question and q.choices == ["0 kB", "64 kB", "256 kB"]
    q = ask("08-parent-private-dirty", kb=16)                 # 16 KiB pages (arm64)
    assert q.choices == ["0 kB", "256 kB", "1024 kB"]
    with pytest.raises(ValueError, match=r"kb=4"):
        ask("08-parent-private-dirty")
    with pytest.raises(ValueError, match=r"kb=4"):
        ask("08-parent-private-dirty", page_kb=4)
    with pytest.raises(ValueError, match="did you mean '02-who-copies'"):
        ask("02-who-copie")


def test_a_prediction_runs_its_action_only_after_the_commit():
    from cowlab.selfcheck import predict
    ran = []
    p = predict("Parent and child share VP1; the parent writes it. Who gets the copy?",
                ["the child", "the parent"], answer=1,
                then=lambda: ran.append(1) or "the drawing",
                why="The writer faults, so the writer gets the copy.")
    assert p.options.index == 0 and p.options.label == "— choose —"
    assert "writer faults" not in widget_state_text(p)
    assert p.commit() is None and ran == []                 # nothing chosen: nothing runs
    assert "Choose a prediction first" in p.feedback.value
    p.options.value = None                                   # never a blank box
    assert p.options.label == "— choose —"
    assert p.commit("the child") is False
    assert ran == [1] and p.result == "the drawing"
    assert "<i>the parent</i>" in p.feedback.value and "writer faults" in p.feedback.value
    assert p.options.disabled and p.button.disabled           # committed: no changing it
    assert p.commit(1) is False and ran == [1]               # and it runs once


def test_a_prediction_whose_action_fails_says_so_without_a_traceback():
    from cowlab.selfcheck import predict

    def boom():
        raise RuntimeError("no such page")
    p = predict("01-rc-after-fork", then=boom)
    assert p.commit("2") is True
    shown = "".join(o.get("text", "") for o in p.output.outputs)
    assert "could not show the result: RuntimeError: no such page" in shown
    assert "Traceback" not in shown


def chapter_questions():
    """Every Question(...) with literal arguments in the chapters' code cells."""
    import ast
    import json
    from pathlib import Path
    found = []
    for path in sorted((Path(__file__).parents[1] / "notebooks").glob("[0-9][0-9]-*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            try:
                tree = ast.parse("".join(cell["source"]))
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Question":
                    try:
                        args = [ast.literal_eval(a) for a in node.args]
                        kw = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
                    except ValueError:
                        continue              # computed in the cell (08's page size)
                    q = dict(zip(["question", "choices", "answer", "why"], args), **kw)
                    found.append((path.name[:2], q))
    return found


def test_the_catalog_says_what_the_chapters_ask():
    """While a chapter still spells a question out, the catalog holds the same question,
    choices, answer and explanation, under an id with the chapter's number."""
    from cowlab.selfcheck import QUESTIONS
    by_text = {e["question"]: (qid, e) for qid, e in QUESTIONS.items()}
    for chapter, q in chapter_questions():
        assert q["question"] in by_text, f"chapter {chapter}: {q['question']!r} is not in " \
                                          "cowlab/questions.py"
        qid, e = by_text[q["question"]]
        assert qid.startswith(chapter + "-"), (qid, chapter)
        assert (e["choices"], e["answer"], e["why"]) == (q["choices"], q["answer"],
                                                         q.get("why", "")), qid


def test_each_chapter_has_its_opening_prediction_and_the_model_agrees_where_it_can():
    """01..07 and 09 each have 'NN-predict' (08 measures instead); the answers the model
    can settle, it settles."""
    import cowlab
    from cowlab.selfcheck import PREDICTIONS, predict
    assert sorted(PREDICTIONS) == [f"0{n}-predict" for n in (1, 2, 3, 4, 5, 6, 7, 9)]

    def answer(qid):
        e = PREDICTIONS[qid]
        return e["choices"][e["answer"]]

    k = cowlab.Kernel(ram_pages=16)                          # 02: parent, then child, VP1
    p = k.spawn("parent", pages=3)
    c = k.fork(p)
    k.write(p, 1, "x")
    k.write(c, 1, "y")
    assert answer("02-predict") == str(sum(e.kind == "cow_copy" for e in k.events))
    k = cowlab.Kernel(ram_pages=16)                          # 03: four writers of VP0
    p = k.spawn("parent", pages=3)
    procs = [p] + [k.fork(p) for _ in range(3)]
    for q in procs:
        k.write(q, 0, q.pid)
    assert answer("03-predict") == str(sum(e.kind == "cow_copy" for e in k.events))
    k = cowlab.Kernel(ram_pages=16)                          # 04: fork, exec, parent writes
    p = k.spawn("parent", pages=3)
    c = k.fork(p)
    k.exec(c, pages=1)
    kinds = [e.kind for e in k.write(p, 0, "x")]
    assert kinds == ["cow_reuse"] and answer("04-predict").startswith("nothing was copied; "
                                                                      "the write faults")
    GiB = (1 << 30) // 4096                                  # 05: mode 2, ratio 80
    k = cowlab.Kernel(ram_pages=16 * GiB, overcommit_memory=2, overcommit_ratio=80)
    p = k.spawn("p", pages=10 * GiB)
    with pytest.raises(OSError):
        k.fork(p)
    k = cowlab.Kernel(ram_pages=16 * GiB, overcommit_memory=0)
    k.fork(k.spawn("p", pages=10 * GiB))
    assert answer("05-predict").startswith("refused (ENOMEM) under mode 2, it succeeds")
    assert abs((1 - 0.95 ** 40) - 0.87) < 0.01 and answer("06-predict") == "more than 8 GiB"
    w = predict("07-predict", then=lambda: "shown")
    assert w.commit(answer("07-predict")) is True and w.result == "shown"
    kinds = {}                                               # 09: mapcount 1, who else holds it
    for holder in ("nothing", "pipe", "pin"):
        k = cowlab.Kernel(ram_pages=16)
        p = k.spawn("parent", pages=1)
        k.exit(k.fork(p))
        if holder == "pipe":
            k.vmsplice(p, 0)
        elif holder == "pin":
            k.pin(p, 0)
        assert k.mapcount(k.pte(p, 0).pfn) == 1
        kinds[holder] = [e.kind for e in k.write(p, 0, "x")]
    # a pin taken now unshares the page first (it is the parent's own): the write reuses
    assert kinds == {"nothing": ["cow_reuse"], "pipe": ["cow_copy"], "pin": ["cow_reuse"]}
    assert answer("09-predict").startswith("only if nothing else holds a reference")


# Chapters whose questions are all asked by id: their code cells show no answer.
ANSWERS_HIDDEN = ("04", "05", "06", "07", "08", "09")


@pytest.mark.parametrize("chapter", ANSWERS_HIDDEN)
def test_no_answer_or_explanation_in_a_chapter_cell(chapter):
    """A student reads the cells: a self-check's answer= or why= there gives it away."""
    import re
    import nbformat
    notebooks = Path(__file__).resolve().parent.parent / "notebooks"
    [path] = notebooks.glob(f"{chapter}-*.ipynb")
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
    leaks = [c.source for c in cells if re.search(r"\b(answer|why)\s*=", c.source)]
    assert not leaks, f"{path.name} shows an answer or explanation: {leaks[0][:200]}"
    asked = sum(len(re.findall(r"\b(?:ask|predict)\(\"\d\d-", c.source)) for c in cells)
    assert asked >= 3, f"{path.name}: fewer than 3 questions asked by catalog id"
