"""The kernel model, a module per concept (see cowlab.mm.kernel for the reading order).

Imports only numpy: no ipywidgets, no graphviz.
"""
from .events import (BULK_KINDS, EVENT_KINDS, FAULT_KINDS, KILL_KINDS, LIFECYCLE_KINDS,
                     Event)
from .kernel import Kernel, Snapshot
from .memory import Fault, decide
from .mmap import Region
from .page_alloc import MAX_RAM_PAGES, FrameFlags
from .pgtable import (MAX_SPAN, MAX_VPN, NOT_PRESENT, PTE, ZERO_PFN, PageTable, PteFlags,
                      Process)
from .proc import Stats

__all__ = ["Kernel", "Snapshot", "Process", "Event", "PTE", "PageTable", "Region", "Stats",
           "ZERO_PFN", "NOT_PRESENT", "MAX_VPN", "MAX_SPAN", "MAX_RAM_PAGES", "PteFlags",
           "FrameFlags", "Fault", "decide", "EVENT_KINDS", "FAULT_KINDS", "BULK_KINDS",
           "KILL_KINDS", "LIFECYCLE_KINDS"]
