"""Commit accounting: how much memory the kernel has promised, and whether it may
promise more (mm/util.c's vm_commit_limit and __vm_enough_memory).

Private writable mappings are charged when they are made (spawn, mmap, exec) and
again for the child at fork; a MAP_SHARED region is charged once, at mmap. The
kernel's admin and user reserves (a few MiB) are left out, so the model's CommitLimit
is the kernel's formula and its refusals are a few pages more generous.
"""


def pages_str(n):
    """1 page, 2 pages: for narration."""
    return f"{n} page" if n == 1 else f"{n} pages"


def commit_limit_pages(k):
    """CommitLimit: ram * overcommit_ratio/100 (or overcommit_kbytes) + swap, in pages."""
    if k.overcommit_kbytes:
        allowed = k.overcommit_kbytes // (k.page_size // 1024)
    else:
        allowed = k.ram_pages * k.overcommit_ratio // 100
    return allowed + k.swap_pages


def committed_pages(k):
    """Committed_AS: private writable mappings of live processes + live shared objects."""
    return sum(p._charge for p in k._procs if p.alive) + sum(k._obj_charge)


def vm_enough_memory(k, pages, released=0):
    """None if `pages` more may be committed, else the reason it may not.

    Mode 1 never refuses; mode 0 refuses one request larger than RAM + swap; mode 2
    refuses when Committed_AS (less `released`, pages a caller is about to give back)
    plus the request would exceed CommitLimit.
    """
    mode = k.overcommit_memory
    if mode == 1 or pages == 0:
        return None
    if mode == 0:
        if pages > k.ram_pages + k.swap_pages:
            return (f"a single request of {pages_str(pages)} is larger than RAM + swap "
                    f"({k.ram_pages + k.swap_pages} pages; overcommit mode 0)")
        return None
    committed = committed_pages(k) - released
    limit = commit_limit_pages(k)
    if committed + pages > limit:
        return (f"Committed_AS {committed} + {pages} pages would exceed CommitLimit "
                f"{limit} pages (overcommit mode 2)")
    return None
