"""cowlab: copy-on-write after fork(), as a kernel model you can poke, see and test.

The model (`Kernel`) imports only numpy, so `import cowlab` stays fast; the
drawings (`draw`, needs graphviz), the lab (`Lab`, `Stepper`, need ipywidgets) and
the real-kernel experiments (`cowlab.real`) are imported on first use.
"""
import sys as _sys

_NO_NUMPY = None
try:
    from .mm import (Kernel, Process, Event, PTE, Region, ZERO_PFN, EVENT_KINDS,
                     FAULT_KINDS, PteFlags, Snapshot)
except ModuleNotFoundError as _exc:
    # Only in the static site (Pyodide, `make lite`): numpy comes from the Pyodide CDN
    # and is missing offline. `import cowlab` still works for what needs no numpy (the
    # site's check page, viz.js drawings); the model's names then say why they are not
    # there. Anywhere else a missing numpy is the error it always was.
    if _exc.name != "numpy" or _sys.platform != "emscripten":
        raise
    _NO_NUMPY = str(_exc)

__version__ = "0.1.0"

_LAZY = {
    "draw": ("cowlab.render", "draw"),
    "Lab": ("cowlab.widgets", "Lab"),
    "Stepper": ("cowlab.widgets", "Stepper"),
    "Scenario": ("cowlab.scenario", "Scenario"),
    "ask": ("cowlab.selfcheck", "ask"),
    "predict": ("cowlab.selfcheck", "predict"),
    "real": ("cowlab.real", None),
}


def __getattr__(name):
    """Import the heavy parts (graphviz, ipywidgets, /proc probes) only when asked."""
    if _NO_NUMPY is not None and name in __all__:
        raise ImportError(f"cowlab.{name} needs numpy, which this site loads from the "
                          f"Pyodide CDN at start-up, and it is not there ({_NO_NUMPY}): "
                          "reload the page while online")
    if name not in _LAZY:
        raise AttributeError(f"module 'cowlab' has no attribute {name!r}")
    import importlib
    module, attr = _LAZY[name]
    mod = importlib.import_module(module)
    return mod if attr is None else getattr(mod, attr)


__all__ = ["Kernel", "Process", "Event", "PTE", "Region", "ZERO_PFN", "EVENT_KINDS",
           "FAULT_KINDS", "PteFlags", "Snapshot", *_LAZY]
