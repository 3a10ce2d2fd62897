"""The kernel model now lives in cowlab/mm/, a module per concept; this name is kept
so that `from cowlab.kernel import Kernel, ZERO_PFN, NOT_PRESENT` still works."""
from .mm import *  # noqa: F401,F403
from .mm import __all__  # noqa: F401
from .mm.events import SUMMARY_LIMIT  # noqa: F401
from .mm.memory import FAULT_AROUND_BYTES  # noqa: F401
