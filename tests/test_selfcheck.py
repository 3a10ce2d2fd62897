"""The chapter-end questions: feedback a student sees, and misuse an author sees."""
import subprocess
import sys

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
