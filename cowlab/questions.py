"""The self-check questions of every chapter, by id: `cowlab.selfcheck.ask(id)`.

Kept here, in the package, so that a chapter cell reads `ask("02-who-copies")` and
shows no answer and no explanation. Each entry: the question, the choices, the
index of the right one (`answer`), `hint` (shown after a first wrong try, says
where to look, never the answer) and `why` (shown once the answer is revealed).
`{name}` fields in the texts are filled from `ask(id, name=value)`; `derive`, if
given, computes more fields from those (08 passes the machine's page size in KiB,
`kb=4`, and derives 16 and 64 pages of it). Ids start with the chapter's number.
The chapters' opening predictions ("NN-predict") are in `cowlab/predictions.py`, the same way.
"""

QUESTIONS = {
    '00-rc-meaning': dict(
        question='In a drawing, PF1 shows rc=2. What does that mean?',
        choices=[
            'PF1 has been copied twice',
            'two page-table entries (or other references) point at PF1',
            'PF1 is the second frame in memory',
        ],
        answer=1,
        hint=('rc counts references to a frame, not copies of it. Look at how many page '
              'tables point at PF1.'),
        why=("rc is the frame's reference count: who still needs it. The frame is freed "
             'when it drops to 0.'),
    ),
    '00-undo': dict(
        question='Which button takes back your last step in the lab?',
        choices=['reset', 'undo', 'exit'],
        answer=1,
        hint=('One button puts the machine back exactly one step; another starts over from'
              ' the beginning.'),
        why=('undo restores the state before the last step; reset starts over from the '
             'initial parent.'),
    ),
    '01-rc-after-fork': dict(
        question='A 3-page parent forks. What is rc(PF1) right after fork()?',
        choices=['1', '2', '3'],
        answer=1,
        hint=('fork() copies the page table, not the pages: count the entries that point '
              'at PF1 afterwards.'),
        why='Both page tables now point at PF1: two references.',
    ),
    '01-read-only-after-fork': dict(
        question='After fork(), which page-table entries are read-only?',
        choices=[
            "only the child's",
            "only the parent's",
            'both, for every private writable page',
        ],
        answer=2,
        hint=('Which side may write first after fork()? The kernel cannot know, so think '
              'about what both need.'),
        why='Either side may write first, so both must fault on the first write.',
    ),
    '01-fork-cost': dict(
        question=('Why can fork() of a 10 GiB process take a hundred milliseconds or more'
                  ' even though no page is copied?'),
        choices=[
            "the kernel zeroes the child's memory",
            'it copies about 2.6 million page-table entries',
            'it writes the memory to swap',
        ],
        answer=1,
        hint=('No data is copied, but something is still done once per page. What does '
              'copy_page_range() walk?'),
        why=('copy_page_range() copies every PTE of the private memory, one per 4 KiB page: '
             'tens of nanoseconds each, so milliseconds to tens of milliseconds per GiB. '
             'With 2 MiB THP it copies one PMD entry per 2 MiB instead.'),
    ),
    '02-last-sharer-writes': dict(
        question=('After fork(), the parent copied VP1 away. Now the child writes its VP1.'
                  ' What does the kernel do?'),
        choices=[
            'a fault: it copies PF1 into a new frame',
            "a fault: it makes the child's entry writable, no copy",
            'nothing: the write goes through without a fault',
        ],
        answer=1,
        hint=("fork() made the child's PTE read-only and nobody has changed it since. After "
              "the parent's copy, how many page tables still point at PF1?"),
        why=("The child's PTE is still read-only, so its write faults. PF1 has no other "
             'user now (rc=1), so do_wp_page() reuses it: the PTE is made writable, no copy.'),
    ),
    '02-read-untouched': dict(
        question=('A process reads a page of fresh, never-touched anonymous memory. How '
                  'many frames does that allocate?'),
        choices=['0: it maps the shared zero page', '1: a zeroed frame', '1: a copy'],
        answer=0,
        hint=('Nothing has been written yet, so there is nothing to keep. Is there a page '
              'every process can share for reading zeros?'),
        why='Reads of untouched anonymous memory map the zero page; RSS does not grow.',
    ),
    '02-who-copies': dict(
        question='Who ends up with the new frame after a COW fault?',
        choices=['always the child', 'always the parent', 'the process that wrote'],
        answer=2,
        hint=('The fault is taken by the process whose store hit the read-only entry. '
              'Whose entry gets changed?'),
        why="The writer faults, so the writer's entry is pointed at the copy.",
    ),
    '03-five-writers': dict(
        question=('Five processes share a frame (rc=5) and all five write it. How many '
                  'copies under Linux rules?'),
        choices=['5', '4', '1'],
        answer=1,
        hint=('Each copy drops one reference from the shared frame. What does the last '
              'writer find?'),
        why='Each copy drops rc by one; the fifth writer finds rc=1 and reuses.',
    ),
    '03-child-exits': dict(
        question=('A child that shares all its frames with its parent exits. How many '
                  'frames are freed?'),
        choices=["all of the child's", 'none', 'half'],
        answer=1,
        hint=('Exiting drops one reference from each frame the child maps. Who else still '
              'maps them?'),
        why='Each shared frame only drops from rc=2 to rc=1; the parent still uses it.',
    ),
    '03-xv6-rc1': dict(
        question=('Under the always-copy (xv6 lab) rule, a process writes a COW page whose'
                  ' rc is 1. What happens?'),
        choices=[
            'it copies the page and frees the old frame',
            'it reuses the frame',
            'it faults forever',
        ],
        answer=0,
        hint=("'Always copy' means what it says, even for the last user. What happens to "
              "the old frame's count then?"),
        why=("Always copy means a copy even for the last user; the old frame's count then "
             'reaches 0 and kfree() frees it.'),
    ),
    '04-fork-exec-copies': dict(
        question=('A 3-page parent forks and the child execs at once. How many data pages '
                  'were copied?'),
        choices=['3', '1', '0'],
        answer=2,
        hint=('Copies happen only on a write to a shared page. Did anyone write before '
              "exec dropped the child's mappings?"),
        why=("fork shares the frames; exec drops the child's references. No write ever hit"
             ' a shared page.'),
    ),
    '04-parent-writes-after-exec': dict(
        question=("After the child's exec, the parent writes VP0 (rc=1, entry still COW). "
                  'What happens?'),
        choices=[
            'no fault: the entry is writable',
            'a fault, and the frame is reused without copying',
            'a fault and a copy',
        ],
        answer=1,
        hint=("fork() made the parent's entry read-only and exec does not change the "
              "parent's page table. What does the fault find?"),
        why='fork left the entry read-only; do_wp_page() finds rc == 1 and reuses.',
    ),
    '04-fork-exec-cost': dict(
        question=('Why does fork()+exec() of a 10 GiB server take far longer than of a '
                  'small shell, though neither copies data?'),
        choices=[
            'exec must read 10 GiB from disk',
            'fork copies (and exec drops) one page-table entry per page',
            "the child's RSS is 10 GiB",
        ],
        answer=1,
        hint='Neither copies data. What does fork() still do once per page of the parent?',
        why='The work is proportional to the page table; vfork/posix_spawn skip it.',
    ),
    '04-child-before-exec': dict(
        question=('A Python program calls os.fork(), and the child calls exec() at once. '
                  'How many copy-on-write faults does the child take before exec()?'),
        choices=[
            'none: exec() replaces everything',
            "tens to hundreds: the child's code writes pages it shares with the parent",
            'one per page of the parent',
        ],
        answer=1,
        hint=('Before exec() the child runs code: CPython resets its thread states and '
              'locks, and touching an object writes its reference count.'),
        why=("Every page the child writes before exec() is still shared, so each first "
             "write is a COW fault: a few hundred for a CPython child (the exact number "
             "depends on the interpreter's state), far fewer for a C child."),
    ),
    '05-mode2-fork-charge': dict(
        question=('Under vm.overcommit_memory=2, what does fork() of a process with 8 GiB '
                  'of private writable memory ask the commit accounting for?'),
        choices=['nothing: COW copies nothing', '8 GiB more', 'the size of its page tables'],
        answer=1,
        hint=('Under mode 2 the kernel refuses to promise memory it might not have. After '
              'fork, how much could the child come to own?'),
        why=('The child may come to own every page, so the whole private writable size is '
             'charged again.'),
    ),
    '05-never-refuses': dict(
        question='Which setting never refuses a fork for lack of commit?',
        choices=[
            'vm.overcommit_memory=0',
            'vm.overcommit_memory=1',
            'vm.overcommit_memory=2',
        ],
        answer=1,
        hint='One mode never refuses a request for lack of commit; the price is paid later.',
        why=('Mode 1 always overcommits; the price is paid later, by the OOM killer, if '
             'the writes come.'),
    ),
    '05-frames-run-out': dict(
        question='Frames run out during a COW fault. What can the kernel do?',
        choices=[
            'return ENOMEM from the write instruction',
            'kill a process to free memory',
            'undo the fork',
        ],
        answer=1,
        hint=('A store instruction has no return value to carry an error. What else can '
              'the kernel do to free memory?'),
        why=('A store instruction has no error return: the OOM killer frees memory by '
             'killing a victim.'),
    ),
    '05-mode2-at-the-limit': dict(
        question=('Mode 2, CommitLimit 512 MiB, reserves set to 0, nothing else committed. '
                  'Can a process with 256 MiB of private writable memory fork()?'),
        choices=[
            'yes: 256 + 256 MiB fits in 512 MiB',
            'no: the new total would reach the limit',
            'yes: mode 2 does not charge fork()',
        ],
        answer=1,
        hint=('__vm_enough_memory() adds the request first, then compares. Is the test '
              '"at most the limit" or "below the limit"?'),
        why=('Linux grants a request only if Committed_AS stays below the limit: '
             '256 + 256 = 512 MiB reaches it, so fork() fails with ENOMEM.'),
    ),
    '06-keys-fraction': dict(
        question=('Keys of 100 B, 40 to a page; 5% of keys written at random during a '
                  'save. Roughly what fraction of pages gets copied?'),
        choices=['5%', 'about 40%', 'about 87%'],
        answer=2,
        hint=('A page escapes only if none of its 40 keys is written. What is 0.95 to the '
              'power 40?'),
        why='A page escapes only if none of its 40 keys is written: 0.95^40 ≈ 13%.',
    ),
    '06-cow-size-in-child': dict(
        question=('rdb_last_cow_size is measured in the child, which wrote nothing. Why is'
                  ' it not zero?'),
        choices=[
            "the child's reads copy pages",
            ('each page the parent copied leaves the child as the sole (private) user of '
             'the original'),
            "Redis adds the parent's RSS",
        ],
        answer=1,
        hint=('Private_Dirty counts dirty pages mapped by one process only. After the '
              'parent copies a page, who maps the original?'),
        why=("Private_Dirty counts dirty pages mapped only once: the parent's copies make "
             "the child's originals private."),
    ),
    '06-thp-write': dict(
        question=('On Linux 5.8 or later with THP, the parent writes one byte of a 2 MiB '
                  'huge page after fork(). How much is copied?'),
        choices=['2 MiB', '4 KiB', 'nothing'],
        answer=1,
        hint=('Since Linux 5.8 a write fault on a shared huge page splits the mapping '
              'first. How much does it then copy?'),
        why='Since 5.8 the fault splits the huge mapping and copies one 4 KiB page.',
    ),
    '07-shared-write': dict(
        question=('After fork(), the child writes into a MAP_SHARED region. What does the '
                  'parent see?'),
        choices=[
            'the old value: the child got a copy',
            "the child's new value",
            'the child is killed with SIGSEGV',
        ],
        answer=1,
        hint=('MAP_SHARED pages are not copy-on-write. Do parent and child map one frame '
              'or two?'),
        why='Shared mappings are not copy-on-write: both map the same writable frame.',
    ),
    '07-wipeonfork': dict(
        question=('Which advice makes a range read as zeros in the child but keeps it '
                  'mapped there?'),
        choices=['MADV_DONTFORK', 'MADV_WIPEONFORK', 'MAP_PRIVATE'],
        answer=1,
        hint=('One advice removes the range from the child; the other keeps it mapped but '
              'empty.'),
        why='WIPEONFORK keeps the mapping and empties it; DONTFORK removes it.',
    ),
    '07-overlay-copy-up': dict(
        question=('A container changes one byte of a 1 GiB file from its image, on '
                  'overlay2. How much is copied into its writable layer?'),
        choices=['4 KiB', '1 GiB', 'nothing until commit'],
        answer=1,
        hint='overlayfs works on whole files, not on pages or blocks.',
        why=('overlayfs copies a lower file up whole when it is first opened for writing '
             '(with metacopy=on, a chmod or chown copies only the metadata).'),
    ),
    '07-live-migration': dict(
        question=('During pre-copy live migration of a VM, how does the hypervisor know which '
                  'pages to send again?'),
        choices=[
            'the two hosts share the pages copy-on-write',
            'it logs the pages the guest dirties (write-protection or PML)',
            "it compares every page's checksum on both hosts",
        ],
        answer=1,
        hint=('Nothing is shared between two machines. What can a hypervisor learn from '
              "write-protecting the guest's memory?"),
        why=('Dirty page logging: KVM write-protects guest memory (or uses Intel PML) and '
             'records which pages were written, then resends them. No page is shared or '
             'copied on write.'),
    ),
    '08-parent-private-dirty': dict(
        question=('After fork, the child writes 16 of 64 pages ({kb} KiB each). How much '
                  "Private_Dirty does the parent's mapping now show?"),
        choices=['0 kB', '{kb16} kB', '{kb64} kB'],
        answer=1,
        derive=lambda kb, **_: dict(kb16=16 * int(kb), kb64=64 * int(kb)),
        hint=("The child's writes gave it new frames. Who maps the 16 original frames now,"
              ' and how does smaps count a frame mapped once?'),
        why=('The 16 original frames are now mapped by the parent alone, so smaps counts '
             "them as private to the parent; the child's 16 copies are private to the "
             'child.'),
    ),
    '08-pagemap-not-root': dict(
        question='You are not root. What does /proc/self/pagemap show in the PFN bits?',
        choices=[
            'the real frame numbers',
            'zeros: PFNs are hidden without CAP_SYS_ADMIN',
            'an error: the file cannot be opened',
        ],
        answer=1,
        hint=('Physical addresses help attacks such as Rowhammer, so Linux 4.2 restricted '
              'them; the file itself still opens.'),
        why=('Since Linux 4.2 only CAP_SYS_ADMIN sees PFNs; everyone can still read the '
             'present, swapped and exclusively-mapped bits of their own pages.'),
    ),
    '08-baseline': dict(
        question="Why does cowlab.real subtract a baseline from the child's fault count?",
        choices=[
            'the kernel counts each COW fault twice',
            'CPython writes to its own memory after fork, and those pages fault too',
            'getrusage rounds to the nearest 10 faults',
        ],
        answer=1,
        hint=("The child is a Python interpreter, not just the test's loop. What else "
              'writes memory in it after fork()?'),
        why=('Reference counts and the allocator touch pages after fork; the same code run'
             ' on a scratch mapping measures those faults, so they are subtracted and '
             'shown, not hidden.'),
    ),
    '08-exec-then-parent-writes': dict(
        question=('The child execs; then the parent writes every page of a 64-page mapping'
                  ' it had shared with the child. What happens?'),
        choices=[
            'no copies and no faults',
            'no copies, but one fault per page',
            '64 copies and 64 faults',
        ],
        answer=1,
        hint=("exec dropped the child's references, but it did not touch the parent's "
              'read-only entries. What does each first write then find?'),
        why=("fork made the parent's entries read-only; each first write faults, finds the"
             ' frame unshared (rc=1) and makes it writable in place.'),
    ),
    # 09: why Linux decides COW the way it does (the predictions of its labs, then checks)
    '09-dirty-cow': dict(
        question=('A user maps a root-owned file MAP_PRIVATE and read-only, then writes to it '
                  'through /proc/self/mem (a forced write) while another thread calls '
                  'madvise(MADV_DONTNEED) on that page in a loop. What does the file hold '
                  'afterwards, on Linux 4.8 and on Linux 6.x?'),
        choices=[
            'unchanged on both: a private mapping never writes the file',
            'changed on 4.8, unchanged on 6.x',
            'changed on both: a forced write ignores read-only mappings',
        ],
        answer=1,
        hint=('A forced write breaks COW into a private copy, then retries. What if the copy '
              'is thrown away between the break and the retry?'),
        why=('Dirty COW (CVE-2016-5195): on 4.8 the retry dropped FOLL_WRITE, so after '
             'MADV_DONTNEED zapped the copy it found the page-cache page and wrote the file. '
             'Fixed in 4.9 / 4.8.3 with FOLL_COW (19be0eaffa3a); since 6.0 the retry needs an '
             'exclusive anonymous page (5535be309971).'),
    ),
    '09-vmsplice': dict(
        question=('After fork, the child vmsplice()s page VP0 into a pipe, unmaps the page and '
                  'exits. The parent (now the only mapping, mapcount 1) writes a secret to '
                  'VP0. What does a read from the pipe return, on Linux 5.7 and on 6.x?'),
        choices=[
            "the child's old data on both",
            'the secret on 5.7, the old data on 6.x',
            'the secret on both',
        ],
        answer=1,
        hint=('The pipe holds a reference to the frame but no page-table entry. Which count did '
              'each kernel look at before reusing the page in place?'),
        why=('CVE-2020-29374: up to 5.7 a write fault reused any page with mapcount 1, so the '
             'parent wrote into the frame the pipe still held (5.8 first made the vmsplice '
             'itself break COW). Since 5.9 ("do_wp_page() '
             'simplification", 09854ba94c6a) reuse needs refcount 1: the pipe makes it 2, the '
             'parent gets a copy and the pipe keeps the old data.'),
    ),
    '09-exclusive': dict(
        question=('A parent forks and the child exits, so the parent maps its page alone again '
                  '(mapcount 1, refcount 1). On Linux 6.x, how many page faults do its next two '
                  'writes to that page take?'),
        choices=['0 and 0', '1 and 0', '1 and 1'],
        answer=1,
        hint=("fork write-protected the parent's entry and cleared PageAnonExclusive. Does a "
              "child's exit change the parent's page-table entry?"),
        why=("The entry is still read-only from fork, so the first write faults; the page is "
             "not exclusive, but its refcount is 1, so it is reused in place (same frame) and "
             "marked PageAnonExclusive again. The second write finds a writable entry: no "
             "fault (5.19, 6c287605fd56)."),
    ),
    '09-pin-fork': dict(
        question=('A process registers a page as an io_uring fixed buffer (a long-term pin: the '
                  'device may DMA into it) and then forks. Afterwards the parent writes the '
                  'page. On Linux 6.x, does that write fault?'),
        choices=[
            'yes: fork made the page copy-on-write, as always',
            'no: fork copied the pinned page into the child at once',
            'no: the child shares the page writable',
        ],
        answer=1,
        hint='If the parent had to copy, would the device still be writing into its page?',
        why=('Since 5.9 (70e806e4e645, early COW) fork copies a pinned anonymous page into the '
             "child at fork time, so the parent's page stays writable and exclusive and the pin "
             'still points at the page the parent uses. Before, the parent\'s write copied and '
             "the device kept writing into the child's frame."),
    ),
    '09-private-file': dict(
        question=('A process maps a file MAP_PRIVATE, reads page 0, then writes it. What happens '
                  'to the file, and where does the written page live?'),
        choices=[
            'the file changes; the page stays in the page cache',
            'the file is unchanged; the write copies the page into anonymous memory',
            'the file is unchanged; the write changes the page cache but not the disk',
        ],
        answer=1,
        hint=('Private means other processes mapping the file must not see the write. Which '
              'frame do they all map?'),
        why=('The read maps the page-cache frame read-only; the write fault copies it into a '
             "new anonymous frame of this process (smaps' Anonymous grows by a page) and the "
             'page cache, hence the file, is untouched.'),
    ),
    '09-ksm': dict(
        question=('KSM merged two identical pages of a process into one KSM page. The process '
                  'writes the first page (a copy), so the KSM page is mapped once. Then it writes '
                  'the second page: copy or reuse?'),
        choices=['reuse: mapcount and refcount are 1',
                 'copy: a KSM page is never reused in place'],
        answer=1,
        hint='Other processes may be merged with that page later by ksmd. Can its owner know?',
        why=('A KSM page is shared by construction and write-protected; since 5.9 (1a0cf26323c8 '
             'removed reuse_ksm_page) do_wp_page never reuses it: every write copies, measured '
             'here too.'),
    ),
    '09-counts': dict(
        question=('A frame shows rc=2 map=1 (pipe). What does a write fault by the one process '
                  'that maps it do on Linux 6.x, if the page is not PageAnonExclusive?'),
        choices=['reuse it: one mapping', 'copy it: two references',
                 'kill the process: a pipe holds it'],
        answer=1,
        hint='Since 5.9 the reuse test counts every reference, not only page-table entries.',
        why=('Without exclusivity the page is reused only if its refcount is 1; the pipe\'s '
             'reference makes it 2, so the write copies and the pipe keeps what it holds.'),
    ),
    '09-foll-cow': dict(
        question='What did the Dirty COW fix (Linux 4.9, 4.8.3) change?',
        choices=[
            'forced writes to read-only mappings were forbidden',
            'the retry after a COW break accepts only the dirty private copy (FOLL_COW)',
            'MADV_DONTNEED was made to wait for forced writes',
        ],
        answer=1,
        hint=('The bug was in what the retry was willing to write to, not in who may write '
              'through /proc/PID/mem.'),
        why=('19be0eaffa3a kept FOLL_WRITE on the retry and added FOLL_COW: after a COW break '
             'the retry accepts the page only if its PTE is dirty (the copy). Forced writes still '
             'work, which debuggers need. 6.0 replaced FOLL_COW by asking for an exclusive '
             'anonymous page.'),
    ),
    '09-early-cow': dict(
        question='Which pages does fork copy at once since Linux 5.9, instead of sharing them?',
        choices=['every page of a process with io_uring', 'pinned anonymous pages (GUP pins)',
                 'pages with refcount above 1'],
        answer=1,
        hint='Only the pages a device may be writing into right now need this.',
        why=('copy_present_page() copies an anonymous page that may be DMA-pinned '
             '(page_needs_cow_for_dma(), in an mm that has pinned) into the child at fork, so '
             "the parent keeps the pinned page writable and exclusive; other pages are shared."),
    ),
}
