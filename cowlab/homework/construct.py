"""Construction answers: the student builds an input, the model checks the constraints.

A construction question ("with two children and at most five writes, make exactly
three copies") has many right answers, so there is nothing to copy from a neighbour:
the judge replays the student's input on a fresh model and reports the first
constraint it breaks. The answer is *data* (ints, lists of short step strings), never
code: it is validated here -- types, sizes, step counts, names -- before the model
sees it, so judging one is bounded in time and memory whatever a student hands in.

    Invalid                           a malformed answer; the message names the fix
    as_int(x, what, low, high)        an exact int in [low, high]
    as_list(x, what, most)            a list of at most `most` entries
    parse_steps(x, ...)               ["fork parent child1", "write child1 0", ...] -> steps
    play(steps, ram, start, watch)    the steps on a fresh Kernel -> Play (counts, pipes)
    judge_construct(q, p, given)      (status, points, message) for bank.judge
"""
import re
from dataclasses import dataclass, field

import cowlab

MAX_STEPS = 40           # no construction here needs more; a cap bounds the judge's work
MAX_PAGES = 64           # per spawn/exec/mmap in a scenario
NAME = re.compile(r"[a-z][a-z0-9]{0,15}")

# op -> the words after it (name = a process name, new = a new process name,
#        n = a page count, vpn = a page number, kind = shared|private, advice)
OPS = {"spawn": ("new", "n"), "fork": ("name", "new"), "write": ("name", "vpn"),
       "read": ("name", "vpn"), "exec": ("name", "n"), "exit": ("name",),
       "mmap": ("name", "n", "kind"), "madvise": ("name", "vpn", "n", "advice"),
       "vmsplice": ("name", "vpn"), "munmap": ("name", "vpn")}
EXAMPLES = {"spawn": "spawn parent 4", "fork": "fork parent child1", "write": "write child1 0",
            "read": "read parent 2", "exec": "exec child1 1", "exit": "exit child1",
            "mmap": "mmap parent 2 shared", "madvise": "madvise parent 4 2 wipeonfork",
            "vmsplice": "vmsplice child1 0", "munmap": "munmap child1 0"}
ADVICE = ("dontfork", "wipeonfork", "dontneed")


class Invalid(ValueError):
    """An answer that is not a construction of the asked form; the message says why."""


def _show(x):
    s = repr(x)
    return s if len(s) <= 40 else s[:37] + "..."


def as_int(x, what, low, high):
    """x as an int in [low, high]; Invalid naming the range otherwise (bools refused)."""
    if type(x) is not int:
        raise Invalid(f"{what} must be a whole number (an int like {low}), got {_show(x)}")
    if not low <= x <= high:
        raise Invalid(f"{what} must be between {low} and {high}, got {_show(x)}")
    return x


def as_list(x, what, most, least=0):
    if not isinstance(x, list):
        raise Invalid(f"{what} must be a list (in [...]), got {type(x).__name__} {_show(x)}")
    if not least <= len(x) <= most:
        raise Invalid(f"{what} must have {least} to {most} entries, got {len(x)}")
    return x


@dataclass
class Step:
    op: str
    args: tuple
    text: str


def parse_steps(x, ops=tuple(OPS), most=MAX_STEPS, procs=(), max_pages=MAX_PAGES,
                least=0, vpns=None):
    """A scenario as a list of step strings -> [Step]; Invalid naming the bad step.

    `procs` are the processes that exist before the first step (their names may be
    used at once); a step may only use a process made earlier, and only `ops`.
    `vpns`, if given, bounds page numbers to 0..vpns-1 (the pages the question has)."""
    if not isinstance(x, list):
        raise Invalid(f"the scenario must be a list of step strings like "
                      f"{EXAMPLES[ops[0]]!r}, got {type(x).__name__} {_show(x)}")
    if not least <= len(x) <= most:
        raise Invalid(f"give {least} to {most} steps (entries of the list), got {len(x)}")
    known = set(procs)
    out = []
    for i, raw in enumerate(x, 1):
        where = f"step {i}"
        words = raw.split() if isinstance(raw, str) and len(raw) <= 80 else None
        if not words or words[0] not in ops:
            raise Invalid(f"{where} {_show(raw)}: start it with one of {', '.join(ops)}, "
                          f"as a short string like {EXAMPLES[ops[0]]!r}")
        op, want = words[0], OPS[words[0]]
        if len(words) - 1 != len(want):
            raise Invalid(f"{where} {raw!r}: {op} takes {len(want)} word(s) after it; "
                          f"write it as {EXAMPLES[op]!r}")
        args = []
        for word, kind in zip(words[1:], want):
            if kind in ("name", "new"):
                if not NAME.fullmatch(word):
                    raise Invalid(f"{where} {raw!r}: {word!r} is not a process name "
                                  "(lower-case letters and digits, e.g. child1)")
                if kind == "name" and word not in known:
                    raise Invalid(f"{where} {raw!r}: there is no live process {word!r} "
                                  f"(alive: {', '.join(sorted(known)) or 'none'})")
                if kind == "new" and word in known:
                    raise Invalid(f"{where} {raw!r}: {word!r} already exists; "
                                  "give the new process a new name")
                args.append(word)
            elif kind in ("n", "vpn"):
                if not re.fullmatch(r"\d{1,4}", word):
                    raise Invalid(f"{where} {raw!r}: {word!r} should be a number")
                if kind == "vpn" and vpns is not None and int(word) >= vpns:
                    raise Invalid(f"{where} {raw!r}: the page must be 0..{vpns - 1}")
                low = 1 if kind == "n" else 0
                args.append(as_int(int(word), f"{where}: {word}", low,
                                   max_pages if kind == "n" else 4 * max_pages))
            elif kind == "kind":
                if word not in ("shared", "private"):
                    raise Invalid(f"{where} {raw!r}: say shared or private, not {word!r}")
                args.append(word == "shared")
            else:
                if word not in ADVICE:
                    raise Invalid(f"{where} {raw!r}: the advice is one of {', '.join(ADVICE)}")
                args.append(word)
        if op in ("spawn", "fork"):
            known.add(args[0] if op == "spawn" else args[1])
        elif op == "exit":
            known.discard(args[0])
        out.append(Step(op, tuple(args), raw.strip()))
    return out


@dataclass
class Play:
    """A scenario played on the model: the kernel, its processes and what happened."""
    kernel: object
    procs: dict
    counts: dict = field(default_factory=dict)     # (name, event kind) -> count
    events: list = field(default_factory=list)
    pipes: list = field(default_factory=list)      # (splicer, vpn, Pipe, step number)

    def count(self, kind, who=None):
        return sum(n for (name, k), n in self.counts.items()
                   if k == kind and (who is None or name == who))


def play(steps, ram=64, start=(), watch=None, **kernel_kw):
    """Run `steps` after `start` (steps made by the question, e.g. the spawn it gives)
    on a fresh Kernel; Invalid naming the step the model refuses (with its reason).

    A write stores "<process>@<step number>", so what a pipe reads names who wrote it
    and when. watch(run, step, events), if given, sees each of `steps` just before it
    runs (events None) and just after (its events): for conditions on the moment."""
    k = cowlab.Kernel(ram_pages=ram, **kernel_kw)
    run = Play(k, {})
    for i, step in enumerate(list(start) + list(steps)):
        n = i + 1 - len(start)
        if watch and n >= 1:
            watch(run, step, None)
        try:
            events = _do(run, step, n)
        except (ValueError, TypeError, OSError) as e:
            raise Invalid(f"step {n} {step.text!r}: the model refuses it: {e}") from None
        for e in events or ():
            name = next((nm for nm, p in run.procs.items() if p.pid == e.pid), "?")
            run.counts[(name, e.kind)] = run.counts.get((name, e.kind), 0) + 1
            run.events.append(e)
        if watch and n >= 1:
            watch(run, step, list(events or ()))
    return run


def _do(run, step, n):
    k, procs, a = run.kernel, run.procs, step.args
    if step.op == "spawn":
        procs[a[0]] = k.spawn(a[0], pages=a[1])
        return []
    p = procs[a[0]]
    if not p.alive:
        raise ValueError(f"{a[0]} is no longer alive")
    if step.op == "fork":
        procs[a[1]] = k.fork(p, name=a[1])
        return []
    if step.op in ("write", "read"):
        if not _mapped(k, p, a[1]):
            raise ValueError(f"VP{a[1]} is outside {a[0]}'s memory (VP0..VP{p.span - 1})")
        before = len(k.events)
        if step.op == "write":
            k.write(p, a[1], f"{a[0]}@{n}")
        else:
            k.read(p, a[1])
        return k.events[before:]
    if step.op == "vmsplice":
        run.pipes.append((a[0], a[1], k.vmsplice(p, a[1]), n))
        return []
    if step.op == "munmap":
        return k.munmap(p, a[1], 1)
    if step.op == "exec":
        k.exec(p, pages=a[1])
        return []
    if step.op == "exit":
        k.exit(p)
        return []
    if step.op == "mmap":
        k.mmap(p, a[1], shared=a[2])
        return []
    return k.madvise(p, a[1], a[2], a[3])


def _mapped(k, p, vpn):
    return any(r.start <= vpn < r.start + r.pages for r in k.regions(p))


def judge_construct(q, p, given):
    """(status, points, message): `invalid` for a malformed answer (what to fix),
    `wrong` naming the first constraint it breaks, else `correct`."""
    try:
        failed = q.check(p, given)
    except Invalid as e:
        return "invalid", 0, f"invalid: {e}"
    if failed:
        return "wrong", 0, f"wrong: {failed[0]}" + (
            f" (and {len(failed) - 1} more condition{'s' if len(failed) > 2 else ''} unmet)"
            if len(failed) > 1 else "")
    return "correct", q.points, "correct"
