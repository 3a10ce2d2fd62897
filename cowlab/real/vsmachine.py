"""Model vs kernel for the machine-wide experiments: huge pages, commit limits, fork cost."""
import numpy as np

from .experiments import overcommit
from .forkcost import fork_cost, thp
from .machine import HPAGE_SIZE, PAGE_SIZE, _kernel_release
from .table import (KB, Comparison, Row, _kernel, _kernel_scaled, exact, faults, measured,
                    stat_rows)


# ---------------------------------------------------------------------------- thp
def _model_thp(write_vpn):
    n = HPAGE_SIZE // PAGE_SIZE
    mode = "split" if _kernel_release() >= (5, 8) else "copy"
    k = _kernel(3 * n + 16, thp=mode)
    p = k.spawn("parent", pages=0)
    s = k.mmap(p, n, huge=True)
    k.write_many(p, s + np.arange(n), 1)
    touch = p.minor_faults
    before = k.stats(p)
    c = k.fork(p)
    cb = k.stats(c)
    k.write(c, s + write_vpn, 2)
    out = {"mode": mode, "touch_faults": touch, "parent_before_fork": before,
           "child": {"before": cb, "faults": c.minor_faults, "after": k.stats(c)},
           "parent_after_child_write": k.stats(p)}
    k.exit(c)
    f0 = p.minor_faults
    out["kinds"] = [e.kind for e in k.write(p, s + write_vpn, 3)]
    out["parent_writes_after_exit"] = p.minor_faults - f0
    out["parent_at_end"] = k.stats(p)
    return out


def _compare_thp(write_vpn=5):
    real = thp(write_vpn)
    m = _model_thp(write_vpn)
    fields = ("rss", "shared_dirty", "private_dirty", "anon_huge")
    rows = [faults(f"touch all {HPAGE_SIZE // PAGE_SIZE} pages of the 2 MiB page: faults",
                   m["touch_faults"], real["touch_faults"])]
    rows += stat_rows("parent before fork", m["parent_before_fork"], real["parent_before_fork"],
                      fields)
    rows += stat_rows("child after fork", m["child"]["before"], real["child"]["before"], fields)
    rows.append(faults(f"child writes VP{write_vpn}: faults", m["child"]["faults"],
                       real["child"]["faults"]))
    rows += stat_rows("child after its write", m["child"]["after"], real["child"]["after"], fields)
    rows += stat_rows("parent after the child's write", m["parent_after_child_write"],
                      real["parent_after_child_write"], fields)
    rows.append(faults(f"the child exits; the parent writes VP{write_vpn}: faults",
                       m["parent_writes_after_exit"], real["parent_writes_after_exit"]))
    rows += stat_rows("parent at the end", m["parent_at_end"], real["parent_at_end"], fields)
    return Comparison("thp", rows, real, [f"model thp={m['mode']!r} for Linux "
                                          f"{real['kernel']}; THP mode here: [{real['mode']}]",
                                          f"model, the parent's last write: {m['kinds']}"])


# ---------------------------------------------------------------------------- overcommit
def _compare_overcommit():
    real = overcommit()
    mi, mode = real["meminfo"], real["overcommit_memory"]
    rows = [exact("CommitLimit (kB): mm/util.c formula vs /proc/meminfo",
                  real["commit_limit_computed"], mi["CommitLimit"],
                  note="cowlab.real.commit_limit(): (RAM - hugetlb) * ratio/100 + swap, "
                       "or overcommit_kbytes + swap")]
    # The model counts RAM in frames; a 2 MiB frame keeps the tables small on any host.
    big = 1 << 21
    k = _kernel_scaled(mi["MemTotal"] * 1024 // big, mi["SwapTotal"] * 1024 // big, big,
                       overcommit_memory=mode, overcommit_ratio=real["overcommit_ratio"],
                       overcommit_kbytes=real["overcommit_kbytes"])
    model_limit = k.meminfo()["commit_limit"]
    slack = 2 * big // 1024 + mi["Hugetlb"]
    rows.append(Row("CommitLimit (kB): model vs /proc/meminfo", model_limit, mi["CommitLimit"],
                    "within documented noise" if abs(model_limit - mi["CommitLimit"]) <= slack
                    else "DIFFERS",
                    f"the model counts RAM in 2 MiB frames here (rounding up to 4 MiB) and "
                    f"has no hugetlb pool ({mi['Hugetlb']} kB here)", False))
    p = k.spawn("probe", pages=0)
    try:
        k.mmap(p, -(-real["probe"]["request_kb"] * 1024 // big))
        refused = False
    except OSError:
        refused = True
    label = "one private mmap of RAM + swap + 1 GiB refused"
    if real["probe"]["refused"] is None:
        rows.append(Row(label, refused, "not tried", "not measured", real["probe"]["errno"],
                        False))
    else:
        rows.append(exact(label, refused, real["probe"]["refused"],
                          note=f"overcommit_memory = {mode} here; never touched, so nothing "
                               f"was used"))
    return Comparison("overcommit", rows, real,
                      ["read-only: no sysctl was changed; the kernel's small admin/user "
                       "reserves in mode 2 are left out of the model"])


# ---------------------------------------------------------------------------- fork_cost
def _compare_fork_cost(sizes_mib=(16, 64, 256), repeats=7):
    real = fork_cost(sizes_mib, repeats)
    seen = real["child_after_fork"]
    pages = seen["pages"]
    k = _kernel(pages + 8)
    p = k.spawn("parent", pages=pages)
    free = k.free_frames()
    c = k.fork(p)
    copied = free - k.free_frames()
    rows = [exact(f"fork of {pages} touched pages: frames copied", copied,
                  seen["child"]["private_dirty"] // KB,
                  note="kernel: the child's Private_Dirty right after fork, in pages")]
    rows += stat_rows("child right after fork", k.stats(c), seen["child"],
                      ("rss", "shared_dirty", "private_dirty"))
    rows += [measured("fork: ns per 4 KiB page", real["fork_ns_per_page"], "a PTE copy"),
             measured("eager copy: ns per page", real["copy_ns_per_page"], "a page copy"),
             measured("fork: ms per GiB", real["fork_ms_per_gib"]),
             measured("eager copy: ms per GiB", real["copy_ms_per_gib"]),
             measured("fork of this process alone (ms)", real["base_fork_ms"],
                      note="this Python process's own memory: subtracted from the slope")]
    for r in real["sizes"]:
        rows.append(measured(f"{r['mib']} MiB: fork CPU / fork wall / copy (ms)",
                             [round(r["fork_ms"], 2), round(r["fork_wall_ms"], 2),
                              round(r["copy_ms"], 2)],
                             note="CPU: the forking thread's own time in fork(2); wall "
                                  "also counts waiting for a CPU" if r is real["sizes"][0]
                             else ""))
    return Comparison("fork_cost", rows, real,
                      ["fork copies page-table entries, not pages: its cost grows with "
                       "size, far below copying the memory"])
