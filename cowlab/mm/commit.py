"""Commit accounting: how much memory the kernel has promised, and whether it may
promise more (mm/util.c's vm_commit_limit and __vm_enough_memory, Linux 6.1).

Private writable mappings are charged when they are made (spawn, mmap, exec) and
again for the child at fork (dup_mmap, per region); a MAP_SHARED region is charged
once, at mmap.

Mode 2 keeps two reserves back from CommitLimit, as the kernel does: the admin
reserve (`admin_reserve_kbytes`, unless the caller has CAP_SYS_ADMIN: `root=True`) and
the user reserve, min(total_vm / 32, `user_reserve_kbytes`) of the calling process.
Their defaults are the kernel's boot-time ones (mm/mmap.c init_admin_reserve and
init_user_reserve): free memory / 32, at most 8 MiB and 128 MiB; a 16-frame model
keeps 0 pages back.
"""
from .events import pages_str

ADMIN_RESERVE_MAX_KB = 1 << 13     # 8 MiB
USER_RESERVE_MAX_KB = 1 << 17      # 128 MiB


def default_reserves_kb(ram_kb):
    """(admin, user) reserve in kB as Linux computes them at boot from free memory."""
    return min(ram_kb // 32, ADMIN_RESERVE_MAX_KB), min(ram_kb // 32, USER_RESERVE_MAX_KB)


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


def vm_enough_memory(k, pages, total_vm=0, released=0):
    """None if `pages` more may be committed, else the reason it may not.

    Mode 1 never refuses. Mode 0 refuses only a single request larger than RAM + swap
    (the heuristic since Linux 5.2, commit 8c7829b04c52). Mode 2 refuses when
    Committed_AS (less `released`, pages a caller is about to give back) plus the
    request would reach the limit left after the reserves: the kernel allows only
    `committed < allowed`. `total_vm` is the calling process's mapped pages.
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
    kb = k.page_size // 1024
    admin = 0 if k.root else k.admin_reserve_kbytes // kb
    user = min(total_vm // 32, k.user_reserve_kbytes // kb)
    allowed = limit - admin - user
    if committed + pages < allowed:
        return None
    reserves = ""
    if admin or user:
        reserves = f" less reserves of {admin} (admin) + {user} (user) pages"
    return (f"Committed_AS {committed} + {pages} pages would reach CommitLimit "
            f"{limit} pages{reserves} (overcommit mode 2)")
