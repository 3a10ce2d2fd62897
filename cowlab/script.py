"""The scenario language: text -> checked steps, before anything runs.

    spawn parent 3; fork parent child; write parent 1 x

One step per line or per `;`, `#` starts a comment; the commands and settings are
listed in `cowlab.scenario`'s docstring (and `USAGE` here). A mistake is reported
with its line, its step and the fix (`ScenarioError`), so a scenario either parses
whole or not at all. `cowlab.scenario` runs what this module parses.
"""
import difflib
import re
from collections import namedtuple

Step = namedtuple("Step", "index line command args text")
Step.__doc__ = "One parsed step: its number, source line, command, parsed arguments, text."

USAGE = {
    "spawn": "spawn NAME PAGES",
    "fork": "fork PARENT CHILD",
    "write": "write NAME VPN [VALUE]   or   write NAME A..B [VALUE]",
    "read": "read NAME VPN   or   read NAME A..B",
    "exec": "exec NAME [PAGES]",
    "exit": "exit NAME",
    "mmap": "mmap NAME PAGES [shared] [populate] [huge]",
    "madvise": "madvise NAME VPN PAGES dontfork|wipeonfork|dofork|keeponfork|dontneed|mergeable",
    "mprotect": "mprotect NAME VPN PAGES r|rw",
    "munmap": "munmap NAME VPN PAGES",
    "vmsplice": "vmsplice NAME VPN PIPE   (PIPE: a new pipe holding a reference to the page)",
    "pin": "pin NAME VPN PIN   (PIN: a new long-term pin, as an io_uring fixed buffer)",
    "release": "release PIPE|PIN   (close the pipe, or unpin)",
    "readpipe": "readpipe PIPE   (what the pipe holds now)",
    "ksm_scan": "ksm_scan   (one pass of ksmd over the mergeable pages)",
}
SETTINGS = {   # word -> (Kernel keyword, parser)
    "ram": ("ram_pages", int),
    "swap": ("swap_pages", int),
    "rules": ("rules", ("linux", "linux-5.7", "linux-4.8", "xv6")),
    "overcommit": ("overcommit_memory", ("0", "1", "2")),
    "ratio": ("overcommit_ratio", int),
    "thp": ("thp", ("split", "copy")),
}
ADVICE = ("dontfork", "wipeonfork", "dofork", "keeponfork")
MORE_ADVICE = ("dontneed", "mergeable")     # scenarios may use them; random ones do not
MMAP_FLAGS = ("shared", "populate", "huge")
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*$")
NUMBER = re.compile(r"\d[\d_]*$")
RANGE = re.compile(r"(\d[\d_]*)\.\.(\d[\d_]*)$")


class ScenarioError(ValueError):
    """A scenario that cannot be parsed or run; the message names the line and step."""


# ---------------------------------------------------------------- parsing

def split_steps(text):
    """(line number, step text) for every non-empty step; `;` and newlines separate."""
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0]
        for part in line.split(";"):
            part = " ".join(part.split())
            if part:
                yield lineno, part


class Parser:
    """Checks each step against the ones before it: names exist, are alive, are new."""

    def __init__(self):
        self.settings = {}
        self.alive = {}          # name -> line that created it
        self.gone = {}           # name -> line that ended it
        self.holders = {}        # pipe or pin name -> "pipe" | "pin", while held
        self.steps = []

    def fail(self, lineno, index, text, why):
        raise ScenarioError(f"line {lineno}, step {index} ({text!r}): {why}")

    def add(self, lineno, text):
        index = len(self.steps) + 1
        words = text.split()
        cmd = words[0].lower()
        err = lambda why: self.fail(lineno, index, text, why)   # noqa: E731
        if cmd in SETTINGS:
            return self.setting(cmd, words[1:], err)
        if cmd not in USAGE:
            known = list(USAGE) + list(SETTINGS)
            near = difflib.get_close_matches(cmd, known, n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            err(f"unknown command {words[0]!r}; {hint}commands: {', '.join(USAGE)}")
        args = getattr(self, "parse_" + cmd)(words[1:], err, lineno)
        self.steps.append(Step(index, lineno, cmd, args, " ".join([cmd] + words[1:])))

    def setting(self, word, rest, err):
        if self.steps:
            err(f"settings such as {word!r} go before the first command; move it to the top")
        if len(rest) != 1:
            err(f"write it as '{word} VALUE'")
        key, kind = SETTINGS[word]
        if kind is int:
            self.settings[key] = self.number(rest[0], err, word)
        elif rest[0].lower() not in kind:
            err(f"{word} must be one of {', '.join(kind)}, not {rest[0]!r}")
        else:
            value = rest[0].lower()
            self.settings[key] = int(value) if value.isdigit() else value

    # -- argument checks
    def count(self, words, low, high, err, cmd):
        if not low <= len(words) <= high:
            err(f"{cmd} takes {low if low == high else f'{low} to {high}'} argument"
                f"{'s' if high != 1 else ''}: {USAGE[cmd]}")

    def number(self, word, err, what):
        if not NUMBER.match(word):
            err(f"{what} must be a whole number such as 3, not {word!r}")
        return int(word.replace("_", ""))

    def pages(self, word, err, what="PAGES"):
        n = self.number(word, err, what)
        if n < 1:
            err(f"{what} must be at least 1")
        return n

    def vpns(self, word, err):
        """A page number, or A..B (both ends included) as a range."""
        m = RANGE.match(word)
        if m:
            a, b = int(m.group(1).replace("_", "")), int(m.group(2).replace("_", ""))
            if b < a:
                err(f"the range {word} runs backwards; write it as {b}..{a}")
            return range(a, b + 1)
        if NUMBER.match(word):
            return int(word.replace("_", ""))
        err(f"expected a page number such as 1 or a range such as 0..9, not {word!r}")

    def live(self, name, err):
        if not NAME.match(name):
            err(f"{name!r} is not a process name (letters, digits, _ and -)")
        if name in self.gone and name not in self.alive:
            err(f"{name} has exited (line {self.gone[name]}); it can do nothing more")
        if name not in self.alive:
            have = ", ".join(self.alive) or "none yet"
            err(f"no process named {name!r}; create it first with 'spawn {name} PAGES' or "
                f"'fork PARENT {name}' (live: {have})")
        return name

    def new(self, name, err, lineno):
        if not NAME.match(name) or name.lower() in USAGE or name.lower() in SETTINGS:
            err(f"{name!r} cannot name a process; use letters, digits, _ and - "
                f"(and not a command word)")
        if name in self.alive:
            err(f"{name!r} already names a live process (line {self.alive[name]}); "
                f"pick a new name such as {name}2")
        self.alive[name] = lineno
        self.gone.pop(name, None)
        return name

    # -- one parser per command: returns the step's args
    def parse_spawn(self, w, err, lineno):
        self.count(w, 2, 2, err, "spawn")
        pages = self.number(w[1], err, "PAGES")
        return (self.new(w[0], err, lineno), pages)

    def parse_fork(self, w, err, lineno):
        self.count(w, 2, 2, err, "fork")
        return (self.live(w[0], err), self.new(w[1], err, lineno))

    def parse_write(self, w, err, lineno):
        self.count(w, 2, 3, err, "write")
        value = w[2] if len(w) == 3 else 1
        if isinstance(value, str) and NUMBER.match(value):
            value = int(value.replace("_", ""))
        return (self.live(w[0], err), self.vpns(w[1], err), value)

    def parse_read(self, w, err, lineno):
        self.count(w, 2, 2, err, "read")
        return (self.live(w[0], err), self.vpns(w[1], err))

    def parse_exec(self, w, err, lineno):
        self.count(w, 1, 2, err, "exec")
        pages = self.pages(w[1], err) if len(w) == 2 else 1
        return (self.live(w[0], err), pages)

    def parse_exit(self, w, err, lineno):
        self.count(w, 1, 1, err, "exit")
        name = self.live(w[0], err)
        del self.alive[name]
        self.gone[name] = lineno
        return (name,)

    def parse_mmap(self, w, err, lineno):
        self.count(w, 2, 5, err, "mmap")
        flags = [f.lower() for f in w[2:]]
        for f in flags:
            if f not in MMAP_FLAGS:
                near = difflib.get_close_matches(f, MMAP_FLAGS, n=1)
                hint = f"did you mean {near[0]!r}? " if near else ""
                err(f"unknown mmap flag {f!r}; {hint}flags: {', '.join(MMAP_FLAGS)}")
        return (self.live(w[0], err), self.pages(w[1], err), tuple(flags))

    def parse_madvise(self, w, err, lineno):
        self.count(w, 4, 4, err, "madvise")
        if w[3].lower() not in ADVICE + MORE_ADVICE:
            err(f"advice must be one of {', '.join(ADVICE + MORE_ADVICE)}, not {w[3]!r}")
        return (self.live(w[0], err), self.number(w[1], err, "VPN"),
                self.pages(w[2], err), w[3].lower())

    def parse_mprotect(self, w, err, lineno):
        self.count(w, 4, 4, err, "mprotect")
        if w[3].lower() not in ("r", "rw"):
            err(f"protection must be r or rw, not {w[3]!r}")
        return (self.live(w[0], err), self.number(w[1], err, "VPN"),
                self.pages(w[2], err), w[3].lower())

    def parse_munmap(self, w, err, lineno):
        self.count(w, 3, 3, err, "munmap")
        return (self.live(w[0], err), self.number(w[1], err, "VPN"), self.pages(w[2], err))

    def holder(self, w, err, lineno, kind):
        """vmsplice/pin NAME VPN HOLDER: a new pipe or pin named HOLDER."""
        self.count(w, 3, 3, err, kind)
        name = w[2]
        if not NAME.match(name) or name.lower() in USAGE or name.lower() in SETTINGS:
            err(f"{name!r} cannot name a {kind}; use letters, digits, _ and -")
        if name in self.holders or name in self.alive:
            err(f"{name!r} is already in use; give the {kind} a new name such as {name}2")
        self.holders[name] = "pipe" if kind == "vmsplice" else "pin"
        return (self.live(w[0], err), self.number(w[1], err, "VPN"), name)

    def parse_vmsplice(self, w, err, lineno):
        return self.holder(w, err, lineno, "vmsplice")

    def parse_pin(self, w, err, lineno):
        return self.holder(w, err, lineno, "pin")

    def held(self, w, err, cmd, kinds):
        self.count(w, 1, 1, err, cmd)
        if self.holders.get(w[0]) not in kinds:
            have = ", ".join(n for n, k in self.holders.items() if k in kinds) or "none"
            err(f"no {' or '.join(kinds)} named {w[0]!r} is held (held: {have})")
        return (w[0],)

    def parse_release(self, w, err, lineno):
        out = self.held(w, err, "release", ("pipe", "pin"))
        del self.holders[w[0]]
        return out

    def parse_readpipe(self, w, err, lineno):
        return self.held(w, err, "readpipe", ("pipe",))

    def parse_ksm_scan(self, w, err, lineno):
        self.count(w, 0, 0, err, "ksm_scan")
        return ()
