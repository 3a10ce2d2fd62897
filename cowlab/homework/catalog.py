"""The homework catalog: the assignments in course order, and whose questions they are.

    COURSE         {assignment: (title, question module)} in course order
    ASSIGNMENTS    {assignment: [Question, ...]} in course order, notebook order inside
    question(a, q) / questions(a)   lookups; KeyError naming the known ones

The question modules declare their questions with `question.declare` and never import
this module or the bank back, so the order is this file's whatever is imported first.
"""
from . import question as _question
from . import (questions_beyond, questions_build, questions_code,  # noqa: F401 (they declare)
               questions_course, questions_explain, questions_history, questions_redis,
               questions_refcounting, questions_systems)

_BUILD, _EXPLAIN = "questions_build", "questions_explain"

# {assignment: (title, the question modules that may declare its questions)}
COURSE = {
    "01-fork": ("fork() copies page tables, not pages",
                ("questions_course", _BUILD, _EXPLAIN)),
    "02-write-faults": ("Write faults: copy, reuse, zero-fill",
                        ("questions_course", _BUILD, _EXPLAIN)),
    "03-refcounting": ("Refcounts: who frees a frame, and when",
                       ("questions_refcounting", _BUILD, _EXPLAIN)),
    "04-exec": ("fork + exec: why the copy never happens", ("questions_systems", _BUILD, _EXPLAIN)),
    "05-overcommit": ("Overcommit: promising memory that fork might need",
                      ("questions_systems", _BUILD, _EXPLAIN)),
    "06-redis": ("Redis BGSAVE: COW in production", ("questions_redis", _BUILD, _EXPLAIN)),
    "07-beyond-fork": ("Beyond fork: shared mappings, DONTFORK and WIPEONFORK",
                       ("questions_beyond", _EXPLAIN)),
    "08-real-kernel": ("The real kernel: smaps and fault counters",
                       ("questions_beyond", _EXPLAIN)),
    "09-why-linux": ("Why Linux decides COW the way it does",
                     ("questions_history", _EXPLAIN)),
    "07-code": ("Code: build COW yourself, then find the bugs", ("questions_code", _EXPLAIN)),
}


def order(q):
    """Notebook order inside an assignment: by question number (q2 before q10), so the
    order does not depend on which question module was imported first."""
    return int(q.id[1:]) if q.id[1:].isdigit() else 10 ** 6


def build(declared, course=COURSE):
    """{assignment: [Question]} in course order; ValueError if a question sits in an
    assignment the course does not list, or in a module that is not the assignment's."""
    unknown = sorted(set(declared) - set(course))
    if unknown:
        raise ValueError(f"questions declared for {', '.join(unknown)}, which is not in the "
                         f"catalog; add it to catalog.COURSE (known: {', '.join(course)})")
    out = {}
    for name, (_, modules) in course.items():
        modules = (modules,) if isinstance(modules, str) else modules
        qs = sorted(declared.get(name, ()), key=order)
        for q in qs:
            where = getattr(q.make, "__module__", "")
            if where.rpartition(".")[2] not in modules:
                raise ValueError(f"{name}/{q.id} is declared in {where}, but the catalog "
                                 f"gives {name} to {', '.join(modules)}")
        out[name] = qs
    return out


ASSIGNMENTS = build(_question.DECLARED)
TITLES = {name: title for name, (title, _) in COURSE.items()}


def questions(assignment):
    """The questions of one assignment, in notebook order."""
    if assignment not in ASSIGNMENTS:
        raise KeyError(f"unknown assignment {assignment!r}; known: {', '.join(ASSIGNMENTS)}")
    return list(ASSIGNMENTS[assignment])


def question(assignment, qid):
    """Look a question up; KeyError naming the known assignments or questions."""
    for q in questions(assignment):
        if q.id == qid:
            return q
    known = ", ".join(q.id for q in ASSIGNMENTS[assignment]) or "none"
    raise KeyError(f"{assignment} has no question {qid!r}; its questions: {known}")
