"""The lab's predict mode: commit to what the kernel will do, then see it do it.

Before a read or a write the student picks an outcome (copy, reuse, zero page, ...),
and may guess the old frame's rc afterwards and the new frame; the action runs only
once an outcome is chosen, then the lab says what was right. Every dropdown shows
a prompt ("— choose —") until a choice is made, never a blank.

A mixin for `Lab`: it uses the lab's kernel, `selected()`, `page`, `say()`.
"""
import html

import ipywidgets as W
import numpy as np

from .mm import FAULT_KINDS as MODEL_FAULT_KINDS, KILL_KINDS
from .panes import span

CHOOSE = "— choose —"
# What a student can predict before a read or a write; the first entry is the prompt.
OUTCOMES = [
    (f"{CHOOSE} what happens", None),
    ("no fault: it just happens", "none"),
    ("copy the frame into a new one", "cow_copy"),
    ("reuse the frame in place, no copy", "cow_reuse"),
    ("map the shared zero page", "zero_map"),
    ("allocate a fresh zeroed frame", "zero_fill"),
    ("map the shared page already in memory", "shared_map"),
    ("read the file's page from disk into a new frame", "file_read"),
    ("SIGSEGV: the process dies", "segv"),
    ("OOM kill", "oom_kill"),
]
OUTCOME_WORDS = {v: k for k, v in OUTCOMES}
FAULT_KINDS = MODEL_FAULT_KINDS + KILL_KINDS     # named once, by the model (cowlab.mm.events)
NO_FRAME = -1          # predict mode: 'no new frame'


def new_frame(events):
    """The frame a copy, a first write or a read from a file allocated, or NO_FRAME."""
    for e in events:
        if e.kind in ("cow_copy", "zero_fill", "file_read") and e.vpn is not None:
            if e.new_pfn is not None and e.new_pfn >= 0:
                return e.new_pfn
    return NO_FRAME


def frame_words(pfn):
    return "no new frame" if pfn == NO_FRAME else f"PF{pfn}"


def unset(dropdown):
    """Back to the prompt (index 0). `value = None` would show a blank box."""
    dropdown.index = 0


def blank_to_prompt(change):
    """A dropdown set to None (by code: a student cannot pick a blank) shows the prompt."""
    if change["new"] is None and change["owner"].options:
        change["owner"].index = 0


class PredictMode:
    """Lab's predict-mode parts: the three dropdowns, the prompt, the verdict."""

    def build_predict(self):
        self.prediction = W.Dropdown(description="predict", options=OUTCOMES, index=0,
                                     layout=W.Layout(width="340px"))
        self.predict_rc = W.Dropdown(
            description="rc after", options=[(CHOOSE, None)] + [(str(i), i) for i in range(9)],
            index=0, tooltip="refcount of the page's old frame after the action",
            layout=W.Layout(width="200px"))
        self.predict_frame = W.Dropdown(
            description="new frame", options=[(CHOOSE, None)], index=0,
            tooltip="the frame a copy or a first write will get (or none)",
            layout=W.Layout(width="220px"))
        for d in (self.prediction, self.predict_rc, self.predict_frame):
            d.add_class("cowlab-predict")
            d.observe(self.guard(blank_to_prompt), names="index")
        self.predict_prompt = W.HTML()
        return W.VBox([self.predict_prompt,
                       W.HBox([self.prediction, self.predict_rc, self.predict_frame])])

    def update_prompt(self):
        """Say what the selected page maps now, ask what comes next."""
        if not self.predict:
            return
        p, vpn = self.selected(), self.page.value
        if p is None:
            self.predict_prompt.value = "<i>no live process to predict for</i>"
            return
        top = span(self.kernel, p)
        pte = self.kernel.pte(p, vpn) if 0 <= vpn < top else None
        if not 0 <= vpn <= top:
            now = "is outside the process"
        elif vpn == top:
            now = "is in no region"
        elif pte is None:
            now = "was never touched (no PTE)"
        elif pte.pfn < 0:
            now = "maps the shared zero page"
        else:
            bits = "RW" if pte.writable else "RO" + (" COW" if pte.cow else "")
            now = f"maps PF{pte.pfn} ({bits}, rc={self.kernel.refcount(pte.pfn)})"
        self.predict_prompt.value = (
            f"<b>Predict</b>: VP{vpn} of {html.escape(p.name)} (pid {p.pid}) {now}. "
            "What will the next <b>read</b> or <b>write</b> do, what will the old frame's "
            "rc be after, and which frame (if any) will it get?")
        self.update_frame_choices()

    def update_frame_choices(self):
        """Offer 'no new frame' and the lowest free frames (the allocator's next picks)."""
        free = [int(f) for f in np.flatnonzero(self.kernel.refcounts() == 0)[:6]]
        options = [(CHOOSE, None), ("no new frame", NO_FRAME)] + [(f"PF{f}", f) for f in free]
        if options != list(self.predict_frame.options):
            keep = self.predict_frame.value
            self.predict_frame.options = options
            values = [v for _, v in options]
            self.predict_frame.index = values.index(keep) if keep in values else 0

    def check_prediction(self, old):
        """Compare the student's guess with what the kernel just did."""
        kinds = [e.kind for e in self.last_events if e.kind in FAULT_KINDS]
        actual = kinds[0] if kinds else "none"
        guess = self.prediction.value
        verdicts = []
        if guess == actual:
            verdicts.append(f"right: {OUTCOME_WORDS[actual]}")
        else:
            verdicts.append(f"not quite: you said '{OUTCOME_WORDS[guess]}', "
                            f"the kernel did '{OUTCOME_WORDS[actual]}'")
        rc_guess = self.predict_rc.value
        ok = guess == actual
        if rc_guess is not None and old is not None and old.pfn >= 0:
            rc = self.kernel.refcount(old.pfn)
            ok = ok and rc == rc_guess
            verdicts.append(f"rc(PF{old.pfn}) is {rc}; you said {rc_guess}"
                            + (" (right)" if rc == rc_guess else ""))
        frame_guess = self.predict_frame.value
        if frame_guess is not None:
            got = new_frame(self.last_events)
            ok = ok and got == frame_guess
            said = "no new frame" if got == NO_FRAME else f"the new frame is PF{got}"
            verdicts.append(said + (" (right)" if got == frame_guess else
                                    f"; you said {frame_words(frame_guess)}"))
        self.say("predict", [], note="; ".join(verdicts),
                 css="cowlab-right" if ok else "cowlab-refused")
        for d in (self.prediction, self.predict_rc, self.predict_frame):
            unset(d)
