"""The Kernel: settings, argument checks, and the rooms it is built from.

Each concept lives in its own module, named as Linux names it (read them in this
order): page_alloc (frames, refcounts), pgtable (PTEs), mmap (regions, munmap),
mprotect, memory (the page fault: one `decide`, then the handlers), bulk (the same
faults for many pages at once), fork (copy_page_range), exit (exec, exit, teardown,
zap), gup (pipes, pins, forced writes), ksm, oom_kill, commit (overcommit accounting), proc (what /proc shows), events
(narration), invariants.
"""
import errno

from . import commit
from .bulk import Bulk, _is_int
from .events import Event
from .exit import Exit
from .fork import Fork
from .gup import Gup
from .ksm import Ksm
from .memory import RULES, Faults
from .mmap import Mappings
from .mprotect import Mprotect
from .oom_kill import OomKiller
from .page_alloc import MAX_RAM_PAGES, Frames
from .pgtable import MAX_SPAN, MAX_VPN, ZERO_PFN, Process
from .proc import ProcView


class Snapshot:
    """A frozen copy of a kernel's whole state; `Kernel.restore` puts it back."""

    def __init__(self, kernel_state, procs):
        self._kernel_state = kernel_state
        self._procs = procs          # [(Process, its saved state)]

    def __repr__(self):
        return f"<cowlab.Snapshot of {len(self._procs)} processes>"


def _clone(value):
    """Copy state deep enough that later changes never leak into a snapshot."""
    if hasattr(value, "copy") and hasattr(value, "dtype"):
        return value.copy()
    if isinstance(value, list):
        return [_clone(v) for v in value]
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    return value


class Kernel(Frames, Mappings, Mprotect, Faults, Bulk, Fork, Exit, Gup, Ksm, OomKiller,
             ProcView):
    """A Linux-like memory manager, small enough to read and fast enough to scale.

    >>> k = Kernel(ram_pages=16)
    >>> p = k.spawn("parent", pages=3)        # VP0..VP2 -> PF0..PF2
    >>> c = k.fork(p)                         # shared read-only, rc=2
    >>> [e.kind for e in k.write(p, 1, "x")]  # VP1 -> new PF3
    ['cow_copy']
    >>> k.read(c, 1), k.refcount(1)
    (0, 1)

    Overcommit mode 2 keeps the kernel's reserves back (see cowlab.mm.commit):
    admin_reserve_kbytes and user_reserve_kbytes default to Linux's boot-time values
    for this much RAM; root=True runs every process with CAP_SYS_ADMIN.
    """

    def __init__(self, ram_pages=16, swap_pages=0, page_size=4096, overcommit_memory=0,
                 overcommit_ratio=50, overcommit_kbytes=0, rules="linux", thp="split",
                 admin_reserve_kbytes=None, user_reserve_kbytes=None, root=False):
        self.ram_pages = self._check_count("ram_pages", ram_pages, low=1, high=MAX_RAM_PAGES)
        self.swap_pages = self._check_count("swap_pages", swap_pages, low=0, high=MAX_RAM_PAGES)
        page_size = self._check_count("page_size", page_size, low=1024, high=1 << 21)
        if page_size & (page_size - 1):
            raise ValueError(f"page_size must be a power of two such as 4096, not {page_size}")
        self.page_size = page_size
        self.overcommit_memory = self._check_choice("overcommit_memory", overcommit_memory,
                                                    (0, 1, 2))
        self.overcommit_ratio = self._check_count("overcommit_ratio", overcommit_ratio,
                                                  low=0, high=10_000)
        self.overcommit_kbytes = self._check_count("overcommit_kbytes", overcommit_kbytes,
                                                   low=0, high=1 << 50)
        admin, user = commit.default_reserves_kb(self.ram_pages * (page_size // 1024))
        self.admin_reserve_kbytes = admin if admin_reserve_kbytes is None else \
            self._check_count("admin_reserve_kbytes", admin_reserve_kbytes, low=0, high=1 << 50)
        self.user_reserve_kbytes = user if user_reserve_kbytes is None else \
            self._check_count("user_reserve_kbytes", user_reserve_kbytes, low=0, high=1 << 50)
        if not isinstance(root, bool):
            raise TypeError(f"root must be True or False, got {root!r}")
        self.root = root
        self.rules = self._check_choice("rules", rules, RULES)
        self.thp = self._check_choice("thp", thp, ("split", "copy"))
        self.huge_pages = max(1, (2 << 20) // page_size)   # pages per 2 MiB huge page
        self._init_frames(self.ram_pages)
        self._procs = []            # index pid-1
        self._vmas = []             # region id -> _Vma
        self._obj_pages = []        # shared object id -> array of frames (NOT_PRESENT = hole)
        self._obj_users = []        # shared object id -> processes mapping it
        self._obj_charge = []       # shared object id -> committed pages (0 once released)
        self._obj_file = []         # object id -> the file's name (page cache), None for shmem
        self._files = {}            # file name -> its object id
        self._refs_held = []        # pipe or pin id -> frames it holds (None once released)
        self._refs_pin = []         # pipe or pin id -> True for a pin
        self._npins = 0             # pinned frame references in all (fork's early COW)
        self._ksm_merged = False    # KSM has merged pages: a frame may repeat in a process
        self.events = []
        self._owner = object()      # tells this kernel's snapshots from another's

    # ------------------------------------------------------------------ checks
    @staticmethod
    def _check_count(name, value, low, high):
        if not _is_int(value):
            raise TypeError(f"{name} must be a whole number, got {type(value).__name__} "
                            f"{value!r}; pass e.g. {name}={max(low, 1)}")
        if not low <= value <= high:
            raise ValueError(f"{name} must be between {low} and {high:,}, got {value:,}")
        return int(value)

    @staticmethod
    def _check_choice(name, value, choices):
        if isinstance(value, bool) or value not in choices:
            raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, "
                             f"got {value!r}")
        return value

    def _proc(self, p):
        """The live Process meant by `p` (a Process of this kernel or a pid)."""
        if isinstance(p, Process):
            if p._kernel is not self or p.pid > len(self._procs) or self._procs[p.pid - 1] is not p:
                raise ValueError(f"{p!r} does not belong to this kernel (or was undone); "
                                 f"use one of {self._live_names()}")
        elif _is_int(p):
            if not 1 <= p <= len(self._procs):
                raise ValueError(f"no process with pid {p}; live processes: {self._live_names()}")
            p = self._procs[p - 1]
        else:
            raise TypeError(f"expected a Process (as returned by spawn or fork) or a pid, "
                            f"got {type(p).__name__} {p!r}")
        if not p.alive:
            raise ValueError(f"process {p.name} (pid {p.pid}) has exited; use a live one: "
                             f"{self._live_names()}")
        return p

    def _live_names(self):
        live = [f"{p.name} (pid {p.pid})" for p in self._procs if p.alive]
        return ", ".join(live) if live else "none (spawn one with k.spawn(name, pages))"

    def _check_vpn(self, vpn):
        if not _is_int(vpn):
            raise TypeError(f"vpn must be a whole page number such as 1, "
                            f"got {type(vpn).__name__} {vpn!r}")
        if vpn < 0:
            raise ValueError(f"vpn must be 0 or more, got {vpn}")
        if vpn >= MAX_VPN:
            raise ValueError(f"vpn {vpn:,} is beyond the 47-bit user address space "
                             f"(vpns stop at {MAX_VPN - 1:,})")
        return int(vpn)

    def _check_pages(self, pages, low=1, name="pages"):
        return self._check_count(name, pages, low=low, high=MAX_SPAN)

    def _check_room(self, p, pages):
        if p.span + pages + self.huge_pages > MAX_SPAN:
            raise ValueError(f"{p.name} has no room for {pages:,} more pages: the model maps "
                             f"at most {MAX_SPAN:,} pages per process; ask for fewer")

    def _check_pfn(self, pfn):
        if not _is_int(pfn):
            raise TypeError(f"pfn must be a whole frame number, got {type(pfn).__name__} {pfn!r}")
        if pfn != ZERO_PFN and not 0 <= pfn < self.ram_pages:
            raise ValueError(f"pfn must be 0..{self.ram_pages - 1} (or cowlab.ZERO_PFN), got {pfn}")
        return int(pfn)

    def _refuse(self, p_or_pid, what, why):
        pid = p_or_pid.pid if isinstance(p_or_pid, Process) else p_or_pid
        ev = Event("enomem", pid, None, None, None, f"{what} refused with ENOMEM: {why}")
        self.events.append(ev)
        err = OSError(errno.ENOMEM, f"{what}: {why}")
        err.events = [ev]
        return err

    # ------------------------------------------------------------------ the rest
    @property
    def processes(self):
        """Every process ever created, in pid order (check .alive)."""
        return list(self._procs)

    def live(self):
        return [p for p in self._procs if p.alive]

    def process(self, pid):
        """The Process with this pid, alive or not."""
        if not _is_int(pid) or not 1 <= pid <= len(self._procs):
            raise ValueError(f"no process with pid {pid!r}; pids are 1..{len(self._procs)}")
        return self._procs[pid - 1]

    def snapshot(self):
        """A copy of the whole state, for undo and for replaying homework scenarios."""
        state = {k: _clone(v) for k, v in self.__dict__.items() if k != "_procs"}
        state["_procs"] = list(self._procs)
        procs = [(p, {k: _clone(v) for k, v in p.__dict__.items() if k != "_kernel"})
                 for p in self._procs]
        return Snapshot(state, procs)

    def restore(self, snapshot):
        """Put back a snapshot of this kernel (it can be restored again later)."""
        if not isinstance(snapshot, Snapshot):
            raise TypeError(f"restore needs a Snapshot from k.snapshot(), got "
                            f"{type(snapshot).__name__}")
        if snapshot._kernel_state["_owner"] is not self._owner:
            raise ValueError("that snapshot was taken of another kernel")
        for key, value in snapshot._kernel_state.items():
            setattr(self, key, value if key == "_procs" else _clone(value))
        self._procs = list(snapshot._kernel_state["_procs"])
        for p, saved in snapshot._procs:
            for key, value in saved.items():
                setattr(p, key, _clone(value))

    def __repr__(self):
        live = ", ".join(f"{p.name}:{p.pid}" for p in self.live()) or "no processes"
        return (f"<cowlab.Kernel {self.ram_pages} frames ({self._nfree} free), rules="
                f"{self.rules}, overcommit_memory={self.overcommit_memory}; {live}>")
