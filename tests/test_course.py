"""The course is built from its text sources, and the build is honest.

1. Every committed notebook (notebooks/, solutions/, exercises/) is what its source in
   notebooks/src/ stands for: same cells, same sources, same metadata. A stale one fails
   here by name, with the command that fixes it.
2. Editing one sentence of a source and running the builder changes exactly that
   sentence in the built notebook's file; changing code re-executes the chapter.
3. The builder on a fresh tree changes no byte.
4. Bad sources are refused with the fix named and nothing written; no `# NBVAL_`
   comment reaches a cell, and no generator script hides among the notebooks.
"""
import difflib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from cowlab.course import build, sources
from cowlab.course.sources import SourceError

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("notebooks", "solutions", "exercises")


def built_notebooks(root):
    return sorted(p for d in FOLDERS for p in (Path(root) / d).glob("*.ipynb"))


def copy_course(tmp_path):
    """The course's sources and built notebooks, in a scratch checkout."""
    for d in FOLDERS:
        shutil.copytree(ROOT / d, tmp_path / d,
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    return tmp_path


def make_notebooks(root):
    """What `make notebooks` runs, on another checkout's notebooks."""
    return subprocess.run([sys.executable, "-m", "cowlab.course", "--root", str(root)],
                          capture_output=True, text=True, timeout=600)


def test_every_built_notebook_matches_its_source():
    problems = build.stale(ROOT)
    assert not problems, ("built notebooks out of step with notebooks/src/ (run "
                          "`make notebooks` and commit them):\n" + "\n".join(problems))


def test_every_chapter_and_homework_has_a_source():
    assert [p.stem for p in sorted((ROOT / sources.CHAPTERS).glob(sources.GLOB))] == \
        [p.stem for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))]
    assert [p.stem for p in sorted((ROOT / sources.HOMEWORK).glob(sources.GLOB))] == \
        [p.stem for p in sorted((ROOT / "solutions").glob("[0-9][0-9]-*.ipynb"))]


def prose_line(source_text, nb):
    """A line of plain prose that occurs once in the source: the one to edit."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if (len(line) > 40 and line[0].isalpha() and line.endswith(".")
                    and source_text.count(line) == 1):
                return line
    raise AssertionError("no plain prose line to edit")


def test_an_edited_sentence_is_stale_by_name_then_exactly_that_sentence_changes(tmp_path):
    root = copy_course(tmp_path)
    src = root / sources.CHAPTERS / "04-exec.md"
    built = root / "notebooks" / "04-exec.ipynb"
    text = src.read_text()
    old = prose_line(text, sources.read(src, "chapter"))
    new = old[:-1] + ", as the kernel says."
    src.write_text(text.replace(old, new))
    before = built.read_text()

    stale = build.stale(root)
    assert len(stale) == 1 and stale[0].startswith("notebooks/04-exec.ipynb is stale"), stale
    assert "source differs" in stale[0] and "notebooks/src/04-exec.md" in stale[0]

    done = make_notebooks(root)
    assert done.returncode == 0, done.stderr
    assert "notebooks/04-exec.ipynb: prose updated, outputs kept" in done.stdout
    after = built.read_text()
    diff = [d for d in difflib.ndiff(before.splitlines(), after.splitlines())
            if d.startswith(("- ", "+ "))]
    quoted = lambda s: json.dumps(s)[1:-1]            # noqa: E731  (as nbformat writes it)
    assert len(diff) == 2, "\n".join(diff)
    assert quoted(old) in diff[0] and diff[0].startswith("- ")
    assert quoted(new) in diff[1] and diff[1].startswith("+ ")
    assert build.stale(root) == []


def test_a_code_change_executes_the_chapter_again(tmp_path):
    root = copy_course(tmp_path)
    src = root / sources.CHAPTERS / "00-start.md"
    src.write_text(src.read_text() + "\n```{code-cell} ipython3\nprint(6 * 7)\n```\n")
    done = make_notebooks(root)
    assert done.returncode == 0, done.stderr
    assert "notebooks/00-start.ipynb: executed" in done.stdout
    nb = nbformat.read(root / "notebooks" / "00-start.ipynb", as_version=4)
    assert nb.cells[-1].outputs[0]["text"] == "42\n"
    assert all(c.outputs for c in nb.cells if c.cell_type == "code" and "print(" in c.source)
    assert build.stale(root) == []


def test_make_notebooks_on_a_fresh_tree_changes_nothing(tmp_path):
    root = copy_course(tmp_path)
    before = {p: p.read_bytes() for p in built_notebooks(root)}
    done = make_notebooks(root)
    assert done.returncode == 0, done.stderr
    assert "every notebook matches its source" in done.stdout
    assert {p: p.read_bytes() for p in built_notebooks(root)} == before


def test_executing_a_notebook_with_widgets_again_gives_the_same_bytes(tmp_path):
    """Widget model ids are random per kernel; the executor numbers them by place, so a
    chapter executed again differs only where its outputs do (shown widgets, the models
    they hold, and a widget made but never shown)."""
    from cowlab import execute
    code = ("import ipywidgets as w\n"
            "hidden = w.VBox([w.Button(description='never shown')])\n"
            "w.HBox([w.Button(description='a'), w.HTML('<b>b</b>')])")
    runs = []
    for _ in range(2):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code, id="c1"),
                                             nbformat.v4.new_code_cell("w.Label('c')", id="c2")])
        runs.append(execute.dumps(execute.run(nb, tmp_path, timeout=120, widget_state=True)))
    ids = set(re.findall(r"[0-9a-f]{32}", runs[0]))
    assert len(ids) >= 9, "the widgets' state was not kept"      # 6 widgets and layouts
    assert runs[0] == runs[1]


def test_check_mode_names_the_stale_notebook_and_fails(tmp_path):
    root = copy_course(tmp_path)
    (root / "notebooks" / "01-fork.ipynb").unlink()
    shutil.copy(root / "solutions" / "04-exec.ipynb", root / "solutions" / "09-extra.ipynb")
    done = subprocess.run([sys.executable, "-m", "cowlab.course", "--check", "--root",
                           str(root)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "notebooks/01-fork.ipynb is stale (source notebooks/src/01-fork.md): not built yet" \
        in done.stdout
    assert "solutions/09-extra.ipynb has no source in notebooks/src/homework/: delete it or " \
        "write notebooks/src/homework/09-extra.md" in done.stdout
    assert "make notebooks" in done.stderr
    assert not (root / "notebooks" / "01-fork.ipynb").exists()


HOMEWORK_HEAD = """---
cowlab: {assignment: 01-fork}
kernelspec: {display_name: Python 3, language: python, name: python3}
---
"""


def cell(meta, body=""):
    return f"```{{code-cell}} ipython3\n---\n{meta}\n---\n{body}\n```\n"


@pytest.mark.parametrize("body, fix", [
    (cell("cowlab: {question: q1, role: answer}\n"
          "nbgrader: {grade: false, grade_id: q1, locked: false, points: 1, solution: true}",
          "q1 = 3"),
     "leave an answer cell empty in the source"),
    (cell("cowlab: {question: q1, role: check}\ndeletable: false\neditable: false\n"
          "nbgrader: {grade: true, grade_id: q1-check, locked: true, points: 5}",
          'hw.check("q1", q1)'),
     "nbgrader points 5 but the bank gives 01-fork/q1 1"),
    (cell("nbgrader: {grade: false, grade_id: setup, locked: true}", "import cowlab"),
     "a locked cell must also say editable: false and deletable: false"),
    (cell("cowlab: {question: q9, role: ask}", 'hw.ask("q9")'),
     "01-fork has no question 'q9'"),
    (cell("tags: [x]", "# NBVAL_IGNORE_OUTPUT\nprint(1)"),
     "use nbval's cell tags instead"),
])
def test_a_bad_homework_source_is_refused_naming_the_fix(tmp_path, body, fix):
    path = tmp_path / "01-fork.md"
    path.write_text(HOMEWORK_HEAD + "\n" + body)
    with pytest.raises(SourceError, match="01-fork.md cell 0") as e:
        sources.read(path, "homework")
    assert fix in str(e.value)


def test_the_builder_refuses_a_bad_source_and_writes_nothing(tmp_path):
    root = copy_course(tmp_path)
    src = root / sources.HOMEWORK / "01-fork.md"
    src.write_text(src.read_text().replace("points: 1,", "points: 7,", 1))
    before = {p: p.read_bytes() for p in built_notebooks(root)}
    done = make_notebooks(root)
    assert done.returncode == 1
    assert done.stderr.startswith("make notebooks: ") and "points 7" in done.stderr
    assert "Traceback" not in done.stderr
    assert {p: p.read_bytes() for p in built_notebooks(root)} == before


def test_no_nbval_comment_in_any_cell_and_no_script_among_the_notebooks():
    for path in built_notebooks(ROOT):
        for i, c in enumerate(nbformat.read(path, as_version=4).cells):
            assert "NBVAL_" not in c.source, f"{path.name} cell {i}: use nbval's cell tags"
    scripts = [p for d in FOLDERS for p in (ROOT / d).rglob("*.py")]
    assert not scripts, f"generator scripts among the notebooks: {scripts}"


LIVE = re.compile(r"\breal\.(?:compare|fork_cost\w*|exec_child_faults|live_facts|"
                  r"fork_child_exits|mprotect_reuse|vmsplice_leak|pinned_fork|ksm_merge)\(")


def test_ignored_outputs_are_tagged_for_nbval():
    """Live-kernel readings differ run to run: every cell that shows one is tagged for
    nbval; a cell that only prints verdicts (`.summary()`) is compared as usual."""
    from cowlab import real
    seen, shown_experiments = 0, set()
    for path in built_notebooks(ROOT):
        for i, c in enumerate(nbformat.read(path, as_version=4).cells):
            if c.cell_type != "code" or not LIVE.search(c.source):
                continue
            shown = [o for o in c.get("outputs", []) if o.output_type != "stream"
                     or o.get("text", "").strip()]
            tagged = "nbval-ignore-output" in c.metadata.get("tags", [])
            if "predict(" in c.source and not tagged:     # shows only the question
                assert all("Predict:" in o.get("data", {}).get("text/plain", "")
                           for o in shown), f"{path.name} cell {i}: a live reading shows"
                continue
            seen += 1
            shown_experiments |= set(re.findall(r'real\.compare\("(\w+)"', c.source))
            assert tagged or not shown, f"{path.name} cell {i} shows a live reading untagged"
    missing = set(real.EXPERIMENTS) - shown_experiments
    assert seen and not missing, f"no chapter shows these live experiments: {sorted(missing)}"


def test_no_seed_jargon_in_what_a_student_reads():
    """The course grew from a "seed page" and once called it "the seed"; a student does not
    know that word (issue 12). No chapter or homework, source or committed output (what
    `cowlab sim -s N` prints included: "question number N"), says "seed"."""
    found = []
    for nb_path in built_notebooks(ROOT):
        nb = nbformat.read(nb_path, as_version=4)
        for i, cell in enumerate(nb.cells):
            texts = [cell.source] + [
                "".join(o.get("text", "")) + json.dumps(o.get("data", {}).get("text/plain", ""))
                for o in cell.get("outputs", [])]
            for text in texts:
                for m in re.finditer(r"(?i)\bseed", text):
                    found.append(f"{nb_path.relative_to(ROOT)} cell {i}: "
                                 f"{text[max(0, m.start() - 40):m.end() + 40]!r}")
    for src in sorted((ROOT / "notebooks" / "src").rglob("*.md")):
        for m in re.finditer(r"(?i)\bseed", src.read_text()):
            found.append(f"{src.relative_to(ROOT)}: {src.read_text()[m.start() - 40:m.end() + 40]!r}")
    assert not found, "\n".join(found)


def test_chapter_08_stays_short():
    """Issue 12: chapter 08 at most about 25 cells (it was 60), each reading next to the
    model's figure."""
    nb = nbformat.read(ROOT / "notebooks" / "08-real-kernel.ipynb", as_version=4)
    assert len(nb.cells) <= 25, f"chapter 08 has {len(nb.cells)} cells"
