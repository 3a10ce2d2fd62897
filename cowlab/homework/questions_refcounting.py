"""Homework 03: refcounts, who frees a frame and when.

Same shape as questions_course: each solver computes its answer with the model
from the variant's params, and its body is the solution cell.
"""
import cowlab

from . import questions_course as course
from .question import declare


# == 03-refcounting =====================================================================


def _make_03_q1(rng):
    n = rng.randint(3, 5)
    writers = rng.sample(["parent", "child", "grandchild"], rng.randint(0, 2))
    return {"pages": n, "vpn": rng.randrange(n), "writers": writers,
            "order": ", then ".join(writers) or "nobody"}


@declare("03-refcounting", "q1", points=1, kind="number", title="Three generations",
          prose="**Three generations.** A child forks a grandchild; some of them write the "
                "same page. What is the refcount of the frame the page started on?",
          prompt="In an empty machine a parent spawns with {pages} pages (VPn on PFn), forks "
                 "a child, and the child forks a grandchild. Then VP{vpn} is written by, in "
                 "order: {order}. What is rc(PF{vpn})?",
          make=_make_03_q1, degenerate=lambda p: not p["writers"],
          hint="each writer that copies drops one reference to the old frame; the last "
               "sharer does not copy")
def q1_three_generations(p):
    k = cowlab.Kernel(ram_pages=16)
    parent = k.spawn("parent", pages=p["pages"])
    child = k.fork(parent)
    grandchild = k.fork(child)
    who = {"parent": parent, "child": child, "grandchild": grandchild}
    for name in p["writers"]:
        k.write(who[name], p["vpn"], name)
    return k.refcount(p["vpn"])


def _make_03_q2(rng):
    n = rng.randint(3, 4)
    p = {"pages": n, "writes": course.writes_script(rng, n, who=("parent", "child1", "child2"),
                                                length=(3, 5)),
         "exits": rng.choice(["child1", "child2", "nobody"])}
    p["script"] = course.script_text(p)
    return p


@declare("03-refcounting", "q2", points=3, kind="state", title="The refcount table",
          prose="**The refcount table.** Give every frame in use and its refcount as a dict "
                "`{pfn: refcount}` (frames with refcount 0 left out). Keys may be ints. The "
                "spawn maps VPn on PFn; which free frame a copy gets is the allocator's "
                "choice, not Linux's promise, so number the new frames as you like (from the "
                "pages count up, one number per frame).",
          prompt="RAM has 16 frames. A parent spawns with {pages} pages (VPn on PFn) and "
                 "forks child1, "
                 "then child2. Then, in order: {script}.{then_exit} Give "
                 "{{pfn: refcount}} for every frame in use.",
          make=_make_03_q2, partial=True, named_frames=lambda p: p["pages"],
          words=lambda p: {"then_exit": "" if p["exits"] == "nobody"
                           else f" Then {p['exits']} exits."},
          hint="replay the script; a copy moves one reference from the old frame to a new one")
def q2_refcount_table(p):
    k = cowlab.Kernel(ram_pages=16)
    parent = k.spawn("parent", pages=p["pages"])
    who = {"parent": parent, "child1": k.fork(parent), "child2": k.fork(parent)}
    for name, vpn in p["writes"]:
        k.write(who[name], vpn, name)
    if p["exits"] != "nobody":
        k.exit(who[p["exits"]])
    return {pfn: int(rc) for pfn, rc in enumerate(k.refcounts()) if rc > 0}


def _make_03_q3(rng):
    n = rng.randint(3, 6)
    p = {"pages": n, "writes": course.writes_script(rng, n, length=(3, 6)),
         "exits": rng.choice(["parent", "child"])}
    p["script"] = course.script_text(p)
    return p


@declare("03-refcounting", "q3", points=1, kind="number", title="Frames freed at exit",
          prose="**Frames freed at exit.** An exit drops every mapping of the process; a "
                "frame goes back to the free list only when its refcount reaches 0.",
          prompt="A parent spawns with {pages} pages and forks. Then, in order: {script}. "
                 "Then the {exits} exits. How many frames does the exit free?",
          make=_make_03_q3, unit="frames",
          hint="only the frames that the exiting process alone maps are freed",
          traps=lambda p: [(p["pages"], "frames still mapped by the other process stay")])
def q3_frames_freed(p):
    k = cowlab.Kernel(ram_pages=32)
    parent = k.spawn("parent", pages=p["pages"])
    child = k.fork(parent)
    who = {"parent": parent, "child": child}
    for name, vpn in p["writes"]:
        k.write(who[name], vpn, name)
    before = k.free_frames()
    k.exit(who[p["exits"]])
    return k.free_frames() - before


def _make_03_q4(rng):
    n = rng.randint(3, 6)
    p = {"pages": n, "writes": course.writes_script(rng, n, length=(5, 9))}
    p["script"] = course.script_text(p)
    return p


@declare("03-refcounting", "q4", points=2, kind="number", title="xv6 against Linux",
          prose="**xv6 against Linux.** The xv6 COW lab copies on every write fault; Linux "
                "reuses a frame whose refcount is 1 (`Kernel(rules=\"xv6\")` vs "
                "`rules=\"linux\"`). Run the same script under both.",
          prompt="A parent spawns with {pages} pages and forks. Then, in order: {script}. How "
                 "many MORE frames does xv6 copy than Linux?",
          make=_make_03_q4, unit="copies",
          hint="the difference is the faults where the writer was the last sharer")
def q4_xv6_vs_linux(p):
    copies = {}
    for rules in ("xv6", "linux"):
        k = cowlab.Kernel(ram_pages=32, rules=rules)
        parent = k.spawn("parent", pages=p["pages"])
        who = {"parent": parent, "child": k.fork(parent)}
        copies[rules] = 0
        for name, vpn in p["writes"]:
            copies[rules] += sum(e.kind == "cow_copy" for e in k.write(who[name], vpn, name))
    return copies["xv6"] - copies["linux"]


def _make_03_q5(rng):
    n = rng.randint(3, 4)
    p = {"pages": n, "writes": course.writes_script(rng, n, who=("parent", "child1", "child2"),
                                                length=(2, 4))}
    p["script"] = course.script_text(p)
    k = cowlab.Kernel(ram_pages=16)
    parent = k.spawn("parent", pages=n)
    procs = {"parent": parent, "child1": k.fork(parent), "child2": k.fork(parent)}
    for name, vpn in p["writes"]:
        k.write(procs[name], vpn, name)
    return course.claims(rng, k, procs, ["refcount", "refcount", "pfn", "free", "writable"], p,
                        named=n)


@declare("03-refcounting", "q5", points=2, kind="choice", title="Which statement is true?",
          prose="**Which statement is true?** Exactly one statement printed below holds "
                "after the script. Check each one against the model.",
          prompt="RAM has 16 frames. A parent spawns with {pages} pages (VPn on PFn) and "
                 "forks child1, "
                 "then child2. Then, in order: {script}. Which statement is true?",
          make=_make_03_q5, named_frames=lambda p: p["pages"],
          hint="with three sharers, the first writer copies and the frame keeps two users")
def q5_refcount_true_statement(p):
    k = cowlab.Kernel(ram_pages=16)
    parent = k.spawn("parent", pages=p["pages"])
    procs = {"parent": parent, "child1": k.fork(parent), "child2": k.fork(parent)}
    for name, vpn in p["writes"]:
        k.write(procs[name], vpn, name)

    def actual(c):
        if c["what"] == "refcount":
            return k.refcount(c["pfn"])
        if c["what"] == "free":
            return k.free_frames()
        pte = k.pte(procs[c["who"]], c["vpn"])
        if c["what"] == "private":
            return k.mapcount(pte.pfn) == 1
        return getattr(pte, c["what"])
    return next(letter for letter, c in zip("abcde", p["claims"]) if actual(c) == c["value"])
