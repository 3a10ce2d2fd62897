"""Every public call, given bad input, raises a clear ValueError/TypeError and changes nothing."""
import numpy as np
import pytest

import cowlab
from cowlab import Kernel


def world():
    k = Kernel(ram_pages=16)
    p = k.spawn("parent", pages=3)
    c = k.fork(p)
    k.write(p, 1, "x")
    dead = k.spawn("dead", pages=1)
    k.exit(dead)
    return k, p, c, dead


def state(k):
    """Everything a student could observe, as plain data."""
    procs = []
    for q in k.processes:
        tables = None
        if q.alive:
            pt = k.page_table(q)
            tables = (pt.pfn.tolist(), pt.writable.tolist(), pt.cow.tolist(), k.regions(q),
                      dict(k.stats(q)))
        procs.append((q.pid, q.name, q.alive, tables))
    return (procs, k.refcounts().tolist(), list(k.events), dict(k.meminfo()), k.free_frames())


HUGE = 10**15
BAD_CALLS = [
    # (description, call, exception, words the message must contain)
    ("fork a pid nobody has", lambda k, p, c, d: k.fork(99), ValueError, "pid 99"),
    ("fork a dead process", lambda k, p, c, d: k.fork(d), ValueError, "exited"),
    ("fork a string", lambda k, p, c, d: k.fork("parent"), TypeError, "Process"),
    ("fork with a bad name", lambda k, p, c, d: k.fork(p, name=3), TypeError, "name"),
    ("write a negative vpn", lambda k, p, c, d: k.write(p, -1, 1), ValueError, "0 or more"),
    ("write a float vpn", lambda k, p, c, d: k.write(p, 1.5, 1), TypeError, "whole"),
    ("write a bool vpn", lambda k, p, c, d: k.write(p, True, 1), TypeError, "whole"),
    ("write a string vpn", lambda k, p, c, d: k.write(p, "1", 1), TypeError, "whole"),
    ("write past the address space", lambda k, p, c, d: k.write(p, 2**40, 1), ValueError,
     "address space"),
    ("write to a dead process", lambda k, p, c, d: k.write(d, 0, 1), ValueError, "exited"),
    ("write to a bool pid", lambda k, p, c, d: k.write(True, 0, 1), TypeError, "Process"),
    ("read an unknown pid", lambda k, p, c, d: k.read(0, 0), ValueError, "no process"),
    ("read a None vpn", lambda k, p, c, d: k.read(p, None), TypeError, "vpn"),
    ("write_many a string", lambda k, p, c, d: k.write_many(p, "012"), TypeError, "list"),
    ("write_many a scalar", lambda k, p, c, d: k.write_many(p, 3), TypeError, "list"),
    ("write_many floats", lambda k, p, c, d: k.write_many(p, [0, 1.5]), TypeError, "whole"),
    ("write_many negatives", lambda k, p, c, d: k.write_many(p, [0, -2]), ValueError, "0 or more"),
    ("write_many 2-D", lambda k, p, c, d: k.write_many(p, np.zeros((2, 2), int)), ValueError,
     "flat"),
    ("write_many huge vpn", lambda k, p, c, d: k.write_many(p, [0, 2**40]), ValueError,
     "address space"),
    ("write_many dead", lambda k, p, c, d: k.write_many(d, [0]), ValueError, "exited"),
    ("spawn no name", lambda k, p, c, d: k.spawn("", 1), TypeError, "name"),
    ("spawn negative", lambda k, p, c, d: k.spawn("x", -1), ValueError, "pages"),
    ("spawn huge", lambda k, p, c, d: k.spawn("x", HUGE), ValueError, "pages"),
    ("spawn float", lambda k, p, c, d: k.spawn("x", 2.0), TypeError, "whole"),
    ("mmap zero pages", lambda k, p, c, d: k.mmap(p, 0), ValueError, "pages"),
    ("mmap huge", lambda k, p, c, d: k.mmap(p, HUGE), ValueError, "pages"),
    ("mmap string size", lambda k, p, c, d: k.mmap(p, "2"), TypeError, "pages"),
    ("mmap shared='yes'", lambda k, p, c, d: k.mmap(p, 1, shared="yes"), TypeError, "True or False"),
    ("mmap odd huge", lambda k, p, c, d: k.mmap(p, 3, huge=True), ValueError, "multiple of"),
    ("mmap dead", lambda k, p, c, d: k.mmap(d, 1), ValueError, "exited"),
    ("madvise unknown advice", lambda k, p, c, d: k.madvise(p, 0, 1, "nofork"), ValueError,
     "dontfork"),
    ("madvise past the mapping", lambda k, p, c, d: k.madvise(p, 2, 5, "dontfork"), ValueError,
     "not all mapped"),
    ("madvise negative", lambda k, p, c, d: k.madvise(p, -1, 1, "dontfork"), ValueError,
     "0 or more"),
    ("madvise zero pages", lambda k, p, c, d: k.madvise(p, 0, 0, "dontfork"), ValueError, "pages"),
    ("exec negative", lambda k, p, c, d: k.exec(c, -1), ValueError, "pages"),
    ("exec huge", lambda k, p, c, d: k.exec(c, HUGE), ValueError, "pages"),
    ("exec dead", lambda k, p, c, d: k.exec(d), ValueError, "exited"),
    ("exit dead", lambda k, p, c, d: k.exit(d), ValueError, "exited"),
    ("exit twice by pid", lambda k, p, c, d: k.exit(d.pid), ValueError, "exited"),
    ("pte bad vpn", lambda k, p, c, d: k.pte(p, -3), ValueError, "0 or more"),
    ("pte dead", lambda k, p, c, d: k.pte(d, 0), ValueError, "exited"),
    ("refcount out of range", lambda k, p, c, d: k.refcount(16), ValueError, "pfn"),
    ("refcount negative", lambda k, p, c, d: k.refcount(-5), ValueError, "pfn"),
    ("refcount string", lambda k, p, c, d: k.refcount("PF1"), TypeError, "pfn"),
    ("stats unknown", lambda k, p, c, d: k.stats(42), ValueError, "pid 42"),
    ("regions dead", lambda k, p, c, d: k.regions(d), ValueError, "exited"),
    ("restore junk", lambda k, p, c, d: k.restore({}), TypeError, "Snapshot"),
    ("restore another kernel's", lambda k, p, c, d: k.restore(Kernel().snapshot()), ValueError,
     "another kernel"),
    ("another kernel's process", lambda k, p, c, d: k.write(Kernel().spawn("x", 1), 0), ValueError,
     "belong"),
]


@pytest.mark.parametrize("what,call,exc,words", BAD_CALLS, ids=[b[0] for b in BAD_CALLS])
def test_bad_input_raises_a_clear_error_and_changes_nothing(what, call, exc, words):
    k, p, c, dead = world()
    before = state(k)
    with pytest.raises(exc) as e:
        call(k, p, c, dead)
    assert words.lower() in str(e.value).lower(), str(e.value)
    assert state(k) == before
    k.write(c, 1, "still works")                   # and the kernel carries on
    assert k.read(c, 1) == "still works"


@pytest.mark.parametrize("kwargs,exc", [
    ({"ram_pages": 0}, ValueError), ({"ram_pages": -4}, ValueError),
    ({"ram_pages": 10**12}, ValueError), ({"ram_pages": 16.0}, TypeError),
    ({"swap_pages": -1}, ValueError), ({"page_size": 3000}, ValueError),
    ({"overcommit_memory": 3}, ValueError), ({"overcommit_memory": True}, ValueError),
    ({"overcommit_ratio": -1}, ValueError), ({"overcommit_kbytes": "1"}, TypeError),
    ({"rules": "bsd"}, ValueError), ({"thp": "never"}, ValueError),
])
def test_bad_kernel_settings_name_the_fix(kwargs, exc):
    with pytest.raises(exc) as e:
        Kernel(**kwargs)
    assert next(iter(kwargs)) in str(e.value)


def test_enomem_is_an_oserror_with_an_event_and_no_other_change():
    k = Kernel(ram_pages=16, overcommit_memory=2)
    p = k.spawn("parent", pages=6)
    before = state(k)
    with pytest.raises(OSError):
        k.fork(p)
    after = state(k)
    assert after[2][:-1] == before[2] and after[2][-1].kind == "enomem"
    assert after[:2] == before[:2] and after[3:] == before[3:]


def test_import_cowlab_does_not_pull_in_ui_libraries():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c",
                          "import sys, cowlab; k = cowlab.Kernel(); k.fork(k.spawn('p', 3));"
                          "print(sorted(m for m in ('ipywidgets', 'graphviz', 'IPython',"
                          " 'matplotlib') if m in sys.modules))"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert hasattr(cowlab, "ZERO_PFN") and "fork" in cowlab.EVENT_KINDS
