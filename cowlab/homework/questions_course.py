"""Homework 01-02: fork, write faults (and the helpers the other question modules share).

Each question is its solver: a function of the variant's params `p` that
computes the answer with the cowlab model.  Its body is the solution cell of the
solutions notebook, so it reads like what a student would write.  `make` draws
the params; `traps` name common wrong answers to give a specific hint.
"""
import cowlab

from .question import declare



# -- helpers for drawing params (not part of any solution) ------------------------------

def pages(n):
    """'1 page', '3 pages'."""
    return f"{n} page{'' if n == 1 else 's'}"


def _claim_text(c):
    who = f"the {c.get('who')}'s VP{c.get('vpn')}"
    if c["what"] == "refcount":
        return f"rc(PF{c['pfn']}) is {c['value']}"
    if c["what"] == "pfn":
        return f"{who} maps PF{c['value']}"
    if c["what"] == "private":
        return f"{who} is " + ("private (no other process maps its frame)" if c["value"]
                               else "shared with another process")
    if c["what"] == "writable":
        return f"{who} is {'writable' if c['value'] else 'read-only'}"
    if c["what"] == "cow":
        return f"{who} is {'marked' if c['value'] else 'not marked'} COW"
    if c["what"] == "free":
        return f"{c['value']} frames are free"
    label = {"private_dirty": "Private_Dirty", "shared_dirty": "Shared_Dirty",
             "rss": "Rss", "pss": "Pss"}[c["field"]]
    return f"the {c['who']}'s {label} is {c['value']} kB"


def _true_claim(rng, k, procs, what, named):
    """A true claim of a given kind about the model's state. A claim names only the frames
    the prompt names (PF0..PF(named-1)): which free frame a copy gets is the allocator's
    choice, not Linux's promise, so a page on any other frame is said private or shared."""
    if what == "refcount":
        used = [f for f in range(named) if k.refcount(f) > 0]
        if not used:
            what = "free"
        else:
            pfn = rng.choice(used)
            return {"what": "refcount", "pfn": pfn, "value": k.refcount(pfn)}
    if what == "free":
        return {"what": "free", "value": k.free_frames()}
    who = rng.choice([n for n, pr in procs.items() if pr.alive])
    if what == "stat":
        field = rng.choice(["private_dirty", "shared_dirty", "rss"])
        return {"what": "stat", "who": who, "field": field,
                "value": k.stats(procs[who])[field]}
    vpns = [r.start + i for r in k.regions(procs[who]) for i in range(r.pages)
            if k.pte(procs[who], r.start + i) is not None]
    vpn = rng.choice(vpns)
    value = getattr(k.pte(procs[who], vpn), what)
    if what == "pfn" and value >= named:
        return {"what": "private", "who": who, "vpn": vpn, "value": k.mapcount(value) == 1}
    return {"what": what, "who": who, "vpn": vpn, "value": value}


def _falsify(rng, k, c, named):
    c = dict(c)
    if isinstance(c["value"], bool):
        c["value"] = not c["value"]
    elif c["what"] == "pfn":
        c["value"] = rng.choice([f for f in range(named) if f != c["value"]])
    else:
        step = 4 if c["what"] == "stat" else 1
        c["value"] = max(0, c["value"] + rng.choice([-2, -1, 1, 2]) * step)
    return c


def claims(rng, k, procs, whats, p, named):
    """Fill p["options"] (statement texts) and p["claims"]: exactly one is true, whichever
    free frames the allocator picked; `named`: the prompt names PF0..PF(named-1)."""
    truth = rng.randrange(len(whats))
    out, seen = [], set()
    for i, what in enumerate(whats):
        for _ in range(50):
            c = _true_claim(rng, k, procs, what, named)
            key = (c["what"], c.get("who"), c.get("vpn"), c.get("pfn"), c.get("field"))
            if key not in seen:
                break
        seen.add(key)
        if i != truth:
            orig = c["value"]
            while c["value"] == orig:
                c = _falsify(rng, k, c, named)
        out.append(c)
    p["claims"] = out
    p["options"] = [_claim_text(c) for c in out]
    return p


def writes_script(rng, pages, who=("parent", "child"), length=(4, 7)):
    return [[rng.choice(who), rng.randrange(pages)] for _ in range(rng.randint(*length))]


def script_text(p):
    return ", ".join(f"{w} writes VP{v}" for w, v in p["writes"])


# == 01-fork ===========================================================================


def _make_01_q1(rng):
    return {"ram": rng.randint(16, 32), "other": rng.randint(1, 4), "pages": rng.randint(3, 8)}


@declare("01-fork", "q1", points=1, kind="number", title="Free frames after fork",
          prose="**Free frames after fork.** A second process is already running when a "
                "shell spawns and forks. How many frames are free right after the fork? "
                "Compute it with the model (`k.free_frames()`).",
          prompt="RAM has {ram} frames. `init` runs with {other_pages}. A shell spawns with "
                 "{pages} pages and forks once. How many frames are free after the fork?",
          make=_make_01_q1, unit="frames", words=lambda p: {"other_pages": pages(p["other"])},
          hint="count the frames that are actually allocated: what does fork allocate?",
          traps=lambda p: [(p["ram"] - p["other"] - 2 * p["pages"],
                            "that is what would be left if fork copied every page")])
def q1_fork_free(p):
    k = cowlab.Kernel(ram_pages=p["ram"])
    k.spawn("init", pages=p["other"])
    shell = k.spawn("shell", pages=p["pages"])
    k.fork(shell)
    return k.free_frames()


def _make_01_q2(rng):
    forks = rng.randint(2, 4)
    pages = rng.randint(2, 5)
    return {"pages": pages, "forks": forks, "exits": rng.randint(0, forks - 1),
            "vpn": rng.randrange(pages)}


@declare("01-fork", "q2", points=1, kind="number", title="Refcount after several forks",
          prose="**Refcount after several forks.** Each fork adds one reference to every "
                "frame the parent maps; what does an exit do?",
          prompt="A parent spawns with {pages} pages in an empty machine and forks {forks} "
                 "children one after another; then {exits} of the children exit. What is "
                 "the refcount of the frame behind the parent's VP{vpn}?",
          make=_make_01_q2,
          hint="count the page-table entries that still point at that frame",
          traps=lambda p: [(1, "the children still alive map the same frame"),
                           (p["forks"] + 1, "an exiting child drops its references")])
def q2_fork_refcount(p):
    k = cowlab.Kernel(ram_pages=16)
    parent = k.spawn("parent", pages=p["pages"])
    children = [k.fork(parent) for _ in range(p["forks"])]
    for child in children[:p["exits"]]:
        k.exit(child)
    return k.refcount(k.pte(parent, p["vpn"]).pfn)


def _make_01_q3(rng):
    n = rng.randint(3, 6)
    return {"ram": rng.randint(16, 24), "init": rng.randint(2, 4), "shell": rng.randint(2, 4),
            "pages": n, "last": n - 1}


@declare("01-fork", "q3", points=2, kind="state", partial=True,
          title="Frames and PTEs after fork",
          prose="**Frames and PTEs after fork.** fork copies page-table entries, not pages; "
                "an exited process gives its frames back. Answer with a dict "
                '`{"frames": <frames in use>, "ptes": <present PTEs in all page tables>}`.',
          prompt="RAM has {ram} frames. `init` spawns with {init} pages, then `shell` with "
                 "{shell} pages, then init exits. `app` spawns with {pages} pages and "
                 "forks. How many frames are in use, and how many PTEs do all the page "
                 'tables hold? Answer {{"frames": ..., "ptes": ...}}.',
          make=_make_01_q3,
          hint="the child's entries are copies of app's, pointing at app's frames; init is gone",
          traps=lambda p: [({"frames": p["shell"] + 2 * p["pages"],
                             "ptes": p["shell"] + 2 * p["pages"]},
                            "fork copies the entries, not the pages")])
def q3_frames_and_ptes(p):
    k = cowlab.Kernel(ram_pages=p["ram"])
    init = k.spawn("init", pages=p["init"])
    k.spawn("shell", pages=p["shell"])
    k.exit(init)
    app = k.spawn("app", pages=p["pages"])
    k.fork(app)
    ptes = sum(k.stats(q)["rss"] // 4 for q in k.live())
    return {"frames": k.ram_pages - k.free_frames(), "ptes": ptes}


def _make_01_q4(rng):
    p = {"ram": rng.randint(12, 20), "pages": rng.randint(3, 5)}
    p["vpn"] = rng.randrange(p["pages"])
    k = cowlab.Kernel(ram_pages=p["ram"])
    parent = k.spawn("parent", pages=p["pages"])
    child = k.fork(parent)
    k.write(child, p["vpn"], "x")
    return claims(rng, k, {"parent": parent, "child": child},
                  ["refcount", "writable", "pfn", "cow", "free"], p, named=p["pages"])


@declare("01-fork", "q4", points=2, kind="choice", title="Which statement is true?",
          prose="**Which statement is true?** Exactly one of the statements printed below "
                "holds after the steps. Check each one against the model.",
          prompt="RAM has {ram} frames. A parent spawns with {pages} pages (VPn on PFn), "
                 "forks, and the child writes VP{vpn}. Which statement is true?",
          make=_make_01_q4, named_frames=lambda p: p["pages"],
          hint="test every statement on the model: k.refcount, k.pte, k.free_frames")
def q4_fork_true_statement(p):
    k = cowlab.Kernel(ram_pages=p["ram"])
    parent = k.spawn("parent", pages=p["pages"])
    child = k.fork(parent)
    k.write(child, p["vpn"], "x")
    procs = {"parent": parent, "child": child}

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


def _make_01_q5(rng):
    return {"pages": rng.randint(3, 8), "children": rng.randint(1, 3), "writes": rng.randint(0, 2)}


@declare("01-fork", "q5", points=1, kind="number", title="Pss of a child",
          prose="**Pss of a child.** Rss counts every page a process maps; Pss divides each "
                "page by the number of processes mapping it (as `/proc/PID/smaps_rollup`). "
                "Pages are 4 KiB.",
          prompt="A parent spawns with {pages} pages and forks {children_text}. "
                 "{which} then writes {first_pages}. "
                 "What is {whose} Pss in kB?",
          make=_make_01_q5, unit="kB", tolerance=1, degenerate=lambda p: p["writes"] == 0,
          words=lambda p: {"children_text": "1 child" if p["children"] == 1
                           else f"{p['children']} children",
                           "which": "The child" if p["children"] == 1 else "The first child",
                           "whose": "the child's" if p["children"] == 1
                           else "the first child's",
                           "first_pages": "its first page (VP0)" if p["writes"] == 1
                           else f"its first {p['writes']} pages (VP0..VP{p['writes'] - 1})"},
          hint="a page mapped by n processes counts 4/n kB in each of them",
          traps=lambda p: [(p["pages"] * 4, "that is Rss; Pss splits shared pages")])
def q5_child_pss(p):
    k = cowlab.Kernel(ram_pages=32)
    parent = k.spawn("parent", pages=p["pages"])
    children = [k.fork(parent) for _ in range(p["children"])]
    for vpn in range(p["writes"]):
        k.write(children[0], vpn, "mine")
    return k.stats(children[0])["pss"]


# == 02-write-faults ====================================================================


def _make_02_q1(rng):
    exits = rng.random() < 0.5
    return {"init": rng.randint(1, 3), "pages": rng.randint(3, 6), "init_exits": exits,
            "then": "Then init exits, " if exits else "Init keeps running; ",
            "vpn": rng.randrange(3)}


def _kept(p):
    return 0 if p["init_exits"] else p["init"]


@declare("02-write-faults", "q1", points=1, kind="number", title="Frames in use after the copy",
          prose="**Frames in use after the copy.** After a fork the child writes one page. "
                "(Which free frame the copy gets is the allocator's choice, not something "
                "Linux promises; how many frames are in use is.)",
          prompt="RAM has 16 frames. `init` spawns with {init_pages}, then `parent` with "
                 "{pages} pages. {then}parent forks and the child writes VP{vpn}. "
                 "How many frames are in use after the write?",
          make=_make_02_q1, unit="frames", words=lambda p: {"init_pages": pages(p["init"])},
          hint="count the frames of each live process: which are shared, which one is new?",
          traps=lambda p: [(_kept(p) + p["pages"], "the child wrote a shared page: does it "
                            "keep the shared frame?"),
                           (p["init"] + p["pages"] + 1, "an exited process frees its frames")
                           if p["init_exits"] else
                           (2 * p["pages"] + p["init"], "fork copied no page")])
def q1_frames_after_copy(p):
    k = cowlab.Kernel(ram_pages=16)
    init = k.spawn("init", pages=p["init"])
    parent = k.spawn("parent", pages=p["pages"])
    if p["init_exits"]:
        k.exit(init)
    child = k.fork(parent)
    k.write(child, p["vpn"], "x")
    return k.ram_pages - k.free_frames()


def _make_02_q2(rng):
    n = rng.randint(3, 6)
    p = {"pages": n, "writes": writes_script(rng, n, length=(5, 8))}
    p["script"] = script_text(p)
    return p


def _distinct_writes(p):
    return len({tuple(w) for w in p["writes"]})


@declare("02-write-faults", "q2", points=2, kind="number", title="How many copies?",
          prose="**How many copies?** Parent and child write in the order given. Count the "
                "write faults that copy a frame (`cow_copy`).",
          prompt="A parent spawns with {pages} pages and forks. Then, in order: {script}. "
                 "How many frames are copied?",
          make=_make_02_q2, unit="copies",
          hint="follow each frame's refcount: who is its last sharer?",
          traps=lambda p: [(_distinct_writes(p), "the last process sharing a frame does not "
                            "need a copy"),
                           (len(p["writes"]), "a second write to a page that is already "
                            "private does not fault")])
def q2_count_copies(p):
    k = cowlab.Kernel(ram_pages=32)
    parent = k.spawn("parent", pages=p["pages"])
    child = k.fork(parent)
    who = {"parent": parent, "child": child}
    copies = 0
    for name, vpn in p["writes"]:
        copies += sum(e.kind == "cow_copy" for e in k.write(who[name], vpn, name))
    return copies


_EXPLAIN = {
    "cow_copy": "the frame is shared (refcount > 1), so the kernel copies it into a new "
                "frame and maps the copy writable",
    "cow_reuse": "the process holds the only reference left, so the kernel makes the page "
                 "writable in place, with no copy",
    "zero_fill": "the page was never touched, so the kernel maps a freshly zeroed frame; "
                 "nothing is copied",
    "segv": "the address lies in no region, so the process is killed with SIGSEGV",
    "none": "the entry is already writable, so no page fault happens at all",
}


def _make_02_q3(rng):
    n, m = rng.randint(3, 5), rng.randint(2, 3)
    outcome = rng.choice(sorted(_EXPLAIN))
    a, b = rng.sample(range(n), 2)
    prefix = [["child", a]]
    target = {"cow_copy": ["child", b], "cow_reuse": ["parent", a], "none": ["child", a],
              "zero_fill": [rng.choice(["parent", "child"]), n + rng.randrange(m)],
              "segv": [rng.choice(["parent", "child"]), n + m + rng.randint(0, 3)]}[outcome]
    options = sorted(_EXPLAIN)
    rng.shuffle(options)
    return {"pages": n, "extra": m, "writes": prefix, "script": script_text({"writes": prefix}),
            "who": target[0], "vpn": target[1], "options": options, "first": n,
            "spawned": n - 1, "last": n + m - 1}


@declare("02-write-faults", "q3", points=2, kind="choice",
          title="Explain the fault",
          prose="**Explain the fault.** Pick the explanation of what the kernel does on the "
                "last write. The region after the spawned pages comes from `mmap` without "
                "`populate`: nothing is mapped there until it is touched.",
          prompt="A parent spawns with {pages} pages (VP0..VP{spawned}), then mmaps "
                 "{extra} more pages (VP{first}..VP{last}, untouched), and forks. Then: "
                 "{script}. Finally the {who} writes VP{vpn}. What does the kernel do?",
          make=_make_02_q3, options=_EXPLAIN,
          hint="ask in order: is the vpn in a region? is there a page? is it writable? "
               "who else maps the frame?")
def q3_explain_fault(p):
    k = cowlab.Kernel(ram_pages=32)
    parent = k.spawn("parent", pages=p["pages"])
    k.mmap(parent, p["extra"])
    child = k.fork(parent)
    who = {"parent": parent, "child": child}
    for name, vpn in p["writes"]:
        k.write(who[name], vpn, name)
    events = k.write(who[p["who"]], p["vpn"], "last")
    kind = events[0].kind if events else "none"
    return "abcde"[p["options"].index(kind)]


def _make_02_q4(rng):
    n = rng.randint(3, 6)
    return {"pages": n, "vpns": [rng.randrange(n) for _ in range(rng.randint(4, 8))]}


@declare("02-write-faults", "q4", points=1, kind="number", title="Minor faults of the child",
          prose="**Minor faults of the child.** `getrusage` counts minor faults "
                "(`ru_minflt`); the model keeps the same count in `k.stats(p)['minor_faults']`.",
          prompt="A parent spawns with {pages} pages and forks. The child writes these vpns "
                 "in order: {vpns}. How many minor faults has the child taken?",
          make=_make_02_q4, unit="faults",
          hint="which writes find the page read-only?",
          traps=lambda p: [(len(p["vpns"]), "after the first write a page is writable: no "
                            "more faults")])
def q4_child_minor_faults(p):
    k = cowlab.Kernel(ram_pages=32)
    parent = k.spawn("parent", pages=p["pages"])
    child = k.fork(parent)
    for vpn in p["vpns"]:
        k.write(child, vpn, "x")
    return k.stats(child)["minor_faults"]


def _make_02_q5(rng):
    n = rng.randint(4, 9)
    return {"pages": n, "vpns": sorted(rng.sample(range(n), rng.randint(1, n - 1)))}


@declare("02-write-faults", "q5", points=2, kind="number", title="Private_Dirty of the parent",
          prose="**Private_Dirty of the parent.** Only the child writes. What does "
                "`/proc/PARENT/smaps_rollup` say about the parent's Private_Dirty? "
                "(Pages are 4 KiB; smaps counts a page as private when one PTE maps it.)",
          prompt="A parent spawns with {pages} pages and forks. The child writes VPs {vpns} "
                 "(each once). What is the parent's Private_Dirty in kB?",
          make=_make_02_q5, unit="kB",
          hint="after the child copies a page, how many PTEs map the parent's old frame?",
          traps=lambda p: [(0, "the parent did not write, but its frames may still have "
                            "become private to it")])
def q5_parent_private_dirty(p):
    k = cowlab.Kernel(ram_pages=32)
    parent = k.spawn("parent", pages=p["pages"])
    child = k.fork(parent)
    for vpn in p["vpns"]:
        k.write(child, vpn, "x")
    return k.stats(parent)["private_dirty"]


def _make_02_q6(rng):
    n = rng.randint(3, 5)
    p = {"pages": n, "writes": writes_script(rng, n, length=(4, 6)), "last": n - 1}
    p["script"] = script_text(p)
    return p


@declare("02-write-faults", "q6", points=2, kind="state", title="The parent's page table",
          prose="**The parent's page table.** Give the parent's PFNs after the script, as a "
                "list in vpn order. The spawn maps VPn on PFn; which free frame a copy gets "
                "is the allocator's choice, not something Linux promises, so number each new "
                "frame as you like (any number from the pages count up, a different one per "
                "frame).",
          prompt="RAM has 16 frames. A parent spawns with {pages} pages (VPn on PFn) and "
                 "forks. Then, in order: {script}. Give the parent's PFNs for VP0..VP{last} "
                 "(new frames: any numbers from {pages} up, one per frame).",
          make=_make_02_q6, named_frames=lambda p: p["pages"],
          hint="replay the writes one by one; a copy goes to the faulting process only")
def q6_parent_page_table(p):
    k = cowlab.Kernel(ram_pages=16)
    parent = k.spawn("parent", pages=p["pages"])
    child = k.fork(parent)
    who = {"parent": parent, "child": child}
    for name, vpn in p["writes"]:
        k.write(who[name], vpn, name)
    return [k.pte(parent, vpn).pfn for vpn in range(p["pages"])]
