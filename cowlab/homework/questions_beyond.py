"""Homework 07-beyond-fork and 08-real-kernel.

07: MAP_SHARED against MAP_PRIVATE, MADV_DONTFORK and MADV_WIPEONFORK (Linux >= 4.14
for WIPEONFORK, private anonymous memory only). 08: the smaps and fault figures the
live kernel reports (/proc/PID/smaps_rollup, ru_minflt), computed with the model;
chapter 08 shows the same figures measured. Every answer is a Linux fact: nothing
depends on which frame the model's allocator picks.
"""
import cowlab

from .construct import Invalid, as_int, as_list, parse_steps, play
from .question import declare


def _pl(n, word):
    return f"{n} {word}{'' if n == 1 else 's'}"


# == 07-beyond-fork =======================================================================

def _make_07_q1(rng):
    return {"private": rng.randint(2, 6), "shared": rng.randint(2, 6),
            "wp": rng.randint(1, 3), "ws": rng.randint(1, 3)}


@declare("07-beyond-fork", "q1", points=1, kind="number", title="Copies in shared and private memory",
          prose="**Copies in shared and private memory.** A MAP_SHARED region is one object "
                "for every process that maps it: a write goes to that object, nobody copies.",
          prompt="A parent spawns with {private_pages} (private) and mmaps a MAP_SHARED region "
                 "of {shared_pages}; it writes every page of both, then forks. The child "
                 "writes the first {wp_pages} of its private memory and the first "
                 "{ws_pages} of the shared region. How many frames are copied?",
          words=lambda p: {"private_pages": _pl(p["private"], "page"),
                           "shared_pages": _pl(p["shared"], "page"),
                           "wp_pages": _pl(min(p["wp"], p["private"]), "page"),
                           "ws_pages": _pl(min(p["ws"], p["shared"]), "page")},
          make=_make_07_q1, unit="copies",
          hint="which of the child's writes go to a frame only the child may change?",
          traps=lambda p: [(min(p["wp"], p["private"]) + min(p["ws"], p["shared"]),
                            "a MAP_SHARED page is never copied: both see the same frame")])
def q1_shared_vs_private_copies(p):
    k = cowlab.Kernel(ram_pages=64)
    parent = k.spawn("parent", pages=p["private"])
    start = k.mmap(parent, p["shared"], shared=True)
    for vpn in range(start + p["shared"]):
        k.write(parent, vpn, "parent")
    child = k.fork(parent)
    copies = 0
    for vpn in list(range(min(p["wp"], p["private"]))) + \
            list(range(start, start + min(p["ws"], p["shared"]))):
        copies += sum(e.kind == "cow_copy" for e in k.write(child, vpn, "child"))
    return copies


def _make_07_q2(rng):
    return {"kind": rng.choice(["shared", "private"]), "before": rng.randint(1, 9),
            "after": rng.randint(10, 99)}


@declare("07-beyond-fork", "q2", points=1, kind="number", title="What does the child read?",
          prose="**What does the child read?** After fork, a MAP_PRIVATE page is the child's "
                "snapshot; a MAP_SHARED page is the same memory in both processes.",
          prompt="A parent mmaps a 1-page MAP_{KIND} region and writes {before} into it, "
                 "then forks. The parent then writes {after} into that page. What number does "
                 "the child read there?",
          words=lambda p: {"KIND": p["kind"].upper()},
          make=_make_07_q2, unit="",
          hint="is the page one object for both processes, or a copy-on-write snapshot?")
def q2_what_the_child_reads(p):
    k = cowlab.Kernel(ram_pages=16)
    parent = k.spawn("parent", pages=1)
    vpn = k.mmap(parent, 1, shared=(p["kind"] == "shared"))
    k.write(parent, vpn, p["before"])
    child = k.fork(parent)
    k.write(parent, vpn, p["after"])
    return k.read(child, vpn)


def _make_07_q3(rng):
    return {"plain": rng.randint(2, 6), "dontfork": rng.randint(1, 4),
            "wipe": rng.randint(1, 4)}


@declare("07-beyond-fork", "q3", points=2, kind="number", title="The child's Rss after fork",
          prose="**The child's Rss after fork.** MADV_DONTFORK leaves a range out of the "
                "child; MADV_WIPEONFORK (Linux >= 4.14) gives the child that range empty, to "
                "read as zeros.",
          prompt="A parent spawns with {plain_pages} and mmaps two private regions, of "
                 "{dontfork_pages} (then madvised MADV_DONTFORK) and of {wipe_pages} (then "
                 "MADV_WIPEONFORK). It has written every page of all three, then forks. What "
                 "is the child's Rss in kB right after the fork (pages are 4 KiB)?",
          words=lambda p: {k + "_pages": _pl(p[k], "page") for k in ("plain", "dontfork", "wipe")},
          make=_make_07_q3, unit="kB",
          hint="which of the parent's PTEs does fork copy into the child?",
          traps=lambda p: [(4 * (p["plain"] + p["dontfork"] + p["wipe"]),
                            "the madvised ranges are not copied into the child as they are")])
def q3_child_rss_after_fork(p):
    k = cowlab.Kernel(ram_pages=64)
    parent = k.spawn("parent", pages=p["plain"])
    a = k.mmap(parent, p["dontfork"])
    b = k.mmap(parent, p["wipe"])
    for vpn in range(b + p["wipe"]):
        k.write(parent, vpn, "parent")
    k.madvise(parent, a, p["dontfork"], "dontfork")
    k.madvise(parent, b, p["wipe"], "wipeonfork")
    child = k.fork(parent)
    return k.stats(child)["rss"]


def _make_07_q4(rng):
    pages = rng.randint(3, 6)
    return {"pages": pages, "gap": rng.randint(1, pages - 1), "most": 10}


def _check_07_q4(p, given):
    steps = parse_steps(given, ops=("mmap", "madvise", "write"), most=p["most"],
                        procs=("parent",), max_pages=16)
    start = parse_steps([f"spawn parent {p['pages']}"], most=1)
    run = play(steps, ram=64, start=start)
    k, parent = run.kernel, run.procs["parent"]
    kb = k.page_size // 1024
    before = k.stats(parent)["rss"] // kb
    child = k.fork(parent)
    after = k.stats(child)["rss"] // kb
    failed = []
    if before - after != p["gap"]:
        failed.append(f"right after the fork the child has {after} of the parent's {before} "
                      f"resident pages, {before - after} fewer; the condition is exactly "
                      f"{p['gap']} fewer")
    if k.stats(parent)["rss"] // kb < p["pages"] + p["gap"]:
        failed.append(f"the parent has {before} resident pages; the condition is at least "
                      f"{p['pages'] + p['gap']}")
    return failed


@declare("07-beyond-fork", "q4", points=2, kind="construct",
          title="Build: memory the child does not get",
          prose="**Build: memory the child does not get.** Three ways keep a resident page "
                "out of the child's Rss at fork: MADV_DONTFORK, MADV_WIPEONFORK, and a "
                "MAP_SHARED region, whose PTEs Linux does not copy (the child faults them in: "
                "`vma_needs_copy` in mm/memory.c). Use any of them.",
          prompt="A parent spawns with {pages} pages (they are written). With at most {most} "
                 "steps (mmap, madvise, write; the fork comes after your steps), make the "
                 "parent's Rss at least {need} pages and the child's Rss right after the fork "
                 "exactly {gap} fewer than the parent's.",
          shape='a list of steps like "mmap parent 2 private", "write parent 3", '
                '"madvise parent 3 1 dontfork"',
          words=lambda p: {"need": p["pages"] + p["gap"]},
          make=_make_07_q4, check=_check_07_q4)
def q4_memory_the_child_lacks(p):
    # one private region of `gap` pages, written, then kept from the child by DONTFORK
    start = p["pages"]
    steps = [f"mmap parent {p['gap']} private"]
    steps += [f"write parent {start + i}" for i in range(p["gap"])]
    return steps + [f"madvise parent {start} {p['gap']} dontfork"]


# == 08-real-kernel ======================================================================

def _make_08_q1(rng):
    pages = rng.randint(4, 12)
    return {"pages": pages, "writes": rng.randint(1, pages - 1)}


@declare("08-real-kernel", "q1", points=2, kind="state", partial=True,
          title="smaps after the child writes",
          prose="**smaps after the child writes.** `/proc/PID/smaps_rollup` counts a page as "
                "Shared when more than one PTE maps it, else Private; a written anonymous "
                "page is Dirty. Chapter 08 measures these on the live kernel.",
          prompt="A parent writes all {pages} pages of its heap and forks. The child writes "
                 "{writes_pages} of that heap (each once). Give the child's figures in kB as "
                 'a dict {{"private_dirty": ..., "shared_dirty": ...}} (pages are 4 KiB).',
          words=lambda p: {"writes_pages": _pl(p["writes"], "page")},
          make=_make_08_q1, unit="kB",
          hint="a page the child copied is mapped only by the child; the others by both")
def q1_child_smaps(p):
    k = cowlab.Kernel(ram_pages=64)
    parent = k.spawn("parent", pages=p["pages"])
    child = k.fork(parent)
    for vpn in range(p["writes"]):
        k.write(child, vpn, "child")
    s = k.stats(child)
    return {"private_dirty": s["private_dirty"], "shared_dirty": s["shared_dirty"]}


def _make_08_q2(rng):
    pages = rng.randint(3, 8)
    vpns = [rng.randrange(pages) for _ in range(rng.randint(3, 8))]
    return {"pages": pages, "vpns": vpns}


def _distinct_08_q2(p):
    return len(set(p["vpns"])) == len(p["vpns"]) or len(set(p["vpns"])) < 2


@declare("08-real-kernel", "q2", points=1, kind="number", title="Minor faults of the child",
          prose="**Minor faults of the child.** Each write to a page the child still shares "
                "is one COW fault (a minor fault: `ru_minflt`, field 10 of /proc/PID/stat); "
                "a later write to the same page finds it writable.",
          prompt="A parent writes all {pages} pages of its heap and forks. The child then "
                 "writes, in order, VP {order}. How many minor faults do these writes cost "
                 "the child?",
          words=lambda p: {"order": ", ".join(map(str, p["vpns"]))},
          degenerate=_distinct_08_q2,
          make=_make_08_q2, unit="faults",
          hint="does a second write to a page the child has already copied fault?",
          traps=lambda p: [(len(p["vpns"]), "the second write to a copied page does not fault")])
def q2_child_minor_faults(p):
    k = cowlab.Kernel(ram_pages=32)
    parent = k.spawn("parent", pages=p["pages"])
    child = k.fork(parent)
    before = k.stats(child)["minor_faults"]
    for vpn in p["vpns"]:
        k.write(child, vpn, "child")
    return k.stats(child)["minor_faults"] - before


def _make_08_q3(rng):
    pages = rng.randint(4, 8)
    mine = rng.randint(1, pages)
    return {"pages": pages, "private_kb": 4 * mine,
            "shared_kb": 4 * (pages - rng.randint(0, mine - 1))}


def _check_08_q3(p, given):
    if not isinstance(given, dict) or set(given) != {"child1", "child2"}:
        raise Invalid('give a dict {"child1": [...], "child2": [...]}: the pages each '
                      "child writes")
    sets = {}
    for who in ("child1", "child2"):
        as_list(given[who], f"{who}'s pages", p["pages"])
        vpns = [as_int(v, f"each page of {who}", 0, p["pages"] - 1) for v in given[who]]
        if len(set(vpns)) != len(vpns):
            raise Invalid(f"{who} lists a page twice; each page at most once")
        sets[who] = vpns
    k = cowlab.Kernel(ram_pages=64)
    parent = k.spawn("parent", pages=p["pages"])
    procs = {"child1": k.fork(parent), "child2": k.fork(parent)}
    for who, vpns in sets.items():
        for vpn in vpns:
            k.write(procs[who], vpn, who)
    failed = []
    got = k.stats(procs["child1"])["private_dirty"]
    if got != p["private_kb"]:
        failed.append(f"child1's Private_Dirty is {got} kB; the condition is "
                      f"{p['private_kb']} kB")
    got = k.stats(parent)["shared_dirty"]
    if got != p["shared_kb"]:
        failed.append(f"the parent's Shared_Dirty is {got} kB; the condition is "
                      f"{p['shared_kb']} kB")
    return failed


@declare("08-real-kernel", "q3", points=2, kind="construct",
          title="Build: smaps figures to order",
          prose="**Build: smaps figures to order.** Choose the writes so that smaps_rollup "
                "would show the given figures (you can check your scenario on the live "
                "kernel with chapter 08's helpers).",
          prompt="A parent writes all {pages} pages of its heap, then forks child1 and "
                 "child2. Which pages should each child write (each page at most once) so "
                 "that child1's Private_Dirty is {private_kb} kB and the parent's "
                 "Shared_Dirty is {shared_kb} kB?",
          shape='a dict {"child1": [pages], "child2": [pages]}',
          make=_make_08_q3, check=_check_08_q3)
def q3_smaps_to_order(p):
    # child1's copies are its Private_Dirty; the parent's page is private again only
    # when both children have copied it
    mine = p["private_kb"] // 4
    both = p["pages"] - p["shared_kb"] // 4
    return {"child1": list(range(mine)), "child2": list(range(both))}
