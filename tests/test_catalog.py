"""The homework catalog: assignments in course order, stable variants, no import cycle.

A student's numbers must not move under their feet: the variants (params and the
expected answers recomputed from them) of three students are pinned here by digest,
one per assignment, so a refactoring of the bank that changes them fails naming the
assignment.
"""
import ast
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cowlab.homework import bank, catalog
from cowlab.homework.question import Question, declare

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "cowlab"

COURSE_ORDER = ["01-fork", "02-write-faults", "03-refcounting", "04-exec", "05-overcommit",
                "06-redis", "07-beyond-fork", "08-real-kernel", "09-why-linux", "07-code"]

# sha256 (first 16 hex digits) of {qid/student: [params, expected]} per assignment,
# taken from the bank before the catalog was split out of it (commit 390c548).
# Re-pinned, each for a reason a student would agree with:
# - 01-fork, 03-refcounting: degenerate variants ("writes its first 0 page(s)", "written
#   by: nobody") are drawn again (bank.draw); these three students had one each, and
#   test_wording.py pins that everyone else keeps their numbers;
# - 05-overcommit, 06-redis: the model now refuses in mode 2 when the total would
#   *reach* CommitLimit less the reserves, as Linux does (commit 7030f5b's model merge
#   changed these answers; the params are unchanged);
# - 04-exec: q5 counted exec's populate of the new image, a convention of the model; it
#   now counts what Linux charges the child's writes (COW before exec, first touch
#   after): same params, new answers; 02-write-faults: q1 asked which PFN the copy
#   gets (the model allocator's choice), it now asks how many frames are in use;
#   01-fork: q3 asked for the child's PFNs (the allocator's order), it now asks for the
#   frames in use and the PTEs in all page tables.
# - 04-exec q1 counted the frames in use after exec, the child's new image included
#   (exec's populate, a convention of the model); it now asks how many frames exec frees
#   of the old memory (new params); q2-q7 keep every student's numbers.
# - 05-overcommit q5 asked for the victim's pid, which in every variant where the parent
#   and child tie is the tie rule (the model's highest pid; Linux's task-list order); it
#   now asks for the victim's RSS, the same for either: same params, new answers.
# - 01-fork q4, 03-refcounting q5, 04-exec q4, 06-redis q4: statements named the frame a
#   copy got ("maps PF7", "rc(PF9) is 1"), the allocator's choice; they now name only the
#   prompt's PF0..PF(n-1) (test_allocator_choice.py): same numbers, same right letter,
#   new statement texts (in params["options"]/["claims"]).
PINNED = {
    "01-fork": "e8e21f07afb9508f",
    "02-write-faults": "92fc05d472ebf663",
    "03-refcounting": "ef4bde612d189124",
    "04-exec": "d4928e3d4b5cc20f",
    "05-overcommit": "297414f5176dc0f5",
    "06-redis": "8508d00194abf647",
    "07-code": "56dae531fa360625",
    "09-why-linux": "ae879efc2fb117c1",     # pinned when 09 was added
}
STUDENTS = ("ana-maria", "bob-7", "example-student")
# the questions those digests cover (the ones a student had then; later ones are new)
PINNED_QUESTIONS = {"01-fork": 5, "02-write-faults": 6, "03-refcounting": 5, "04-exec": 5,
                    "05-overcommit": 5, "06-redis": 6, "07-code": 2, "09-why-linux": 5}


def variant_digest(assignment):
    data = {}
    for q in bank.questions(assignment)[:PINNED_QUESTIONS[assignment]]:
        for s in STUDENTS:
            data[f"{q.id}/{s}"] = [bank.params(assignment, q.id, s),
                                   None if q.kind == "code" else bank.expected(assignment, q.id, s)]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


@pytest.mark.parametrize("assignment", list(PINNED))
def test_a_students_numbers_do_not_move(assignment):
    assert variant_digest(assignment) == PINNED[assignment], (
        f"the variants of {assignment} changed: students would see new numbers")


def test_a_pinned_variant_reads_as_the_student_saw_it():
    assert bank.params("01-fork", "q1", "ana-maria") == {"ram": 17, "other": 1, "pages": 5}
    assert bank.params("05-overcommit", "q1", "ana-maria") == {"ram": 4096, "swap": 256,
                                                               "ratio": 80}


def test_the_catalog_lists_the_course_in_order():
    assert list(catalog.COURSE) == COURSE_ORDER
    assert list(bank.ASSIGNMENTS) == COURSE_ORDER
    for name in COURSE_ORDER:
        assert bank.questions(name), f"{name} has no questions"
        assert bank.TITLES[name]


QUESTION_MODULES = sorted({m for _, ms in catalog.COURSE.values() for m in ms})


@pytest.mark.parametrize("module", QUESTION_MODULES + ["bank", "catalog", "grade"])
def test_the_order_is_the_course_order_whatever_is_imported_first(module):
    code = (f"import cowlab.homework.{module}\n"
            "from cowlab.homework import bank\n"
            "print(list(bank.ASSIGNMENTS))\n"
            "print([q.id for q in bank.questions('01-fork')])")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    order, qids = run.stdout.strip().splitlines()
    assert json.loads(order.replace("'", '"')) == COURSE_ORDER
    assert json.loads(qids.replace("'", '"')) == [q.id for q in bank.questions("01-fork")]


def test_lookup_and_declaration_are_two_functions():
    q = bank.question("01-fork", "q1")
    assert (q.assignment, q.id) == ("01-fork", "q1")
    with pytest.raises(KeyError, match="its questions: q1"):
        bank.question("01-fork", "q99")
    with pytest.raises(KeyError, match="known: 01-fork"):
        bank.question("99-nothing", "q1")
    with pytest.raises(TypeError):
        bank.question("01-fork", "q1", points=1)      # declaring is catalog.declare's job
    assert not hasattr(bank, "_load")


def test_a_question_outside_the_catalog_or_in_the_wrong_module_fails_clearly():
    stray = Question("99-nothing", "q1", points=1, kind="number", title="t", prose="p",
                     prompt="x", make=lambda rng: {})
    with pytest.raises(ValueError, match="not in the catalog"):
        catalog.build({"99-nothing": [stray]})
    misplaced = Question("01-fork", "q9", points=1, kind="number", title="t", prose="p",
                         prompt="x", make=lambda rng: {})       # made here, in the tests
    with pytest.raises(ValueError, match="gives 01-fork to questions_course"):
        catalog.build({"01-fork": [misplaced]})
    with pytest.raises(ValueError, match="declared twice"):
        declare("01-fork", "q1", points=1, kind="number", title="t", prose="p",
                prompt="x", make=lambda rng: {})(None)
    assert [q.id for q in bank.questions("01-fork")] == ["q1", "q2", "q3", "q4", "q5", "q6",
                                                         "q7"]


# ------------------------------------------------------------------ import cycles

def module_name(path):
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph():
    """{module: {modules it imports}} for every module of cowlab/, from every import
    statement (function-level ones too), with relative imports resolved."""
    files = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[:len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base
                           for a in node.names]
            else:
                continue
            edges.update(t for t in targets if t in files and t != name)
        graph[name] = edges
    return graph


def cycles(graph):
    """Every strongly connected component with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_anywhere_in_cowlab():
    """Imports run one way (model <- describe/render <- widgets; the homework catalog
    <- question modules <- bank), function-level imports included."""
    graph = import_graph()
    assert "cowlab.homework.bank" in graph and graph["cowlab.homework.bank"]
    assert len(graph) > 80, "the walk missed modules of cowlab/"
    assert cycles(graph) == [], f"import cycles: {cycles(graph)}"
