"""Construction questions for 01-06: the student builds the input, the model checks it.

Each question has a `check` (params, answer) -> [the conditions the answer breaks],
run by construct.judge_construct on a fresh model; its solver builds one right
answer (the solutions notebook shows it), but any answer that meets the conditions
scores. Every condition is a fact of Linux, not of the model (no PFN numbers, no
tie rules): PTE counts, copies, reuses, commit refusals, smaps figures.
"""
import cowlab

from .construct import Invalid, as_int, as_list, parse_steps, play
from .question import declare


# == 01-fork: PTEs, not pages ==========================================================

def _make_01_q6(rng):
    frames = rng.randint(3, 7)
    first = rng.randint(1, frames - 1)
    a, b = rng.sample(range(1, 4), 2)               # forks of each of two processes
    return {"ram": 32, "frames": frames, "ptes": first * (a + 1) + (frames - first) * (b + 1),
            "most": 8}


def _ptes(k):
    kb = k.page_size // 1024
    return sum(k.stats(p)["rss"] // kb for p in k.live())


def _check_01_q6(p, given):
    steps = parse_steps(given, ops=("spawn", "fork"), most=p["most"])
    run = play(steps, ram=p["ram"])
    k = run.kernel
    failed = []
    used = k.ram_pages - k.free_frames()
    if used != p["frames"]:
        failed.append(f"{used} frames are in use; the condition is exactly {p['frames']}")
    if _ptes(k) != p["ptes"]:
        failed.append(f"the page tables hold {_ptes(k)} PTEs in all; the condition is "
                      f"exactly {p['ptes']}")
    return failed


@declare("01-fork", "q6", points=2, kind="construct", title="Build: many PTEs, few frames",
          prose="**Build: many PTEs, few frames.** fork copies page-table entries, not pages. "
                "Build a scenario from `spawn NAME PAGES` and `fork PARENT CHILD` steps that "
                "meets the conditions; the model checks it.",
          prompt="RAM has {ram} frames. With at most {most} steps (only spawn and fork), end "
                 "with exactly {frames} frames in use while the page tables of all processes "
                 "hold exactly {ptes} PTEs in all.",
          shape='a list of step strings, e.g. ["spawn a 2", "fork a b"]',
          make=_make_01_q6, check=_check_01_q6)
def q6_build_ptes(p):
    # two processes: `first` pages forked x times, the rest forked y times; search the splits
    def scenario(first, x, y):
        rest = p["frames"] - first
        steps = [f"spawn a {first}"] + [f"fork a a{i}" for i in range(x)]
        if rest:
            steps += [f"spawn b {rest}"] + [f"fork b b{i}" for i in range(y)]
        return steps, first * (x + 1) + rest * (y + 1)
    found = [steps for first in range(1, p["frames"] + 1)
             for x in range(p["most"]) for y in range(p["most"])
             for steps, ptes in [scenario(first, x, y)]
             if ptes == p["ptes"] and len(steps) <= p["most"]]
    return found[0]


# == 02-write-faults: who copies ========================================================

def _make_02_q7(rng):
    pages = rng.randint(2, 4)
    return {"pages": pages, "most": 2 * pages + rng.randint(0, 2)}


def _check_02_q7(p, given):
    steps = parse_steps(given, ops=("write",), most=p["most"], procs=("parent", "child"))
    start = parse_steps([f"spawn parent {p['pages']}", "fork parent child"], most=2)
    run = play(steps, ram=32, start=start)
    failed = []
    for who in ("parent", "child"):
        missing = [v for v in range(p["pages"])
                   if not any(s.args == (who, v) for s in steps)]
        if missing:
            failed.append(f"the {who} never writes VP{missing[0]}; each process must write "
                          f"every page VP0..VP{p['pages'] - 1}")
    copies = run.count("cow_copy", "parent")
    if copies:
        failed.append(f"the parent copies {copies} time{'s' if copies > 1 else ''}; it must "
                      "never copy")
    return failed


@declare("02-write-faults", "q7", points=2, kind="construct",
          title="Build: a write order in which the parent never copies",
          prose="**Build: a write order in which the parent never copies.** After fork "
                "both processes share every frame read-only. Order the writes so that the "
                "parent never has to copy.",
          prompt="A parent spawns with {pages} pages and forks `child`. Give the writes, in "
                 "order (at most {most}), in which both `parent` and `child` write every "
                 "page VP0..VP{last} and the parent never copies a frame.",
          shape='a list of steps like "write child 0" or "write parent 1"',
          words=lambda p: {"last": p["pages"] - 1},
          make=_make_02_q7, check=_check_02_q7)
def q7_parent_never_copies(p):
    # the child writes (and copies) each page first; the parent is then its last sharer
    order = []
    for vpn in range(p["pages"]):
        order += [f"write child {vpn}", f"write parent {vpn}"]
    return order


# == 03-refcounting: n sharers, n-1 copies ==============================================

def _make_03_q6(rng):
    kids, pages = rng.randint(2, 3), rng.randint(2, 4)
    copies = rng.randint(kids + 1, kids * pages)
    return {"kids": kids, "pages": pages, "copies": copies, "most": copies + rng.randint(1, 2)}


def _names_03(p):
    return ["parent"] + [f"child{i}" for i in range(1, p["kids"] + 1)]


def _check_03_q6(p, given):
    names = _names_03(p)
    steps = parse_steps(given, ops=("write",), most=p["most"], procs=names)
    start = parse_steps([f"spawn parent {p['pages']}"]
                        + [f"fork parent {n}" for n in names[1:]], most=8)
    run = play(steps, ram=32, start=start)
    failed = []
    if run.count("cow_copy") != p["copies"]:
        failed.append(f"the writes make {run.count('cow_copy')} copies; the condition is "
                      f"exactly {p['copies']}")
    if not run.count("cow_reuse"):
        failed.append("no write reuses its frame; at least one write must find itself the "
                      "last sharer")
    return failed


@declare("03-refcounting", "q6", points=2, kind="construct",
          title="Build: exactly so many copies, and a reuse",
          prose="**Build: exactly so many copies, and a reuse.** A frame shared by n "
                "processes is copied at most n-1 times; the last sharer reuses it.",
          prompt="A parent spawns with {pages} pages and forks {kids} children, child1.."
                 "child{kids}. With at most {most} writes, make exactly {copies} copies, and "
                 "let at least one write reuse its frame.",
          shape='a list of steps like "write child1 0"',
          make=_make_03_q6, check=_check_03_q6)
def q6_copies_and_a_reuse(p):
    names = ["parent"] + [f"child{i}" for i in range(1, p["kids"] + 1)]
    writes = [f"write {n} 0" for n in names]          # VP0: kids copies, then a reuse
    left = p["copies"] - p["kids"]
    for vpn in range(1, p["pages"]):                  # then copies that stop short
        for n in names[1:1 + min(left, p["kids"])]:
            writes.append(f"write {n} {vpn}")
        left -= min(left, p["kids"])
    return writes


# == 04-exec: who still shares ===========================================================

def _make_04_q6(rng):
    pages = rng.randint(3, 7)
    return {"pages": pages, "copies": rng.randint(1, pages - 1)}


def _check_04_q6(p, given):
    as_list(given, "the pages child2 writes", p["pages"])
    vpns = [as_int(v, "each page", 0, p["pages"] - 1) for v in given]
    if len(set(vpns)) != len(vpns):
        raise Invalid("each page at most once: a page appears twice in your list")
    k = cowlab.Kernel(ram_pages=32)
    parent = k.spawn("parent", pages=p["pages"])
    child1, child2 = k.fork(parent), k.fork(parent)
    for v in vpns:
        k.write(child2, v, "child2")
    k.exec(child1, pages=1)
    copies = sum(e.kind == "cow_copy" for v in range(p["pages"]) for e in k.write(parent, v, 0))
    if copies != p["copies"]:
        return [f"the parent then copies {copies} frame{'s' if copies != 1 else ''}; "
                f"the condition is exactly {p['copies']}"]
    return []


@declare("04-exec", "q6", points=2, kind="construct", title="Build: how many copies are left",
          prose="**Build: how many copies are left.** exec drops the child's references; "
                "whoever still shares a frame decides whether the parent copies it.",
          prompt="A parent spawns with {pages} pages and forks child1, then child2. child2 "
                 "writes some pages, child1 execs a 1-page program, then the parent writes "
                 "each of its {pages} pages once. Which pages should child2 write so that the "
                 "parent copies exactly {copies}?",
          shape="a list of distinct page numbers, e.g. [0, 2]",
          make=_make_04_q6, check=_check_04_q6)
def q6_pages_child2_writes(p):
    # the parent copies exactly the pages child2 still shares (child1 let go at exec)
    return list(range(p["pages"] - p["copies"]))


# == 05-overcommit: the smallest heap that cannot fork ====================================

def _make_05_q6(rng):
    ram = rng.choice([2048, 4096, 8192])
    return {"ram": ram, "swap": rng.choice([0, 256, 512]), "ratio": rng.choice([50, 80, 100]),
            "admin": rng.choice([0, 1024, 2048]), "user": rng.choice([0, 512, 4096]),
            "other": rng.randint(50, 300)}


def _forks(p, heap):
    """None if the heap cannot even be spawned, else whether its fork succeeds."""
    k = cowlab.Kernel(ram_pages=p["ram"], swap_pages=p["swap"], overcommit_memory=2,
                      overcommit_ratio=p["ratio"], admin_reserve_kbytes=p["admin"],
                      user_reserve_kbytes=p["user"])
    k.spawn("other", pages=p["other"])
    try:
        redis = k.spawn("redis", pages=heap)
    except OSError:
        return None
    try:
        k.fork(redis)
        return True
    except OSError:
        return False


def _check_05_q6(p, given):
    heap = as_int(given, "the heap size in pages", 1, 4 * (p["ram"] + p["swap"]))
    now = _forks(p, heap)
    if now is None:
        return [f"a heap of {heap} pages cannot even be spawned: look for a smaller one"]
    if now:
        return [f"with a heap of {heap} pages the fork succeeds; the condition is a fork "
                "that fails"]
    if heap > 1 and _forks(p, heap - 1) is False:
        return [f"the fork fails with {heap} pages, but also with {heap - 1}: the condition "
                "is the smallest such heap"]
    return []


@declare("05-overcommit", "q6", points=2, kind="construct",
          title="Find: the smallest heap whose fork fails",
          prose="**Find: the smallest heap whose fork fails.** In mode 2 a fork charges the "
                "child's private writable pages; it is refused when Committed_AS would reach "
                "CommitLimit less the reserves (mm/util.c `__vm_enough_memory`, Linux >= "
                "3.10 for the reserves). Find the size with the model.",
          prompt="vm.overcommit_memory=2, RAM {ram} pages, {swap_text}, "
                 "vm.overcommit_ratio={ratio}, vm.admin_reserve_kbytes={admin}, "
                 "vm.user_reserve_kbytes={user} (not root). Another process of {other} pages "
                 "runs. Redis spawns with a heap of H pages and forks for BGSAVE. What is the "
                 "smallest H whose fork fails (while the spawn itself succeeds)?",
          shape="a number of pages (an int)",
          words=lambda p: {"swap_text": f"swap {p['swap']} pages" if p["swap"] else "no swap"},
          make=_make_05_q6, check=_check_05_q6)
def q6_smallest_failing_heap(p):
    def forks(heap):
        k = cowlab.Kernel(ram_pages=p["ram"], swap_pages=p["swap"], overcommit_memory=2,
                          overcommit_ratio=p["ratio"], admin_reserve_kbytes=p["admin"],
                          user_reserve_kbytes=p["user"])
        k.spawn("other", pages=p["other"])
        try:
            k.fork(k.spawn("redis", pages=heap))
            return True
        except OSError:               # the fork (or, far too big, the spawn) is refused
            return False
    low, high = 1, p["ram"] + p["swap"]          # forks(low) holds, forks(high) fails
    while high - low > 1:
        mid = (low + high) // 2
        low, high = (mid, high) if forks(mid) else (low, mid)
    return high


# == 06-redis: rewrites are free ==========================================================

def _make_06_q7(rng):
    pages = rng.randint(4, 9)
    copies = rng.randint(2, pages - 1)
    return {"pages": pages, "copies": copies, "writes": copies + rng.randint(2, 5)}


def _check_06_q7(p, given):
    as_list(given, "the writes", p["writes"], p["writes"])
    vpns = [as_int(v, "each written page", 0, p["pages"] - 1) for v in given]
    k = cowlab.Kernel(ram_pages=64)
    redis = k.spawn("redis", pages=p["pages"])
    k.fork(redis)                                      # the BGSAVE child, which only reads
    copies = sum(e.kind == "cow_copy" for v in vpns for e in k.write(redis, v, "set"))
    if copies != p["copies"]:
        return [f"these writes copy {copies} page{'s' if copies != 1 else ''}; the condition "
                f"is exactly {p['copies']}"]
    return []


@declare("06-redis", "q7", points=2, kind="construct",
          title="Build: many writes, few copies",
          prose="**Build: many writes, few copies.** During BGSAVE Redis keeps serving "
                "writes; only the first write to a page copies it.",
          prompt="Redis has a heap of {pages} pages and forks its BGSAVE child. Give exactly "
                 "{writes} writes by Redis (the pages written, in order) that copy exactly "
                 "{copies} pages.",
          shape="a list of page numbers, e.g. [0, 0, 3]",
          make=_make_06_q7, check=_check_06_q7)
def q7_writes_and_copies(p):
    # cycle over `copies` pages: the first write to each copies, the rest reuse the copy
    return [i % p["copies"] for i in range(p["writes"])]
