"""The bug hunt: the reference kernel with one classic COW mistake each.

Which suspect (`kernel_a` .. `kernel_d`) has which bug is drawn per student, and the
classes are named neutrally, so neither the name nor the repr gives the bug away.
"""
import random

from .machine import ReferenceKernel

class _KernelMD(ReferenceKernel):
    def write_fault(self, m, proc, vpn):
        pte = m.walk(proc, vpn)
        if m.refcount(pte.pfn) == 1:
            m.map(proc, vpn, pte.pfn, writable=True)
            return
        new = m.kalloc()
        m.copy_frame(pte.pfn, new)
        m.map(proc, vpn, new, writable=True)


class _KernelRS(ReferenceKernel):
    def write_fault(self, m, proc, vpn):
        pte = m.walk(proc, vpn)
        if m.refcount(pte.pfn) >= 1:
            m.map(proc, vpn, pte.pfn, writable=True)
            return
        new = m.kalloc()
        m.copy_frame(pte.pfn, new)
        m.map(proc, vpn, new, writable=True)
        m.decref(pte.pfn)


class _KernelFE(ReferenceKernel):
    def write_fault(self, m, proc, vpn):
        pte = m.walk(proc, vpn)
        if m.refcount(pte.pfn) == 1:
            m.map(proc, vpn, pte.pfn, writable=True)
            return
        new = m.kalloc()
        m.copy_frame(pte.pfn, new)
        m.map(proc, vpn, new, writable=True)
        m.kfree(pte.pfn)


class _KernelWP(ReferenceKernel):
    def fork(self, m, parent):
        child = m.new_proc(parent.name + "-child")
        for vpn in m.vpns(parent):
            pte = m.walk(parent, vpn)
            if pte.writable or pte.cow:
                m.map(child, vpn, pte.pfn, writable=False, cow=True)
            else:
                m.map(child, vpn, pte.pfn, writable=False)
            m.incref(pte.pfn)
        return child


BUGS = {
    "missing-decrement": _KernelMD,
    "reuse-while-shared": _KernelRS,
    "free-too-early": _KernelFE,
    "no-write-protect": _KernelWP,
}
SUSPECTS = ["kernel_a", "kernel_b", "kernel_c", "kernel_d"]


def suspect_bugs(seed):
    """{suspect name: bug} for a variant seed (the answer key of the bug hunt)."""
    bugs = sorted(BUGS)
    random.Random(f"{seed}/suspects").shuffle(bugs)
    return dict(zip(SUSPECTS, bugs))


def suspects(seed):
    """{suspect name: kernel class} for a variant: the kernels the student examines."""
    out = {}
    for name, bug in suspect_bugs(seed).items():
        cls = type(name, (BUGS[bug],), {"__doc__": "A COW kernel with one bug. Which?",
                                        "__module__": __name__})
        out[name] = cls
    return out
