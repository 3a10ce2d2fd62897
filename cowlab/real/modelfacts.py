"""Issue 13's live facts replayed on the model, and both side by side.

Each `model_*` function runs on `cowlab.Kernel(rules="linux")` (or older rules) the same steps as the
live experiment of the same number in `cowlab.real.modern`, and returns a dict with
the same keys, so that `vs_model()` can put live and model in one table, fact by
fact, with "agree" or "DISAGREE" on every line:

    >>> print(real.vs_model())          # doctest: +SKIP
    1 fork, child exits    mapcount_after_fork    live 2    model 2    agree
    ...

A fact this machine cannot run (not root, io_uring disabled, no KSM) is a line that
says why, from the Unavailable reason, never a traceback. Fault counts on the model
are the events of the call (`FAULT_KINDS`); live they are minor faults from getrusage.
"""
from ..mm import FAULT_KINDS, Kernel
from .machine import PAGE_SIZE, Unavailable
from .modern import LIVE_FACTS

TITLES = {1: "fork, child exits", 2: "vmsplice leak", 3: "mprotect reuse",
          4: "pin, then fork", 5: "private file page", 6: "KSM merge"}


def _faults(events):
    return sum(e.kind in FAULT_KINDS for e in events)


def _kernel(rules):
    return Kernel(ram_pages=64, page_size=PAGE_SIZE, rules=rules)


def _reprotect_then_write(k, p, value, vpn=0):
    k.mprotect(p, vpn, 1, "r")
    k.mprotect(p, vpn, 1, "rw")
    return _faults(k.write(p, vpn, value))


def model_fork_child_exits(rules="linux"):
    k = _kernel(rules)
    p = k.spawn("parent", 1)
    before = k.pte(p, 0).pfn
    c = k.fork(p)
    child_pfn, after_fork = k.pte(c, 0).pfn, k.mapcount(before)
    k.exit(c)
    after_exit = k.mapcount(before)
    faults = _faults(k.write(p, 0, 2))
    kept = k.pte(p, 0).pfn == before
    return {"child_shares_frame": child_pfn == before, "mapcount_after_fork": after_fork,
            "mapcount_after_child_exit": after_exit, "write_faults": faults,
            "write_keeps_frame": kept,
            "exclusive_after_write_faults": _reprotect_then_write(k, p, 3)}


def model_vmsplice_leak(rules="linux"):
    k = _kernel(rules)
    p = k.spawn("parent", 1)
    k.write(p, 0, "A")
    pfn = k.pte(p, 0).pfn
    c = k.fork(p)
    pipe = k.vmsplice(c, 0)
    k.munmap(c, 0, 1)
    k.exit(c)
    count = k.mapcount(pfn)
    faults = _faults(k.write(p, 0, "B"))
    return {"mapcount_before_write": count, "write_faults": faults,
            "write_copies": k.pte(p, 0).pfn != pfn, "pipe_byte": pipe.read()[0],
            "parent_byte": k.read(p, 0)}


def model_mprotect_reuse(rules="linux"):
    k = _kernel(rules)
    p = k.spawn("never", 1)
    never = _reprotect_then_write(k, p, 2)
    q = k.spawn("once", 1)
    pfn = k.pte(q, 0).pfn
    k.exit(k.fork(q))
    count = k.mapcount(pfn)
    once = _reprotect_then_write(k, q, 2)
    kept = k.pte(q, 0).pfn == pfn
    return {"never_shared_faults": never, "once_shared_mapcount": count,
            "once_shared_faults": once, "once_shared_keeps_frame": kept,
            "after_reuse_faults": _reprotect_then_write(k, q, 3)}


def _model_fork_then_parent_writes(pin, rules):
    k = _kernel(rules)
    p = k.spawn("parent", 1)
    k.write(p, 0, 7)
    pfn = k.pte(p, 0).pfn
    if pin:
        k.pin(p, 0)
    c = k.fork(p)
    child = {"pfn": k.pte(c, 0).pfn, "byte": k.read(c, 0)}
    count = k.mapcount(pfn)
    faults = _faults(k.write(p, 0, 9))
    return {"child_same_frame": child["pfn"] == pfn, "child_byte": child["byte"],
            "mapcount_after_fork": count, "parent_write_faults": faults,
            "parent_keeps_frame": k.pte(p, 0).pfn == pfn}


def model_pinned_fork(rules="linux"):
    return {"pinned": _model_fork_then_parent_writes(True, rules),
            "unpinned": _model_fork_then_parent_writes(False, rules)}


def model_memfd_private(rules="linux"):
    k = _kernel(rules)
    p = k.spawn("p", 1)
    base = k.stats(p)["anonymous"]        # the spawned page; live reads one mapping's smaps
    sh = k.mmap(p, 1, shared=True, file="memfd")
    pr = k.mmap(p, 1, shared=False, file="memfd")
    k.write(p, sh, "A")
    first = k.read(p, pr)
    same = k.pte(p, pr).pfn == k.pte(p, sh).pfn
    k.write(p, sh, "B")
    sees = k.read(p, pr)
    anon0 = k.stats(p)["anonymous"] - base
    faults = _faults(k.write(p, pr, "C"))
    own = k.pte(p, pr).pfn != k.pte(p, sh).pfn
    anon1 = k.stats(p)["anonymous"] - base
    k.write(p, sh, "D")
    return {"first_read": first, "same_frame_before_write": same,
            "private_sees_shared_write": sees, "anonymous_kb_before": anon0,
            "private_write_faults": faults, "own_frame_after_write": own,
            "anonymous_kb_after": anon1, "private_after_shared_write": k.read(p, pr),
            "file_byte": k.read_file("memfd", 0)}


def model_ksm_merge(rules="linux"):
    k = _kernel(rules)
    p = k.spawn("p", 2)
    k.write(p, 0, "same")
    k.write(p, 1, "same")
    k.madvise(p, 0, 2, "mergeable")
    k.ksm_scan()
    ksm = k.pte(p, 0).pfn
    merged = {"mapcount": k.mapcount(ksm) if k.pte(p, 1).pfn == ksm else None,
              "ksm_flag": bool(k.holders()["ksm"][ksm])}
    f0 = _faults(k.write(p, 0, 1))
    p0 = k.pte(p, 0).pfn
    left = k.mapcount(ksm)
    f1 = _faults(k.write(p, 1, 2))
    p1 = k.pte(p, 1).pfn
    return {"merged_mapcount": merged["mapcount"], "ksm_flag": merged["ksm_flag"],
            "first_write_faults": f0, "first_write_copies": p0 != ksm,
            "mapcount_before_second_write": left, "second_write_faults": f1,
            "second_write_copies": p1 != ksm}


MODEL_FACTS = {1: model_fork_child_exits, 2: model_vmsplice_leak, 3: model_mprotect_reuse,
               4: model_pinned_fork, 5: model_memfd_private, 6: model_ksm_merge}


def _flat(facts, prefix=""):
    out = {}
    for key, value in facts.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = value
    return out


def _same(a, b):
    """Live bytes are characters or ints; the model's values are what was written."""
    if isinstance(a, str) and isinstance(b, int) and len(a) == 1:
        return ord(a) == b
    return isinstance(a, bool) is isinstance(b, bool) and a == b


class Agreement:
    """Live facts beside the model's: rows (number, fact, key, live, model, verdict), and
    the facts that could not run here with the reason (`unavailable`)."""

    def __init__(self, rows, unavailable):
        self.rows, self.unavailable = rows, unavailable

    @property
    def agree(self):
        """True if every fact that ran agrees (the ones that could not run are not counted)."""
        return all(r[5] == "agree" for r in self.rows)

    def disagreements(self):
        return [r for r in self.rows if r[5] != "agree"]

    def __str__(self):
        out = []
        for n in sorted({r[0] for r in self.rows} | set(self.unavailable)):
            if n in self.unavailable:
                out.append(f"{n} {TITLES[n]}: not run here: {self.unavailable[n]}")
                continue
            out.append(f"{n} {TITLES[n]}")
            for _, _, key, live, model, verdict in (r for r in self.rows if r[0] == n):
                out.append(f"    {key:<38} live {live!s:<6} model {model!s:<6} {verdict}")
        ran = len({r[0] for r in self.rows})
        bad = len(self.disagreements())
        out.append(f"{ran} facts run live, {len(self.unavailable)} not run here; "
                   + ("live and model agree on every line" if not bad else
                      f"{bad} lines DISAGREE"))
        return "\n".join(out)

    __repr__ = __str__


def vs_model(numbers=(1, 2, 3, 4, 5, 6), rules="linux"):
    """Run the live facts `numbers` on this kernel and on the model -> Agreement.

    rules: the model's rule set; "linux" is the kernel here (5.19 and later), an older
    one ("linux-5.7", "linux-4.8") shows where today's kernel no longer behaves so.
    A fact this machine cannot run is listed with its Unavailable reason."""
    rows, unavailable = [], {}
    for n in numbers:
        if n not in LIVE_FACTS:
            raise ValueError(f"no live fact {n!r}; the facts are numbered 1 to 6")
        try:
            live = _flat(LIVE_FACTS[n]().facts)
        except Unavailable as e:
            unavailable[n] = str(e)
            continue
        model = _flat(MODEL_FACTS[n](rules))
        for key, value in live.items():
            m = model.get(key)
            rows.append((n, TITLES[n], key, value, m,
                         "agree" if _same(value, m) else "DISAGREE"))
    return Agreement(rows, unavailable)
