"""The question bank: each question's per-student variant, and the judge.

The questions are declared in `questions_*.py` (see question.py) and put in course
order by catalog.py; this module draws a student's numbers and judges answers.
The expected answer is never stored: `expected()` runs the solver on the variant.

    ASSIGNMENTS, TITLES, question(a, q), questions(a)   the catalog (re-exported)
    params(a, q, student)           the variant's numbers (plain JSON data)
    expected(a, q, student)         the answer, recomputed with the model
    judge(a, q, student, given)     -> (status, points, message); never raises
"""
import json
import math
import random
import re

from .catalog import ASSIGNMENTS, TITLES, question, questions  # noqa: F401 (the read API)
from .plain import to_plain
from .question import LETTERS, KINDS, Question, seed  # noqa: F401 (the read API)


# -- variants ------------------------------------------------------------------------

_CACHE = {}


def _cached(key, fn):
    if key not in _CACHE:
        if len(_CACHE) > 4096:
            _CACHE.clear()
        _CACHE[key] = json.dumps(fn())
    return json.loads(_CACHE[key])


REDRAWS = 64


def draw(q, student):
    """The variant of `student`: q.make on the seeded generator. A variant the question
    calls degenerate (nothing happens, an empty list to print...) is drawn again from a
    derived seed, so only those students get new numbers; everyone else keeps theirs."""
    p = q.make(random.Random(seed(q.assignment, q.id, student)))
    n = 0
    while q.degenerate is not None and q.degenerate(p):
        n += 1
        if n > REDRAWS:
            raise RuntimeError(f"{q.assignment}/{q.id}: {REDRAWS} degenerate variants in a "
                               "row; the generator rarely makes a good one")
        p = q.make(random.Random(seed(q.assignment, q.id, f"{student}#redraw{n}")))
    return p


def params(assignment_name, qid, student):
    """The variant's params: plain JSON data drawn from seed(assignment, qid, student)."""
    q = question(assignment_name, qid)
    return _cached(("p", assignment_name, qid, student), lambda: draw(q, student))


def expected(assignment_name, qid, student):
    """The right answer for this variant, recomputed with the model (not for code)."""
    q = question(assignment_name, qid)
    if q.kind == "code":
        raise ValueError(f"{assignment_name}/{qid} is a code question: it is judged by "
                         "running it (codejudge.judge_kernel), it has no single expected value")
    if q.kind == "explain":
        raise ValueError(f"{assignment_name}/{qid} is free text: the teacher grades it")
    return _cached(("e", assignment_name, qid, student),
                   lambda: to_plain(q.solve(params(assignment_name, qid, student))))


def prompt(assignment_name, qid, student):
    """The question text with this student's numbers (what hw.ask prints)."""
    q = question(assignment_name, qid)
    p = params(assignment_name, qid, student)
    text = tidy(q.prompt.format(**{**p, **(q.words(p) if q.words else {})}))
    if q.kind == "choice":
        opts = choice_options(q, p)
        text += "\n" + "\n".join(f"  ({k}) {v}" for k, v in opts.items())
        text += f'\nAnswer with one letter as a string: {qid} = "<letter>"'
    elif q.kind == "number":
        text += f"\nAnswer with a number{' in ' + q.unit if q.unit else ''}"
        text += f" (within {q.tolerance:g})." if q.tolerance else "."
    elif q.kind == "construct":
        text += f"\nAnswer with {q.shape}. Any answer that meets every condition is right."
    return text


_REPEAT = re.compile(r"\b((?:parent|child\d?|grandchild|redis|shell) writes VP\d+)((?:, \1\b)+)")
_TIMES = {2: "twice", 3: "three times"}
# processes the model names after their program, and the role the prompts give them
_ROLE = {"redis": "parent"}


def tidy(text):
    """Wording only, never a number: "child1 writes VP2, child1 writes VP2" reads
    "child1 writes VP2 twice", "VPs [3]" reads "VP3", a named process ("child1") takes
    no article, and a process the model names after its program is called by its role
    in the prompt ("the redis's Rss" reads "the parent's Rss": it says "the parent")."""
    def merge(m):
        n = 1 + m.group(2).count(",")
        return f"{m.group(1)} {_TIMES.get(n, f'{n} times')}"
    text = _REPEAT.sub(merge, text)
    # a list of one page is one page: "writes VPs [3] (each once)" reads "writes VP3"
    text = re.sub(r"\bVPs \[(\d+)\](?: \(each once\))?", r"VP\1", text)
    text = re.sub(r"\b([Tt]he) (\w+)'s\b", lambda m: f"{m.group(1)} {_ROLE[m.group(2)]}'s"
                  if m.group(2) in _ROLE else m.group(0), text)
    return re.sub(r"\b[Tt]he ((?:child|worker)\d+)'s\b", r"\1's", text)


def choice_options(q, p):
    """{letter: text} of a choice question for these params (p["options"] lists
    the option keys in this variant's order)."""
    return {LETTERS[i]: tidy(q.options[key].format(**p) if key in q.options else str(key))
            for i, key in enumerate(p["options"])}


# -- judging -------------------------------------------------------------------------

MANUAL = ("left for the teacher: a free-text answer is graded by hand (0 automatic "
          "points; pending)")


def _number(x):
    return type(x) in (int, float)


def _describe(x):
    s = json.dumps(x) if not isinstance(x, float) or math.isfinite(x) else str(x)
    return f"{type(x).__name__} {s[:40]}"


def judge(assignment_name, qid, student, given):
    """(status, points, message) for a JSON-decoded answer; never raises.

    status: correct | wrong | unanswered | invalid (| manual for a free-text question,
    which only the teacher grades); a wrong answer gets a hint that does not give the
    answer away; a construction is judged by its constraints (construct.py)."""
    try:
        q = question(assignment_name, qid)
    except KeyError as e:
        return "invalid", 0, f"invalid: {e.args[0]}"
    if q.kind == "code":
        return "invalid", 0, "invalid: code questions are graded by running them (codex)"
    if q.kind == "explain":
        return "manual", 0, MANUAL
    try:
        given = to_plain(given, qid)
    except ValueError as e:
        return "invalid", 0, f"invalid: {e}"
    except RecursionError:
        return "invalid", 0, "invalid: the answer is nested too deeply"
    if given is None:
        return "unanswered", 0, "not yet answered"
    try:
        p = params(assignment_name, qid, student)
        if q.kind == "construct":
            from .construct import judge_construct
            return judge_construct(q, p, given)
        exp = expected(assignment_name, qid, student)
        return _JUDGES[q.kind](q, p, exp, given)
    except Exception as e:   # a bug of ours must not cost the student: say so
        return "invalid", 0, (f"invalid: the check failed ({type(e).__name__}: {e}); "
                              "tell your instructor")


def _wrong(q, p, given, fallback=None):
    for trap, hint in (q.traps(p) if q.traps else []):
        if _same(trap, given, q.tolerance):
            return "wrong", 0, f"wrong: {hint}"
    return "wrong", 0, f"wrong: {fallback or q.hint}"


def _same(a, b, tol=0):
    if _number(a) and _number(b) and type(a) is not bool and type(b) is not bool:
        return math.isfinite(b) and abs(a - b) <= tol + 1e-9
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k], tol) for k in a)
    return a == b


def _judge_number(q, p, exp, given):
    if type(given) is bool or not _number(given):
        return "invalid", 0, (f"invalid: expected a number{' in ' + q.unit if q.unit else ''}"
                              f" (an int like 3), got {_describe(given)}")
    if not math.isfinite(given):
        return "invalid", 0, "invalid: expected a finite number"
    if _same(exp, given, q.tolerance):
        return "correct", q.points, "correct"
    return _wrong(q, p, given)


def _judge_choice(q, p, exp, given):
    letters = list(choice_options(q, p))
    if not isinstance(given, str) or given.strip().lower() not in letters:
        return "invalid", 0, (f"invalid: expected one letter among "
                              f"{', '.join(repr(x) for x in letters)}, got {_describe(given)}")
    if given.strip().lower() == exp:
        return "correct", q.points, "correct"
    return _wrong(q, p, given.strip().lower())


def _int(x):
    try:
        return int(x) if type(x) in (int, str) and str(x).lstrip("-").isdigit() else None
    except ValueError:
        return None


def renamed(q, p, exp, given):
    """The answer with the frames it numbered itself put in the model's numbering.

    Which free frame a copy gets is the allocator's business, not a promise of Linux;
    so a question whose prompt names PF0..PF(n-1) (the spawn's, "VPn on PFn") accepts
    any numbers for the other frames, as long as different frames get different
    numbers and none reuses a named one. Unchanged where no consistent renaming exists."""
    n = q.named_frames(p)
    if isinstance(exp, list) and isinstance(given, list) and len(given) == len(exp):
        mine, back = {}, {}
        for e, g in zip(exp, given):
            gi = _int(g) if type(g) is int else None
            if e is None or e < n or gi is None or gi < n:
                continue
            if mine.setdefault(gi, e) != e or back.setdefault(e, gi) != gi:
                return given
        return [mine.get(g, g) if type(g) is int else g for g in given]
    if isinstance(exp, dict) and isinstance(given, dict):
        keys = {k: _int(k) for k in given}
        if any(v is None for v in keys.values()):
            return given
        new_exp = sorted((v, k) for k, v in exp.items() if int(k) >= n)
        new_given = sorted(((given[k], str(keys[k])) for k in given if keys[k] >= n),
                           key=lambda t: (str(type(t[0])), str(t[0])))
        if len(new_exp) != len(new_given):
            return given
        out = {str(keys[k]): v for k, v in given.items() if keys[k] < n}
        for (_, ek), (gv, _) in zip(sorted(new_exp, key=lambda t: (str(type(t[0])), str(t[0]))),
                                     new_given):
            out[ek] = gv
        return out
    return given


def _judge_state(q, p, exp, given):
    if q.named_frames is not None:
        given = renamed(q, p, exp, given)
    if isinstance(exp, list):
        if not isinstance(given, list):
            return "invalid", 0, (f"invalid: expected a list of {len(exp)} entries, "
                                  f"got {_describe(given)}")
        if len(given) != len(exp):
            return "wrong", 0, (f"wrong: expected {len(exp)} entries (one per page, "
                                f"in vpn order), got {len(given)}")
        bad = [i for i, (a, b) in enumerate(zip(exp, given)) if not _same(a, b, q.tolerance)]
        if not bad:
            return "correct", q.points, "correct"
        for i in bad:
            if not (given[i] is None or _number(given[i])) or type(given[i]) is bool:
                return "invalid", 0, (f"invalid: entry {i} should be a number or None, "
                                      f"got {_describe(given[i])}")
        return _wrong(q, p, given, f"{q.hint} (look again at VP{bad[0]})")
    if not isinstance(given, dict):
        return "invalid", 0, f"invalid: expected a dict, got {_describe(given)}"
    missing = sorted(set(exp) - set(given), key=str)
    extra = sorted(set(given) - set(exp), key=str)
    right = [k for k in exp if k in given and _same(exp[k], given[k], q.tolerance)]
    if len(right) == len(exp) and not extra:
        return "correct", q.points, "correct"
    pts = q.points * len(right) // len(exp) if q.partial and not extra else 0
    if extra:
        msg = f"{q.hint} (these keys should not be there: {', '.join(map(str, extra[:4]))})"
    elif missing:
        msg = f"{q.hint} ({len(missing)} key(s) missing)"
    else:
        msg = f"{q.hint} ({len(right)} of {len(exp)} right)"
    return "wrong", pts, f"wrong: {msg}"


_JUDGES = {"number": _judge_number, "choice": _judge_choice, "state": _judge_state}
