"""Counting a step's minor faults without counting CPython's own."""
import ctypes

import numpy as np

from .machine import RUSAGE_THREAD, _libc
from .mapping import Mapping

_RUSAGE = None


def _rusage_buffers():
    """getrusage() and two struct rusage buffers, made once, before any window opens."""
    global _RUSAGE
    if _RUSAGE is None:
        libc = _libc()
        call = libc.getrusage
        call.argtypes = (ctypes.c_int, ctypes.c_void_p)
        call.restype = ctypes.c_int
        a, b = (ctypes.c_long * 18)(), (ctypes.c_long * 18)()   # ru_minflt is long #8
        _RUSAGE = (call, a, b, ctypes.addressof(a), ctypes.addressof(b))
    return _RUSAGE


def _count(fn, *args):
    """Minor faults this thread takes in fn(*args).

    The two readings go into buffers made beforehand and are turned into Python
    ints only afterwards: nothing in the window allocates, so CPython's allocator
    cannot fault on a page fork left shared and blame it on fn.
    """
    call, a, b, pa, pb = _rusage_buffers()
    call(RUSAGE_THREAD, pa)
    fn(*args)
    call(RUSAGE_THREAD, pb)
    return b[8] - a[8]


def measured(op, m, vpns, value=2):
    """Faults of m.write(vpns) (op="write") or m.read(vpns), CPython's own subtracted.

    The index array and the bound method are built before the window opens. A
    scratch mapping of the same size, created and touched here, runs the same code:
    its first run, and an empty call on m itself, count CPython's after-fork faults
    (the warm-up); a later run that counts nothing (or the fifth) is the baseline
    subtracted from the real one.
    """
    vpns = np.asarray(vpns, dtype=np.intp)
    n = len(vpns)
    offs = m._offsets(vpns)
    with Mapping(max(n, 1)) as scratch:
        same = scratch._offsets(np.arange(n, dtype=np.intp))
        if op == "write":
            real, base, args = m.view.__setitem__, scratch.view.__setitem__, (value,)
        else:
            real, base, args = m.view.take, scratch.view.take, ()
        warm = _count(scratch.view.__setitem__, same, value) - n   # its own zero-fill faults
        warm += _count(real, offs[:0], *args)     # m's own Python objects, no page of m
        for _ in range(5):                         # until CPython is quiet
            baseline = _count(base, same, *args)
            if baseline == 0:
                break
        raw = _count(real, offs, *args)
    return {"faults": raw - baseline, "raw": raw, "baseline": baseline, "warmup": max(warm, 0)}
