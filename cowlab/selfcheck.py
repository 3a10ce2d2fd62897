"""Check-yourself questions and predictions: instant feedback, never graded.

Answers stay hidden until the student has tried. The questions live in the package
(`cowlab/questions.py`, by id), so a chapter cell shows only the call:

    from cowlab.selfcheck import ask, predict
    ask("02-who-copies")                      # a question from the catalog, by id
    ask("08-parent-private-dirty", kb=real.PAGE_SIZE // 1024)  # fills {kb} in its text

A wrong first answer gets the question's hint and a second try; the answer and
its explanation (`why`) appear after a right answer or a second wrong one.

    predict("Parent and child share VP1. The parent writes it. What happens?",
            ["nothing: no fault", "a copy for the parent", "a copy for the child"],
            answer=1, then=lambda: cowlab.draw(after_write("parent")),
            why="The writer faults, so the writer gets the copy.")

shows a dropdown on a "— choose —" prompt and a **commit** button; only once the
student commits does `then()` run and its output (a drawing, printed lines)
appear, with the verdict. A prediction from the catalog: `predict("03-predict",
then=...)` (each chapter's opening prediction is "NN-predict", NN = 01..07 and 09).
`Question(question, choices, answer, why, hint)` builds a question directly (for
homework or quick use; its source shows the answer).

ipywidgets is imported when a widget is built, not when cowlab is imported.
"""
from .predictions import PREDICTIONS
from .questions import QUESTIONS

__all__ = ["Question", "ask", "predict", "Predict", "widget_class", "QUESTIONS", "PREDICTIONS",
           "ids"]

CHOOSE = "— choose —"


def check_choices(choices, answer):
    if isinstance(choices, str) or len(choices) < 2:
        raise ValueError("choices must be a list of at least two answers, "
                         "e.g. ['copy 1 GiB', 'copy the page tables']")
    choices = [str(c) for c in choices]
    if len(set(choices)) != len(choices):
        raise ValueError(f"choices must differ from each other; got {choices}")
    if isinstance(answer, bool) or not isinstance(answer, int) \
            or not 0 <= answer < len(choices):
        raise ValueError(f"answer must be the index (0..{len(choices) - 1}) of the right "
                         f"choice; got {answer!r}")
    return choices


def Question(question, choices, answer, why="", hint=""):
    """A question widget: radio choices, a **check** button, a feedback line."""
    choices = check_choices(choices, answer)
    return widget_class()(question, choices, answer, why, hint)


def ids():
    """The catalog's ids, in chapter order: the self-checks, then the predictions."""
    return list(QUESTIONS) + list(PREDICTIONS)


def entry(qid, fields):
    """A catalog entry with its {name} fields filled in, or a ValueError naming the fix."""
    catalog = {**QUESTIONS, **PREDICTIONS}
    if qid not in catalog:
        import difflib
        near = difflib.get_close_matches(str(qid), catalog, n=3)
        raise ValueError(f"no self-check question {qid!r}"
                         + (f"; did you mean {', '.join(map(repr, near))}?" if near else "")
                         + " (cowlab.selfcheck.ids() lists them)")
    q = dict(catalog[qid])
    try:
        if "derive" in q:
            fields = {**q["derive"](**fields), **fields}
        for key in ("question", "hint", "why"):
            q[key] = q[key].format(**fields)
        q["choices"] = [c.format(**fields) for c in q["choices"]]
    except KeyError as e:
        raise ValueError(f"question {qid!r} needs {e.args[0]}=...: "
                         f"ask({qid!r}, {e.args[0]}=...)") from None
    except TypeError as e:          # derive() without the field it needs
        raise ValueError(f"question {qid!r}: {e}; e.g. ask({qid!r}, kb=4)") from None
    return q


def ask(qid, **fields):
    """The catalog's question `qid` as a widget (see the module docstring)."""
    q = entry(qid, fields)
    widget = Question(q["question"], q["choices"], q["answer"], q["why"], q["hint"])
    widget.qid = qid
    return widget


def predict(question, choices=None, answer=None, then=None, why="", **fields):
    """A prediction widget: commit to a choice, then `then()` runs and its output shows.

    predict("02-who-copies", then=f) takes the question from the catalog;
    predict("text?", [...], answer=i, then=f, why="...") spells it out.
    """
    if choices is None and answer is None:
        q = entry(question, fields)
        question, choices, answer, why = q["question"], q["choices"], q["answer"], q["why"]
    if then is not None and not callable(then):
        raise ValueError("then= must be a function to run after the student commits, "
                         "e.g. then=lambda: cowlab.draw(k)")
    choices = check_choices(choices or [], answer)
    return predict_class()(question, choices, answer, why, then)


_CLASS = None
_PREDICT = None


def verdict_html(right, answer_text=None):
    import html
    if right:
        return "<span style='color:#1a7f37'>&#10004; Right.</span>"
    said = (f" The answer is <i>{html.escape(answer_text)}</i>." if answer_text is not None
            else "")
    return f"<span style='color:#cf222e'>&#10008; Not quite.</span>{said}"


def widget_class():
    """Build the widget class on first use, so `import cowlab` never loads ipywidgets."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    import html
    import ipywidgets as w

    class SelfCheck(w.VBox):
        """One question. `check()` is what the button does; tests call it too.

        The answer and `why` stay on the Python side (no widget holds them) until
        revealed: after a right answer, or after the second wrong one."""

        def __init__(self, question, choices, answer, why, hint=""):
            self.question, self.choices, self.answer, self.why = question, choices, answer, why
            self.hint = hint
            self.wrong = 0             # wrong checks so far
            self.revealed = False
            self.prompt = w.HTML(f"<b>{html.escape(question)}</b>")
            self.options = w.RadioButtons(options=choices, value=None,
                                          layout=w.Layout(width="max-content"))
            self.button = w.Button(description="check", tooltip="check your answer")
            self.feedback = w.HTML("")
            self.button.on_click(lambda _b: self.safely(self.check))
            self.options.observe(lambda _c: self._clear(), names="value")
            super().__init__([self.prompt, self.options, self.button, self.feedback])
            self.add_class("cowlab-selfcheck")

        def safely(self, action):
            try:
                return action()
            except Exception as e:          # never a traceback in a widget
                self.feedback.value = f"(could not check: {html.escape(str(e))})"
                return None

        def choose(self, choice):
            """Select a choice by its text or its index (what a click on a radio does)."""
            if isinstance(choice, int) and not isinstance(choice, bool):
                if not 0 <= choice < len(self.choices):
                    raise ValueError(f"choice index must be 0..{len(self.choices) - 1}")
                choice = self.choices[choice]
            if choice not in self.choices:
                raise ValueError(f"{choice!r} is not one of {self.choices}")
            self.options.value = choice

        def check(self):
            """Say right or not. Returns True, False, or None if nothing chosen.

            A first wrong answer gets the hint and a second try; the answer and why
            appear after a right answer or a second wrong one."""
            if self.options.value is None:
                self.feedback.value = "Pick an answer first."
                return None
            right = self.options.index == self.answer
            if not right:
                self.wrong += 1
            if right or self.revealed or self.wrong >= 2:
                self.revealed = True
                answer = None if right else self.choices[self.answer]
                self.feedback.value = f"{verdict_html(right, answer)} {html.escape(self.why)}"
            else:
                hint = html.escape(self.hint) if self.hint else "Think it through once more."
                self.feedback.value = (f"{verdict_html(False)} Hint: {hint} "
                                       "<i>Try once more.</i>")
            return right

        def _clear(self):
            self.feedback.value = ""

        def __repr__(self):
            # What a static viewer (and nbval) shows: the question, not widget internals.
            opts = " / ".join(self.choices)
            return f"Q: {self.question}  [{opts}]"

        def _repr_mimebundle_(self, **kwargs):
            data = super()._repr_mimebundle_(**kwargs)
            data["text/plain"] = repr(self)    # whole question, not cut at 110 chars
            return data

    _CLASS = SelfCheck
    return _CLASS


def predict_class():
    """The prediction widget class, built on first use (ipywidgets)."""
    global _PREDICT
    if _PREDICT is not None:
        return _PREDICT
    import html
    import ipywidgets as w

    class Predict(w.VBox):
        """Choose, commit, then see: `commit()` is what the button does."""

        def __init__(self, question, choices, answer, why, then):
            self.question, self.choices, self.answer, self.why = question, choices, answer, why
            self.then = then
            self.committed = None
            self.result = None          # what then() returned
            self.prompt = w.HTML(f"<b>Predict:</b> {html.escape(question)}")
            self.options = w.Dropdown(options=[(CHOOSE, None)] + [(c, i) for i, c in
                                                                   enumerate(choices)],
                                      index=0, layout=w.Layout(width="max-content"))
            self.options.add_class("cowlab-predict")
            self.options.observe(self._no_blank, names="index")
            self.button = w.Button(description="commit", tooltip="commit to your prediction, "
                                   "then see what happens")
            self.button.on_click(lambda _b: self.commit())
            self.feedback = w.HTML("")
            self.output = w.Output()
            super().__init__([self.prompt, w.HBox([self.options, self.button]),
                              self.feedback, self.output])
            self.add_class("cowlab-prediction")

        def _no_blank(self, change):
            if change["new"] is None:
                self.options.index = 0

        def commit(self, choice=None):
            """Commit to the chosen prediction (or `choice`: text or index), then run
            `then()` and reveal. Returns True/False, or None if nothing was chosen."""
            try:
                if choice is not None:
                    i = self.choices.index(choice) if isinstance(choice, str) else int(choice)
                    if not 0 <= i < len(self.choices):
                        raise ValueError(f"choice must be 0..{len(self.choices) - 1}")
                    self.options.index = i + 1
                if self.committed is not None:
                    return self.committed == self.answer
                if self.options.value is None:
                    self.feedback.value = "Choose a prediction first, then commit."
                    return None
                self.committed = self.options.value
                self.options.disabled = self.button.disabled = True
                right = self.committed == self.answer
                answer = None if right else self.choices[self.answer]
                said = html.escape(self.choices[self.committed])
                self.feedback.value = (f"You predicted <i>{said}</i>. "
                                       f"{verdict_html(right, answer)} {html.escape(self.why)}")
                if self.then is not None:
                    self.run_then()
                return right
            except ValueError:
                raise
            except Exception as e:          # never a traceback in a widget
                self.feedback.value += f" (could not show the result: {html.escape(str(e))})"
                return None

        def run_then(self):
            """Run then(): what it prints, then what it returns, into the output area
            (appended, so it works in a kernel callback and in a plain test alike)."""
            import contextlib
            import io
            printed = io.StringIO()
            try:
                with contextlib.redirect_stdout(printed):
                    self.result = self.then()
            except Exception as e:
                print(f"(could not show the result: {type(e).__name__}: {e})", file=printed)
                self.result = None
            if printed.getvalue():
                self.output.append_stdout(printed.getvalue())
            if self.result is not None:
                self.output.append_display_data(self.result)

        def __repr__(self):
            opts = " / ".join(self.choices)
            return f"Predict: {self.question}  [{opts}]"

        def _repr_mimebundle_(self, **kwargs):
            data = super()._repr_mimebundle_(**kwargs)
            data["text/plain"] = repr(self)
            return data

    _PREDICT = Predict
    return _PREDICT


def __getattr__(name):
    if name == "Predict":
        return predict_class()
    raise AttributeError(f"module 'cowlab.selfcheck' has no attribute {name!r}")
