"""The cow.c cases of docs/kernel-facts.md's coverage table that test_kernel_cow.py does
not already port, each named after the cow.c test it comes from (anon_test_cases, run
there on a base page). The data a process sees is the check, as in cow.c."""
import pytest

import cowlab


@pytest.mark.parametrize("rules, leaks", [("linux", False), ("linux-5.7", True)])
def test_vmsplice_and_unmap_in_parent_after_fork(rules, leaks):
    """cow.c "vmsplice() + unmap in parent after fork()": the parent splices its page
    and unmaps it; the child, now the only mapping, writes. The pipe must keep the old
    data (Linux 5.9 on); under the mapcount rule the child's write shows in the pipe."""
    k = cowlab.Kernel(ram_pages=16, rules=rules)
    parent = k.spawn("parent", pages=1)
    k.write(parent, 0, "old")
    child = k.fork(parent)
    pipe = k.vmsplice(parent, 0)
    k.munmap(parent, 0, 1)
    kinds = [e.kind for e in k.write(child, 0, "new")]
    assert kinds == (["cow_reuse"] if leaks else ["cow_copy"])
    assert pipe.read() == (["new"] if leaks else ["old"])


@pytest.mark.parametrize("shared_before", [False, True])
def test_ro_longterm_pin_on_exclusive_and_previously_shared_page(shared_before):
    """cow.c "R/O GUP pin on R/O-mapped exclusive page" and "... previously-shared page"
    (without the R/O mapping: the model pins only pages of writable or shared mappings):
    the page is the process's own (refcount 1), so pinning keeps the very frame, marks
    it exclusive, and later writes land in what the pin sees."""
    k = cowlab.Kernel(ram_pages=16)
    p = k.spawn("p", pages=1)
    if shared_before:
        k.exit(k.fork(p))
    frame = k.pte(p, 0).pfn
    pin = k.pin(p, 0)          # cow.c mprotect()s the page R/O first; the model pins only
    assert k.pte(p, 0).pfn == frame and k.anon_exclusive(p, 0)   # writable mappings
    k.write(p, 0, "after the pin")
    assert k.pte(p, 0).pfn == frame and pin.read() == ["after the pin"]
