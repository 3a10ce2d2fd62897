"""Homework 04-05: exec, overcommit.

Same shape as questions_course: each solver computes its answer with the model
from the variant's params, and its body is the solution cell.
"""
import cowlab

from .question import declare
from . import questions_course as course


# == 04-exec ==========================================================================


def _make_04_q1(rng):
    pages = rng.randint(4, 8)
    shell = sorted(rng.sample(range(pages), rng.randint(1, 2)))
    child = sorted(rng.sample(range(pages), rng.randint(1, 3)))
    return {"pages": pages, "shell": shell, "child": child}


@declare("04-exec", "q1", points=1, kind="number", title="Frames exec frees",
          prose="**Frames exec frees.** Between fork and exec both processes may write (a "
                "shell sets up redirections in the child). exec then drops every mapping "
                "of the child's old memory: a frame the child was the last to map is freed, "
                "a frame the shell still maps is not. Count only the old memory's pages (not "
                "page tables): how many frames the new program takes depends on what it "
                "touches, not on fork.",
          prompt="A shell spawns with {pages} pages and forks. The shell writes {shell_vps}, "
                 "then the child writes {child_vps}, then the child execs a program. How "
                 "many frames does the exec free?",
          make=_make_04_q1, unit="frames",
          words=lambda p: {"shell_vps": _vps(p["shell"]), "child_vps": _vps(p["child"])},
          hint="after the writes, which frames does the child alone map?",
          traps=lambda p: [(len(p["child"]), "the shell's write left the child the last "
                            "sharer of the old frame"),
                           (len(p["child"]) + len(p["shell"]), "a page both wrote counts once"),
                           (0, "the child's own frames go with its old memory"),
                           (p["pages"], "the shell still maps the frames it shares")])
def q1_frames_exec_frees(p):
    k = cowlab.Kernel(ram_pages=32)
    shell = k.spawn("shell", pages=p["pages"])
    child = k.fork(shell)
    for vpn in p["shell"]:
        k.write(shell, vpn, "shell")
    for vpn in p["child"]:
        k.write(child, vpn, "redirect")
    free = k.free_frames()
    k.exec(child, pages=0)          # the old memory only: the new image faults in later
    return k.free_frames() - free


def _vps(vpns):
    return f"VP{vpns[0]}" if len(vpns) == 1 else f"VPs {vpns}"


def _make_04_q2(rng):
    n = rng.randint(3, 7)
    second = rng.random() < 0.6
    wrote = sorted(rng.sample(range(n), rng.randint(0, n - 1)))
    return {"pages": n, "second": second, "wrote": wrote,
            "story": (f"then forks child2, which writes VPs {wrote}" if second
                      else "and forks no other child")}


@declare("04-exec", "q2", points=2, kind="number", title="Copies after the child execs",
          prose="**Copies after the child execs.** Once the exec'd child has let go of the "
                "shared frames, what happens when the parent writes its own pages?",
          prompt="A parent spawns with {pages} pages and forks child1{story}. Then "
                 "child1 execs a 1-page program, and the parent writes every one of "
                 "its {pages} pages. How many frames does the parent copy?",
          make=_make_04_q2, unit="copies", words=lambda p: {"story": _story_04_q2(p)},
          hint="a frame whose refcount is 1 is reused in place; who still shares which page?",
          traps=lambda p: [(p["pages"], "exec dropped child1's references")])
def q2_copies_after_exec(p):
    k = cowlab.Kernel(ram_pages=32)
    parent = k.spawn("parent", pages=p["pages"])
    child1 = k.fork(parent)
    if p["second"]:
        child2 = k.fork(parent)
        for vpn in p["wrote"]:
            k.write(child2, vpn, "child2")
    k.exec(child1, pages=1)
    copies = 0
    for vpn in range(p["pages"]):
        copies += sum(e.kind == "cow_copy" for e in k.write(parent, vpn, "parent"))
    return copies


def _story_04_q2(p):
    """The second child in words (params keep their old `story` for old variants)."""
    if not p["second"]:
        return " (its only child)"
    wrote = f"writes VPs {p['wrote']}" if p["wrote"] else "writes nothing"
    return f", then forks child2, which {wrote}"


def _make_04_q3(rng):
    forks = rng.randint(2, 4)
    pages = rng.randint(2, 5)
    return {"pages": pages, "forks": forks, "execs": rng.randint(1, forks),
            "vpn": rng.randrange(pages)}


@declare("04-exec", "q3", points=1, kind="number", title="Refcount after exec",
          prose="**Refcount after exec.** A server forks workers; some of them exec.",
          prompt="A server spawns with {pages} pages in an empty machine and forks {forks} "
                 "workers; {execs} of them exec a 1-page program. What is the refcount of "
                 "the frame behind the server's VP{vpn}?",
          make=_make_04_q3,
          hint="exec drops every mapping of the process that calls it",
          traps=lambda p: [(p["forks"] + 1, "the workers that exec'd no longer map it")])
def q3_refcount_after_exec(p):
    k = cowlab.Kernel(ram_pages=32)
    server = k.spawn("server", pages=p["pages"])
    workers = [k.fork(server) for _ in range(p["forks"])]
    for worker in workers[:p["execs"]]:
        k.exec(worker, pages=1)
    return k.refcount(k.pte(server, p["vpn"]).pfn)


def _make_04_q4(rng):
    p = {"ram": rng.randint(12, 20), "pages": rng.randint(3, 5), "image": rng.randint(1, 3)}
    k = cowlab.Kernel(ram_pages=p["ram"])
    shell = k.spawn("shell", pages=p["pages"])
    child = k.fork(shell)
    k.exec(child, pages=p["image"])
    # Only the shell's side: how many frames the child's new image takes at once is the
    # model's populate convention (Linux faults an image in as it is touched).
    return course.claims(rng, k, {"shell": shell},
                  ["writable", "cow", "refcount", "refcount", "pfn"], p, named=p["pages"])


@declare("04-exec", "q4", points=2, kind="choice", title="Which statement is true?",
          prose="**Which statement is true?** After fork + exec the parent's entries are "
                "still as fork left them, until the parent writes. Exactly one statement "
                "printed below holds.",
          prompt="RAM has {ram} frames. A shell spawns with {pages} pages (VPn on PFn), "
                 "forks, and the child execs a {image}-page program. Which statement "
                 "about the shell is true?",
          make=_make_04_q4, named_frames=lambda p: p["pages"],
          hint="fork made the shell's entries read-only and COW; exec changes only the child")
def q4_exec_true_statement(p):
    k = cowlab.Kernel(ram_pages=p["ram"])
    shell = k.spawn("shell", pages=p["pages"])
    child = k.fork(shell)
    k.exec(child, pages=p["image"])

    def actual(c):
        if c["what"] == "refcount":
            return k.refcount(c["pfn"])
        return getattr(k.pte(shell, c["vpn"]), c["what"])
    return next(letter for letter, c in zip("abcde", p["claims"]) if actual(c) == c["value"])


def _make_04_q5(rng):
    n = rng.randint(3, 6)
    image = rng.randint(2, 6)
    return {"pages": n, "before": sorted(rng.sample(range(n), rng.randint(0, 2))),
            "image": image, "after": [rng.randrange(image) for _ in range(rng.randint(1, 4))]}


@declare("04-exec", "q5", points=1, kind="number", title="Minor faults of fork + exec",
          prose="**Minor faults of fork + exec.** The child writes a few pages before exec "
                "(as a shell sets up redirections), then execs and writes its new image. "
                "exec maps the new image without filling it: each page faults in when first "
                "touched (a write to an untouched anonymous page: one minor fault, a fresh "
                "zeroed frame). Count only the faults of these writes: a real exec also "
                "faults while the kernel builds the stack and loads the binary.",
          prompt="A shell spawns with {pages} pages and forks. The child writes {before_text}, "
                 "then execs a {image}-page program, then writes VPs {after} of its new "
                 "image. How many minor faults do these writes of the child cost in all?",
          make=_make_04_q5, unit="faults",
          words=lambda p: {"before_text": f"VPs {p['before']}" if p["before"] else "nothing"},
          hint="count the COW faults before exec and the first touch of each new page; "
               "does a second write to a page fault again?")
def q5_exec_minor_faults(p):
    k = cowlab.Kernel(ram_pages=32)
    shell = k.spawn("shell", pages=p["pages"])
    child = k.fork(shell)
    for vpn in p["before"]:
        k.write(child, vpn, "redirect")
    k.exec(child, pages=0)                     # the new image, mapped but not filled,
    image = k.mmap(child, p["image"])          # as Linux maps a program's memory
    for vpn in p["after"]:
        k.write(child, image + vpn, "run")
    return k.stats(child)["minor_faults"]


# == 05-overcommit ======================================================================


def _swap(p, form):
    return form.format(p["swap"]) if p["swap"] else "no swap"


def _times(n):
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def _make_05_q1(rng):
    return {"ram": rng.choice([1024, 2048, 4096, 8192]), "swap": rng.choice([0, 256, 512, 1024]),
            "ratio": rng.choice([50, 60, 80, 100])}


@declare("05-overcommit", "q1", points=1, kind="number", title="CommitLimit",
          prose="**CommitLimit.** With `vm.overcommit_memory=2` the kernel refuses to "
                "promise more than CommitLimit (as `/proc/meminfo`, in kB; pages are 4 KiB).",
          prompt="A machine has {ram} pages of RAM, {swap_text} and "
                 "vm.overcommit_ratio={ratio}. What is CommitLimit in kB?",
          make=_make_05_q1, unit="kB", words=lambda p: {"swap_text": _swap(p, "{} pages of swap")},
          hint="mm/util.c: RAM scaled by the ratio, plus swap",
          traps=lambda p: [((p["ram"] + p["swap"]) * 4, "the ratio applies to RAM"),
                           (p["ram"] * p["ratio"] // 100 * 4, "swap counts too")])
def q1_commit_limit(p):
    k = cowlab.Kernel(ram_pages=p["ram"], swap_pages=p["swap"], overcommit_memory=2,
                      overcommit_ratio=p["ratio"])
    return k.meminfo()["commit_limit"]


def _make_05_q2(rng):
    return {"pages": rng.randint(10, 60), "shared": rng.randint(4, 20), "forks": rng.randint(1, 3)}


@declare("05-overcommit", "q2", points=2, kind="number", title="Committed_AS after fork",
          prose="**Committed_AS after fork.** Private writable memory is charged when it is "
                "mapped, and charged again for each child at fork (the child may write it "
                "all). A MAP_SHARED region is charged once.",
          prompt="In mode 2 (RAM 1024 pages, ratio 100), a server spawns with {pages} pages, "
                 "mmaps a shared region of {shared} pages, then forks {forks_text}. What "
                 "is Committed_AS in kB?",
          make=_make_05_q2, unit="kB", words=lambda p: {"forks_text": _times(p["forks"])},
          hint="charge each private page once per process, each shared page once",
          traps=lambda p: [((p["pages"] + p["shared"]) * 4, "fork charges the child's "
                            "private pages"),
                           ((p["pages"] + p["shared"]) * (p["forks"] + 1) * 4,
                            "a shared region is charged only once")])
def q2_committed_as(p):
    k = cowlab.Kernel(ram_pages=1024, overcommit_memory=2, overcommit_ratio=100)
    server = k.spawn("server", pages=p["pages"])
    k.mmap(server, p["shared"], shared=True)
    for _ in range(p["forks"]):
        k.fork(server)
    return k.meminfo()["committed_as"]


_WHY_FORK = {
    "fits": "fork succeeds: the child's charge still fits under CommitLimit",
    "heuristic": "fork succeeds: mode 0 refuses only a single request larger than RAM + swap",
    "always": "fork succeeds: mode 1 never refuses; memory is found (or not) at write time",
    "enomem": "fork fails with ENOMEM: Committed_AS plus the child's charge would exceed "
              "CommitLimit",
    "oom": "fork succeeds, but the OOM killer kills the parent at once",
}


def _make_05_q3(rng):
    mode = rng.choice([0, 1, 2, 2])
    ram = rng.choice([64, 100, 128])
    opts = sorted(_WHY_FORK)
    rng.shuffle(opts)
    ratio = rng.choice([50, 80, 100])
    top = ram * 3 // 5 if mode != 2 else min(ram * 3 // 5, ram * ratio // 100)
    return {"mode": mode, "ram": ram, "ratio": ratio,       # the spawn itself must fit
            "pages": rng.randint(ram // 5, top), "options": opts}


def _spawn_refused(p):
    """A variant whose spawn itself is refused (mode 2 keeps the admin reserve back):
    it asks nothing about fork, so it is drawn again."""
    k = cowlab.Kernel(ram_pages=p["ram"], overcommit_memory=p["mode"],
                      overcommit_ratio=p["ratio"])
    try:
        k.spawn("parent", pages=p["pages"])
    except OSError:
        return True
    return False


@declare("05-overcommit", "q3", points=2, kind="choice", title="Does the fork succeed?",
          prose="**Does the fork succeed?** Pick the statement that says what happens and why.",
          prompt="RAM {ram} pages, no swap, vm.overcommit_memory={mode}, "
                 "vm.overcommit_ratio={ratio}. A process spawns with {pages} pages and forks.",
          make=_make_05_q3, options=_WHY_FORK, degenerate=_spawn_refused,
          hint="in mode 2 compare Committed_AS + the child's charge with CommitLimit; "
               "what do modes 0 and 1 check?")
def q3_fork_succeeds(p):
    k = cowlab.Kernel(ram_pages=p["ram"], overcommit_memory=p["mode"],
                      overcommit_ratio=p["ratio"])
    parent = k.spawn("parent", pages=p["pages"])
    try:
        k.fork(parent)
        why = {0: "heuristic", 1: "always", 2: "fits"}[p["mode"]]
    except OSError:
        why = "enomem"
    return "abcde"[p["options"].index(why)]


def _make_05_q4(rng):
    return {"ram": rng.choice([256, 512]), "swap": rng.choice([0, 64, 128]),
            "ratio": rng.choice([50, 75, 100]), "pages": rng.randint(20, 80)}


@declare("05-overcommit", "q4", points=2, kind="number", title="The largest mmap in mode 2",
          prose="**The largest mmap in mode 2.** Find, by asking the model, the largest "
                "private writable mmap that mode 2 still grants (bisect on the size: a "
                "refusal is `OSError` with ENOMEM).",
          prompt="RAM {ram} pages, {swap_text}, vm.overcommit_memory=2, "
                 "vm.overcommit_ratio={ratio}. A process spawns with {pages} pages. What is "
                 "the largest number of pages one mmap by that process can get?",
          make=_make_05_q4, unit="pages", words=lambda p: {"swap_text": _swap(p, "swap {} pages")},
          hint="CommitLimit minus what is already committed",
          traps=lambda p: [(p["ram"] * p["ratio"] // 100 + p["swap"], "the spawned pages "
                            "are already committed")])
def q4_largest_mmap(p):
    def granted(pages):
        k = cowlab.Kernel(ram_pages=p["ram"], swap_pages=p["swap"], overcommit_memory=2,
                          overcommit_ratio=p["ratio"])
        proc = k.spawn("proc", pages=p["pages"])
        try:
            k.mmap(proc, pages)
            return True
        except OSError:
            return False
    low, high = 0, 4 * (p["ram"] + p["swap"])
    while low < high:                      # the largest size that is granted
        mid = (low + high + 1) // 2
        if granted(mid):
            low = mid
        else:
            high = mid - 1
    return low


def _make_05_q5(rng):
    ram = rng.randint(16, 24)
    db = rng.randint(2, ram // 2)
    return {"ram": ram, "db": db, "pages": rng.randint((ram - db) // 2 + 1, ram - db - 1),
            "order": rng.choice(["db first", "server first"])}


@declare("05-overcommit", "q5", points=2, kind="number", title="The OOM killer's victim",
          prose="**The OOM killer's victim.** In mode 1 fork always succeeds; the bill comes "
                "when the child writes. With no free frame, the OOM killer kills the process "
                "with the highest oom_badness: RSS + swap entries + page-table pages (the "
                "page tables weigh the same here for every process). A parent and its child "
                "may score the same: which of the two Linux then picks is the order of its "
                "task list, not a rule to learn, so this question asks for the victim's size.",
          prompt="RAM {ram} frames, overcommit mode 1, no swap. Spawned in this order "
                 "({order}): a database with {db} pages and a server with {pages} pages. "
                 "The server forks; the child writes all its pages, VP0 first. When the "
                 "OOM killer first runs, what is the RSS, in pages, of the process it kills?",
          make=_make_05_q5, unit="pages",
          hint="when RAM runs out, compare the RSS of every live process at that moment: "
               "a page still shared counts in full for each process that maps it",
          traps=lambda p: [(p["ram"] - p["db"] - p["pages"], "that is the child's copies "
                            "only: RSS counts its shared pages too")])
def q5_oom_victim(p):
    k = cowlab.Kernel(ram_pages=p["ram"], overcommit_memory=1)
    if p["order"] == "db first":
        k.spawn("db", pages=p["db"])
        server = k.spawn("server", pages=p["pages"])
    else:
        server = k.spawn("server", pages=p["pages"])
        k.spawn("db", pages=p["db"])
    child = k.fork(server)
    vpn, killed = 0, []
    while not killed:                  # the child writes VP0, VP1, ... until RAM runs out
        rss = {q.pid: k.stats(q)["rss"] // 4 for q in k.processes if q.alive}  # kB -> pages
        killed = [e.pid for e in k.write(child, vpn, "child") if e.kind == "oom_kill"]
        vpn += 1
    return rss[killed[0]]              # the victim's RSS just before it was killed
