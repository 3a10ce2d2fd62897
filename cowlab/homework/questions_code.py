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
