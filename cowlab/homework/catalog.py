"""The homework catalog: the assignments in course order, and whose questions they are.

    COURSE         {assignment: (title, question module)} in course order
    ASSIGNMENTS    {assignment: [Question, ...]} in course order, notebook order inside
    question(a, q) / questions(a)   lookups; KeyError naming the known ones

The question modules declare their questions with `question.declare` and never import
this module or the bank back, so the order is this file's whatever is imported first.
"""
from . import question as _question
from . import (questions_code, questions_course, questions_history,  # noqa: F401 (declare)
               questions_redis, questions_refcounting, questions_systems)

COURSE = {
    "01-fork": ("fork() copies page tables, not pages", "questions_course"),
    "02-write-faults": ("Write faults: copy, reuse, zero-fill", "questions_course"),
    "03-refcounting": ("Refcounts: who frees a frame, and when", "questions_refcounting"),
    "04-exec": ("fork + exec: why the copy never happens", "questions_systems"),
    "05-overcommit": ("Overcommit: promising memory that fork might need", "questions_systems"),
    "06-redis": ("Redis BGSAVE: COW in production", "questions_redis"),
    "07-code": ("Code: build COW yourself, then find the bugs", "questions_code"),
    "09-why-linux": ("Why Linux decides COW the way it does", "questions_history"),
}


def build(declared, course=COURSE):
    """{assignment: [Question]} in course order; ValueError if a question sits in an
    assignment the course does not list, or in a module that is not the assignment's."""
    unknown = sorted(set(declared) - set(course))
    if unknown:
        raise ValueError(f"questions declared for {', '.join(unknown)}, which is not in the "
                         f"catalog; add it to catalog.COURSE (known: {', '.join(course)})")
    out = {}
    for name, (_, module) in course.items():
        qs = list(declared.get(name, ()))
        for q in qs:
            where = getattr(q.make, "__module__", "")
            if where.rpartition(".")[2] != module:
                raise ValueError(f"{name}/{q.id} is declared in {where}, but the catalog "
                                 f"gives {name} to {module}")
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
