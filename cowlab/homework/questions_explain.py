"""One free-response "explain" question per assignment, graded by the teacher.

In the notebook it is an nbgrader manual-grade Markdown cell (solution: true,
grade: true, points) with no autograder test; `cowlab grade` lists it as `manual`,
0 automatic points, "left for the teacher". The rubric is the model answer the
solutions notebook shows (the exercise shows "YOUR ANSWER HERE").
"""
from .question import declare


def _no_params(rng):
    return {}


def explain(assignment, qid, points, title, prompt, rubric):
    declare(assignment, qid, points=points, kind="explain", title=title,
            prose=f"**{title}.** {prompt}", prompt=prompt, make=_no_params, rubric=rubric)(None)


explain("01-fork", "q7", 3, "Explain: why a 10 GiB fork still takes time",
        "fork copies no page, yet forking a 10 GiB process takes tens of milliseconds. "
        "In a few sentences, say what work fork does per page (and per 2 MiB with THP), "
        "and why the parent's TLB must be flushed.",
        "fork walks the parent's page tables and copies every present PTE into the child "
        "(copy_page_range), write-protecting both copies and raising each page's mapcount "
        "and reference count: work per 4 KiB page (2.6 million PTEs for 10 GiB), tens of ns "
        "each. With THP a PMD maps 2 MiB and is copied as one entry, so the cost is per "
        "2 MiB. Since the parent's PTEs lose their write bit, its TLB may still hold "
        "writable translations: fork must flush them, or a parent write would bypass the "
        "COW fault and corrupt the child's view.")

explain("02-write-faults", "q8", 3, "Explain: two faults for a read, then a write",
        "A process reads an untouched page of fresh anonymous memory, then writes it. "
        "How many page faults does it take, and what does each one map?",
        "Two. The read faults and maps the shared zero page read-only (no frame is "
        "allocated). The write then faults again (write to a read-only PTE): the kernel "
        "allocates a fresh zeroed frame and maps it writable in place of the zero page, "
        "which is never copied and never freed.")

explain("03-refcounting", "q7", 3, "Explain: mapcount is not the whole story",
        "The model decides copy-or-reuse from the number of PTEs mapping a frame. Say what "
        "Linux (since 5.19) looks at instead, and give one reference that is not a PTE "
        "but still forces a copy.",
        "Linux keeps PageAnonExclusive: an exclusive page is reused at once; otherwise it "
        "reuses only if the folio's reference count is 1 (plus the swap cache), which also "
        "counts GUP pins (O_DIRECT, RDMA, vmsplice), the swap cache and pipe buffers. A page "
        "pinned by vmsplice into a pipe has mapcount 1 but a higher refcount, so the write "
        "copies and the pipe keeps the old data (the 'last sharer writes without a fault' "
        "claim of the page this course grew from is wrong in both respects).")

explain("04-exec", "q7", 3, "Explain: fork + exec is not free",
        "fork followed at once by exec copies no page, yet a shell with a large heap "
        "spawns slowly. Say where the time goes, and what vfork or posix_spawn change.",
        "fork still copies every PTE of the parent (and write-protects them, flushing the "
        "TLB), charges commit for the private memory, and the child takes COW faults for "
        "whatever it writes before exec (CPython's after-fork work: a few hundred); exec "
        "then throws it all away. vfork (and posix_spawn, which glibc implements with "
        "CLONE_VFORK) shares the parent's address space until exec, so no page table is "
        "copied; the parent is suspended, and the child may not write to the parent's "
        "memory or return from the function.")

explain("05-overcommit", "q7", 3, "Explain: why Redis warns about overcommit mode 0",
        "Redis logs a warning unless vm.overcommit_memory=1. Explain what mode 0 checks "
        "today (Linux >= 5.2), what it checked before, and what can go wrong for a BGSAVE "
        "fork in mode 0 and in mode 2.",
        "Since 5.2 mode 0 refuses only a single request larger than total RAM + swap; "
        "before, its heuristic counted free memory, page cache and reclaimable slab, so a "
        "fork of a big Redis could be refused with ENOMEM on a busy machine (the reason "
        "for Redis's warning). In mode 2 the fork charges the whole private heap again and "
        "fails once Committed_AS would reach CommitLimit less the reserves. In mode 1 the "
        "fork always succeeds, and the risk moves to the OOM killer if the COW copies "
        "outgrow memory.")

explain("06-redis", "q8", 3, "Explain: what a BGSAVE costs in memory, over time",
        "Sketch in words the memory a BGSAVE uses against time, from the fork until the "
        "child exits, for a heap that takes updates in place. What makes the curve steep, "
        "and why does THP make it worse on older kernels?",
        "At the fork the extra memory is only the child's page tables; then every first "
        "write by the parent to a page still shared copies it, so COW memory climbs with "
        "the number of distinct pages written (updates overwrite in place and the "
        "allocator reuses freed memory, so writes spread over the heap); it flattens as "
        "the hot pages are already copied, and falls when the child exits. Random writes "
        "over many pages make it steep. With THP before 5.8 a write to a huge page copied "
        "the whole 2 MiB; since 5.8 the PMD is split and only 4 KiB is copied.")

explain("07-code", "q3", 3, "Explain: the bug you found",
        "Pick one of the suspect kernels you diagnosed. In a few sentences, say which "
        "scenario shows its bug and what a user of that kernel would notice.",
        "A good answer names a concrete short scenario (e.g. fork, child writes VP0, parent "
        "reads VP0) and the visible symptom: a process sees another's write (no copy), a "
        "frame is freed while still mapped (refcount not raised), a leak (refcount not "
        "dropped on exit), or a needless copy (the last sharer copies instead of reusing).")

explain("07-beyond-fork", "q5", 3, "Explain: copy-on-write outside fork",
        "Name two places where copy-on-write works outside fork (one in a filesystem or "
        "container layer, one in virtualisation), say what the unit of copying is in each, "
        "and say why VM live migration is not one of them.",
        "Filesystems: btrfs and ZFS are redirect-on-write: a changed block is written to a new "
        "place and the snapshot keeps the old one; the unit is a block or record (ZFS "
        "recordsize 128 KiB by default), dm-thin copies 64 KiB chunks by default; overlayfs "
        "copies a whole file up on its first open for writing. Virtualisation: KSM merges "
        "identical pages of guests and breaks the merge with a COW copy of one page on "
        "write; qcow2 backing files and snapshots copy clusters (64 KiB by default). Live "
        "migration (pre-copy) logs dirty pages (write protection or PML) and resends them: "
        "nothing is shared and copied on write.")

explain("08-real-kernel", "q4", 3, "Explain: the live kernel shows more",
        "Measured on the live kernel, a child that wrote K pages of a buffer shows more than "
        "4·K kB of Private_Dirty. Give two reasons, and say how chapter 08's experiment "
        "isolates the pages it is about.",
        "The child is a whole process: the interpreter's own after-fork work writes its "
        "heap, stack and libc data (a few hundred COW faults in CPython), each a private "
        "copy; the stack and any page touched for the first time also count. The experiment "
        "reads smaps for the buffer's mapping only (or subtracts a baseline taken before "
        "the writes) and counts faults as a difference of ru_minflt around the writes.")

explain("09-why-linux", "q6", 3, "Explain: why mapcount 1 is not enough to reuse",
        "Until Linux 5.8 a write fault reused an anonymous page whose mapcount was 1. Say "
        "what went wrong with that rule (CVE-2020-29374), and what Linux has decided with "
        "since 5.9 and since 5.19.",
        "A reference that is not a mapping is invisible to the mapcount: after fork the "
        "child vmsplices a page into a pipe (GUP takes a reference), unmaps it and exits; "
        "the parent, alone at mapcount 1, reused the page in place, so the pipe read the "
        "parent's new data. Since 5.9 (the do_wp_page() simplification) reuse needs the "
        "page's reference count to be 1, which counts pins, pipe buffers and the swap "
        "cache, so that write copies. Since 5.19 PageAnonExclusive marks a page known to "
        "be this process's alone (set on first fault, copy or reuse, cleared by fork): an "
        "exclusive page is reused at once; any other reuses only at refcount 1.")
