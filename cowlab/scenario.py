"""Scenarios: a tiny text language for what processes do, like OSTEP's `-A a+b,b+c`.

    spawn parent 3          # a process with 3 private pages VP0..VP2, each written once
    fork parent child       # child = fork(parent)
    write parent 1 x        # one store of "x" to VP1 (the seed's COW fault)
    read child 1

One step per line or per `;`, `#` starts a comment. Processes have names, not pids.
The commands (VPN is a page number; A..B is a range of pages, both ends included):

    spawn NAME PAGES                a new process with PAGES private pages, each touched
    fork PARENT CHILD               CHILD = fork(PARENT)
    write NAME VPN [VALUE]          one store (VALUE: a word or a number; default 1)
    write NAME A..B [VALUE]         a store to every page A..B (write_many)
    read NAME VPN | A..B            loads; reads never copy
    exec NAME [PAGES]               replace NAME's memory by a fresh PAGES-page image (1)
    exit NAME
    mmap NAME PAGES [shared] [populate] [huge]    a new region after NAME's last one
    madvise NAME VPN PAGES dontfork|wipeonfork|dofork|keeponfork|dontneed|mergeable
    mprotect NAME VPN PAGES r|rw    munmap NAME VPN PAGES
    vmsplice NAME VPN PIPE          a new pipe PIPE holds a reference to the page (no mapping)
    pin NAME VPN PIN                a long-term pin PIN (an io_uring fixed buffer)
    release PIPE|PIN                readpipe PIPE (what it holds now)     ksm_scan

Settings, before the first command, describe the kernel that `Scenario.kernel()` builds:
`ram N`, `swap N`, `rules linux|linux-5.7|linux-4.8|xv6`, `overcommit 0|1|2`, `ratio N`,
`thp split|copy`. `rules` picks whose write-fault rule runs: Linux 6.x (PageAnonExclusive
and the refcount), Linux 5.7 (mapcount: the vmsplice leak), Linux 4.8 (Dirty COW), or xv6.

    s = Scenario.parse("spawn parent 3; fork parent child; write parent 1 x")
    for out in s.run():                 # or run = s.start(k); run.step() ... run.done
        print(out.step, [e.kind for e in out.events])

Mistakes are reported with the line and step and how to fix them, before anything
runs. Built-in scenarios: SEED, FORK_EXEC, REDIS_BGSAVE, THREE_SHARERS, OOM, ZERO_PAGE,
SHARED_MAPPING, DONTFORK (also `Scenario.SEED`, ... and `BUILTIN[name]`).
`Scenario.random(seed)` makes a reproducible random one (used by `cowlab sim`).
"""
import errno
import random
from collections import namedtuple

from .mm import Kernel
from .script import (  # noqa: F401  (re-exported: the language's names, as before)
    ADVICE, MMAP_FLAGS, SETTINGS, USAGE, Parser, ScenarioError, Step, split_steps)

Outcome = namedtuple("Outcome", "step events result refused")
Outcome.__doc__ = ("What one step did: the events it appended, what the call returned "
                   "(a value, a first vpn, a Process, counts), and the ENOMEM message if refused.")

# ---------------------------------------------------------------- running

def apply(kernel, names, step):
    """Run one step on the kernel; -> (result, refused). `names` maps names to Processes."""
    cmd, a = step.command, step.args
    if cmd == "spawn":
        names[a[0]] = kernel.spawn(a[0], pages=a[1])
        return names[a[0]]
    if cmd == "ksm_scan":
        return kernel.ksm_scan()
    if cmd in ("release", "readpipe"):
        held = names.pop(a[0]) if cmd == "release" else names[a[0]]
        if cmd == "readpipe":
            return held.read()
        return kernel.close(held) if type(held).__name__ == "Pipe" else kernel.unpin(held)
    if a[0] not in names:
        raise ValueError(f"{a[0]} does not exist: the step that was to create it was "
                         f"refused (ENOMEM); give the kernel more memory or ask for less")
    p = names[a[0]]
    if cmd == "fork":
        names[a[1]] = kernel.fork(p, name=a[1])
        return names[a[1]]
    if cmd == "write":
        if isinstance(a[1], range):
            return kernel.write_many(p, list(a[1]), value=a[2])
        kernel.write(p, a[1], a[2])
        return None
    if cmd == "read":
        if isinstance(a[1], range):
            return [kernel.read(p, v) for v in a[1] if p.alive]
        return kernel.read(p, a[1])
    if cmd == "exec":
        return kernel.exec(p, pages=a[1])
    if cmd == "exit":
        return kernel.exit(p)
    if cmd == "mmap":
        return kernel.mmap(p, a[1], shared="shared" in a[2], populate="populate" in a[2],
                           huge="huge" in a[2])
    if cmd == "madvise":
        return kernel.madvise(p, a[1], a[2], a[3])
    if cmd == "mprotect":
        return kernel.mprotect(p, a[1], a[2], a[3])
    if cmd == "munmap":
        return kernel.munmap(p, a[1], a[2])
    if cmd in ("vmsplice", "pin"):
        names[a[2]] = (kernel.vmsplice if cmd == "vmsplice" else kernel.pin)(p, a[1])
        return names[a[2]]
    raise ScenarioError(f"unknown command {cmd!r}")


class Run:
    """A scenario being applied to a kernel, one step at a time.

    run.step() applies the next step and returns its Outcome (None when done);
    run.kernel, run.names (name -> Process), run.outcomes, run.next (Step or None).
    """

    def __init__(self, scenario, kernel):
        self.scenario = scenario
        self.kernel = kernel
        self.names = {}
        self.outcomes = []

    @property
    def done(self):
        return len(self.outcomes) >= len(self.scenario.steps)

    @property
    def next(self):
        return None if self.done else self.scenario.steps[len(self.outcomes)]

    def step(self):
        """Apply the next step; a refused request (ENOMEM) is an outcome, not an error."""
        step = self.next
        if step is None:
            return None
        k = self.kernel
        before = len(k.events)
        refused = None
        try:
            result = apply(k, self.names, step)
        except OSError as exc:
            if exc.errno != errno.ENOMEM:
                raise
            result, refused = None, str(exc.strerror or exc)
        except (ValueError, TypeError) as exc:
            raise ScenarioError(f"line {step.line}, step {step.index} ({step.text!r}): "
                                f"{exc}") from None
        out = Outcome(step, list(k.events[before:]), result, refused)
        self.outcomes.append(out)
        return out

    def __iter__(self):
        while not self.done:
            yield self.step()


class Scenario:
    """A parsed scenario: steps, kernel settings, a name and a one-line description."""

    def __init__(self, steps, settings=None, name=None, about=None):
        """Scenario(text) parses text (or a built-in's name, e.g. "SEED");
        Scenario(steps, settings) wraps already parsed steps."""
        if isinstance(steps, str):
            parsed = Scenario.parse(steps, name=name, about=about)
            steps, settings = parsed.steps, {**parsed.settings, **(settings or {})}
            name, about = parsed.name, parsed.about
        self.steps = list(steps)
        if not all(isinstance(s, Step) for s in self.steps):
            raise TypeError("Scenario takes scenario text such as 'spawn parent 3; "
                            "fork parent child', or parsed steps")
        self.settings = dict(settings or {})
        self.name = name
        self.about = about

    @classmethod
    def parse(cls, text, name=None, about=None):
        """Parse scenario text; ScenarioError (a ValueError) names the line and the fix."""
        if not isinstance(text, str):
            raise TypeError(f"Scenario.parse takes the scenario's text, got {type(text).__name__}")
        if text.strip().upper() in BUILTIN_TEXT:            # a built-in, by name
            return cls.parse(BUILTIN_TEXT[text.strip().upper()], name=text.strip().upper())
        parser = Parser()
        for lineno, part in split_steps(text):
            parser.add(lineno, part)
        if not parser.steps:
            raise ScenarioError("the scenario has no steps; start with e.g. 'spawn parent 3'")
        if about is None:                      # the first comment line describes it
            first = text.strip().splitlines()[0].strip() if text.strip() else ""
            about = first[1:].strip() if first.startswith("#") else None
        return cls(parser.steps, parser.settings, name, about)

    @classmethod
    def random(cls, seed, steps=6, ram_pages=16, rules="linux"):
        """A reproducible random scenario (the same seed gives the same steps)."""
        return random_scenario(seed, steps, ram_pages, rules)

    @property
    def text(self):
        """The scenario as text: settings, then one step per line (parses back the same)."""
        lines = [f"{word} {self.settings[key]}" for word, (key, _) in SETTINGS.items()
                 if key in self.settings]
        return "\n".join(lines + [s.text for s in self.steps])

    def kernel(self, **overrides):
        """A fresh Kernel with this scenario's settings (overrides win)."""
        return Kernel(**{**self.settings, **overrides})

    def start(self, kernel=None):
        """A Run on `kernel` (default: a fresh one from the settings), to step through."""
        return Run(self, kernel if kernel is not None else self.kernel())

    def run(self, kernel=None):
        """Apply every step; -> list of Outcome (run.kernel holds the final state)."""
        return list(self.start(kernel))

    def __len__(self):
        return len(self.steps)

    def __iter__(self):
        return iter(self.steps)

    def __str__(self):
        return self.text

    def __repr__(self):
        head = f"Scenario {self.name}" if self.name else "Scenario"
        about = f" ({self.about})" if self.about else ""
        return f"{head}{about}:\n" + "\n".join(f"  {s.index}. {s.text}" for s in self.steps)


# ---------------------------------------------------------------- random scenarios

def random_scenario(seed, steps=6, ram_pages=16, rules="linux"):
    """Spawn, fork, then random writes, reads, forks, execs and exits of live processes.

    Steps are chosen while running them on a model kernel, so every step is valid
    for the state it meets (only live processes, only mapped pages).
    """
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise TypeError(f"seed must be a whole number such as 1, got {seed!r}")
    if not isinstance(steps, int) or steps < 2:
        raise ValueError("steps must be 2 or more (a spawn and a fork come first)")
    rng = random.Random(seed)
    settings = {"ram_pages": ram_pages, "rules": rules}
    k = Kernel(**settings)
    names, lines, values = {}, [], iter("abcdefghijklmnopqrstuvwxyz" * 40)
    children = iter(["child", "child2", "child3", "child4", "child5"] +
                    [f"child{i}" for i in range(6, 1000)])

    def do(text):
        parser.add(len(lines) + 1, text)
        lines.append(text)
        try:
            apply(k, names, parser.steps[-1])
        except OSError:
            pass

    parser = Parser()
    parser.settings = settings
    do(f"spawn parent {rng.randint(2, 4)}")
    do("fork parent child")
    next(children)
    while len(lines) < steps:
        live = [n for n, p in names.items() if p.alive]
        if not live:
            break
        choices = [("write", 6), ("read", 2)]
        if len(live) < 3:
            choices.append(("fork", 2))
        if len(live) > 1:
            choices += [("exit", 1), ("exec", 1)]
        if sum(1 for t in lines if t.startswith("mmap")) < 1:
            choices.append(("mmap", 1))
        kind = rng.choices([c for c, _ in choices], [w for _, w in choices])[0]
        name = rng.choice(live)
        mapped = [v for r in k.regions(names[name]) for v in range(r.start, r.start + r.pages)]
        if kind in ("write", "read") and not mapped:
            kind = "exit" if len(live) > 1 else "mmap"
        if kind == "write":                     # mostly pages that will fault
            faulting = [v for v in mapped if not getattr(k.pte(names[name], v), "writable", 0)]
            pool = faulting if faulting and rng.random() < 0.75 else mapped
            do(f"write {name} {rng.choice(pool)} {next(values)}")
        elif kind == "read":                    # untouched pages show the zero page
            untouched = [v for v in mapped if k.pte(names[name], v) is None]
            pool = untouched if untouched and rng.random() < 0.6 else mapped
            do(f"read {name} {rng.choice(pool)}")
        elif kind == "fork":
            do(f"fork {name} {next(children)}")
        elif kind == "exit":
            do(f"exit {rng.choice([n for n in live if n != 'parent'] or live)}")
        elif kind == "exec":
            do(f"exec {rng.choice([n for n in live if n != 'parent'] or live)} "
               f"{rng.randint(1, 2)}")
        else:
            flag = rng.choice(["", " shared"])
            do(f"mmap {name} {rng.randint(1, 2)}{flag}")
    return Scenario(parser.steps, settings, name=f"random (question {seed})",
                    about=f"random scenario, question number {seed}")


# ---------------------------------------------------------------- built-in scenarios

BUILTIN_TEXT = {
    "SEED": """# The seed figure: a 3-page parent forks, then the parent writes VP1.
spawn parent 3
fork parent child        # both page tables point at PF0..PF2, rc=2, all RO
write parent 1 x         # page fault! VP1 -> new copy PF3, rc(PF1) 2->1
""",
    "FORK_EXEC": """# A shell forks and the child execs at once: COW copied nothing.
spawn shell 4
fork shell child         # 4 PTEs copied, no pages
exec child 2             # the child drops its references: rc back to 1
write shell 0 x          # rc=1: the shell reuses its page, no copy
exit child
""",
    "REDIS_BGSAVE": """# Redis BGSAVE in miniature: a child saves a snapshot as the parent writes.
ram 32
spawn redis 8
fork redis bgsave        # the snapshot: all 8 pages shared
read bgsave 0..7         # serialising reads: no copies
write redis 2 a          # a client changes a key: one page copied
write redis 5 b          # another page copied
write redis 2 c          # same page again: already private, no fault
exit bgsave              # the save is done: its references drop
write redis 6 d          # rc=1 now: reused in place, no copy
""",
    "THREE_SHARERS": """# Three sharers of one page: two writers copy, the last one reuses.
spawn parent 1
fork parent child1
fork parent child2       # PF0 rc=3
write child1 0 a         # rc 3 -> copy, rc(PF0)=2
write child2 0 b         # rc 2 -> copy, rc(PF0)=1
write parent 0 c         # rc 1 -> the last reference: reuse, no copy
""",
    "OOM": """# Out of memory: copies fill RAM, then the OOM killer picks the largest RSS.
ram 6
spawn big 4
fork big child
write child 0 a          # a copy: 5 frames in use
write child 1 b          # a copy: all 6 frames in use
write big 2 c            # no free frame: the OOM killer runs (ties: highest pid)
""",
    "ZERO_PAGE": """# Untouched memory reads as the shared zero page; the first write fills a frame.
spawn parent 1
mmap parent 3            # VP1..VP3 mapped but not touched: no frames yet
read parent 1            # the zero page: no frame used, RSS unchanged
write parent 2 x         # a zero-filled frame, no copy
fork parent child
read child 1             # the zero page is shared by all, never copied
""",
    "SHARED_MAPPING": """# MAP_SHARED memory is not copied on write: both processes see one frame.
spawn parent 1
mmap parent 2 shared populate
fork parent child        # the shared region stays shared and writable
write child 1 x          # no COW: the child faults the shared frame in and writes it
read parent 1            # the parent sees x
""",
    "DONTFORK": """# MADV_DONTFORK: a range the child does not get at all.
spawn parent 2
mmap parent 2 populate
madvise parent 2 2 dontfork
fork parent child        # VP2..VP3 are absent in the child
read child 0             # shared as usual
read child 2             # SIGSEGV: no such page in the child
""",
}

BUILTIN = {name: Scenario.parse(text, name=name) for name, text in BUILTIN_TEXT.items()}
for _name, _scenario in BUILTIN.items():
    setattr(Scenario, _name, _scenario)
SEED = BUILTIN["SEED"]
FORK_EXEC = BUILTIN["FORK_EXEC"]
REDIS_BGSAVE = BUILTIN["REDIS_BGSAVE"]
THREE_SHARERS = BUILTIN["THREE_SHARERS"]
OOM = BUILTIN["OOM"]
ZERO_PAGE = BUILTIN["ZERO_PAGE"]
SHARED_MAPPING = BUILTIN["SHARED_MAPPING"]
DONTFORK = BUILTIN["DONTFORK"]
