"""What must hold after every call, checked from the model's own tables.

`check(k)` returns the broken rules in words (an empty list when all hold); tests run
it after random call sequences, and a teacher can run it after poking the model.
"""
import numpy as np

from .page_alloc import F_EXCL, F_OBJREF, NOT_ANON
from .pgtable import F_COW, F_WRITE

def check(k):
    """The invariants of kernel k that do not hold, as sentences (none: [])."""
    bad = []
    ptes = np.zeros(k.ram_pages, np.int64)
    shared_table = k._vma_table("shared")
    for p in k.live():
        real = p._pfn[p._pfn >= 0]
        anon = real[(k._fflags[real] & NOT_ANON) == 0]   # a file or KSM page may repeat
        if len(np.unique(anon)) != len(anon):
            bad.append(f"{p.name} (pid {p.pid}) maps one anonymous frame at two vpns")
        np.add.at(ptes, real, 1)
        w, cow = p._has(F_WRITE), p._has(F_COW)
        if np.any(w & cow):
            bad.append(f"{p.name} (pid {p.pid}) has a PTE both writable and COW")
        private_w = (p._pfn >= 0) & w & ~shared_table[p._vma]
        if np.any(k._mapcount[p._pfn[private_w]] != 1):      # pins may hold it too
            bad.append(f"{p.name} (pid {p.pid}) writes a private frame someone else maps")
        if not np.all(k._fflags[p._pfn[private_w]] & F_EXCL):
            bad.append(f"{p.name} (pid {p.pid}) writes a private page that is not exclusive")
    excl = (k._fflags & F_EXCL) != 0
    if np.any(excl & ((ptes > 1) | ((k._fflags & F_OBJREF) != 0))):
        bad.append("an exclusive (PageAnonExclusive) frame is mapped twice or held by an object")
    extra = np.zeros(k.ram_pages, np.int64)
    for held in k._refs_held:
        if held is not None:
            np.add.at(extra, held[held >= 0], 1)
    if not np.array_equal(extra, k._extra):
        bad.append("the frames' pipe and pin references differ from the pipes and pins held")
    if not np.array_equal(k._mapcount, ptes):
        bad.append("a frame's mapcount differs from the PTEs that map it")
    held = np.zeros(k.ram_pages, bool)
    for obj, pages in enumerate(k._obj_pages):
        if k._obj_users[obj] or k._obj_file[obj] is not None:
            held[pages[pages >= 0]] = True
    if not np.array_equal(held, (k._fflags & F_OBJREF) != 0):
        bad.append("the shared objects' frames differ from the frames marked as held")
    used = int(np.count_nonzero(k.refcounts()))
    if k.free_frames() + used != k.ram_pages:
        bad.append(f"free frames ({k.free_frames()}) + used ({used}) != RAM ({k.ram_pages})")
    return bad
