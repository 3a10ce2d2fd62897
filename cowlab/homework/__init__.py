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

        Under nbgrader (`nbgrader autograde` or `validate` set NBGRADER_EXECUTION), an
        answer that is not correct raises AssertionError, since nbgrader awards a test
        cell's points when it runs without error.
        """
        line = self.feedback(qid, value)
        print(line)
        if os.environ.get("NBGRADER_EXECUTION") in ("autograde", "validate") \
                and line != "correct":
            raise AssertionError(f"{qid}: {line}")

    def feedback(self, qid, value):
        from . import bank
        try:
            q = bank.question(self.assignment, qid)
        except KeyError as e:
            return f"invalid: {e.args[0]}"
        if q.kind == "code":
            return _check_code(self, q, value)
        try:
            value = _as_graded(value, qid)
        except ValueError as e:
            return f"invalid: {e}"
        try:
            status, _, message = bank.judge(self.assignment, qid, self.student, value)
        except Exception as e:          # judge never raises; belt and braces
            return f"invalid: {type(e).__name__}: {e}"
        return "correct" if status == "correct" else message

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


def _check_code(hw, q, value):
    """Judge the student's kernel class with codejudge.judge_kernel, the grader's judge:
    the public scenarios here (the grader runs them all)."""
    from . import codejudge
    if value is None:
        return "not yet answered"
    if not isinstance(value, type):
        return (f"invalid: {q.id} must be a class, e.g. `class {q.id}(CowKernel): ...`, "
                f"not {type(value).__name__}")
    try:
        status, _, msg = codejudge.judge_kernel(hw.assignment, q.id, hw.student, value(),
                                                public_only=True)
    except Exception as e:
        return f"invalid: {type(e).__name__}: {e}"
    if status == "correct":
        return (f"correct: the public scenarios pass (the grader runs "
                f"{codejudge.hidden_count()} more)")
    if status == "unanswered":
        return "not yet answered"
    return f"wrong: {msg}"


__all__ = ["Homework"]
