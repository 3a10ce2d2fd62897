"""Homework 07-code: the two xv6-style code exercises.

q1: write COW fork, the write-fault handler and copyout on a machine that offers
    only primitives (codex.Machine); graded by cowtest-like scenarios.
q2: bug hunt: four kernels, each with one classic COW bug; name each one's bug.
"""
import inspect
import textwrap

from .question import declare
from .codex import SCENARIOS, BUGS, SUSPECTS, ReferenceKernel, Machine, suspects


_PRIMITIVES = """\
The machine `m` (a `codex.Machine`) gives only primitives, as a bare kernel would:

| primitive | does |
| --- | --- |
| `m.kalloc()` | the lowest free frame, zeroed, refcount 1 (`OutOfMemory` if none) |
| `m.kfree(pfn)` | put the frame back on the free list now, whatever its refcount |
| `m.incref(pfn)`, `m.decref(pfn)` | refcount +1 / -1, returns the new count (never frees) |
| `m.refcount(pfn)`, `m.is_free(pfn)` | read the bookkeeping |
| `m.copy_frame(src, dst)` | copy one frame's contents into another |
| `m.walk(proc, vpn)` | the `PTE(pfn, writable, cow)` or `None` |
| `m.map(proc, vpn, pfn, writable, cow=False)`, `m.unmap(proc, vpn)` | set / drop an entry (refcounts untouched) |
| `m.vpns(proc)`, `m.new_proc(name)` | a process's mapped vpns; a new empty process |
| `m.poke(pfn, value)`, `m.peek(pfn)` | the kernel's direct access to a frame |

`m.exit(proc)` is written for you: it unmaps everything, decrefs each frame and frees the
ones that reach 0. `m.user_write(kernel, proc, vpn, value)` is a store instruction: it
calls your `write_fault` when the entry is COW."""


def _make_07_q1(rng):
    public = [n for n, (_, pub, _) in SCENARIOS.items() if pub]
    return {"public": public, "hidden": len(SCENARIOS) - len(public)}


declare("07-code", "q1", points=len(SCENARIOS), kind="code",
         title="Implement copy-on-write fork",
         prose="**Implement copy-on-write fork** (the xv6 COW lab, in Python). Fill in the "
               "three methods of `q1`:\n\n"
               "- `fork(m, parent)` returns a new process whose page table shares every "
               "frame of the parent: private writable pages become read-only + COW in "
               "**both** processes and each shared frame's refcount rises; read-only pages "
               "stay read-only (not COW). Fork must allocate no frame.\n"
               "- `write_fault(m, proc, vpn)` runs on a user write to a COW page: copy the "
               "frame if someone else still uses it, otherwise make it writable in place; "
               "keep every refcount equal to the number of entries that map the frame.\n"
               "- `copyout(m, proc, vpn, value)` is the kernel writing into a user page "
               "(a `read()` into a buffer): it must not write into a frame another process "
               "still shares.\n\n" + _PRIMITIVES + "\n\nThe check runs the public scenarios "
               "with your numbers; the grader also runs hidden ones modelled on xv6's "
               "`cowtest` (a fork with most of RAM in use, three generations writing "
               "overlapping halves, many short-lived forks, ...). After every step they "
               "check the invariants (`codex.INVARIANTS`) and say which broke, and where.",
         prompt="Public scenarios: {public}; the grader runs {hidden} more. One point per "
                "scenario that passes.",
         make=_make_07_q1)(None)


def code_solution(qid="q1"):
    """The answer cell of the solutions notebook: ReferenceKernel's bodies in regions."""
    out = ["from cowlab.homework.codex import CowKernel, Segfault", "", "",
           f"class {qid}(CowKernel):",
           '    """COW fork, the write-fault handler and copyout, as in the xv6 lab."""']
    for name in ("fork", "write_fault", "copyout"):
        src = textwrap.dedent(inspect.getsource(getattr(ReferenceKernel, name)))
        lines = src.splitlines()
        out += ["", "    " + lines[0], "        ### BEGIN SOLUTION"]
        out += ["    " + ln if ln.strip() else "" for ln in lines[1:]]
        out += ["        ### END SOLUTION"]
    return "\n".join(out)


def _make_07_q2(rng):
    return {"variant": rng.randrange(10 ** 9), "suspects": list(SUSPECTS),
            "bugs": sorted(BUGS)}


@declare("07-code", "q2", points=len(SUSPECTS), kind="state", partial=True,
         title="Bug hunt",
         prose="**Bug hunt.** `hw.suspects(\"q2\")` gives four kernels, `kernel_a` .. "
               "`kernel_d` (classes like your `q1`). Each has exactly one classic COW bug, and "
               "no two share one:\n\n"
               "- `missing-decrement`: a copy does not drop the old frame's reference;\n"
               "- `reuse-while-shared`: a still-shared frame is made writable in place;\n"
               "- `free-too-early`: the old frame is freed while another process maps it;\n"
               "- `no-write-protect`: fork leaves the parent's entries writable.\n\n"
               "Run them on a `Machine` (or through `codex.check_invariants`), and answer "
               "with a dict `{\"kernel_a\": \"<bug>\", ...}`. One point per kernel named "
               "right; which kernel has which bug differs between students.",
         prompt="Suspects: {suspects}. Bugs: {bugs}. Answer {{suspect: bug}}.",
         make=_make_07_q2,
         hint="fork, then write once from the child: look at the parent's entry, both "
              "frames and their refcounts")
def q2_bug_hunt(p):
    found = {}
    for name, kernel_class in suspects(p["variant"]).items():
        kernel = kernel_class()
        m = Machine(frames=8)
        parent = m.spawn("parent", pages=2)
        child = kernel.fork(m, parent)
        if m.walk(parent, 0).writable:
            found[name] = "no-write-protect"
            continue
        m.user_write(kernel, child, 0, "child's data")
        old, new = m.walk(parent, 0).pfn, m.walk(child, 0).pfn
        if old == new:
            found[name] = "reuse-while-shared"
        elif m.is_free(old):
            found[name] = "free-too-early"
        elif m.refcount(old) != 1:
            found[name] = "missing-decrement"
        else:
            found[name] = "no bug found"
    return found


# -- q4: build the test that catches a bug ------------------------------------------------

def _make_07_q4(rng):
    return {"bug": rng.choice(sorted(BUGS)), "pages": rng.randint(2, 4), "most": 8}


def _replay(kernel, p, steps):
    """Run the steps as a cowtest scenario (invariants and isolation checked after each
    one); the name of the broken invariant, or None if every step passes."""
    from .codex import Broken, OutOfMemory, Run, Segfault
    run = Run(kernel, frames=16)
    procs = {"parent": run.spawn(p["pages"])}
    try:
        for step in steps:
            who = procs[step.args[0]]
            if step.op == "fork":
                procs[step.args[1]] = run.fork(who)
            elif step.op == "write":
                if step.args[1] >= p["pages"]:
                    raise ValueError(f"{step.text!r}: the processes have VP0..VP{p['pages'] - 1}")
                run.write(who, step.args[1], f"{step.args[0]}@{step.text}")
            else:
                run.exit(who)
    except Broken as e:
        return e.invariant
    except (Segfault, OutOfMemory) as e:
        return type(e).__name__
    return None


def _check_07_q4(p, given):
    from .construct import Invalid, parse_steps
    steps = parse_steps(given, ops=("fork", "write", "exit"), most=p["most"], procs=("parent",))
    try:
        if _replay(ReferenceKernel(), p, steps) is not None:
            raise Invalid("the reference kernel fails your scenario: check the steps")
        caught = _replay(BUGS[p["bug"]](), p, steps)
    except ValueError as e:
        raise Invalid(str(e)) from None
    if caught is None:
        return [f"the kernel with the {p['bug']} bug passes every step of your scenario; "
                "the condition is a scenario it fails"]
    return []


@declare("07-code", "q4", points=2, kind="construct", title="Build: the test that catches a bug",
         prose="**Build: the test that catches a bug.** A kernel hacker's real job: write "
               "the shortest user program that exposes a bug. Your scenario runs as the "
               "code scenarios do, with every invariant and what each process reads "
               "checked after each step.",
         prompt="The parent starts with {pages} pages. Give a scenario of at most {most} "
                "steps (fork, write, exit) that the reference kernel passes and the kernel "
                "with the `{bug}` bug fails.",
         shape='a list of steps like "fork parent child", "write child 0", "exit child"',
         make=_make_07_q4, check=_check_07_q4)
def q4_test_that_catches(p):
    # a fork, then one write to a shared page: each of the four bugs shows here
    return ["fork parent child", "write child 0"]
