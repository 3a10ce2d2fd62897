"""The chapters' opening predictions, by id: `cowlab.selfcheck.predict("NN-predict", then=...)`.

Entries have the fields of `cowlab/questions.py`'s self-checks (question, choices,
answer, hint, why). The student commits to a choice before the lab or the drawing
that settles it is shown, so the answer never sits in a cell the student reads.
"""

PREDICTIONS = {
    '01-predict': dict(
        question=('A process uses 1 GiB of memory and calls fork(). How many bytes does the '
                  'kernel copy before fork() returns?'),
        choices=['1 GiB', 'nothing at all', 'about 2 MiB', '4 KiB'],
        answer=2,
        hint='No data page is copied. Is there anything per page that the child needs its own of?',
        why=('No data page is copied, but copy_page_range() gives the child its own page '
             'tables: 262,144 entries of 8 bytes for 1 GiB of 4 KiB pages, 2 MiB.'),
    ),
    '02-predict': dict(
        question=('After fork(), the parent writes to VP1. Then the child writes to its VP1 '
                  'too. How many frames get copied in total?'),
        choices=['0', '1', '2'],
        answer=1,
        hint="After the parent's copy, how many page tables still point at PF1?",
        why=("The parent's write finds PF1 shared (rc=2) and copies it. The child is then "
             "PF1's only user (rc=1): its write still faults, but do_wp_page() reuses the "
             'frame in place.'),
    ),
    '03-predict': dict(
        question=('A parent forks three children. Then all four processes write to their VP0, '
                  "one after the other. How many times is VP0's frame copied?"),
        choices=['4', '3', '1'],
        answer=1,
        hint='Each copy drops one reference from the shared frame.',
        why=('Each of the first three writers copies and drops one reference (rc 4, 3, 2); '
             'the fourth finds rc=1 and reuses the frame: n sharers, n-1 copies.'),
    ),
    '04-predict': dict(
        question=('The parent has 3 pages, forks, and the child calls exec() of a 1-page '
                  'program. Afterwards the parent writes its VP0. What happens?'),
        choices=[
            '3 pages were copied, and the write copies again',
            'nothing was copied; the write faults but copies nothing',
            'nothing was copied, and the write does not fault',
        ],
        answer=1,
        hint="exec changes the child's page table. Does it change the parent's?",
        why=("fork shared the frames and exec dropped the child's references before anyone "
             "wrote. The parent's entry is still read-only from fork, so its write faults, "
             'finds rc=1 and makes the frame writable in place.'),
    ),
    '05-predict': dict(
        question=('16 GiB of RAM, no swap. A process with 10 GiB of private, written memory '
                  'calls fork(). vm.overcommit_memory=2 with vm.overcommit_ratio=80: does the '
                  'fork succeed? And under the default mode 0?'),
        choices=[
            'it succeeds under both',
            'refused (ENOMEM) under mode 2, it succeeds under mode 0',
            'refused under both',
            'it succeeds under mode 2, refused under mode 0',
        ],
        answer=1,
        hint=('Mode 2 compares Committed_AS after the fork with CommitLimit; what does mode 0 '
              'compare a request with?'),
        why=('Mode 2: CommitLimit is 80% of 16 GiB = 12.8 GiB, and the fork would bring '
             'Committed_AS to 10 + 10 = 20 GiB, so fork() fails with ENOMEM. Mode 0 '
             '(__vm_enough_memory in Linux 6.1) refuses only a single request larger than '
             'RAM + swap; 10 GiB is not.'),
    ),
    '06-predict': dict(
        question=('A 10 GiB Redis instance of small keys (about 100 bytes each) runs BGSAVE, '
                  'and during the save clients modify 5% of the keys, picked at random. How '
                  'much memory does copy-on-write add?'),
        choices=['about 0.5 GiB', 'about 2 GiB', 'more than 8 GiB'],
        answer=2,
        hint=('Copies are per page, not per key. About 40 keys share a 4 KiB page: what is the '
              'chance that none of them is written?'),
        why=('A page is copied if any of its ~40 keys is written: 1 - 0.95^40 = 87% of the '
             'pages, about 8.7 GiB of copies.'),
    ),
    '07-predict': dict(
        question=('Before forking, a parent maps two regions: one MAP_SHARED, one MAP_PRIVATE. '
                  "After the fork the child writes to both. Which of the child's writes does "
                  'the parent see?'),
        choices=['both', 'only the one to the MAP_SHARED region',
                 'only the one to the MAP_PRIVATE region', 'neither'],
        answer=1,
        hint='Which of the two mappings is copy-on-write after fork()?',
        why=('MAP_SHARED pages are not copy-on-write: parent and child map the same writable '
             "frame. The private region's write faults and gives the child its own copy."),
    ),
    '09-predict': dict(
        question=('After fork both processes share a page; then the child exits. The parent is '
                  'the only process mapping the page (mapcount 1) and writes to it. Does Linux '
                  '6.x reuse the frame in place?'),
        choices=[
            'always: one mapping means nobody else can see the write',
            'only if nothing else holds a reference: a pipe buffer (vmsplice) makes it copy',
            'never: a page once shared is always copied',
        ],
        answer=1,
        hint=('Mappings are not the only way to hold a frame: vmsplice and io_uring take '
              'references too.'),
        why=('Since 5.9 the test is the refcount, not the mapcount, and since 5.19 an exclusive '
             'page is reused without asking. A pipe holding the frame (vmsplice) makes the write '
             'copy (a pin would have unshared the page when it was taken). Up to 5.7 the '
             'mapcount alone decided: the vmsplice leak.'),
    ),
}
