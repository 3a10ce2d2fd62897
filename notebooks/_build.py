"""Build the course notebooks 00-07 from the sources in this file, executed.

    python notebooks/_build.py               # rebuild and execute every chapter
    python notebooks/_build.py 02 05         # only chapters whose name starts so
    python notebooks/_build.py --no-execute  # write them unexecuted (quick look)
    python notebooks/_build.py --head        # run against the last commit's cowlab/,
                                             # not the working tree's

Each chapter is a list of cells: `md(...)` for prose, `code(...)` for code. The
notebooks are committed executed (nbval compares their outputs), so after editing
a chapter run this and commit the .ipynb with the change to this file.
Chapter 08 (the live kernel) is written by hand elsewhere; this script never touches it.
"""
import sys
import textwrap
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
HOMEWORK = "../exercises/{}.ipynb"


def md(text):
    return ("markdown", textwrap.dedent(text).strip("\n"))


def code(text):
    return ("code", textwrap.dedent(text).strip("\n"))


def checks(stem, *questions):
    """The chapter's ending: questions (source of Question(...) calls) and the homework link."""
    cells = [md("## Check yourself\n\nPick an answer and press **check**: the feedback is "
                "instant and nothing is graded.")]
    for q in questions:
        cells.append(code(q))
    if stem:
        cells.append(md(f"**Homework:** [{stem}]({HOMEWORK.format(stem)}) "
                        f"(set `STUDENT` in its first cell, then work through it; "
                        f"the checks there tell you at once whether you are right)."))
    return cells


# ---------------------------------------------------------------------------
# The chapters
# ---------------------------------------------------------------------------
CHAPTERS = {}

CHAPTERS["00-start"] = [
    md("""
    # Copy-on-write after `fork()`: start here

    When a Unix process calls `fork()`, the child gets a copy of the parent's whole
    address space. Copying gigabytes for every `fork()` would make shells, servers and
    databases crawl, so every modern kernel cheats: it copies nothing until someone
    *writes*. This course takes that trick apart on a small kernel model you can
    click, then follows it to the places where it bites real systems: Redis saving
    10 GiB to disk, `vm.overcommit_memory`, container images, filesystem snapshots.

    Each chapter is built around one question:

    1. **Predict.** A question you answer in your head (or on paper) before touching anything.
    2. **Try.** A lab where you press the buttons the kernel would press.
    3. **Understand.** Short prose, the kernel's own function names, and the same thing
       at real scale, with plots where a table would be harder to read.
    4. **Check yourself.** A few questions with instant feedback (not graded), and a
       link to the chapter's homework.
    """),
    md("""
    ## The model in one cell

    `cowlab.Kernel` is a toy kernel with the Linux rules for anonymous memory: physical
    frames (`PF0`, `PF1`, ...) with reference counts, one page table per process
    (virtual page `VP1` maps to a frame, read-only or writable, maybe marked COW), and
    the faults that connect them. Every call returns or logs *events* that narrate what
    the kernel did, in one sentence each.
    """),
    code("""
    import cowlab

    k = cowlab.Kernel(ram_pages=16)
    parent = k.spawn("parent", pages=3)      # 3 private pages, written once: PF0, PF1, PF2
    for e in k.events:
        print(e.text)
    """),
    md("""
    A drawing shows the same state. Its text form (what you see in a terminal, or if
    the picture does not render) says it in words:
    """),
    code("""
    cowlab.draw(k)
    """),
    md("""
    ## The lab

    The lab is the same model behind buttons: **fork**, **read**, **write**, **exec**,
    **exit**, plus **undo** and **reset**. Pick a process and a virtual page, press a
    button, and watch the page tables, the frames' reference counts (`rc`) and the
    kernel's log change. Nothing you do can break it: a bad request is refused with
    an explanation, and **undo** takes back the last step.

    Try it now: press **fork**; then, with the parent still selected, set **page VP**
    to 1 and press **write**. (To open the course on your own machine, run `make lab`
    in the repository; it starts JupyterLab on this notebook.)
    """),
    code("""
    lab = cowlab.Lab(ram_pages=16)
    lab
    """),
    md("""
    ## Map of the course

    | chapter | the question | homework |
    | --- | --- | --- |
    | [01 fork](01-fork.ipynb) | What does `fork()` copy, if not the memory? | [01-fork](../exercises/01-fork.ipynb) |
    | [02 write faults](02-write-faults.ipynb) | What happens, step by step, on the first write after `fork()`? | [02-write-faults](../exercises/02-write-faults.ipynb) |
    | [03 refcounting](03-refcounting.ipynb) | Four processes write the same shared page: how many copies? | [03-refcounting](../exercises/03-refcounting.ipynb) |
    | [04 exec](04-exec.ipynb) | Why is `fork()` + `exec()` cheap, and why is it still not free? | [04-exec](../exercises/04-exec.ipynb) |
    | [05 overcommit](05-overcommit.ipynb) | Why can a 10 GiB process fail to fork on a 16 GiB machine? | [05-overcommit](../exercises/05-overcommit.ipynb) |
    | [06 Redis BGSAVE](06-redis-bgsave.ipynb) | How much memory does a Redis snapshot really cost? | [06-redis](../exercises/06-redis.ipynb) |
    | [07 COW beyond fork](07-cow-beyond-fork.ipynb) | Where else does the same trick live? | (none) |
    | [08 the real kernel](08-real-kernel.ipynb) | Does Linux on this machine agree with the model? | (none) |

    One more homework has no chapter of its own: [07-code](../exercises/07-code.ipynb),
    where you build copy-on-write fork yourself (the xv6 lab, in Python) and then hunt
    for bugs in other people's versions; do it after chapter 03.

    The model follows Linux; where the model and the live kernel could disagree,
    chapter 08 measures the live kernel. The model's full contract is in the project's
    `README.md`; the package is `cowlab/` and the model itself is `cowlab/kernel.py`.
    """),
    *checks(None,
        """
        from cowlab.selfcheck import Question
        Question("In a drawing, PF1 shows rc=2. What does that mean?",
                 ["PF1 has been copied twice",
                  "two page-table entries (or other references) point at PF1",
                  "PF1 is the second frame in memory"],
                 answer=1,
                 why="rc is the frame's reference count: who still needs it. The frame "
                     "is freed when it drops to 0.")
        """,
        """
        Question("Which button takes back your last step in the lab?",
                 ["reset", "undo", "exit"], answer=1,
                 why="undo restores the state before the last step; reset starts over "
                     "from the initial parent.")
        """),
    md("""
    Next: [01 fork](01-fork.ipynb).
    """),
]

CHAPTERS["01-fork"] = [
    md("""
    # 01 · `fork()`: what is copied, if not the memory?

    > **Predict.** A process uses 1 GiB of memory and calls `fork()`. How many bytes
    > does the kernel copy before `fork()` returns? (a) 1 GiB, (b) nothing at all,
    > (c) about 2 MiB, (d) 4 KiB. Keep your answer; the chapter settles it.
    """),
    md("""
    ## Try

    The lab starts with a parent that owns three pages, `VP0`..`VP2`, in frames
    `PF0`..`PF2`, each with `rc=1`. Press **fork**. Look at three things: the child's
    page table, the `rc` of each frame, and whether the entries are still writable
    (`RW`) or read-only (`RO`). Then, with the parent still selected, set **page VP**
    to 1 and press **write**, and compare with what you predicted.
    """),
    code("""
    import cowlab

    lab = cowlab.Lab(ram_pages=16)
    lab
    """),
    md("""
    ## Why copying is expensive

    Copying an address space eagerly means, for every page: find a free frame, copy
    4 KiB, and write a new page-table entry. For 1 GiB that is 262,144 frames and
    1 GiB of `memcpy`, about a tenth of a second of pure copying at ~10 GB/s, and it
    *doubles* the memory in use, for a child that very often calls `exec()` a
    microsecond later and throws it all away (chapter 04).

    ## What `fork()` does instead

    Linux's `fork()` reaches `dup_mmap()`, which walks the parent's memory areas and
    calls `copy_page_range()`. For a private writable page it copies the *page-table
    entry*, not the page: both entries now point at the same frame, both are made
    read-only, and the frame's reference count goes up by one. (Linux keeps no COW
    bit: a read-only entry inside a writable private area *is* the mark. The model
    shows it as `COW`.) Here is the seed's step 1 on the model:
    """),
    code("""
    k = cowlab.Kernel(ram_pages=16)
    parent = k.spawn("parent", pages=3)
    before = len(k.events)
    child = k.fork(parent)
    for e in k.events[before:]:
        print(e.kind, "|", e.text)
    """),
    code("""
    cowlab.draw(k)
    """),
    md("""
    Every frame is now referenced twice, and nobody can write without the kernel
    noticing, which is the whole point: the first write will fault (chapter 02).
    """),
    code("""
    for vpn in range(3):
        print(f"VP{vpn}: parent {k.pte(parent, vpn)}   child {k.pte(child, vpn)}")
    print("refcounts of PF0..PF2:", [k.refcount(pfn) for pfn in range(3)])
    """),
    md("""
    ## The same fork at real scale

    Now a 10 GiB process (2,621,440 pages of 4 KiB) on a 16 GiB model machine. The
    model keeps its tables in numpy arrays, so this takes a second or two.
    """),
    code("""
    GiB = 2**30 // 4096                      # pages per GiB
    big = cowlab.Kernel(ram_pages=16 * GiB, overcommit_memory=1)
    redis = big.spawn("redis", pages=10 * GiB)
    free_before = big.free_frames()
    kid = big.fork(redis)

    ptes = int((big.page_table(kid).pfn >= 0).sum())
    print(f"PTEs copied into the child: {ptes:,}")
    print(f"frames copied:              {free_before - big.free_frames():,}")
    print(f"page-table bytes copied:    {ptes * 8 / 2**20:.0f} MiB (8 bytes per entry)")
    print("every frame now has rc =", sorted(set(big.refcounts()[:10 * GiB].tolist())))
    """),
    md("""
    So the answer to the prediction is (c): for 1 GiB, `fork()` copies no data pages
    but 262,144 page-table entries of 8 bytes, 2 MiB of page tables.

    ## The seed page was wrong about "microseconds"

    The page this course grew from says COW makes `fork()` of a 1 GB process cost
    "microseconds". It does not: copying each entry (and taking a reference on each
    frame) costs the kernel on the order of 100 ns per 4 KiB page, so
    **tens of milliseconds per GiB**. Redis, which forks its whole dataset to save it,
    documents this as fork latency and reports it as `latest_fork_usec`; measurements
    published for Redis put it around 10-20 ms per GB on bare metal and far worse on
    some virtual machines. Chapter 08 measures it on this machine. Only fewer entries
    help: 2 MiB huge pages (one entry per 512 pages) or leaving a range out of the
    child (`MADV_DONTFORK`, chapter 07).
    """),
    code("""
    import numpy as np
    import matplotlib.pyplot as plt

    sizes = np.array([0.25, 0.5, 1, 2, 4, 8, 10, 16])           # GiB
    entries = sizes * GiB                                         # 4 KiB PTEs to copy
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    ax.fill_between(sizes, entries * 100e-9 * 1e3, entries * 120e-9 * 1e3, alpha=.4,
                    label="COW fork: copy PTEs (100-120 ns each)")
    ax.plot(sizes, entries * 100e-9 * 1e3 / 512, label="COW fork, 2 MiB huge pages")
    ax.plot(sizes, sizes * 2**30 / 10e9 * 1e3, "--", label="eager copy at 10 GB/s (memcpy only)")
    ax.plot([10], [ptes * 110e-9 * 1e3], "ko", label=f"the model's fork: {ptes:,} PTEs")
    ax.set_xlabel("process size (GiB)"); ax.set_ylabel("fork() time (ms), estimated")
    ax.set_title("fork() cost grows with the page table, not with the data")
    ax.legend(fontsize=8); ax.grid(alpha=.3)
    plt.show()
    """),
    md("""
    | scenario | eager copy | copy-on-write |
    | --- | --- | --- |
    | `fork()` of a 1 GiB process | copy 1 GiB, 262,144 new frames | copy 262,144 PTEs: tens of ms, no frames |
    | `fork()` + `exec()` | copy 1 GiB, then discard it | copy the PTEs, then discard them (chapter 04) |
    | child only reads | 1 GiB copied for nothing | nothing more |
    | child writes 10 pages | 1 GiB | 10 frames (40 KiB), one fault each (chapter 02) |

    The table the seed page showed, corrected: copy-on-write removes the *data* copy,
    but the page-table copy stays proportional to the address space.
    """),
    *checks("01-fork",
        """
        from cowlab.selfcheck import Question
        Question("A 3-page parent forks. What is rc(PF1) right after fork()?",
                 ["1", "2", "3"], answer=1,
                 why="Both page tables now point at PF1: two references.")
        """,
        """
        Question("After fork(), which page-table entries are read-only?",
                 ["only the child's", "only the parent's",
                  "both, for every private writable page"],
                 answer=2,
                 why="Either side may write first, so both must fault on the first write.")
        """,
        """
        Question("Why can fork() of a 10 GiB process take a few hundred milliseconds "
                 "even though no page is copied?",
                 ["the kernel zeroes the child's memory",
                  "it copies about 2.6 million page-table entries",
                  "it writes the memory to swap"],
                 answer=1,
                 why="copy_page_range() visits every entry: the cost is proportional to "
                     "the page table, about 100 ns per 4 KiB page.")
        """),
    md("""
    Next: [02 write faults](02-write-faults.ipynb).
    """),
]

CHAPTERS["02-write-faults"] = [
    md("""
    # 02 · The copy-on-write fault, step by step

    > **Predict.** After `fork()`, the parent writes to `VP1`. Then the *child* writes
    > to its `VP1` too. How many frames get copied in total: 0, 1 or 2?
    """),
    md("""
    ## Try

    This lab is in *predict mode*: before each **read** or **write** it asks what the
    kernel will do (and, if you like, the frame's `rc` afterwards), then tells you
    whether you were right. Press **fork**; set **page VP** to 1, predict, and press
    **write** (the parent is selected); then pick the child in **process**, predict,
    and press **write** again. The two faults are not the same kind.
    """),
    code("""
    import cowlab

    lab = cowlab.Lab(ram_pages=16, predict=True)
    lab
    """),
    md("""
    ## The fault, in the kernel's order

    The parent's write hits a read-only entry, so the CPU raises a page fault. Linux's
    handler (`handle_mm_fault()` → `do_wp_page()`) sees that the entry is read-only
    only because of copy-on-write, not because the program may not write there, and then:

    1. looks at the frame's reference count;
    2. if others still use the frame (`rc > 1`): `wp_page_copy()` takes a new frame,
       copies the 4 KiB into it, points the writer's entry at the copy, writable, and
       drops one reference from the old frame;
    3. if the writer is the last user (`rc == 1`): `wp_page_reuse()` just makes the
       entry writable again, with no copy at all;
    4. returns, and the CPU re-runs the faulting store, which now succeeds.

    The seed's step 2, on the model:
    """),
    code("""
    k = cowlab.Kernel(ram_pages=16)
    parent = k.spawn("parent", pages=3)
    child = k.fork(parent)

    for e in k.write(parent, 1, "x"):
        print(e.kind, "|", e.text)
    """),
    code("""
    cowlab.draw(k)
    """),
    md("""
    `PF1` now has `rc=1`: only the child uses it. So when the child writes its `VP1`,
    nothing needs copying:
    """),
    code("""
    for e in k.write(child, 1, "y"):
        print(e.kind, "|", e.text)
    print("frames in use:", k.ram_pages - k.free_frames())
    """),
    md("""
    One copy, not two: the answer to the prediction. The second fault was still a
    fault (the entry was read-only), just a cheap one.

    ## Who copies?

    Whoever writes first. The writer gets the new frame; the other side keeps the
    original. Here the same write, once by the parent and once by the child:
    """),
    code("""
    def after_write(who):
        k = cowlab.Kernel(ram_pages=16)
        p = k.spawn("parent", pages=3)
        c = k.fork(p)
        k.write(p if who == "parent" else c, 1, "x")
        return k

    cowlab.draw([after_write("parent"), after_write("child")],
                titles=["the parent writes first", "the child writes first"])
    """),
    md("""
    ## Reads never copy

    A read of a shared page needs nothing from the kernel: the entry is present and
    readable. Both processes read the same frame, and nothing is logged.
    """),
    code("""
    k = cowlab.Kernel(ram_pages=16)
    parent = k.spawn("parent", pages=3)
    for vpn in range(3):
        k.write(parent, vpn, f"data{vpn}")
    child = k.fork(parent)
    before = len(k.events)
    print("child reads VP0..VP2:", [k.read(child, vpn) for vpn in range(3)])
    print("events logged by the reads:", len(k.events) - before)
    """),
    md("""
    ## The zero page

    Memory that was allocated but never touched has no frame at all. The first *read*
    of it maps the kernel's shared **zero page**: one fault, no frame used, and the
    read sees zeros. The first *write* takes a fresh zeroed frame (`do_anonymous_page()`):
    a fault, but nothing to copy from.
    """),
    code("""
    k = cowlab.Kernel(ram_pages=16)
    p = k.spawn("p", pages=1)
    heap = k.mmap(p, 2)                        # two pages, not touched yet
    print("rss before:", k.stats(p)["rss"], "kB")
    print("read  ->", k.read(p, heap), "|", k.events[-1].text)
    print("rss after the read:", k.stats(p)["rss"], "kB")
    for e in k.write(p, heap + 1, "z"):
        print("write ->", e.text)
    print("rss after the write:", k.stats(p)["rss"], "kB")
    """),
    md("""
    ## At scale: the writer pays, page by page

    A 10 GiB process forks, and the parent then writes 1% of its pages, chosen at
    random. Each page written is exactly one copy and one minor fault; every page
    nobody writes stays shared, however often it is read.
    """),
    code("""
    import numpy as np

    GiB = 2**30 // 4096
    big = cowlab.Kernel(ram_pages=16 * GiB, overcommit_memory=1)
    parent = big.spawn("parent", pages=10 * GiB)
    child = big.fork(parent)
    faults_before = big.stats(parent)["minor_faults"]

    rng = np.random.default_rng(1)
    dirty = rng.choice(10 * GiB, size=10 * GiB // 100, replace=False)
    print("write_many:", big.write_many(parent, dirty, value=1))
    print(f"pages written: {len(dirty):,}")
    print(f"minor faults:  {big.stats(parent)['minor_faults'] - faults_before:,}")
    print(f"memory copied: {len(dirty) * 4096 / 2**20:,.0f} MiB of 10,240 MiB")
    """),
    *checks("02-write-faults",
        """
        from cowlab.selfcheck import Question
        Question("After fork(), the parent copied VP1 away. Now the child writes its VP1. "
                 "What does the kernel do?",
                 ["copies PF1 into a new frame", "makes the child's entry writable, no copy",
                  "kills the child: the page is read-only"],
                 answer=1,
                 why="rc(PF1) is 1: the child is the last user, so do_wp_page() reuses it.")
        """,
        """
        Question("A process reads a page of fresh, never-touched anonymous memory. "
                 "How many frames does that allocate?",
                 ["0: it maps the shared zero page", "1: a zeroed frame", "1: a copy"],
                 answer=0,
                 why="Reads of untouched anonymous memory map the zero page; RSS does not grow.")
        """,
        """
        Question("Who ends up with the new frame after a COW fault?",
                 ["always the child", "always the parent", "the process that wrote"],
                 answer=2,
                 why="The writer faults, so the writer's entry is pointed at the copy.")
        """),
    md("""
    Next: [03 refcounting](03-refcounting.ipynb).
    """),
]

CHAPTERS["03-refcounting"] = [
    md("""
    # 03 · Reference counts: who frees, who copies

    > **Predict.** A parent forks three children. Then all four processes write to
    > their `VP0`, one after the other. How many times is `VP0`'s frame copied?
    > (a) 4, (b) 3, (c) 1.
    """),
    md("""
    ## Try

    With the parent selected, press **fork** three times. Then pick each of the four
    processes in turn in **process**, predict, and press **write** on `VP0`; watch
    `rc` of `PF0` fall. What happens on the fourth write?
    """),
    code("""
    import cowlab

    lab = cowlab.Lab(ram_pages=16, predict=True)
    lab
    """),
    md("""
    ## n sharers, n-1 copies

    Each copy drops one reference from the shared frame. The last process still
    pointing at it finds `rc == 1` and simply takes it back, writable (`cow_reuse`).
    """),
    code("""
    def writes_after_forks(n_children, rules="linux"):
        \"\"\"Fork n children off a 3-page parent, then every process writes VP0.\"\"\"
        k = cowlab.Kernel(ram_pages=16, rules=rules)
        parent = k.spawn("parent", pages=3)
        procs = [parent] + [k.fork(parent) for _ in range(n_children)]
        for p in procs:
            print(f"{p.name:>7} writes VP0:", *(e.text for e in k.write(p, 0, p.pid)))
        return k

    k = writes_after_forks(3)
    kinds = [e.kind for e in k.events]
    print("\\ncopies:", kinds.count("cow_copy"), " reuses:", kinds.count("cow_reuse"))
    """),
    md("""
    The same story with three sharers, one step at a time (**next** / **back**):
    """),
    code("""
    cowlab.Stepper(cowlab.Scenario.THREE_SHARERS)
    """),
    code("""
    cowlab.draw(k)
    """),
    md("""
    ## Freeing

    A frame is freed when its count reaches zero, and not before. Exiting a child
    drops one reference from every frame it maps; only the frames nobody else uses
    go back to the free list.
    """),
    code("""
    k = cowlab.Kernel(ram_pages=16)
    parent = k.spawn("parent", pages=3)
    child = k.fork(parent)
    k.write(child, 2, "mine")                  # the child's own copy of VP2
    print("before exit, rc:", k.refcounts()[:4].tolist(), " free frames:", k.free_frames())
    for e in k.exit(child):
        print(e.kind, "|", e.text)
    print("after exit,  rc:", k.refcounts()[:4].tolist(), " free frames:", k.free_frames())
    """),
    md("""
    ## xv6-lab rules vs Linux rules

    The xv6 copy-on-write lab (MIT 6.1810) has you add a reference count per physical
    page to `kalloc.c` and handle the write fault in `usertrap()`. The simplest correct
    handler **always copies** on a COW fault and lets `kfree()` free the old frame when
    its count reaches zero. Linux's `do_wp_page()` **reuses** the frame when the writer
    is its last user. The smallest case, a parent and one child that both write
    `VP0`, under both rules side by side:
    """),
    code("""
    import contextlib, io

    with contextlib.redirect_stdout(io.StringIO()):     # the narration was shown above
        linux, xv6 = writes_after_forks(1, "linux"), writes_after_forks(1, "xv6")
    cowlab.draw([linux, xv6], titles=["Linux rules", "xv6-lab rules (always copy)"])
    """),
    md("""
    And counting, for more and more sharers:
    """),
    code("""
    def count(k, kind):
        return sum(e.kind == kind for e in k.events)

    print(f"{'writers':>8} {'linux copies':>13} {'xv6 copies':>11} {'xv6 frees':>10}")
    for n in range(1, 7):
        with contextlib.redirect_stdout(io.StringIO()):
            lk, xk = writes_after_forks(n - 1, "linux"), writes_after_forks(n - 1, "xv6")
        print(f"{n:>8} {count(lk, 'cow_copy'):>13} {count(xk, 'cow_copy'):>11} "
              f"{count(xk, 'free'):>10}")
    """),
    md("""
    Both are correct: every process ends up with its own writable page and no frame
    leaks. The xv6 rule spends one extra copy and one extra free per shared page
    that everyone writes, and it copies even when a process writes a page it is the
    only user of (for example after its child exited). That last case is very common
    after `fork()` + `exec()`, the subject of the next chapter.

    To write the fault handler yourself, under either rule, do the coding homework
    [07-code](../exercises/07-code.ipynb) after this chapter's own.
    """),
    *checks("03-refcounting",
        """
        from cowlab.selfcheck import Question
        Question("Five processes share a frame (rc=5) and all five write it. "
                 "How many copies under Linux rules?",
                 ["5", "4", "1"], answer=1,
                 why="Each copy drops rc by one; the fifth writer finds rc=1 and reuses.")
        """,
        """
        Question("A child that shares all its frames with its parent exits. "
                 "How many frames are freed?",
                 ["all of the child's", "none", "half"], answer=1,
                 why="Each shared frame only drops from rc=2 to rc=1; the parent still uses it.")
        """,
        """
        Question("Under the always-copy (xv6 lab) rule, a process writes a COW page "
                 "whose rc is 1. What happens?",
                 ["it copies the page and frees the old frame", "it reuses the frame",
                  "it faults forever"],
                 answer=0,
                 why="Always copy means a copy even for the last user; the old frame's "
                     "count then reaches 0 and kfree() frees it.")
        """),
    md("""
    Next: [04 exec](04-exec.ipynb).
    """),
]

CHAPTERS["04-exec"] = [
    md("""
    # 04 · `fork()` + `exec()`: copies nothing, still not free

    A shell runs every command with `fork()` then `exec()`: the child replaces its
    whole address space with a new program, usually within microseconds.

    > **Predict.** The parent has 3 pages, forks, and the child calls `exec()` of a
    > 1-page program. (1) How many pages were copied? (2) Afterwards the parent writes
    > its `VP0`: does that fault? Does it copy?
    """),
    md("""
    ## Try

    Press **fork**; pick the child in **process** and press **exec**; then pick the
    parent again, predict, and press **write** on `VP0`. Read the log line of that
    last write carefully.
    """),
    code("""
    import cowlab

    lab = cowlab.Lab(ram_pages=16, predict=True)
    lab
    """),
    md("""
    ## What happened

    `exec()` drops every mapping of the child (each shared frame loses a reference)
    and builds a fresh image. Nothing was ever copied.
    """),
    code("""
    k = cowlab.Kernel(ram_pages=16)
    parent = k.spawn("parent", pages=3)
    child = k.fork(parent)
    for e in k.exec(child, pages=1):
        print(e.kind, "|", e.text)
    print("rc of PF0..PF3:", k.refcounts()[:4].tolist())
    print("parent's VP0:", k.pte(parent, 0))
    """),
    md("""
    The parent's frames are back to `rc=1`, but its entries are still read-only and
    marked COW: `fork()` changed them and nobody changed them back. So the parent's
    next write to each page still faults, and the kernel finds `rc == 1` and makes the
    page writable without copying: the parent is **re-privatised**, one fault per page.
    The child's `exit()` has the same effect.
    """),
    code("""
    faults = k.stats(parent)["minor_faults"]
    for e in k.write(parent, 0, "x"):
        print(e.kind, "|", e.text)
    print("parent's minor faults:", faults, "->", k.stats(parent)["minor_faults"])
    cowlab.draw(k)
    """),
    md("""
    ## The cost that remains: O(page-table size)

    Copy-on-write removed the data copy, but `fork()` still copies every page-table
    entry of the parent, and `exec()` then tears all of them down again in the child.
    After that, the parent pays one minor fault for the first write to each page it
    touches. For a big parent that starts a small helper, all of this work is wasted.
    On the model, with a 10 GiB parent that then writes 10% of its pages:
    """),
    code("""
    import numpy as np

    GiB = 2**30 // 4096
    big = cowlab.Kernel(ram_pages=16 * GiB, overcommit_memory=1)
    server = big.spawn("server", pages=10 * GiB)
    helper = big.fork(server)
    copied = int((big.page_table(helper).pfn >= 0).sum())
    big.exec(helper, pages=16)
    f0 = big.stats(server)["minor_faults"]
    hot = np.arange(0, 10 * GiB, 10)                       # every 10th page
    counts = big.write_many(server, hot, value=1)

    print(f"PTEs copied by fork and dropped by exec: {copied:,}")
    print(f"parent's faults afterwards:              {big.stats(server)['minor_faults'] - f0:,}")
    print(f"frames copied:                           {counts.get('cow_copy', 0):,}")
    print(f"at ~100-120 ns per PTE the fork alone is ~{copied * 100e-9 * 1e3:.0f}-"
          f"{copied * 120e-9 * 1e3:.0f} ms")
    """),
    md("""
    ## `vfork()` and `posix_spawn()`

    `vfork()` does not copy the page tables at all: the child *borrows* the parent's
    address space and the parent sleeps until the child calls `exec()` or `_exit()`.
    It is O(1) in the parent's size, and dangerous (the child must not return or
    write memory it shares with its sleeping parent). `posix_spawn()` packages the
    safe pattern: glibc (since 2.24) implements it on Linux with
    `clone(CLONE_VM | CLONE_VFORK)`, and CPython's `subprocess` uses `vfork()` or
    `posix_spawn()` where it can. For a large process that starts other programs,
    they avoid exactly the cost measured above.

    | way to start a program | page-table entries copied | later faults in the parent |
    | --- | --- | --- |
    | `fork()` + `exec()` | one per mapped page of the parent | one per page it writes again |
    | `vfork()` + `exec()` | none | none |
    | `posix_spawn()` (glibc ≥ 2.24) | none | none |
    """),
    *checks("04-exec",
        """
        from cowlab.selfcheck import Question
        Question("A 3-page parent forks and the child execs at once. How many data "
                 "pages were copied?",
                 ["3", "1", "0"], answer=2,
                 why="fork shares the frames; exec drops the child's references. No write "
                     "ever hit a shared page.")
        """,
        """
        Question("After the child's exec, the parent writes VP0 (rc=1, entry still COW). "
                 "What happens?",
                 ["no fault: the entry is writable", "a fault, and the frame is reused "
                  "without copying", "a fault and a copy"],
                 answer=1,
                 why="fork left the entry read-only; do_wp_page() finds rc == 1 and reuses.")
        """,
        """
        Question("Why does fork()+exec() of a 10 GiB server take far longer than of a "
                 "small shell, though neither copies data?",
                 ["exec must read 10 GiB from disk", "fork copies (and exec drops) one "
                  "page-table entry per page", "the child's RSS is 10 GiB"],
                 answer=1,
                 why="The work is proportional to the page table; vfork/posix_spawn skip it.")
        """),
    md("""
    Next: [05 overcommit](05-overcommit.ipynb).
    """),
]

CHAPTERS["05-overcommit"] = [
    md("""
    # 05 · Overcommit: promises the kernel may not keep

    Copy-on-write makes `fork()` *cheap*, but every page the child shares could still
    be written, and then it needs a frame of its own. Does the kernel promise that
    memory at `fork()` time, or hope it will not be needed?

    > **Predict.** A machine has 16 GiB of RAM and no swap. A process of 10 GiB
    > (private, written) calls `fork()`. Under `vm.overcommit_memory=2` with
    > `vm.overcommit_ratio=80`, does the fork succeed? Would it under the default mode 0?
    """),
    md("""
    ## Try

    A small version: 16 frames, a 6-page parent, mode 2 with ratio 50, so the kernel
    will commit at most 8 pages. Press **fork** and read the log. Then set
    **overcommit** to `1: always`, press **reset**, and fork again. Will writing all
    six pages of the child fit in the 16 frames? Try it. How big a parent would make
    the same writes end with the OOM killer?
    """),
    code("""
    import cowlab

    lab = cowlab.Lab(ram_pages=16, pages=6, overcommit_memory=2)   # ratio 50: CommitLimit 8 pages
    lab
    """),
    md("""
    ## Commit accounting

    Linux counts, in `Committed_AS`, every page it has *promised*: each private
    writable mapping is charged when it is created, and charged again for the child at
    `fork()`, because after copy-on-write each side may end up owning all of it
    (`__vm_enough_memory()` in `mm/util.c` decides). The three modes of
    `vm.overcommit_memory`:

    | mode | rule | a request is refused when |
    | --- | --- | --- |
    | 0 (default) | heuristic | the single request is larger than RAM + swap |
    | 1 | always overcommit | never |
    | 2 | strict | `Committed_AS` + request > `CommitLimit` |

    with `CommitLimit = RAM × overcommit_ratio / 100 + swap` (or `overcommit_kbytes`
    instead of the ratio). The model follows these rules, leaving out the kernel's
    small reserves. The question from the top, on a 16 GiB model:
    """),
    code("""
    import errno

    GiB = 2**30 // 4096

    def try_fork(mode, ratio=80):
        k = cowlab.Kernel(ram_pages=16 * GiB, overcommit_memory=mode, overcommit_ratio=ratio)
        try:
            p = k.spawn("redis", pages=10 * GiB)
        except OSError as e:
            return k, f"spawn refused ({errno.errorcode[e.errno]})"
        try:
            k.fork(p)
            return k, "fork succeeds"
        except OSError as e:
            return k, f"fork refused ({errno.errorcode[e.errno]})"

    print(f"{'mode':>4}  {'CommitLimit':>12}  {'Committed_AS':>12}  result")
    for mode in (0, 1, 2):
        k, result = try_fork(mode)
        m = k.meminfo()
        print(f"{mode:>4}  {m['commit_limit'] / 2**20:>8.1f} GiB  "
              f"{m['committed_as'] / 2**20:>8.1f} GiB  {result}")
    """),
    md("""
    Under mode 2 the fork fails although copy-on-write would probably copy little:
    the kernel must be able to honour the worst case, 10 GiB more, and
    10 + 10 > 12.8 GiB. Mode 0 only refuses absurd single requests, and mode 1 never
    refuses. (With the default ratio of 50 on this machine, mode 2 would refuse even
    to create the 10 GiB process.) This is why Redis warns at startup when
    `vm.overcommit_memory` is not 1: its background save is a `fork()` of the whole
    dataset.
    """),
    md("""
    ## When the writes do come: the OOM killer

    Modes 0 and 1 make the promise without the memory behind it. If both processes
    then really write their pages, frames run out in the middle of a page fault, where
    the kernel cannot return an error to anyone. It picks a victim, the process with
    the largest memory footprint, and kills it (`oom_kill_process()`). A small run:
    8 frames, a 5-page parent, mode 1, and a child that rewrites everything.
    (Step through the built-in `OOM` scenario first if you like.)
    """),
    code("""
    cowlab.Stepper(cowlab.Scenario.OOM)
    """),
    code("""
    k = cowlab.Kernel(ram_pages=8, overcommit_memory=1)
    parent = k.spawn("parent", pages=5)
    child = k.fork(parent)
    for vpn in range(5):
        if not child.alive:
            break
        for e in k.write(child, vpn, "new"):
            print(f"child writes VP{vpn}: {e.kind:9} | {e.text}")
    print("alive:", [(p.name, p.alive) for p in k.processes])
    """),
    md("""
    Both processes had 5 pages of RSS; the model breaks the tie towards the higher
    pid, so the faulting child itself dies, and its three copies are freed.

    At real scale, with mode 1: the 10 GiB process forks on the 16 GiB machine, and
    the child rewrites its whole memory. Only about 6 GiB of copies fit.
    """),
    code("""
    import numpy as np

    big = cowlab.Kernel(ram_pages=16 * GiB, overcommit_memory=1)
    redis = big.spawn("redis", pages=10 * GiB)
    saver = big.fork(redis)
    counts = big.write_many(saver, np.arange(10 * GiB), value=2)
    print(counts)
    print("alive:", [(p.name, p.alive) for p in big.processes])
    """),
    *checks("05-overcommit",
        """
        from cowlab.selfcheck import Question
        Question("Under vm.overcommit_memory=2, what does fork() of a process with "
                 "8 GiB of private writable memory ask the commit accounting for?",
                 ["nothing: COW copies nothing", "8 GiB more", "the size of its page tables"],
                 answer=1,
                 why="The child may come to own every page, so the whole private writable "
                     "size is charged again.")
        """,
        """
        Question("Which setting never refuses a fork for lack of commit?",
                 ["vm.overcommit_memory=0", "vm.overcommit_memory=1",
                  "vm.overcommit_memory=2"], answer=1,
                 why="Mode 1 always overcommits; the price is paid later, by the OOM killer, "
                     "if the writes come.")
        """,
        """
        Question("Frames run out during a COW fault. What can the kernel do?",
                 ["return ENOMEM from the write instruction", "kill a process to free memory",
                  "undo the fork"], answer=1,
                 why="A store instruction has no error return: the OOM killer frees memory "
                     "by killing a victim.")
        """),
    md("""
    Next: [06 Redis BGSAVE](06-redis-bgsave.ipynb).
    """),
]

CHAPTERS["06-redis-bgsave"] = [
    md("""
    # 06 · Redis `BGSAVE`: copy-on-write at 10 GiB

    Redis keeps its whole dataset in memory. To save it to disk without stopping, it
    forks: the child writes a consistent snapshot (the RDB file) while the parent keeps
    serving clients. Every page the parent writes during the save is copied once.

    > **Predict.** A 10 GiB Redis instance of small keys (about 100 bytes each) runs
    > `BGSAVE`, and during the save clients modify 5% of the keys, picked at random.
    > How much memory does copy-on-write add: about 0.5 GiB, about 2 GiB, or more
    > than 8 GiB?
    """),
    md("""
    ## Try

    The built-in scenario steps through a small `BGSAVE`: the fork, the child reading
    every page, the parent writing keys (one page twice), the save ending, and one
    write after it. Step through it, and watch which process gets new frames, which
    writes fault and which do not, and how the child's view stays the snapshot.
    """),
    code("""
    import cowlab

    stepper = cowlab.Stepper(cowlab.Scenario.REDIS_BGSAVE)
    stepper
    """),
    md("""
    ## The model at 10 GiB

    A 10 GiB parent, forked once; every experiment below restores that forked state
    and replays the parent's writes. The keys are laid out in memory in order: key
    *i* of *S* bytes lives at byte *i·S*, so a page holds 4096/*S* small keys, and a
    large key spans several pages.

    What Redis reports as `rdb_last_cow_size` is what the *child* finds in its own
    `/proc/self/smaps` as `Private_Dirty` when it finishes. The child wrote nothing,
    but every page the parent copied away left the child the only user of the
    original: the model's `stats(child)["private_dirty"]` is the same figure.
    """),
    code("""
    import numpy as np

    PAGE = 4096
    GiB = 2**30 // PAGE

    def bgsave(pages):
        \"\"\"A dataset of `pages` pages, forked: (kernel, parent, child, snapshot after the fork).\"\"\"
        k = cowlab.Kernel(ram_pages=2 * pages + GiB // 4, overcommit_memory=1)
        redis = k.spawn("redis", pages=pages)
        saver = k.fork(redis)
        return k, redis, saver, k.snapshot()

    def pages_of(keys, key_bytes, pages):
        \"\"\"The pages that writing these keys touches (key i lives at byte i*key_bytes).\"\"\"
        first = keys * key_bytes // PAGE
        last = (keys * key_bytes + key_bytes - 1) // PAGE
        touched = np.zeros(pages, dtype=bool)
        for step in range(int((last - first).max()) + 1):
            touched[np.minimum(first + step, last)] = True
        return np.flatnonzero(touched)

    def replay(ds, keys, key_bytes):
        \"\"\"Back to just after the fork, replay the parent's writes -> pages copied.\"\"\"
        k, redis, saver, forked = ds
        k.restore(forked)
        pages = len(k.page_table(redis).pfn)
        return k.write_many(redis, pages_of(keys, key_bytes, pages), value=1).get("cow_copy", 0)

    big = bgsave(10 * GiB)
    k, redis, saver, _ = big
    rng = np.random.default_rng(6)
    n = 10 * GiB * PAGE // 100                    # 100-byte keys
    some = rng.choice(n, size=n // 20, replace=False, shuffle=False)     # 5% of them
    copies = replay(big, some, 100)
    print(f"{n:,} keys, 5% written at random: {copies / 1e6:.2f} million pages copied "
          f"({copies / (10 * GiB):.0%} of the pages)")
    print(f"child's Private_Dirty (rdb_last_cow_size): {k.stats(saver)['private_dirty'] / 2**20:.1f} GiB")
    """),
    md("""
    Not 0.5 GiB: close to 9 GiB. With 40 keys on a page, a page escapes only if *none*
    of its 40 keys is written: 0.95⁴⁰ ≈ 13%. The seed page's "5% of keys modified,
    5% of pages copied" holds only when the modified keys sit together, or when each
    key fills a page or more.

    ## COW memory vs the fraction of keys written, by key size

    The fraction of pages copied does not depend on the dataset's size (a page's fate
    depends only on its own keys), so this sweep replays on a 1 GiB copy of the same
    layout to stay quick; the 10 GiB point above lands on the 100 B curve.
    """),
    code("""
    import matplotlib.pyplot as plt

    small = bgsave(GiB)
    fractions = np.array([0.001, 0.01, 0.05, 0.2])
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for key_bytes in (100, 1024, 16384):
        nkeys = GiB * PAGE // key_bytes
        cow = [replay(small, rng.choice(nkeys, size=int(nkeys * f), replace=False,
                                        shuffle=False), key_bytes) / GiB for f in fractions]
        ax.plot(fractions * 100, np.array(cow) * 100, "o-", label=f"{key_bytes:,} B keys, random")
    nkeys = GiB * PAGE // 100
    packed = [replay(small, np.arange(int(nkeys * f)), 100) / GiB for f in fractions]
    ax.plot(fractions * 100, np.array(packed) * 100, "k--", label="100 B keys, written keys adjacent")
    ax.plot([5], [copies / (10 * GiB) * 100], "r*", ms=12, label="the 10 GiB run above")
    ax.set_xscale("log"); ax.set_xlabel("keys written during the save (%)")
    ax.set_ylabel("pages copied (% of the dataset)"); ax.set_ylim(0, 105)
    ax.set_title("The same 5% of keys copies 5% to 90% of the memory")
    ax.legend(fontsize=8); ax.grid(alpha=.3)
    plt.show()
    """),
    md("""
    Real Redis usually sits near the random curves, not the "adjacent" line: keys
    are allocated as they arrive, with their dictionary entries and object headers
    elsewhere, so a write touches several scattered pages. Redis even stops updating
    a key's LRU clock on *reads* while a child is saving, because that header write
    alone would copy pages (see `lookupKey()` in Redis's `db.c`).

    ## COW memory as a function of the write rate

    The save lasts as long as writing 10 GiB to disk takes, say 40 s at 250 MiB/s.
    Clients keep writing random 100-byte keys at a steady rate; COW memory grows
    fast at first, then slows as more writes land on pages already copied. This is
    the 10 GiB dataset again.
    """),
    code("""
    save_s, slices = 40, 8
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for rate in (1_000, 10_000, 100_000):                 # key writes per second
        k.restore(big[3])
        t, cow = [0], [0.0]
        for i in range(1, slices + 1):
            keys = rng.integers(0, n, size=rate * save_s // slices)
            done = k.write_many(redis, pages_of(keys, 100, 10 * GiB), value=1)
            t.append(i * save_s / slices)
            cow.append(cow[-1] + done.get("cow_copy", 0) * PAGE / 2**30)
        ax.plot(t, cow, "o-", label=f"{rate:,} writes/s -> {cow[-1]:.1f} GiB")
    ax.set_xlabel("seconds into the save"); ax.set_ylabel("COW memory (GiB)")
    ax.set_title("COW during a 40 s BGSAVE of 10 GiB (100 B keys, uniform)")
    ax.legend(fontsize=8); ax.grid(alpha=.3)
    plt.show()
    """),
    md("""
    Key distribution matters as much as the rate. The same 4 million writes of 100 B
    keys to the 10 GiB dataset, three ways:
    """),
    code("""
    writes = 4_000_000
    ways = {
        "uniform over all keys": rng.integers(0, n, size=writes),
        "hot set: 1% of the keys": rng.integers(0, n // 100, size=writes),
        "append-only (new keys at the end)": np.arange(n - writes, n),
    }
    for name, keys in ways.items():
        print(f"{name:36} {replay(big, keys, 100) * PAGE / 2**30:5.1f} GiB")
    """),
    md("""
    ## Fork latency: the page-table copy

    Before any of this, the `fork()` itself stops Redis: one thread serves every
    client, and it is inside `fork()` while the kernel copies the page table
    (chapter 01). Redis reports it as `latest_fork_usec`.
    """),
    code("""
    ptes = int((k.page_table(saver).pfn >= 0).sum())
    print(f"{ptes:,} PTEs -> about {ptes * 100e-9 * 1e3:.0f}-{ptes * 120e-9 * 1e3:.0f} ms "
          f"with no client served (at 100-120 ns per entry)")
    """),
    md("""
    ## Transparent huge pages, then and now

    With 2 MiB transparent huge pages (THP), the fork copies one entry per 2 MiB
    instead of 512, so it is far shorter. But the write fault used to copy the *whole*
    2 MiB page: that was Linux's behaviour for anonymous THP until 5.8, when the
    commit "thp: change CoW semantics for anon-THP" made the fault split the huge
    mapping and copy only 4 KiB. Redis warned about THP for years because of the old
    behaviour (and newer Redis versions still turn THP off for themselves). The model
    has both rules: `thp="copy"` (before 5.8) and `thp="split"` (5.8 and later).
    """),
    code("""
    HUGE = 512                                      # 4 KiB pages per 2 MiB huge page

    def thp_bgsave(thp, keys):
        h = cowlab.Kernel(ram_pages=16 * GiB, overcommit_memory=1, thp=thp)
        r = h.spawn("redis", pages=1)
        start = h.mmap(r, 10 * GiB, huge=True)
        h.write_many(r, start + np.arange(0, 10 * GiB, HUGE), value=0)   # fault each huge page in
        child = h.fork(r)
        h.write_many(r, start + pages_of(keys, 100, 10 * GiB), value=1)
        return h.stats(child)["private_dirty"] / 2**20

    def size(gib):
        return f"{gib:.1f} GiB" if gib >= 1 else f"{gib * 1024:.0f} MiB"

    few = rng.choice(n, size=2_000, replace=False)     # 2,000 keys: 0.002% of them
    for thp in ("copy", "split"):
        print(f"thp={thp!r:8} 2,000 keys written -> COW {size(thp_bgsave(thp, few))}")
    """),
    *checks("06-redis",
        """
        from cowlab.selfcheck import Question
        Question("Keys of 100 B, 40 to a page; 5% of keys written at random during a "
                 "save. Roughly what fraction of pages gets copied?",
                 ["5%", "about 40%", "about 87%"], answer=2,
                 why="A page escapes only if none of its 40 keys is written: 0.95^40 ≈ 13%.")
        """,
        """
        Question("rdb_last_cow_size is measured in the child, which wrote nothing. Why "
                 "is it not zero?",
                 ["the child's reads copy pages",
                  "each page the parent copied leaves the child as the sole (private) "
                  "user of the original", "Redis adds the parent's RSS"],
                 answer=1,
                 why="Private_Dirty counts dirty pages mapped only once: the parent's copies "
                     "make the child's originals private.")
        """,
        """
        Question("On Linux 5.8 or later with THP, the parent writes one byte of a 2 MiB "
                 "huge page after fork(). How much is copied?",
                 ["2 MiB", "4 KiB", "nothing"], answer=1,
                 why="Since 5.8 the fault splits the huge mapping and copies one 4 KiB page.")
        """),
    md("""
    Next: [07 COW beyond fork](07-cow-beyond-fork.ipynb).
    """),
]

CHAPTERS["07-cow-beyond-fork"] = [
    md("""
    # 07 · Copy-on-write beyond `fork()`

    The trick is always the same: share until someone writes, count the sharers, and
    give the writer its own copy. This chapter follows it through the other places
    `fork()` meets memory, and then out of memory altogether.

    > **Predict.** Before forking, a parent maps two regions: one `MAP_SHARED`, one
    > `MAP_PRIVATE`. After the fork the child writes to both. Which of the child's two
    > writes does the parent see?
    """),
    md("""
    ## Try: shared vs private

    Step through a shared mapping first: the child writes, the parent reads.
    """),
    code("""
    import cowlab

    cowlab.Stepper(cowlab.Scenario.SHARED_MAPPING)
    """),
    md("""
    In code, `k.mmap(p, pages, shared=True)` is a `MAP_SHARED | MAP_ANONYMOUS` region:
    its frames belong to a memory object that both processes map writable, so `fork()`
    does not mark it copy-on-write. Both kinds side by side:
    """),
    code("""
    import cowlab

    k = cowlab.Kernel(ram_pages=16)
    parent = k.spawn("parent", pages=1)
    shared = k.mmap(parent, 1, shared=True, populate=True)
    private = k.mmap(parent, 1, shared=False, populate=True)
    child = k.fork(parent)
    for vpn in (shared, private):
        for e in k.write(child, vpn, "child was here"):
            print(f"child writes VP{vpn}:", e.kind, "|", e.text)
    print("parent reads the shared page: ", k.read(parent, shared))
    print("parent reads the private page:", k.read(parent, private))
    cowlab.draw(k)
    """),
    md("""
    Only the shared write is visible. The shared frame's `rc` counts the memory
    object's own reference as well as each page-table entry, and Linux does not even
    copy the shared region's entries at `fork()`: the child faults them in from the
    object when it first touches them.

    ## Leaving memory out of the child: `MADV_DONTFORK`, `MADV_WIPEONFORK`

    * `madvise(MADV_DONTFORK)` marks a range `VM_DONTCOPY`: `dup_mmap()` skips it, so
      the child has no mapping there at all (touching it is a `SIGSEGV`), and `fork()`
      copies none of its page-table entries. Used for DMA buffers, and for huge
      regions that would only slow the fork down.
    * `madvise(MADV_WIPEONFORK)` (Linux 4.14) keeps the range in the child, but
      empty: it reads as zeros. Made for secrets and random-number state that a child
      must never inherit.
    """),
    code("""
    k = cowlab.Kernel(ram_pages=16)
    p = k.spawn("parent", pages=1)
    keys = k.mmap(p, 1, populate=True)
    dma = k.mmap(p, 1, populate=True)
    k.write(p, keys, 0xC0FFEE); k.write(p, dma, 42)
    k.madvise(p, keys, 1, "wipeonfork")
    k.madvise(p, dma, 1, "dontfork")
    c = k.fork(p)
    print("child reads the wiped page:", k.read(c, keys), "| parent still has", k.read(p, keys))
    for e in k.write(c, dma, 1):
        print("child touches the dontfork page:", e.kind, "|", e.text)
    print("child alive:", c.alive, "| parent alive:", p.alive)
    """),
    md("""
    ## Filesystem snapshots: blocks with reference counts

    A snapshot of a filesystem is a `fork()` that never writes. Btrfs keeps reference
    counts on its extents, and a snapshot makes every block of the volume shared by
    one more tree (lazily: it references the tree's root, and the counts move down
    the tree as nodes get copied). A later write to the live volume goes to a new
    block and drops one reference from the old block, which the snapshot keeps. (ZFS reaches the same result with block
    birth times instead of counts.) Model it with the same machinery: the volume is a
    process whose pages are blocks, and the snapshot is its fork.
    """),
    code("""
    fs = cowlab.Kernel(ram_pages=32)
    volume = fs.spawn("volume", pages=8)          # 8 blocks of data
    fs.write_many(volume, range(8), value="v1")
    snapshot = fs.fork(volume)                    # instant: only references are added
    for block in (2, 3):
        fs.write(volume, block, "v2")             # the live volume changes two blocks
    print("blocks in use:", fs.ram_pages - fs.free_frames(), "for 8 + 8 blocks visible")
    print("snapshot still reads block 2 as:", fs.read(snapshot, 2))
    cowlab.draw(fs)
    """),
    md("""
    ## Container layers: the granularity matters

    Every container started from an image shares the image's layers; each container's
    changes go to its own writable layer. With `overlay2`, the usual Docker storage
    driver, the unit of copying is the **file**: the first write to a file of a lower
    layer copies the whole file up (overlayfs "copy-up"), even to change one byte.
    Block-level drivers (btrfs, ZFS, device-mapper thin) copy only the blocks written.
    Three containers each change 1 byte in a 64 MiB file of a 256 MiB image:
    """),
    code("""
    import numpy as np

    MiB = 2**20 // 4096
    FILE = np.arange(64 * MiB, 128 * MiB)         # the file's pages in the image

    def run_containers(copy_up_whole_file):
        host = cowlab.Kernel(ram_pages=1024 * MiB, overcommit_memory=1)
        image = host.spawn("image", pages=256 * MiB)
        copies = 0
        for i in range(3):
            c = host.fork(image)
            counts = host.write_many(c, FILE if copy_up_whole_file else FILE[:1], value=i)
            copies += counts.get("cow_copy", 0)
        return copies

    for name, whole in (("overlay2 (file copy-up)", True), ("block-level driver", False)):
        copied = run_containers(whole)
        print(f"{name:24} copies {copied * 4:9,} KiB for 3 one-byte changes")
    """),
    md("""
    Same idea, same refcounts; the cost is set by the size of the unit you copy: a
    4 KiB page, a 2 MiB huge page (chapter 06), a filesystem block, or a whole file.
    """),
    *checks(None,
        """
        from cowlab.selfcheck import Question
        Question("After fork(), the child writes into a MAP_SHARED region. What does "
                 "the parent see?",
                 ["the old value: the child got a copy", "the child's new value",
                  "the child is killed with SIGSEGV"], answer=1,
                 why="Shared mappings are not copy-on-write: both map the same writable frame.")
        """,
        """
        Question("Which advice makes a range read as zeros in the child but keeps it "
                 "mapped there?",
                 ["MADV_DONTFORK", "MADV_WIPEONFORK", "MAP_PRIVATE"], answer=1,
                 why="WIPEONFORK keeps the mapping and empties it; DONTFORK removes it.")
        """,
        """
        Question("A container changes one byte of a 1 GiB file from its image, on "
                 "overlay2. How much is copied into its writable layer?",
                 ["4 KiB", "1 GiB", "nothing until commit"], answer=1,
                 why="overlayfs copies a lower file up whole on its first write.")
        """),
    md("""
    This chapter has no homework. Next: [08 the real kernel](08-real-kernel.ipynb), where
    the model meets Linux itself.
    """),
]


# ---------------------------------------------------------------------------
# Writing and executing
# ---------------------------------------------------------------------------
def notebook(name, cells):
    """An nbformat notebook with stable cell ids (so rebuilds diff cleanly)."""
    nb = nbformat.v4.new_notebook()
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3",
                              "language": "python"}
    nb.metadata.language_info = {"name": "python"}
    for i, (kind, src) in enumerate(cells):
        new = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        cell = new(src)
        cell.id = f"{name[:2]}-{i:02d}"
        nb.cells.append(cell)
    return nb


def execute(nb, timeout=120):
    """Run top to bottom in a fresh kernel started in notebooks/, keeping widget state
    (so a static viewer can still show the widgets)."""
    NotebookClient(nb, timeout=timeout, kernel_name="python3", store_widget_state=True,
                   resources={"metadata": {"path": str(HERE)}}).execute()
    return nb


def kernel_env(head=False):
    """Let the notebooks' kernel import cowlab from this checkout even if it is not
    installed; with head=True, from a clean export of the last commit instead (other
    people's uncommitted edits in a shared checkout then cannot leak into the outputs)."""
    import os
    root = str(HERE.parent)
    if head:
        import subprocess
        import tempfile
        import atexit
        import shutil
        root = tempfile.mkdtemp(prefix="cowlab-head-")
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        archive = subprocess.run(["git", "-C", str(HERE.parent), "archive", "HEAD", "cowlab"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", root], input=archive, check=True)
    parts = [root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))


def build(name, run=True):
    nb = notebook(name, CHAPTERS[name])
    seconds = 0.0
    if run:
        start = time.perf_counter()
        execute(nb)
        seconds = time.perf_counter() - start
    nbformat.validate(nb)
    path = HERE / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path, seconds


def main(argv):
    run = "--no-execute" not in argv
    if run:
        kernel_env(head="--head" in argv)
    wanted = [a for a in argv if not a.startswith("--")]
    names = [n for n in CHAPTERS if not wanted or any(n.startswith(w) for w in wanted)]
    if not names:
        print(f"no chapter matches {wanted}; chapters: {', '.join(CHAPTERS)}", file=sys.stderr)
        return 2
    for name in names:
        path, seconds = build(name, run)
        print(f"{path.relative_to(HERE.parent)}" + (f"  executed in {seconds:.1f} s" if run else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
