"""What /proc says about a mapping: smaps figures, pagemap entries, /proc/kpagecount."""
from collections import namedtuple

from .machine import PAGE_SIZE, ExperimentError

PM_PFN_MASK = (1 << 55) - 1           # /proc/PID/pagemap bits 0-54 (zero without CAP_SYS_ADMIN)
PM_EXCLUSIVE = 1 << 56                # page mapped by exactly one PTE
PM_SWAPPED = 1 << 62
PM_PRESENT = 1 << 63

PageInfo = namedtuple("PageInfo", "pfn present exclusive swapped")
PageInfo.__doc__ = ("One /proc/PID/pagemap entry; pfn is None when the kernel hides it "
                    "(non-root) or the page is not present.")


def smaps(addr, length=None):
    """The smaps figures (kB) of the VMA at addr, named as the model names them.

    With length, the VMA must be exactly [addr, addr+length): a merged neighbour
    would add memory that is not ours.
    """
    fields = {"Rss": "rss", "Pss": "pss", "Shared_Dirty": "shared_dirty",
              "Private_Dirty": "private_dirty", "Shared_Clean": "shared_clean",
              "Private_Clean": "private_clean", "AnonHugePages": "anon_huge",
              "Anonymous": "anonymous"}
    out, inside = None, False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split(None, 1)[0]
            if not head.endswith(":"):
                start, end = (int(x, 16) for x in head.split("-"))
                if inside:
                    break
                inside = start <= addr < end
                if inside:
                    out = {"start": start, "end": end}
            elif inside and head[:-1] in fields:
                out[fields[head[:-1]]] = int(line.split()[1])
    if out is None:
        return None                    # not mapped here (MADV_DONTFORK in a child)
    if length is not None and (out["start"], out["end"]) != (addr, addr + length):
        raise ExperimentError(f"the kernel merged our mapping with a neighbour "
                              f"({out['start']:#x}-{out['end']:#x}); run the experiment again")
    del out["start"], out["end"]
    return out


def pagemap(addr, vpns, hide_pfns=False):
    """PageInfo for each page (vpn counted from addr), from /proc/self/pagemap."""
    vpns = [int(v) for v in vpns]
    out = []
    with open("/proc/self/pagemap", "rb") as f:
        for v in vpns:
            f.seek((addr // PAGE_SIZE + v) * 8)
            e = int.from_bytes(f.read(8), "little")
            present = bool(e & PM_PRESENT)
            pfn = e & PM_PFN_MASK
            out.append(PageInfo(pfn if (present and pfn and not hide_pfns) else None,
                                present, bool(e & PM_EXCLUSIVE), bool(e & PM_SWAPPED)))
    return out

