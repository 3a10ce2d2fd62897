"""The machine an experiment runs on: is it Linux, how much memory may we use, libc.

Importing this reads nothing: every check runs when an experiment starts.
"""
import ctypes
import mmap
import os
import platform
import sys

import numpy as np

try:
    import resource                   # POSIX only: cowlab.real still imports on Windows
except ImportError:                   # pragma: no cover
    resource = None

PAGE_SIZE = mmap.PAGESIZE
HPAGE_SIZE = 2 << 20                  # a PMD-mapped transparent huge page on x86-64/arm64
MAX_MAPPING = 512 << 20               # no single experiment maps more than 512 MiB
NOISE_FAULTS = 2                      # CPython's residue left after the baseline is subtracted
STEP_TIMEOUT = 30.0                   # seconds any one step of a child may take
MADV_WIPEONFORK = getattr(mmap, "MADV_WIPEONFORK", 18)   # linux/mman.h, Linux >= 4.14



class Unavailable(RuntimeError):
    """This machine cannot run the experiment (not Linux, no THP, ...); the message says why."""


class ExperimentError(RuntimeError):
    """A child failed or timed out; it has been killed and reaped."""


# ---------------------------------------------------------------------------- the machine
def available():
    """(True, "") on Linux with /proc; else (False, why) -- the model works everywhere."""
    if sys.platform != "linux":
        return False, (f"cowlab.real measures the Linux kernel through /proc, and this is "
                       f"{platform.system() or sys.platform}; run the notebook on Binder or a "
                       f"Linux JupyterLab (the model, cowlab.Kernel, works here)")
    if not os.path.exists("/proc/self/smaps"):
        return False, "/proc/self/smaps is missing (is /proc mounted?); mount procfs or use Binder"
    return True, ""


def _require_linux():
    ok, why = available()
    if not ok:
        raise Unavailable(why)


def _kernel_release():
    """(major, minor) of the running kernel, e.g. (6, 8)."""
    nums = platform.release().split("-")[0].split(".")
    return int(nums[0]), int(nums[1]) if len(nums) > 1 and nums[1].isdigit() else 0


RUSAGE_THREAD = 1                     # linux/resource.h: this thread only


def minor_faults():
    """ru_minflt of the calling thread (RUSAGE_THREAD: Jupyter's other threads fault too)."""
    return resource.getrusage(RUSAGE_THREAD).ru_minflt


def meminfo():
    """/proc/meminfo as {field: kB} (HugePages_* counts are plain numbers)."""
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            name, rest = line.split(":", 1)
            out[name] = int(rest.split()[0])
    return out


def _read_int(path):
    with open(path) as f:
        return int(f.read().split()[0])


def _memory_budget():
    """Bytes this process may still use: MemAvailable, or less if a cgroup caps us."""
    budget = meminfo().get("MemAvailable", 0) * 1024
    for limit, usage in (("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
                         ("/sys/fs/cgroup/memory/memory.limit_in_bytes",
                          "/sys/fs/cgroup/memory/memory.usage_in_bytes")):
        try:
            budget = min(budget, _read_int(limit) - _read_int(usage))
        except (OSError, ValueError):
            continue
    return budget


def _check_pages(name, pages, low=1, high=MAX_MAPPING // PAGE_SIZE):
    if isinstance(pages, bool) or not isinstance(pages, (int, np.integer)):
        raise TypeError(f"{name} must be a whole number of pages, got {pages!r}; "
                        f"pass e.g. {name}=64")
    if not low <= pages <= high:
        raise ValueError(f"{name} must be between {low} and {high:,} pages "
                         f"({high * PAGE_SIZE >> 20} MiB keeps a 2 GiB pod safe), got {pages:,}")
    return int(pages)


def _check_budget(what, nbytes):
    """Refuse before touching memory the machine (or our cgroup) does not have to spare."""
    budget = _memory_budget()
    if nbytes > budget // 2:
        raise ValueError(f"{what} needs {nbytes >> 20} MiB but only {budget >> 20} MiB is "
                         f"available here (we use at most half); pass smaller sizes")



_LIBC = None


def _libc():
    global _LIBC
    if _LIBC is None:
        _LIBC = ctypes.CDLL(None, use_errno=True)
        _LIBC.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    return _LIBC

