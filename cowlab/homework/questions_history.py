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
import cowlab

from .construct import parse_steps, play
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

OPS = ("fork", "vmsplice", "write", "munmap", "exit")


def replay(given, p, rules, watch=None):
    """The student's steps (checked by construct.parse_steps) after the question's
    spawn of `parent`, on a fresh model under `rules` -> construct.Play."""
    steps = parse_steps(given, ops=OPS, most=p["most"], procs=("parent",), least=1,
                        vpns=p["pages"])
    start = parse_steps([f"spawn parent {p['pages']}"], most=1)
    return play(steps, start=start, watch=watch, rules=rules)


def leaks(pipes):
    """Pipes that read data written after the splice by a process other than the splicer
    (a write stores "<process>@<step>", construct.play)."""
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
    old = [x for x in leaks(replay(given, p, "linux-5.7").pipes) if x[1] == p["vpn"]]
    failed = []
    if not old:
        failed.append(f"under Linux 5.7 no pipe holding VP{p['vpn']} shows data written after "
                      "its vmsplice by another process")
    if old and leaks(replay(given, p, "linux").pipes):
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


def copies_at_mapcount_1(given, p):
    """The parent's writes to VP{vpn} that copied a frame mapped once just before."""
    found, before = [], {}

    def watch(run, step, events):
        if (step.op, step.args) != ("write", ("parent", p["vpn"])):
            return
        k = run.kernel
        pte = k.pte(run.procs["parent"], p["vpn"])
        if events is None:
            before["mapcount"] = k.mapcount(pte.pfn) if pte is not None and pte.pfn >= 0 else 0
        elif before.get("mapcount") == 1 and any(e.kind == "cow_copy" for e in events):
            found.append(True)
    replay(given, p, "linux", watch)
    return found


def _check_q5(p, given):
    if not copies_at_mapcount_1(given, p):
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
