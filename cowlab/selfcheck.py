"""Check-yourself questions at the end of each chapter: instant feedback, never graded.

A question is a few choices and the index of the right one; `why` is what the
student reads after checking, right or wrong, because the point is the reason,
not the score.  The chapter's own cells show the model agreeing with each answer
(and nbval re-runs those cells), so a change in the model shows up there.

    Question("Parent and 3 children share VP0. All four write it. Copies?",
             ["4", "3", "0"], answer=1, why="...the last writer reuses the frame.")

ipywidgets is imported when a question is built, not when cowlab is imported.
"""

__all__ = ["Question", "widget_class"]


def Question(question, choices, answer, why=""):
    """A question widget: radio choices, a **check** button, a feedback line."""
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
    return widget_class()(question, choices, answer, why)


_CLASS = None


def widget_class():
    """Build the widget class on first use, so `import cowlab` never loads ipywidgets."""
    global _CLASS
    if _CLASS is not None:
        return _CLASS
    import html
    import ipywidgets as w

    class SelfCheck(w.VBox):
        """One question. `check()` is what the button does; tests call it too."""

        def __init__(self, question, choices, answer, why):
            self.question, self.choices, self.answer, self.why = question, choices, answer, why
            self.prompt = w.HTML(f"<b>{html.escape(question)}</b>")
            self.options = w.RadioButtons(options=choices, value=None,
                                          layout=w.Layout(width="max-content"))
            self.button = w.Button(description="check", tooltip="check your answer")
            self.feedback = w.HTML("")
            self.button.on_click(lambda _b: self.check())
            self.options.observe(lambda _c: self._clear(), names="value")
            super().__init__([self.prompt, self.options, self.button, self.feedback])

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
            """Say right or not, and why. Returns True, False, or None if nothing chosen."""
            if self.options.value is None:
                self.feedback.value = "Pick an answer first."
                return None
            right = self.options.index == self.answer
            verdict = ("<span style='color:#1a7f37'>&#10004; Right.</span>" if right else
                       "<span style='color:#cf222e'>&#10008; Not quite.</span> "
                       f"The answer is <i>{html.escape(self.choices[self.answer])}</i>.")
            self.feedback.value = f"{verdict} {html.escape(self.why)}"
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
