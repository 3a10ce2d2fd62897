"""Homework 06: Redis BGSAVE, COW in production.

Same shape as questions_course: each solver computes its answer with the model
from the variant's params, and its body is the solution cell.
"""
import cowlab

from . import questions_course as course
from .question import declare


# == 06-redis =========================================================================


def _make_06_q1(rng):
    per_page = rng.choice([16, 32, 64])
    pages = rng.randint(40, 120)
    count = rng.randint(per_page // 2, per_page * 4)
    first = rng.randrange(pages * per_page - count)
    return {"pages": pages, "per_page": per_page, "first": first, "count": count,
            "size": 4096 // per_page}


@declare("06-redis", "q1", points=1, kind="number", title="Packed keys",
          prose="**Packed keys.** Redis forks for BGSAVE; while the child writes the "
                "snapshot, the parent keeps serving writes. Key i lives on page "
                "`i // per_page` (keys packed one after another).",
          prompt="The dataset is {pages} pages, {per_page} keys per page ({size} B each). "
                 "During BGSAVE the parent modifies {count} consecutive keys starting at key "
                 "{first}. How many pages does the parent copy?",
          make=_make_06_q1, unit="pages",
          hint="which pages do the first and the last modified key live on?",
          traps=lambda p: [(p["count"], "several keys share one page"),
                           (-(-p["count"] // p["per_page"]), "a run of keys need not start "
                            "at a page boundary")])
def q1_packed_keys(p):
    k = cowlab.Kernel(ram_pages=2 * p["pages"] + 8)
    redis = k.spawn("redis", pages=p["pages"])
    k.fork(redis)                                   # the BGSAVE child
    keys = range(p["first"], p["first"] + p["count"])
    counts = k.write_many(redis, [key // p["per_page"] for key in keys])
    return counts.get("cow_copy", 0)


def _make_06_q2(rng):
    per_page = rng.choice([32, 64])
    pages = rng.randint(50, 100)
    percent = rng.choice([1, 2, 5])
    keys = rng.sample(range(pages * per_page), pages * per_page * percent // 100)
    return {"pages": pages, "per_page": per_page, "percent": percent, "keys": sorted(keys),
            "count": len(keys)}


@declare("06-redis", "q2", points=2, kind="number", title="Scattered keys",
          prose="**Scattered keys.** The page this course grew from says \"5% of keys "
                "modified, 5% of pages copied\". Check it when the modified keys are spread "
                "over the dataset. Give a fraction between 0 and 1 (within 0.01). "
                "`hw.params` lists the keys.",
          prompt="The dataset is {pages} pages, {per_page} keys per page. During BGSAVE "
                 "the parent modifies {count} keys ({percent}% of them) at random places "
                 "(hw.params(...)['keys']). What fraction of the pages does it copy?",
          make=_make_06_q2, tolerance=0.01,
          hint="count distinct pages touched, not keys",
          traps=lambda p: [(p["percent"] / 100, "that holds only if the keys are packed "
                            "together")])
def q2_scattered_keys(p):
    k = cowlab.Kernel(ram_pages=2 * p["pages"] + 8)
    redis = k.spawn("redis", pages=p["pages"])
    k.fork(redis)
    counts = k.write_many(redis, [key // p["per_page"] for key in p["keys"]])
    return counts.get("cow_copy", 0) / p["pages"]


def _make_06_q3(rng):
    pages = rng.randint(30, 80)
    return {"pages": pages, "other": rng.randint(2, 10),
            "writes": [rng.randrange(pages) for _ in range(rng.randint(10, 40))]}


@declare("06-redis", "q3", points=1, kind="number", title="Memory at the end of BGSAVE",
          prose="**Memory at the end of BGSAVE.** The child only reads the dataset; the "
                "parent writes. Memory in use is MemTotal - MemFree (kB, pages of 4 KiB).",
          prompt="A machine runs another process of {other} pages. Redis spawns with {pages} "
                 "pages and forks for BGSAVE; the child reads every page; the parent writes "
                 "these pages: {writes}. How many kB are in use just before the child exits?",
          make=_make_06_q3, unit="kB",
          hint="reads never copy; each page the parent writes is copied once",
          traps=lambda p: [((p["other"] + 2 * p["pages"]) * 4, "fork does not copy"),
                           ((p["other"] + p["pages"] + len(p["writes"])) * 4,
                            "a page written twice is copied once")])
def q3_memory_in_use(p):
    k = cowlab.Kernel(ram_pages=4 * p["pages"] + p["other"])
    k.spawn("other", pages=p["other"])
    redis = k.spawn("redis", pages=p["pages"])
    child = k.fork(redis)
    for vpn in range(p["pages"]):
        k.read(child, vpn)
    k.write_many(redis, p["writes"])
    info = k.meminfo()
    return info["mem_total"] - info["mem_free"]


def _make_06_q4(rng):
    p = {"pages": rng.randint(6, 10)}
    p["writes"] = sorted(set(rng.randrange(p["pages"]) for _ in range(rng.randint(2, 5))))
    k = cowlab.Kernel(ram_pages=32)
    redis = k.spawn("redis", pages=p["pages"])
    child = k.fork(redis)
    for vpn in p["writes"]:
        k.write(redis, vpn, "new value")
    return course.claims(rng, k, {"redis": redis, "child": child},
                  ["stat", "stat", "refcount", "free", "cow"], p, named=p["pages"])


@declare("06-redis", "q4", points=2, kind="choice", title="What smaps shows during BGSAVE",
          prose="**What smaps shows during BGSAVE.** Redis logs \"COW: N MB\" from the "
                "child's Private_Dirty. Exactly one statement printed below holds.",
          prompt="RAM 32 frames. Redis spawns with {pages} pages (VPn on PFn) and forks; the "
                 "child reads only; the parent writes VPs {writes}. Which statement is true?",
          make=_make_06_q4, named_frames=lambda p: p["pages"],
          hint="a page copied by one side becomes private in both processes")
def q4_bgsave_true_statement(p):
    k = cowlab.Kernel(ram_pages=32)
    redis = k.spawn("redis", pages=p["pages"])
    child = k.fork(redis)
    for vpn in p["writes"]:
        k.write(redis, vpn, "new value")
    procs = {"redis": redis, "child": child}

    def actual(c):
        if c["what"] == "refcount":
            return k.refcount(c["pfn"])
        if c["what"] == "free":
            return k.free_frames()
        if c["what"] == "stat":
            return k.stats(procs[c["who"]])[c["field"]]
        pte = k.pte(procs[c["who"]], c["vpn"])
        if c["what"] == "private":
            return k.mapcount(pte.pfn) == 1
        return getattr(pte, c["what"])
    return next(letter for letter, c in zip("abcde", p["claims"]) if actual(c) == c["value"])


def _make_06_q5(rng):
    huge = rng.randint(2, 4)
    return {"huge": huge, "keys": sorted(rng.sample(range(huge * 512), rng.randint(2, 6)))}


@declare("06-redis", "q5", points=2, kind="number", title="Huge pages before Linux 5.8",
          prose="**Huge pages before Linux 5.8.** Redis warns to disable transparent huge "
                "pages: before 5.8 a write to a shared 2 MiB page copied all of it "
                "(`Kernel(thp=\"copy\")`). Pages are 4 KiB; one key per page here.",
          prompt="Redis keeps its dataset in {huge} huge pages (mmap huge=True, populated) and "
                 "forks. The parent writes the pages at these offsets of the region: {keys}. "
                 "With thp=\"copy\", how many kB does the kernel copy?",
          make=_make_06_q5, unit="kB",
          hint="count the huge pages touched, and what one copy costs",
          traps=lambda p: [(len(p["keys"]) * 4, "that is what Linux 5.8+ copies")])
def q5_thp_copy(p):
    k = cowlab.Kernel(ram_pages=3 * 512 * p["huge"] + 16, thp="copy")
    redis = k.spawn("redis", pages=1)
    start = k.mmap(redis, 512 * p["huge"], huge=True, populate=True)
    k.fork(redis)
    free_before = k.free_frames()
    k.write_many(redis, [start + key for key in p["keys"]])
    return (free_before - k.free_frames()) * k.page_size // 1024


def _make_06_q6(rng):
    return {"ram": rng.choice([1000, 2000, 4000]), "ratio": rng.choice([50, 80, 100]),
            "swap": rng.choice([0, 200]), "other": rng.randint(20, 100)}


@declare("06-redis", "q6", points=2, kind="number", title="The biggest Redis that can BGSAVE",
          prose="**The biggest Redis that can BGSAVE.** Redis asks for "
                "`vm.overcommit_memory=1` because in mode 2 the BGSAVE fork is charged the "
                "whole dataset again. Find the answer by asking the model (bisect).",
          prompt="Mode 2, RAM {ram} pages, {swap_text}, ratio {ratio}; another process "
                 "of {other} pages runs. What is the largest Redis (pages, spawned) whose "
                 "BGSAVE fork still succeeds?",
          make=_make_06_q6, unit="pages",
          words=lambda p: {"swap_text": f"swap {p['swap']} pages" if p["swap"] else "no swap"},
          hint="Redis and its child are each charged the dataset",
          traps=lambda p: [(p["ram"] * p["ratio"] // 100 + p["swap"] - p["other"],
                            "the fork charges the child too")])
def q6_biggest_redis(p):
    def bgsave_ok(pages):
        k = cowlab.Kernel(ram_pages=p["ram"], swap_pages=p["swap"], overcommit_memory=2,
                          overcommit_ratio=p["ratio"])
        k.spawn("other", pages=p["other"])
        try:
            redis = k.spawn("redis", pages=pages)
            k.fork(redis)
            return True
        except OSError:
            return False
    low, high = 0, p["ram"] - p["other"]       # it must fit in RAM anyway
    while low < high:
        mid = (low + high + 1) // 2
        if bgsave_ok(mid):
            low = mid
        else:
            high = mid - 1
    return low
