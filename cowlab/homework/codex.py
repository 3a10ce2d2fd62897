"""Code exercises in the spirit of the xv6 copy-on-write lab: what a student imports.

    from cowlab.homework.codex import CowKernel, Machine, Segfault, check_invariants

The pieces live in modules of their own -- machine.py (the primitives machine and
the kernels), scenarios.py (invariants and cowtest-like scenarios), bughunt.py (the
suspects) -- and codejudge.py judges an answer; this module gathers the names a
notebook uses, and turns an answer cell's source into the student's kernel class.
"""
from .bughunt import BUGS, SUSPECTS, suspect_bugs, suspects  # noqa: F401
from .machine import (PTE, Broken, CowKernel, Machine, OutOfMemory, Proc,  # noqa: F401
                      ReferenceKernel, Segfault)
from .scenarios import (INVARIANTS, SCENARIOS, Run, check_invariants,  # noqa: F401
                        run_scenario, run_scenarios, score_kernel, where_in_answer)

PUBLIC = {"Machine": Machine, "CowKernel": CowKernel, "PTE": PTE, "Proc": Proc,
          "OutOfMemory": OutOfMemory, "Segfault": Segfault}


def kernel_from_source(source, qid, namespace=None):
    """Run an answer cell's source and return an instance of the class it binds to qid."""
    ns = dict(PUBLIC)
    ns.update(namespace or {})
    exec(compile(source, "<answer>", "exec"), ns)
    return answer_class(ns, qid)()


def answer_class(ns, qid):
    """The class the answer cell binds to qid, which must be the student's own work:
    subclassing the reference kernel or a bug-hunt suspect hands in code they did not write."""
    cls = ns.get(qid)
    if not isinstance(cls, type):
        raise TypeError(f"the answer cell must define a class named {qid} "
                        f"(got {type(cls).__name__})")
    borrowed = [c.__name__ for c in cls.__mro__[1:]
                if c not in (CowKernel, object) and c.__module__.startswith("cowlab")]
    if borrowed:
        raise TypeError(f"class {qid} must subclass CowKernel and write fork, write_fault "
                        f"and copyout itself, not inherit them from {borrowed[0]}")
    return cls
