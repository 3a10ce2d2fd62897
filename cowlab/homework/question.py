"""A graded question, and `declare`, with which a question module registers one.

This module imports nothing of the homework package: the question modules
(`questions_*.py`) import it to declare their questions, the catalog imports them
to put the assignments in course order, and the bank imports the catalog. So the
imports run one way, and which module is imported first changes nothing.

A question is a function that *solves* it with the cowlab model from its params
(its body is also the solution cell of the solutions notebook), plus a function
that draws the params from a random generator seeded by the student and the
question, as OSTEP's simulators do with `-s SEED`.
"""
import hashlib
import inspect
import textwrap
from dataclasses import dataclass, field

KINDS = ("number", "choice", "state", "code", "construct", "explain")
# construct: the student builds an input (data) that `check` verifies against constraints
#            with the model (construct.py); explain: free text graded by the teacher.
LETTERS = "abcde"

# {assignment: [Question, ...]} in the order each question module declares them;
# the catalog reads it (and checks every assignment here is one it knows).
DECLARED = {}


@dataclass(frozen=True)
class Question:
    """One graded question.  `solve(params)` computes the answer with the model;
    `make(rng)` draws the params; `prompt` is formatted with the params."""
    assignment: str
    id: str
    points: int
    kind: str
    title: str
    prose: str
    prompt: str
    make: object
    solve: object = None
    hint: str = "look again at what the kernel does at this step"
    tolerance: float = 0          # numbers: |given - expected| <= tolerance
    unit: str = ""                # shown in prompts and type messages
    traps: object = None          # params -> [(wrong answer, specific hint)]
    options: dict = field(default_factory=dict)   # choice: key -> text (formatted)
    partial: bool = False         # state dicts: points per right entry
    check: object = None          # construct: (params, answer) -> [failed constraint]
    shape: str = ""               # construct: the answer's form, said in the prompt
    rubric: str = ""              # explain: the model answer the teacher grades against
    words: object = None          # params -> {extra prompt fields} (wording only)
    degenerate: object = None     # params -> True if the variant must be drawn again
    named_frames: object = None   # params -> n: the prompt names PF0..PF(n-1); any other
                                  # frame in a state answer is numbered as the student likes,
                                  # and no statement names one (test_allocator_choice.py)

    def solution_source(self):
        """The solver's body as a notebook cell: `qid = <answer>` at the end."""
        src = textwrap.dedent(inspect.getsource(self.solve))
        lines = src.splitlines()
        while not lines[0].startswith("def "):
            lines.pop(0)                      # decorators
        body = textwrap.dedent("\n".join(lines[1:]))
        body_lines = body.splitlines()
        out = [f'p = hw.params("{self.id}")']
        last = max(i for i, ln in enumerate(body_lines) if ln.startswith("return "))
        body_lines[last] = f"{self.id} = " + body_lines[last][len("return "):]
        return "\n".join(out + body_lines).rstrip()


def declare(assignment, qid, **kw):
    """Declare question `qid` of `assignment`; returns a decorator for its solver
    (`declare(...)(None)` for a question without one, such as a code exercise)."""
    def register(solve):
        q = Question(assignment, qid, solve=solve, **kw)
        if q.kind not in KINDS:
            raise ValueError(f"{assignment}/{qid}: kind {q.kind!r} is not one of {KINDS}")
        if (q.kind == "construct") != (q.check is not None):
            raise ValueError(f"{assignment}/{qid}: a construct question needs check=, "
                             "and only it may have one")
        if q.kind == "explain" and not q.rubric:
            raise ValueError(f"{assignment}/{qid}: an explain question needs a rubric=")
        mine = DECLARED.setdefault(assignment, [])
        if any(x.id == qid for x in mine):
            raise ValueError(f"{assignment}/{qid} is declared twice")
        mine.append(q)
        return solve
    return register


def seed(assignment, qid, student):
    """The variant seed: the same student and question always get the same numbers."""
    digest = hashlib.sha256(f"{assignment}/{qid}/{student}".encode()).digest()
    return int.from_bytes(digest[:8], "big")
