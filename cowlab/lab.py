"""The lab: one kernel model behind fork, read, write, exec, exit, undo, reset buttons.

Every button calls one model function, then redraws the diagram (an SVG inside an
HTML widget), the narrated event log and the smaps/meminfo tables. Nothing the
student does may end in a traceback: what the model refuses (ENOMEM, SIGSEGV, an
OOM kill, misuse, a page number outside the process) is said in the log, and a bug
in the lab itself is shown as a friendly message and kept in `lab.errors`.
"""
import html
import traceback

import ipywidgets as W

from .mm import Kernel
from .panes import (CSS, diagram_html, draw_kernel, plural, snapshot_size, span, stats_html,
                    tidy, who)
from .predict import PredictMode

ACTIONS = ("fork", "read", "write", "exec", "exit", "undo", "reset")
LOG_KEEP = 300            # log entries kept on screen (the model keeps them all)
UNDO_BUDGET = 40_000_000  # frames summed over the undo stack: bounds its memory
EXEC_PAGES = 1            # exec loads a tiny new program: one fresh page


class Lab(PredictMode):
    """An ipywidgets lab around one kernel model; display it or make it the
    last expression of a cell.

    Lab(ram_pages=16, pages=3, ...) spawns "parent" with `pages` pages written
    once (PF0.. upward); pass `kernel=` to explore a state you built yourself.

    What notebooks and tests use:
      lab.kernel                the model (undo/reset restore it in place; a reset
                                with a new RAM size or overcommit mode makes a new one)
      lab.buttons[word]         word in fork read write exec exit undo reset
      lab.process, lab.page     the selectors (Dropdown of live pids, IntText vpn; a vpn
                                outside 0..lab.page_max is refused, lab.page_note says why;
                                page_max, one past the end, is a SIGSEGV to try)
      lab.value                 what write stores (blank: w1, w2, ...)
      lab.ram, lab.overcommit   settings, applied by reset
      lab.prediction, lab.predict_rc, lab.predict_frame
                                predict mode's questions (predict=True): what happens,
                                the old frame's rc after, the new frame (None: no guess;
                                the box then shows "— choose —")
      lab.diagram               the current drawing (cowlab.draw); lab.diagram_box shows it
      lab.log, lab.stats        HTML widgets: the narrated log (newest first), the tables
      lab.history               the log as plain text, oldest first
      lab.last_events           the events the last action appended
      lab.errors                bugs caught in callbacks (should stay empty)
      lab.ui                    the root widget; lab.selected() the selected live Process
    """

    def __init__(self, ram_pages=16, pages=3, swap_pages=0, overcommit_memory=0,
                 rules="linux", predict=False, kernel=None):
        self.pages, self.swap_pages, self.rules = pages, swap_pages, rules
        self.predict = bool(predict)
        self.errors = []       # unexpected exceptions caught in callbacks (bugs)
        self.history = []      # the log as plain text, one line per entry
        self.counter = 0       # write values: w1, w2, ... so copies are visible
        self.undo_stack = []
        self.diagram = None
        self.last_events = []
        self.entries = []      # the log as HTML, oldest first
        if kernel is None:
            kernel = self.boot(ram_pages, overcommit_memory)
        self.kernel = kernel
        self.initial = (kernel, kernel.snapshot())
        self.build_widgets()
        self.say("start", [], note=self.start_note())
        self.refresh()

    # -- the kernel --------------------------------------------------------
    def boot(self, ram_pages, overcommit_memory):
        """A fresh machine with one process, as the chapter starts."""
        k = Kernel(ram_pages=ram_pages, swap_pages=self.swap_pages,
                   overcommit_memory=overcommit_memory, rules=self.rules)
        k.spawn("parent", pages=self.pages)
        return k

    def start_note(self):
        k = self.kernel
        names = ", ".join(f"{p.name} (pid {p.pid})" for p in k.live()) or "none"
        return (f"{plural(k.ram_pages, 'frame')} of RAM, overcommit_memory={k.overcommit_memory}, "
                f"{k.rules} rules; processes: {names}")

    # -- widgets -----------------------------------------------------------
    def build_widgets(self):
        k = self.kernel
        self.process = W.Dropdown(description="process", options=[],
                                  layout=W.Layout(width="220px"))
        self.page = W.IntText(value=0, description="page VP", layout=W.Layout(width="180px"))
        self.page_note = W.HTML()
        self.value = W.Text(value="", placeholder="blank: w1, w2, ...",
                            description="value", layout=W.Layout(width="220px"),
                            tooltip="what write stores; blank = a counter, w1, w2, ...")
        self.process.add_class("cowlab-process")
        self.page.add_class("cowlab-page")
        self.value.add_class("cowlab-value")
        self.buttons = {}
        tips = {
            "fork": "fork() the selected process: copy its page table, not its pages",
            "read": "read the selected page of the selected process",
            "write": "write the value to the selected page (may take a COW fault)",
            "exec": f"exec() a new program ({plural(EXEC_PAGES, 'page')}) in the selected process",
            "exit": "exit() the selected process: drop all its mappings",
            "undo": "put the machine back as it was before the last action",
            "reset": "start again with the RAM size and overcommit mode below",
        }
        for name in ACTIONS:
            b = W.Button(description=name, tooltip=tips[name],
                         layout=W.Layout(width="70px"))
            b.add_class("cowlab-" + name)
            b.on_click(self.guard(getattr(self, "on_" + name)))
            self.buttons[name] = b
        self.ram = W.BoundedIntText(value=k.ram_pages, min=1, max=1 << 24,
                                    description="RAM pages", layout=W.Layout(width="220px"))
        self.overcommit = W.Dropdown(
            description="overcommit",
            options=[("0: heuristic", 0), ("1: always", 1), ("2: never (strict)", 2)],
            value=k.overcommit_memory, layout=W.Layout(width="240px"))
        self.diagram_box = W.HTML()
        self.diagram_box.add_class("cowlab-diagram")
        self.log = W.HTML()
        self.log.add_class("cowlab-log")
        self.stats = W.HTML()
        self.stats.add_class("cowlab-stats")
        self.process.observe(self.guard(self.on_process), names="value")
        self.page.observe(self.guard(self.on_page), names="value")
        predict_row = self.build_predict()
        rows = [
            W.HTML(CSS + "<b>cowlab</b>: pick a process and a page, then act."),
            W.HBox([self.process, self.page, self.value]),
            self.page_note,
            W.HBox([self.buttons[n] for n in ACTIONS]),
        ]
        if self.predict:
            rows.append(predict_row)
        self.stats.layout = W.Layout(flex="0 1 auto", margin="0 16px 0 0")
        self.log.layout = W.Layout(flex="1 1 50%")
        rows += [
            self.diagram_box,
            W.HBox([self.stats, self.log]),
            W.HBox([self.ram, self.overcommit, W.HTML("<i>(applied on reset)</i>")]),
        ]
        self.ui = W.VBox(rows)
        self.ui.add_class("cowlab-lab")

    def _repr_mimebundle_(self, **kwargs):
        """The widget, and for text-only readers (and nbval) the state in words."""
        bundle = self.ui._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = self.describe()
        return bundle

    def describe(self):
        k = self.kernel
        return (f"cowlab.Lab: {plural(k.ram_pages, 'frame')}, "
                f"overcommit_memory={k.overcommit_memory}, {k.rules} rules\n{self.diagram.text}")

    # -- safety ------------------------------------------------------------
    def guard(self, callback):
        """Run a callback so that nothing escapes to the widget machinery: a bug
        becomes a log message and an entry in lab.errors."""
        def guarded(*args):
            try:
                callback(*args)
            except Exception as e:   # a bug in the lab, never the student's fault
                self.errors.append(e)
                detail = "".join(traceback.format_exception_only(type(e), e)).strip()
                self.say("bug", [], note=(
                    f"something went wrong inside the lab (not your mistake): {detail}. "
                    "Click undo or reset to carry on."), css="cowlab-bug")
                try:
                    self.show_log()
                except Exception as e2:
                    self.errors.append(e2)
        guarded.__name__ = getattr(callback, "__name__", "callback")
        return guarded

    # -- selection ---------------------------------------------------------
    def selected(self):
        """The selected live process, or None."""
        pid = self.process.value
        if pid is None:
            return None
        p = self.kernel.process(pid)
        return p if p.alive else None

    def on_process(self, change):
        self.update_page_bounds()

    def on_page(self, change):
        self.update_page_bounds()

    def update_page_bounds(self):
        """Say which page numbers the selected process has. The number typed is kept
        as typed: one outside the process is refused when acted on, never clamped."""
        p = self.selected()
        self.page_max = span(self.kernel, p) if p is not None else 0
        self.page_note.value = self.page_problem() or ""
        self.update_prompt()

    def page_problem(self):
        """Why the typed page cannot be acted on, or None. VP<span> (one past the end)
        is allowed: touching it is the SIGSEGV the chapters show."""
        p, vpn = self.selected(), self.page.value
        if p is None:
            return None
        top = span(self.kernel, p)
        if 0 <= vpn <= top:
            return None
        pages = f"VP0..VP{top - 1}" if top > 1 else ("VP0" if top == 1 else "no pages")
        return (f"VP{vpn} is outside {who(self.kernel, p.pid)}: it has {pages} "
                f"({plural(top, 'page')}); pick 0..{top} (VP{top}, just past the end, "
                "shows what touching an unmapped page does)")

    def update_processes(self, prefer=None):
        """List the live processes; keep the selection if it still lives."""
        keep = prefer if prefer is not None else self.process.value
        options = [(f"{p.name} (pid {p.pid})", p.pid) for p in self.kernel.live()]
        pids = [pid for _, pid in options]
        if options != list(self.process.options):
            self.process.options = options
        want = keep if keep in pids else (pids[0] if pids else None)
        if self.process.value != want:
            self.process.value = want
        self.update_page_bounds()

    # -- actions -----------------------------------------------------------
    def push_undo(self):
        self.undo_stack.append((self.kernel, self.kernel.snapshot(), self.counter,
                                self.process.value))
        budget = UNDO_BUDGET // snapshot_size(self.kernel)
        del self.undo_stack[:max(0, len(self.undo_stack) - max(1, budget))]

    def run(self, label, call, outcome=None):
        """Run one model call; refusals become events, never exceptions.
        Returns the call's result (None if refused)."""
        k = self.kernel
        before = len(k.events)
        result, refusal = None, None
        try:
            result = call()
        except (OSError, ValueError, TypeError) as e:
            refusal = e
        events = list(k.events[before:])
        self.last_events = events
        note, css = None, ""
        if refusal is not None and not events:
            self.undo_stack.pop()   # act's undo point: nothing changed, nothing to undo
        if refusal is not None:
            note, css = f"refused: {refusal}", "cowlab-refused"
            if any(e.kind == "enomem" for e in events):
                note = None   # the model narrated it already
        elif outcome is not None:
            note = outcome(result)
        self.say(label, events, note=note, css=css)
        return result

    def act(self, verb, label, call, predictable=False, outcome=None):
        """One button: check there is someone to act on (and a prediction, in
        predict mode), save an undo point, call the model, redraw."""
        p = self.selected()
        if p is None:
            self.say(verb, [], note="no live process selected: click undo or reset",
                     css="cowlab-refused")
            self.show_log()
            return None
        problem = self.page_problem() if predictable else None
        if problem:
            self.say(verb, [], note=f"refused: {problem}", css="cowlab-refused")
            self.show_log()
            return None
        if predictable and self.predict and self.prediction.value is None:
            self.say(verb, [], note="predict first: pick what will happen, then click "
                     f"{verb} again", css="cowlab-refused")
            self.show_log()
            return None
        vpn = self.page.value
        old = self.kernel.pte(p, vpn) if predictable and vpn < span(self.kernel, p) else None
        self.push_undo()
        result = self.run(label.format(p=who(self.kernel, p.pid), vpn=vpn),
                          lambda: call(p, vpn), outcome)
        if predictable and self.predict:
            self.check_prediction(old)
        self.refresh()
        return result

    def on_fork(self, _):
        self.act("fork", "fork({p})", lambda p, vpn: self.kernel.fork(p),
                 outcome=lambda c: f"the child is {who(self.kernel, c.pid)}; "
                                   "the parent stays selected")

    def on_read(self, _):
        self.act("read", "read({p}, VP{vpn})",
                 lambda p, vpn: self.kernel.read(p, vpn), predictable=True,
                 outcome=lambda value: f"the process reads {value!r}")

    def on_write(self, _):
        """Write the typed value, or the next of w1, w2, ... so that every
        write leaves a different value to find in the frames."""
        typed = self.value.value.strip()
        text = typed or f"w{self.counter + 1}"

        def write(p, vpn):
            if not typed:
                self.counter += 1
            return self.kernel.write(p, vpn, text)
        self.act("write", "write({p}, VP{vpn}, %r)" % text, write, predictable=True,
                 outcome=self.no_fault_note)

    def no_fault_note(self, events):
        """A write that faults is narrated by the kernel; say so when none did."""
        if events:
            return None
        p, vpn = self.selected(), self.page.value
        pte = self.kernel.pte(p, vpn) if p is not None else None
        where = f" in PF{pte.pfn}" if pte is not None and pte.pfn >= 0 else ""
        return f"no fault: VP{vpn} is already writable; the value lands{where} directly"

    def on_exec(self, _):
        self.act("exec", "exec({p})", lambda p, vpn: self.kernel.exec(p, pages=EXEC_PAGES))

    def on_exit(self, _):
        self.act("exit", "exit({p})", lambda p, vpn: self.kernel.exit(p))

    def on_undo(self, _):
        if not self.undo_stack:
            self.say("undo", [], note="nothing to undo", css="cowlab-refused")
            self.show_log()
            return
        kernel, snap, self.counter, pid = self.undo_stack.pop()
        self.kernel = kernel
        kernel.restore(snap)
        self.last_events = []
        self.say("undo", [], note="back to the state before the last action")
        self.refresh(prefer=pid)

    def on_reset(self, _):
        self.push_undo()
        kernel, snap = self.initial
        if (self.ram.value, self.overcommit.value) == (kernel.ram_pages,
                                                       kernel.overcommit_memory):
            kernel.restore(snap)
        else:
            try:
                kernel = self.boot(self.ram.value, self.overcommit.value)
            except (OSError, ValueError, TypeError) as e:
                self.undo_stack.pop()
                self.say("reset", [], note=f"refused: {e}", css="cowlab-refused")
                self.show_log()
                return
            self.initial = (kernel, kernel.snapshot())
        self.kernel = kernel
        self.counter = 0
        self.last_events = []
        self.say("reset", [], note=self.start_note())
        self.refresh(prefer=None)

    # -- the log -----------------------------------------------------------
    def say(self, label, events, note=None, css=""):
        """Add one entry: the action, the kernel's narration, and a note."""
        lines = [tidy(self.kernel, e) for e in events]
        if note:
            lines.append(note)
        self.history.append((label + ": " if label else "") + " / ".join(lines))
        body = "".join(f"<li>{html.escape(t)}</li>" for t in lines)
        head = f"<b>{html.escape(label)}</b>" if label else ""
        self.entries.append(f'<div class="{css}">{head}<ul>{body}</ul></div>')
        del self.entries[:-LOG_KEEP]

    def show_log(self):
        """Newest first, so the latest narration is always in view."""
        self.log.value = '<div class="cowlab-log">' + "".join(reversed(self.entries)) + "</div>"

    # -- redraw ------------------------------------------------------------
    def refresh(self, prefer=None):
        """Redraw everything from the model (the single source of truth)."""
        self.update_processes(prefer=prefer)
        self.diagram = draw_kernel(self.kernel, self.last_events)
        self.diagram_box.value = diagram_html(self.diagram)
        self.stats.value = stats_html(self.kernel)
        self.show_log()
