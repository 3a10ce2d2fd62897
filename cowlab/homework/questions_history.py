"""Homework 09-why-linux: mapcount vs refcount, the vmsplice leak, pins, KSM.

Every answer is a fact of Linux that the model reproduces (rules="linux" is 5.19 and
later, "linux-5.7" the mapcount rule of Linux up to 5.7), never a model convention:
no PFN numbers, no allocator order.

q1: copies when a pipe holds some of the pages (the 5.9 refcount rule, or not)
q2: a pinned page at fork: who gets a new frame (early COW, 5.9)
q3: writes to a KSM page: how many copy (a KSM page is never reused)
q4: construction: a sequence after which a pipe shows data its process never wrote
q5: construction: a write fault that copies although the page's mapcount is 1
"""
import re

import cowlab

from .construct import Invalid
from .question import declare

RULE_NAMES = {"linux": "Linux 6.x", "linux-5.7": "Linux 5.7"}


# == q1: a pipe's references at write time ==============================================

def _make_q1(rng):
    pages = rng.randint(4, 9)
    spliced = sorted(rng.sample(range(pages), rng.randint(1, pages - 2)))
    rules = rng.choice(sorted(RULE_NAMES))
    return {"pages": pages, "last": pages - 1, "spliced": spliced, "rules": rules,
            "kernel": RULE_NAMES[rules], "list": ", ".join(f"VP{v}" for v in spliced)}


def _traps_q1(p):
    n = len(p["spliced"])
    return [(0, "the pipe's references are not mappings, but which count does this kernel "
                "look at before it reuses a page?"),
            (n, "under the mapcount rule a page with one mapping is reused, whoever else "
                "holds it") if p["rules"] == "linux-5.7" else
            (p["pages"], "the pages the pipe does not hold are mapped once and referenced once")]


@declare("09-why-linux", "q1", points=2, kind="number",
         title="Who still holds the page",
         prose="**Who still holds the page.** After fork the child `vmsplice()`s some of its "
               "pages into a pipe (the pipe takes a reference to each frame, not a mapping) "
               "and exits. Then the parent writes every page once.",
         prompt="A parent with {pages} written pages (VP0..VP{last}) forks. The child "
                "vmsplices {list} into a pipe, keeps the pipe open, and exits. On {kernel}, "
                "the parent then writes each of its {pages} pages once. How many of those "
                "writes copy a frame?",
         make=_make_q1,
         traps=_traps_q1,
         hint="count, page by page, what else references the frame when the parent writes")
def q1_copies_with_a_pipe(p):
    k = cowlab.Kernel(ram_pages=64, rules=p["rules"])
    parent = k.spawn("parent", pages=p["pages"])
    child = k.fork(parent)
    pipes = [k.vmsplice(child, v) for v in p["spliced"]]
    k.exit(child)
    copies = sum(e.kind == "cow_copy" for v in range(p["pages"]) for e in k.write(parent, v, "new"))
    assert all(pipe.read() for pipe in pipes)
    return copies


# == q2: a pinned page at fork ==========================================================

def _make_q2(rng):
    options = ["parent", "child", "neither", "both", "refused"]
    rng.shuffle(options)
    rules = rng.choice(sorted(RULE_NAMES))
    return {"rules": rules, "kernel": RULE_NAMES[rules],
            "what": rng.choice(["io_uring", "RDMA"]), "options": options}


@declare("09-why-linux", "q2", points=1, kind="choice",
         title="A pinned page at fork",
         prose="**A pinned page at fork.** A long-term pin (an io_uring fixed buffer, an RDMA "
               "memory region) tells the kernel that a device may write into the page.",
         prompt="A process writes one page, registers it as an {what} buffer (a long-term pin), "
                "and forks. On {kernel}, which process is given a new frame for that page "
                "by fork itself, before anyone writes?",
         make=_make_q2,
         options={"parent": "the parent", "child": "the child",
                  "neither": "neither: both share the frame, copy-on-write",
                  "both": "both get new frames",
                  "refused": "none: fork fails with EBUSY while a page is pinned"},
         hint="which process must keep the very frame the device writes into?")
def q2_pinned_fork(p):
    k = cowlab.Kernel(ram_pages=16, rules=p["rules"])
    parent = k.spawn("parent", pages=1)
    before = k.pte(parent, 0).pfn
    k.pin(parent, 0)
    child = k.fork(parent)
    moved = {"parent": k.pte(parent, 0).pfn != before, "child": k.pte(child, 0).pfn != before}
    key = ("both" if all(moved.values()) else "neither" if not any(moved.values())
           else "parent" if moved["parent"] else "child")
    return "abcde"[p["options"].index(key)]


# == q3: KSM ============================================================================

def _make_q3(rng):
    merged = rng.randint(2, 6)
    return {"vms": merged, "writes": rng.randint(1, merged)}


@declare("09-why-linux", "q3", points=1, kind="number",
         title="Writes to a merged page",
         prose="**Writes to a merged page.** KSM merged identical pages of several virtual "
               "machines (processes) into one write-protected KSM page.",
         prompt="On Linux 6.x, {vms} virtual machines each had one identical page, and KSM merged them "
                "into "
                "one KSM page. Then {writes} of them write to that page, one after the other. "
                "How many of those writes copy a frame?",
         make=_make_q3,
         traps=lambda p: [(p["writes"] - 1, "the last sharer reuses an ordinary page; is a "
                                            "KSM page an ordinary page?")]
         if p["writes"] == p["vms"] else [],
         hint="a KSM page is shared by construction: what does a write fault do with it?")
def q3_ksm_writes(p):
    k = cowlab.Kernel(ram_pages=32)
    vms = [k.spawn(f"vm{i}", pages=1) for i in range(p["vms"])]
    for vm in vms:
        k.write(vm, 0, "guest kernel page")
        k.madvise(vm, 0, 1, "mergeable")
    k.ksm_scan()
    return sum(e.kind == "cow_copy" for vm in vms[:p["writes"]] for e in k.write(vm, 0, vm.pid))


# == q4: construction: the vmsplice leak ================================================

STEP = {"fork": ("name", "new"), "vmsplice": ("name", "vpn"), "write": ("name", "vpn"),
        "munmap": ("name", "vpn"), "exit": ("name",)}
EXAMPLE = {"fork": "fork parent child", "vmsplice": "vmsplice child 0",
           "write": "write parent 0", "munmap": "munmap child 0", "exit": "exit child"}
NAME = re.compile(r"[a-z][a-z0-9]{0,15}")


def parse(given, most, pages):
    """["fork parent child", ...] -> [(op, args)]; Invalid naming the step to fix."""
    if not isinstance(given, list):
        raise Invalid(f"the answer must be a list of step strings such as {EXAMPLE['fork']!r}, "
                      f"got {type(given).__name__}")
    if not 1 <= len(given) <= most:
        raise Invalid(f"give 1 to {most} steps, got {len(given)}")
    alive, out = {"parent"}, []
    for i, raw in enumerate(given, 1):
        words = raw.split() if isinstance(raw, str) and len(raw) <= 80 else None
        if not words or words[0] not in STEP:
            raise Invalid(f"step {i} {str(raw)[:40]!r}: start it with one of "
                          f"{', '.join(STEP)} (e.g. {EXAMPLE['vmsplice']!r})")
        op, want = words[0], STEP[words[0]]
        if len(words) - 1 != len(want):
            raise Invalid(f"step {i} {raw!r}: write it as {EXAMPLE[op]!r}")
        args = []
        for word, kind in zip(words[1:], want):
            if kind == "vpn":
                if not re.fullmatch(r"\d{1,3}", word) or int(word) >= pages:
                    raise Invalid(f"step {i} {raw!r}: the page must be 0..{pages - 1}")
                args.append(int(word))
            elif not NAME.fullmatch(word):
                raise Invalid(f"step {i} {raw!r}: {word!r} is not a process name (lower-case, "
                              "e.g. child)")
            elif kind == "name" and word not in alive:
                raise Invalid(f"step {i} {raw!r}: no live process {word!r} (alive: "
                              f"{', '.join(sorted(alive))})")
            elif kind == "new" and word in alive:
                raise Invalid(f"step {i} {raw!r}: {word!r} exists; name the child anew")
            else:
                args.append(word)
        if op == "fork":
            alive.add(args[1])
        elif op == "exit":
            alive.discard(args[0])
        out.append((op, tuple(args)))
    return out


def replay(steps, pages, rules, watch=None):
    """The steps on a fresh model; -> [(who spliced, vpn, pipe, step index)].

    Each write stores "<process>@<step>" so a pipe's content names who wrote it, when.
    watch(k, procs, op, args, events), if given, sees every write (before: events None)."""
    k = cowlab.Kernel(ram_pages=64, rules=rules)
    procs = {"parent": k.spawn("parent", pages=pages)}
    pipes = []
    for i, (op, a) in enumerate(steps, 1):
        p = procs[a[0]]
        if watch and op == "write":
            watch(k, procs, op, a, None)
        try:
            if op == "fork":
                procs[a[1]] = k.fork(p, name=a[1])
            elif op == "vmsplice":
                pipes.append((a[0], a[1], k.vmsplice(p, a[1]), i))
            elif op == "write":
                events = k.write(p, a[1], f"{a[0]}@{i}")
                if watch:
                    watch(k, procs, op, a, events)
            elif op == "munmap":
                k.munmap(p, a[1], 1)
            else:
                k.exit(p)
        except (ValueError, TypeError, OSError) as e:
            raise Invalid(f"step {i} {op} {' '.join(map(str, a))}: the model refuses it: "
                          f"{e}") from None
    return pipes


def leaks(pipes):
    """Pipes that read data written after the splice by a process other than the splicer."""
    out = []
    for who, vpn, pipe, at in pipes:
        value = pipe.read()[0]
        if isinstance(value, str) and "@" in value:
            writer, step = value.split("@")
            if writer != who and int(step) > at:
                out.append((who, vpn, writer))
    return out


def _make_q4(rng):
    pages = rng.randint(2, 5)
    return {"pages": pages, "last": pages - 1, "vpn": rng.randrange(pages),
            "most": rng.randint(4, 6)}


def _check_q4(p, given):
    steps = parse(given, p["most"], p["pages"])
    old = [x for x in leaks(replay(steps, p["pages"], "linux-5.7")) if x[1] == p["vpn"]]
    failed = []
    if not old:
        failed.append(f"under Linux 5.7 no pipe holding VP{p['vpn']} shows data written after "
                      "its vmsplice by another process")
    if old and leaks(replay(steps, p["pages"], "linux")):
        failed.append("the same steps leak under Linux 6.x too; that cannot happen")
    return failed


@declare("09-why-linux", "q4", points=3, kind="construct",
         title="Build: the vmsplice leak",
         prose="**Build: the vmsplice leak** (CVE-2020-29374). Steps: `fork NAME NEW`, "
               "`vmsplice NAME VPN` (a new pipe holds that page), `write NAME VPN` (stores "
               "\"NAME@step\"), `munmap NAME VPN`, `exit NAME`. The process `parent` exists "
               "with every page written. The model replays your steps under Linux 5.7's rule "
               "and under today's.",
         prompt="The parent has {pages} written pages (VP0..VP{last}). With at most {most} "
                "steps, make a pipe that a process filled with VP{vpn} by vmsplice show, under "
                "Linux 5.7, data that another process wrote after the vmsplice.",
         shape='a list of steps like "fork parent child", "vmsplice child 0"',
         make=_make_q4,
         check=_check_q4,
         hint="the pipe holds a reference, not a mapping: whose write can then land in place?")
def q4_build_the_leak(p):
    # the child splices the page and exits; the parent is its only mapping and reuses it
    v = p["vpn"]
    steps = ["fork parent child", f"vmsplice child {v}", "exit child", f"write parent {v}"]
    k = cowlab.Kernel(ram_pages=64, rules="linux-5.7")      # the same steps, by hand
    parent = k.spawn("parent", pages=p["pages"])
    child = k.fork(parent)
    pipe = k.vmsplice(child, v)
    k.exit(child)
    k.write(parent, v, "parent@4")
    assert pipe.read() == ["parent@4"]                       # the child never wrote that
    return steps


# == q5: construction: a copy at mapcount 1 ==============================================

def _make_q5(rng):
    pages = rng.randint(2, 5)
    return {"pages": pages, "last": pages - 1, "vpn": rng.randrange(pages),
            "most": rng.randint(4, 6)}


def copies_at_mapcount_1(steps, p):
    """The parent's writes to VP{vpn} that copied a frame mapped once just before."""
    found, before = [], {}

    def watch(k, procs, op, a, events):
        if a != ("parent", p["vpn"]):
            return
        pte = k.pte(procs["parent"], p["vpn"])
        if events is None:
            before["mapcount"] = k.mapcount(pte.pfn) if pte is not None and pte.pfn >= 0 else 0
        elif before.get("mapcount") == 1 and any(e.kind == "cow_copy" for e in events):
            found.append(True)
    replay(steps, p["pages"], "linux", watch)
    return found


def _check_q5(p, given):
    steps = parse(given, p["most"], p["pages"])
    if not copies_at_mapcount_1(steps, p):
        return [f"no write by parent to VP{p['vpn']} copies a frame that exactly one page-table "
                "entry mapped just before the write"]
    return []


@declare("09-why-linux", "q5", points=3, kind="construct",
         title="Build: a copy at mapcount 1",
         prose="**Build: a copy at mapcount 1.** Under Linux 6.x a write fault may copy a page "
               "that only the writer maps. Same steps as q4 (`fork`, `vmsplice`, `write`, "
               "`munmap`, `exit`); the model replays them under today's rule and watches the "
               "parent's writes.",
         prompt="The parent has {pages} written pages (VP0..VP{last}). With at most {most} "
                "steps, on Linux 6.x, make a write by parent to VP{vpn} copy the frame although "
                "exactly one page-table entry maps that frame just before the write.",
         shape='a list of steps like "fork parent child", "write parent 0"',
         make=_make_q5,
         check=_check_q5,
         hint="a page fork never shared is exclusive; once shared, what else can hold it?")
def q5_copy_at_mapcount_1(p):
    # fork clears the exclusive flag; after the child exits, a pipe's reference remains
    v = p["vpn"]
    steps = ["fork parent child", "exit child", f"vmsplice parent {v}", f"write parent {v}"]
    k = cowlab.Kernel(ram_pages=64)                          # the same steps, by hand
    parent = k.spawn("parent", pages=p["pages"])
    k.exit(k.fork(parent))
    k.vmsplice(parent, v)
    assert k.mapcount(k.pte(parent, v).pfn) == 1
    assert [e.kind for e in k.write(parent, v, "parent@4")] == ["cow_copy"]
    return steps
