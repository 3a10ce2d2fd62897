"""Step forward and back through a scripted scenario, one narrated step at a time."""
import html

import ipywidgets as W

from .panes import CSS, diagram_html, draw_kernel, tidy


class Stepper:
    """Step forward and back through a scripted scenario (`back` / `next`),
    with the diagram and the kernel's narration for the current step.

    Stepper(cowlab.scenario.SEED), Stepper("SEED") or Stepper("spawn p 2; fork p c").
    The scenario runs once, up front; each step keeps a snapshot, so going back
    is as cheap as going forward.
    """

    def __init__(self, scenario):
        from .scenario import BUILTIN_TEXT, Scenario
        source = scenario if isinstance(scenario, str) else None
        if not isinstance(scenario, Scenario):
            scenario = Scenario(scenario)          # text or a built-in's name
        if source is None or source.strip().upper() in BUILTIN_TEXT:
            source = BUILTIN_TEXT.get(scenario.name or "", scenario.text)
        if not len(scenario):
            raise ValueError("Stepper: the scenario has no steps; start it with e.g. "
                             "'spawn parent 3'")
        self.scenario = scenario
        self.errors = []
        run = scenario.start()
        self.kernel = run.kernel
        notes = step_comments(source)
        self.states = []    # (step, the author's comment, outcome, snapshot)
        outs = []
        for out in run:
            outs.append((out, self.kernel.snapshot()))
        for i, (out, snap) in enumerate(outs):
            last_on_line = i + 1 == len(outs) or outs[i + 1][0].step.line != out.step.line
            comment = notes.get(out.step.line, "") if last_on_line else ""
            self.states.append((out.step, comment, out, snap))
        self.step = 0
        self.buttons = {n: W.Button(description=n, layout=W.Layout(width="70px"))
                        for n in ("back", "next")}
        for name, b in self.buttons.items():
            b.add_class("cowlab-" + name)
        self.buttons["back"].on_click(self.guard(lambda _: self.go(self.step - 1)))
        self.buttons["next"].on_click(self.guard(lambda _: self.go(self.step + 1)))
        self.label = W.HTML()
        self.narration = W.HTML()
        self.narration.add_class("cowlab-narration")
        self.diagram_box = W.HTML()
        self.diagram_box.add_class("cowlab-diagram")
        self.diagram = None
        about = f"<i>{html.escape(scenario.about)}</i>" if scenario.about else ""
        self.ui = W.VBox([W.HTML(CSS + about),
                          W.HBox([self.buttons["back"], self.buttons["next"], self.label]),
                          self.narration, self.diagram_box])
        self.ui.add_class("cowlab-stepper")
        self.go(0)

    def guard(self, callback):
        """As Lab.guard: a bug becomes a message and an entry in self.errors."""
        def guarded(*args):
            try:
                callback(*args)
            except Exception as e:
                self.errors.append(e)
                self.narration.value = ("<b>something went wrong inside the stepper "
                                        f"(not your mistake):</b> {html.escape(str(e))}")
        return guarded

    def go(self, i):
        """Show the state after step i (0-based), clamped to the scenario."""
        self.step = max(0, min(i, len(self.states) - 1))
        step, comment, out, snap = self.states[self.step]
        self.kernel.restore(snap)
        self.label.value = (f"step {self.step + 1} of {len(self.states)}: "
                            f"<code>{html.escape(step.text)}</code>")
        lines = [comment] if comment else []
        lines += [tidy(self.kernel, e) for e in out.events]
        if out.refused and not any(e.kind == "enomem" for e in out.events):
            lines.append(f"refused: {out.refused}")
        if out.step.command == "read" and out.result is not None:
            lines.append(f"reads {out.result!r}")
        self.narration.value = "<ul>" + "".join(
            f"<li>{html.escape(t)}</li>" for t in lines) + "</ul>"
        self.diagram = draw_kernel(self.kernel, out.events)
        self.diagram_box.value = diagram_html(self.diagram)
        self.buttons["back"].disabled = self.step == 0
        self.buttons["next"].disabled = self.step == len(self.states) - 1

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.ui._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = (f"cowlab.Stepper: step {self.step + 1} of {len(self.states)}, "
                                f"{self.states[self.step][0].text}\n{self.diagram.text}")
        return bundle


def step_comments(text):
    """{line number: the comment written after the step}, from scenario text."""
    notes = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if "#" in line and line.split("#", 1)[0].strip():
            notes[lineno] = line.split("#", 1)[1].strip()
    return notes
