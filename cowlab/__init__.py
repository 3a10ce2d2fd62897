"""cowlab: copy-on-write after fork(), as a kernel model you can poke, see and test.

The model (`Kernel`) imports only numpy, so `import cowlab` stays fast; the
drawings (`draw`, needs graphviz), the lab (`Lab`, `Stepper`, need ipywidgets) and
the real-kernel experiments (`cowlab.real`) are imported on first use.
"""
from .mm import (Kernel, Process, Event, PTE, Region, ZERO_PFN, EVENT_KINDS, FAULT_KINDS,
                 PteFlags, Snapshot)

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
    if name not in _LAZY:
        raise AttributeError(f"module 'cowlab' has no attribute {name!r}")
    import importlib
    module, attr = _LAZY[name]
    mod = importlib.import_module(module)
    return mod if attr is None else getattr(mod, attr)


__all__ = ["Kernel", "Process", "Event", "PTE", "Region", "ZERO_PFN", "EVENT_KINDS",
           "FAULT_KINDS", "PteFlags", "Snapshot", *_LAZY]
