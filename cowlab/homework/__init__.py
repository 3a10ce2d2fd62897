"""Homework: per-student question variants with instant checks, and the grader.

In a homework notebook:

    from cowlab.homework import Homework
    hw = Homework("01-fork", STUDENT)
    hw.ask("q1")            # the question with this student's numbers
    p = hw.params("q1")     # the same numbers as data, to compute with
    hw.check("q1", q1)      # one line: correct / wrong: hint / not yet answered / invalid: why

The catalog (`catalog.py`, `questions_*.py`), the bank and the code exercises
(`codex.py`, judged by `codejudge.py`) load on first use, so importing this package
costs nothing.
"""
import os


class Homework:
    """One student's view of one assignment: the same variant the grader uses."""

    def __init__(self, assignment, student):
        from . import bank
        if not isinstance(student, str) or not student.strip():
            raise ValueError('STUDENT must be your id as a non-empty string, '
                             'e.g. STUDENT = "ana-maria"')
        bank.questions(assignment)          # KeyError naming the known ones
        self.assignment, self.student = assignment, student

    def __repr__(self):
        return f"Homework({self.assignment!r}, {self.student!r})"

    def params(self, qid):
        """This student's numbers for question qid (a fresh copy each time)."""
        from . import bank
        return bank.params(self.assignment, qid, self.student)

    def ask(self, qid):
        """Print the question with this student's numbers (a note instead while STUDENT is
        still the exercise's placeholder, so a saved exercise shows nobody's numbers)."""
        from . import bank
        from .assign import STUDENT_PLACEHOLDER
        q = bank.question(self.assignment, qid)
        head = f"{qid} ({q.points} point{'s' if q.points != 1 else ''}): "
        if self.student == STUDENT_PLACEHOLDER:
            title = q.title if q.title.endswith(("?", ".")) else q.title + "."
            print(head + f"{title} Your numbers appear here once STUDENT in the first "
                  "cell is your id: set it, then run the notebook again.")
            return
        print(head + bank.prompt(self.assignment, qid, self.student))

    def check(self, qid, value):
        """Print one line of feedback; never raises (a broken answer is `invalid`).

        Under nbgrader (`nbgrader autograde` or `validate` set NBGRADER_EXECUTION) it
        judges as `cowlab grade` does -- every scenario of a code question, not only the
        public ones -- and returns the points, which the check cell shows as its
        result: nbgrader takes a test cell's numeric result as its (partial) score.
        """
        graded = os.environ.get("NBGRADER_EXECUTION") in ("autograde", "validate")
        status, points, line = self.verdict(qid, value, public_only=not graded)
        print(line)
        if graded:
            return float(points)
        return None

    def feedback(self, qid, value):
        """The one line the check prints (the public scenarios only, for code)."""
        return self.verdict(qid, value)[2]

    def verdict(self, qid, value, public_only=True):
        """(status, points, line) with the grader's judges: bank.judge on the answer as
        the grader extracts it, codejudge.judge_kernel on a code answer's class. An
        answer under the placeholder id is not judged (0 points, under nbgrader too):
        every student who forgot to set it would otherwise share one variant."""
        status, points, line = self._verdict(qid, value, public_only)
        from .assign import STUDENT_PLACEHOLDER
        if self.student == STUDENT_PLACEHOLDER and status != "unanswered":
            return "invalid", 0, (f'set STUDENT to your id (it is still "{self.student}") '
                                  "in the first cell, then run the notebook again: your "
                                  "numbers depend on it")
        return status, points, line

    def _verdict(self, qid, value, public_only):
        from . import bank
        try:
            q = bank.question(self.assignment, qid)
        except KeyError as e:
            return "invalid", 0, f"invalid: {e.args[0]}"
        if q.kind == "code":
            return _check_code(self, q, value, public_only)
        try:
            value = _as_graded(value, qid)
        except ValueError as e:
            return "invalid", 0, f"invalid: {e}"
        try:
            status, points, message = bank.judge(self.assignment, qid, self.student, value)
        except Exception as e:          # judge never raises; belt and braces
            return "invalid", 0, f"invalid: {type(e).__name__}: {e}"
        return status, points, "correct" if status == "correct" else message

    def suspects(self, qid):
        """The bug-hunt kernels of this student's variant: {name: kernel class}."""
        from . import bank, bughunt
        return bughunt.suspects(bank.seed(self.assignment, qid, self.student))


def _as_graded(value, qid):
    """The answer exactly as the grader will see it: strict plain data through JSON
    (so a tuple or a numpy number is `invalid` here too, with the fix named)."""
    import json
    from .plain import to_plain
    return json.loads(json.dumps(to_plain(value, qid)))


def _check_code(hw, q, value, public_only=True):
    """(status, points, line): codejudge.judge_kernel, the grader's judge, on the
    student's kernel class; the public scenarios only unless public_only is False."""
    from . import codejudge
    if value is None:
        return "unanswered", 0, "not yet answered"
    if not isinstance(value, type):
        return "invalid", 0, (f"invalid: {q.id} must be a class, e.g. "
                              f"`class {q.id}(CowKernel): ...`, not {type(value).__name__}")
    try:
        from .codex import answer_class
        answer_class({q.id: value}, q.id)            # the student's own work, not ours
        status, points, msg = codejudge.judge_kernel(hw.assignment, q.id, hw.student,
                                                     value(), public_only=public_only)
    except Exception as e:
        return "invalid", 0, f"invalid: {type(e).__name__}: {e}"
    if status == "correct" and public_only:
        return status, points, (f"correct: the public scenarios pass (the grader runs "
                                f"{codejudge.hidden_count()} more)")
    if status == "correct":
        return status, points, f"correct: {msg}"
    if status == "unanswered":
        return status, 0, "not yet answered"
    return status, points, f"wrong: {msg}"


__all__ = ["Homework"]
