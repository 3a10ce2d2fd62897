"""The widget lab: click fork, read, write, exec, exit and watch the page tables.

`Lab` is a small ipywidgets app around one `cowlab.Kernel`: every button calls
one model function, then redraws the diagram (an SVG inside an HTML widget),
the narrated event log and the smaps/meminfo tables. `Stepper` walks forward and
back through a scripted `Scenario`, one narrated step at a time.

Nothing the student does may end in a traceback: what the model refuses
(ENOMEM, SIGSEGV, an OOM kill, misuse) is shown as an event in the log, and a
bug in the lab itself is shown as a friendly message and kept in `lab.errors`
(the tests assert that list stays empty).

Built only from standard ipywidgets; this module is imported lazily by
`cowlab.Lab` / `cowlab.Stepper`, so `import cowlab` never pays for ipywidgets.
"""
import html
import traceback

import ipywidgets as W
import numpy as np

from .kernel import Kernel
from .mm import FAULT_KINDS as _FAULTS, KILL_KINDS

ACTIONS = ("fork", "read", "write", "exec", "exit", "undo", "reset")
LOG_KEEP = 300            # log entries kept on screen (the model keeps them all)
UNDO_BUDGET = 40_000_000  # frames summed over the undo stack: bounds its memory
EXEC_PAGES = 1            # exec loads a tiny new program: one fresh page

# What a student can predict before a read or a write (predict mode).
OUTCOMES = [
    ("-- predict first --", None),
    ("no fault: it just happens", "none"),
    ("copy the frame into a new one", "cow_copy"),
    ("reuse the frame in place, no copy", "cow_reuse"),
    ("map the shared zero page", "zero_map"),
    ("allocate a fresh zeroed frame", "zero_fill"),
    ("SIGSEGV: the process dies", "segv"),
    ("OOM kill", "oom_kill"),
]
OUTCOME_WORDS = {v: k for k, v in OUTCOMES}
FAULT_KINDS = _FAULTS + KILL_KINDS     # named by the model (cowlab.mm.events)
NO_FRAME = -1          # predict mode: 'no new frame'

CSS = """<style>
.cowlab-log { max-height: 22em; overflow-y: auto; font-size: 90%; line-height: 1.3; }
.cowlab-log ul { margin: 0 0 4px 0; padding-left: 1.2em; }
.cowlab-log .cowlab-refused { color: #a40000; }
.cowlab-log .cowlab-bug { color: #a40000; font-weight: bold; }
.cowlab-log .cowlab-right { color: #006400; }
.cowlab-stats table { border-collapse: collapse; font-size: 90%; }
.cowlab-stats td, .cowlab-stats th { padding: 1px 6px; text-align: right; line-height: 1.25;
                                     white-space: nowrap; }
.cowlab-stats th:first-child, .cowlab-stats td:first-child { text-align: left; }
.cowlab-sr { position: absolute; width: 1px; height: 1px; overflow: hidden;
             clip: rect(0 0 0 0); white-space: nowrap; }
</style>"""


# ---------------------------------------------------------------- diagram ---

def diagram_text(diagram):
    """The words a screen reader (and nbval) gets for a drawing."""
    return diagram.text


SVG_CACHE = {}            # DOT source -> SVG: undo and back/next redraw known states
SVG_CACHE_SIZE = 64


def diagram_svg(diagram):
    """SVG markup of a drawing; without a renderer, the drawing's own fallback
    (the DOT source and the one-line fix). Runs `dot` once per distinct picture."""
    source = diagram.source
    if source in SVG_CACHE:
        SVG_CACHE[source] = SVG_CACHE.pop(source)      # most recently used last
        return SVG_CACHE[source]
    bundle = diagram._repr_mimebundle_()
    svg = bundle.get("image/svg+xml")
    if not svg:   # no renderer: show the fallback, and do not cache it
        return bundle.get("text/html") or "<pre>" + html.escape(source) + "</pre>"
    i = svg.find("<svg")
    SVG_CACHE[source] = svg[i:] if i >= 0 else svg
    while len(SVG_CACHE) > SVG_CACHE_SIZE:
        del SVG_CACHE[next(iter(SVG_CACHE))]
    return SVG_CACHE[source]


def diagram_html(diagram):
    """The diagram widget's value: the picture plus the same state in words."""
    text = diagram_text(diagram)
    return (
        f'<figure class="cowlab-figure" role="group" style="margin:0">'
        f'<div aria-hidden="true" style="overflow-x:auto">{diagram_svg(diagram)}</div>'
        f'<figcaption class="cowlab-sr">{html.escape(text)}</figcaption>'
        f'</figure>'
        f'<details><summary>the diagram in words</summary>'
        f'<pre style="white-space:pre-wrap">{html.escape(text)}</pre></details>')


def draw_kernel(kernel, events=()):
    """Draw the state, marking what the last action did (events)."""
    from .render import draw
    return draw(kernel, events=list(events))


# ------------------------------------------------------------------ tables ---

def stats_html(kernel):
    """Per-process smaps figures and /proc/meminfo, as the kernel reports them."""
    rows = []
    for p in kernel.live():
        s = kernel.stats(p)
        rows.append(
            f"<tr><td>{html.escape(p.name)} (pid {p.pid})</td><td>{s['rss']}</td>"
            f"<td>{s['pss']}</td><td>{s['shared_dirty']}</td><td>{s['private_dirty']}</td>"
            f"<td>{s['minor_faults']}</td></tr>")
    if not rows:
        rows.append('<tr><td colspan="6">no live process: click undo or reset</td></tr>')
    m = kernel.meminfo()
    free = kernel.free_frames()
    return (
        '<div class="cowlab-stats"><table><tr><th>process</th><th>RSS kB</th>'
        '<th>PSS kB</th><th>Shared_Dirty kB</th><th>Private_Dirty kB</th>'
        '<th>minor faults</th></tr>' + "".join(rows) + "</table>"
        f"<table><tr><th>MemTotal</th><td>{m['mem_total']} kB</td></tr>"
        f"<tr><th>MemFree</th><td>{m['mem_free']} kB ({free} free frames)</td></tr>"
        f"<tr><th>CommitLimit</th><td>{m['commit_limit']} kB</td></tr>"
        f"<tr><th>Committed_AS</th><td>{m['committed_as']} kB</td></tr>"
        f"<tr><th>overcommit_memory</th><td>{kernel.overcommit_memory}</td></tr>"
        "</table></div>")


def span(kernel, p):
    """One past the highest vpn the process has mapped (0 if none)."""
    return max((r.start + r.pages for r in kernel.regions(p)), default=0)


def snapshot_size(kernel):
    """Rough cost of one undo entry, in table entries."""
    return kernel.ram_pages + sum(span(kernel, p) for p in kernel.live()) + 1


def new_frame(events):
    """The frame a copy or a first write allocated, or NO_FRAME."""
    for e in events:
        if e.kind in ("cow_copy", "zero_fill") and e.vpn is not None:
            pfn = e.new_pfn if e.new_pfn is not None else e.pfn
            if pfn is not None and pfn >= 0:
                return pfn
    return NO_FRAME


def frame_words(pfn):
    return "no new frame" if pfn == NO_FRAME else f"PF{pfn}"


# --------------------------------------------------------------------- Lab ---

class Lab:
    """An ipywidgets lab around one kernel model; display it or make it the
    last expression of a cell.

    Lab(ram_pages=16, pages=3, ...) spawns "parent" with `pages` pages written
    once (PF0.. upward); pass `kernel=` to explore a state you built yourself.

    What notebooks and tests use:
      lab.kernel                the model (undo/reset restore it in place; a reset
                                with a new RAM size or overcommit mode makes a new one)
      lab.buttons[word]         word in fork read write exec exit undo reset
      lab.process, lab.page     the selectors (Dropdown of live pids, BoundedIntText vpn)
      lab.value                 what write stores (blank: w1, w2, ...)
      lab.ram, lab.overcommit   settings, applied by reset
      lab.prediction, lab.predict_rc, lab.predict_frame
                                predict mode's questions (predict=True): what happens,
                                the old frame's rc after, the new frame (None: no guess)
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
        return (f"{k.ram_pages} frames of RAM, overcommit_memory={k.overcommit_memory}, "
                f"{k.rules} rules; processes: {names}")

    # -- widgets -----------------------------------------------------------
    def build_widgets(self):
        k = self.kernel
        self.process = W.Dropdown(description="process", options=[],
                                  layout=W.Layout(width="220px"))
        self.page = W.BoundedIntText(value=0, min=0, max=0, description="page VP",
                                     layout=W.Layout(width="180px"))
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
            "exec": f"exec() a new program ({EXEC_PAGES} page) in the selected process",
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
        self.prediction = W.Dropdown(description="predict", options=OUTCOMES, value=None,
                                     layout=W.Layout(width="340px"))
        self.predict_rc = W.Dropdown(
            description="rc after", options=[("--", None)] + [(str(i), i) for i in range(9)],
            value=None, tooltip="refcount of the page's old frame after the action",
            layout=W.Layout(width="160px"))
        self.predict_frame = W.Dropdown(
            description="new frame", options=[("--", None)], value=None,
            tooltip="the frame a copy or a first write will get (or none)",
            layout=W.Layout(width="200px"))
        rows = [
            W.HTML(CSS + "<b>cowlab</b>: pick a process and a page, then act."),
            W.HBox([self.process, self.page, self.value]),
            W.HBox([self.buttons[n] for n in ACTIONS]),
        ]
        self.predict_prompt = W.HTML()
        if self.predict:
            rows.append(W.VBox([self.predict_prompt,
                                W.HBox([self.prediction, self.predict_rc,
                                        self.predict_frame])]))
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
        return (f"cowlab.Lab: {k.ram_pages} frames, overcommit_memory={k.overcommit_memory}, "
                f"{k.rules} rules\n{self.diagram.text}")

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
        self.update_prompt()

    def update_page_bounds(self):
        """The page box runs over the process's vpns plus one past the end
        (touching that one is a SIGSEGV: try it)."""
        p = self.selected()
        top = span(self.kernel, p) if p is not None else 0
        if self.page.value > top:
            self.page.value = top
        self.page.max = top
        self.update_prompt()

    def update_prompt(self):
        """Predict mode: say what the selected page maps now, ask what comes next."""
        if not self.predict:
            return
        p, vpn = self.selected(), self.page.value
        if p is None:
            self.predict_prompt.value = "<i>no live process to predict for</i>"
            return
        pte = self.kernel.pte(p, vpn) if vpn < span(self.kernel, p) else None
        if vpn >= span(self.kernel, p):
            now = "is in no region"
        elif pte is None:
            now = "was never touched (no PTE)"
        elif pte.pfn < 0:
            now = "maps the shared zero page"
        else:
            bits = "RW" if pte.writable else "RO" + (" COW" if pte.cow else "")
            now = f"maps PF{pte.pfn} ({bits}, rc={self.kernel.refcount(pte.pfn)})"
        self.predict_prompt.value = (
            f"<b>Predict</b>: VP{vpn} of {html.escape(p.name)} {now}. What will the next "
            "<b>read</b> or <b>write</b> do, what will the old frame's rc be after, and "
            "which frame (if any) will it get?")
        self.update_frame_choices()

    def update_frame_choices(self):
        """Offer 'no new frame' and the lowest free frames (the allocator's next picks)."""
        free = [int(f) for f in np.flatnonzero(self.kernel.refcounts() == 0)[:6]]
        options = [("--", None), ("no new frame", NO_FRAME)] + [(f"PF{f}", f) for f in free]
        if options != list(self.predict_frame.options):
            keep = self.predict_frame.value
            self.predict_frame.options = options
            self.predict_frame.value = keep if keep in [v for _, v in options] else None

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
        if predictable and self.predict and self.prediction.value is None:
            self.say(verb, [], note="predict first: pick what will happen, then click "
                     f"{verb} again", css="cowlab-refused")
            self.show_log()
            return None
        vpn = self.page.value
        old = self.kernel.pte(p, vpn) if predictable and vpn < span(self.kernel, p) else None
        self.push_undo()
        result = self.run(label.format(p=p, vpn=vpn), lambda: call(p, vpn), outcome)
        if predictable and self.predict:
            self.check_prediction(old)
        self.refresh()
        return result

    def on_fork(self, _):
        self.act("fork", "fork({p.name})", lambda p, vpn: self.kernel.fork(p),
                 outcome=lambda c: f"the child is {c.name} (pid {c.pid}); "
                                   "the parent stays selected")

    def on_read(self, _):
        self.act("read", "read({p.name}, VP{vpn})",
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
        self.act("write", "write({p.name}, VP{vpn}, %r)" % text, write, predictable=True,
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
        self.act("exec", "exec({p.name})", lambda p, vpn: self.kernel.exec(p, pages=EXEC_PAGES))

    def on_exit(self, _):
        self.act("exit", "exit({p.name})", lambda p, vpn: self.kernel.exit(p))

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

    # -- predict mode ------------------------------------------------------
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
        self.prediction.value = None
        self.predict_rc.value = None
        self.predict_frame.value = None

    # -- the log -----------------------------------------------------------
    def say(self, label, events, note=None, css=""):
        """Add one entry: the action, the kernel's narration, and a note."""
        lines = [e.text for e in events]
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


# ----------------------------------------------------------------- Stepper ---

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
        lines += [e.text for e in out.events]
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
