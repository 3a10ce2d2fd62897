"""`cowlab sim`: predict what the kernel does, step by step, in the style of OSTEP's simulators.

    cowlab sim -s 1            random question number 1: predict each step
    cowlab sim -s 1 -c         the same scenario with the answers
    cowlab sim -A 'spawn parent 3; fork parent child; write parent 1 x' -c
    cowlab sim -A SEED -c      a built-in scenario (SEED, FORK_EXEC, REDIS_BGSAVE, ...)
    cowlab sim -s 7 --svg final.svg   also draw the final state

The same arguments always print the same text. Answers come from the model
(cowlab.Kernel): the faults and what each did (copy into which new frame, reuse in
place, zero page), then every frame in use with its refcount, in words from
cowlab.describe (numpy only: graphviz is needed for --svg alone).
"""
import argparse
import sys
import textwrap

from . import describe
from .mm.memory import RULES
from .scenario import BUILTIN, Scenario, ScenarioError

QUESTION = ("For each step, predict: which page faults happen (none, a COW copy into a new "
            "frame, a COW reuse in place, a zero-filled frame, the zero page, a shared page "
            "already in memory), which frame "
            "(PF) each touched page maps afterwards, and the refcount (rc) of every frame in "
            "use. New frames are the lowest free PF. Run again with -c to check.")


def parser():
    p = argparse.ArgumentParser(
        prog="cowlab sim", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Copy-on-write after fork(), one step at a time: predict, then check with -c.",
        epilog="scenario language (for -A; ';' or newlines between steps, '#' comments):\n"
               "  spawn NAME PAGES | fork PARENT CHILD | write NAME VPN|A..B [VALUE]\n"
               "  read NAME VPN|A..B | exec NAME [PAGES] | exit NAME\n"
               "  mmap NAME PAGES [shared] [populate] [huge] | madvise NAME VPN PAGES dontfork\n"
               "  settings first: ram N, rules linux|linux-5.7|xv6, overcommit 0|1|2\n"
               f"built-in scenarios for -A: {', '.join(BUILTIN)}\n"
               "see docs/scenarios.md")
    # -s/--seed as in OSTEP's simulators; a chapter says "question number" (the course
    # avoids the word "seed", which it once used for the page it grew from)
    p.add_argument("-s", "--seed", type=int, default=0,
                   help="the question number: the same number always makes the same random "
                        "scenario (default 0)")
    p.add_argument("-n", "--steps", type=int, default=6,
                   help="steps in a random scenario, spawn and fork included (default 6)")
    p.add_argument("--ram", type=int, default=None,
                   help="frames of RAM (default 16, or the scenario's 'ram' setting)")
    p.add_argument("--rules", choices=RULES, default=None,
                   help="linux: an exclusive page or the last reference reuses its frame; "
                        "linux-5.7: the last mapping does (the vmsplice leak); xv6: always copy")
    p.add_argument("-A", "--actions", metavar="SCENARIO", default=None,
                   help="run this scenario (text, or a built-in name such as SEED)")
    p.add_argument("-c", "--compute", action="store_true", help="print the answers")
    p.add_argument("--svg", metavar="FILE", default=None, help="draw the final state to FILE")
    return p


def pick_scenario(args):
    """The scenario to run and the kernel settings that win (flags over 'ram'/'rules' lines)."""
    if args.actions is not None:
        text = args.actions.strip()
        scenario = BUILTIN[text.upper()] if text.upper() in BUILTIN else Scenario.parse(text)
        settings = dict(scenario.settings)
        if args.ram is not None:
            settings["ram_pages"] = args.ram
        if args.rules is not None:
            settings["rules"] = args.rules
        return scenario, settings
    if args.steps < 2:
        raise ScenarioError("-n must be 2 or more: a random scenario starts with spawn and fork")
    ram = 16 if args.ram is None else args.ram
    if ram < 4:
        raise ScenarioError("--ram must be 4 or more frames for a random scenario")
    scenario = Scenario.random(args.seed, steps=args.steps, ram_pages=ram,
                               rules=args.rules or "linux")
    return scenario, dict(scenario.settings)


def answer(kernel, out):
    """The answer lines for one step's outcome, from the events the model appended."""
    lines = []
    if out.refused:
        lines.append(f"refused: ENOMEM ({out.refused})")
    faults = describe.faults(out.events)
    for e in out.events:                       # the model's own narration, tagged by kind
        text = e.text[len(e.kind) + 2:] if e.text.startswith(e.kind + ": ") else e.text
        lines.append(f"{e.kind}: {text}")
    if not out.events and not out.refused:
        lines.append("no event: " + quiet_reason(out))
    if out.step.command in ("write", "read") and not isinstance(out.step.args[1], range):
        lines.append(f"faults: {faults}")
    lines.append(f"frames: {describe.frames(kernel)}")
    return lines


def quiet_reason(out):
    cmd = out.step.command
    if cmd == "write":
        return "the page was already mapped writable, so no fault"
    if cmd == "read":
        return "the page was already mapped, so no fault"
    if cmd == "mmap":
        return f"a new region starting at VP{out.result}; no frames until it is touched"
    if cmd == "madvise":
        return "the advice only marks the range"
    if cmd in ("vmsplice", "pin"):
        what = "pipe" if cmd == "vmsplice" else "pin"
        return (f"{what} {out.step.args[2]} now holds a reference to the frame: its refcount "
                "grows, its mapcount does not")
    if cmd == "readpipe":
        return f"pipe {out.step.args[0]} reads {out.result[0]!r}"
    if cmd == "release":
        return f"{out.step.args[0]} lets go of its frame: the refcount drops by one"
    if cmd == "mprotect":
        return "the entries' protection changed; no fault"
    if cmd == "ksm_scan":
        return "no identical mergeable pages to merge"
    return "nothing to report"


def main(argv=None):
    """Run the simulator; -> exit status (0 ok, 1 could not draw, 2 bad arguments)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:                  # -h, or a bad flag (argparse printed why)
        return int(exc.code or 0)
    try:
        scenario, settings = pick_scenario(args)
        run = scenario.start(scenario.kernel(**settings))
    except (ScenarioError, ValueError, TypeError) as exc:
        print(f"cowlab sim: {exc}", file=sys.stderr)
        return 2
    k = run.kernel
    if args.actions is None:
        print(f"ARG question {args.seed}")
    else:
        print(f"ARG scenario {scenario.name or '-A'}")
    if args.actions is None:
        print(f"ARG steps {args.steps}")
    print(f"ARG ram {k.ram_pages} frames")
    print(f"ARG rules {k.rules}")
    if scenario.about:
        print(f"\n# {scenario.about}")
    print()
    for step in scenario.steps:
        try:
            out = run.step()
        except ScenarioError as exc:
            print(f"cowlab sim: {exc}", file=sys.stderr)
            return 2
        print(f"Step {step.index}: {step.text}")
        if args.compute:
            for line in answer(k, out):
                print(f"  {line}")
        else:
            print("  ?")
    print()
    if args.compute:
        print("Final state:")
        print(describe.state(k))
    else:
        print(textwrap.fill(QUESTION, width=78))
    if args.svg:
        return save_svg(k, args.svg)
    return 0


def save_svg(kernel, path):
    """Draw with graphviz, imported only here: the rest of `cowlab sim` needs only numpy."""
    try:
        from . import render
    except ImportError as exc:
        print(f"cowlab sim: cannot draw {path}: {exc}; pip install graphviz", file=sys.stderr)
        return 1
    try:
        render.draw(kernel, events=[]).save_svg(path)
    except render.RendererMissing as exc:
        print(f"cowlab sim: cannot draw {path}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cowlab sim: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        print(f"cowlab sim: cannot draw {path}: {exc}", file=sys.stderr)
        return 1
    print(f"(final state drawn to {path})")
    return 0
