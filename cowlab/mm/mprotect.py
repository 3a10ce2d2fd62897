"""mprotect (mm/mprotect.c): change a range's protection, "r" or "rw".

Making a range read-only write-protects its PTEs. Making it writable again maps a
private page writable at once only if it is PageAnonExclusive (change_pte_range's
can_change_pte_writable: 64fe24a3e05e, Linux 6.0 on, so only under rules="linux";
the older rule sets leave every private page read-only); any other page stays read-only and COW, so
the next write faults and do_wp_page decides (reuse at refcount 1, else copy). A
private range that becomes writable for the first time is charged (VM_ACCOUNT).
"""
import numpy as np

from . import commit
from .events import pages_str
from .page_alloc import F_EXCL
from .pgtable import F_COW, F_WRITE, clear_mask

PROTS = ("r", "rw")
NO_WRITE = clear_mask(F_WRITE)
NO_WC = clear_mask(F_WRITE | F_COW)


class Mprotect:
    """Kernel method mprotect."""

    def mprotect(self, p, vpn, pages, prot):
        """mprotect(): "r" (PROT_READ) or "rw" (PROT_READ|PROT_WRITE) on a mapped range;
        -> the (empty) list of events. OSError(ENOMEM) if commit refuses the charge."""
        p = self._proc(p)
        vpn = self._check_vpn(vpn)
        pages = self._check_pages(pages)
        if prot not in PROTS:
            raise ValueError(f"prot must be 'r' or 'rw', got {prot!r}")
        end = vpn + pages
        if end > p.span or np.any(p._vma[vpn:end] < 0):
            raise ValueError(f"VP{vpn}..VP{end - 1} is not all mapped in {p.name}; "
                             f"mprotect only a range inside its regions: {self.regions(p)}")
        want = prot == "rw"
        runs = [(s + vpn, e + vpn, i) for s, e, i in self._runs(p._vma[vpn:end])]
        charge = sum(e - s for s, e, i in runs if want and not self._vmas[i].shared
                     and not self._vmas[i].acct)
        if charge:
            total_vm = int(np.count_nonzero(p._vma >= 0))
            why = commit.vm_enough_memory(self, charge, total_vm)
            if why:
                raise self._refuse(p, f"mprotect of {pages_str(charge)} to writable", why)
            p._charge += charge
        ids = self._own_vma_ids(p)
        for s, e, i in runs:
            v = self._vmas[i]
            if v.writable != want:
                self._widen_for_a_process()
                self._vmas.append(v._replace(writable=want, acct=v.acct or (want and not v.shared)))
                dtype = self._widen_vma_ids()
                ids = p._vma = p._vma.astype(dtype, copy=False)
                ids[s:e] = len(self._vmas) - 1
            self._change_ptes(p, s, e, v.shared, want)
        return []

    def _change_ptes(self, p, s, e, shared, want):
        pf, fl = p._pfn[s:e], p._flags[s:e]
        present = pf >= 0
        if not want:
            fl[present] &= NO_WRITE
            if not shared:
                fl[present] |= F_COW          # a later "rw" and write go through do_wp_page
            return
        if shared:
            fl[present] |= F_WRITE
            return
        exclusive = present.copy()
        exclusive[present] = (self._fflags[pf[present]] & F_EXCL) != 0
        if self.rules != "linux":         # before 6.0 a private page always faults first
            exclusive[:] = False
        fl[exclusive] = (fl[exclusive] & NO_WC) | F_WRITE
        fl[present & ~exclusive] = (fl[present & ~exclusive] & NO_WRITE) | F_COW
