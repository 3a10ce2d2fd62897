"""The course notebooks, as a student meets them.

1. Every notebook in notebooks/ runs top to bottom in a fresh Jupyter kernel with no
   error and nothing on stderr.
2. Every widget a notebook displays is a working cowlab widget: in that same kernel,
   each displayed model id must be the root of a cowlab Lab, Stepper or self-check
   question, and pressing its buttons through the Python API must do what the
   buttons say (fork adds a process or is refused with a narrated reason, undo
   puts it back, next/back step, check gives feedback).
3. The prose has no broken links: every relative link in a markdown cell or in
   README.md points to an existing file, every `notebooks/...`, `cowlab/...` (etc.)
   path the text mentions exists, and external URLs are well-formed (not fetched).

nbval (make test) separately compares the committed outputs cell by cell.
"""
import json
import re
import textwrap
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest

from cowlab import execute

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
PROSE_FILES = sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))


def notebook_ids():
    return [p.name for p in PROSE_FILES]


# ------------------------------------------------------------------ running ---

# Runs in the notebook's own kernel after its last cell. It finds every cowlab widget
# object alive in the kernel, maps the displayed model ids to them, then presses their
# buttons through the Python API and reports what the student would have seen.
PROBE = textwrap.dedent('''
    import gc as _gc, json as _json
    def _cowlab_probe(displayed):
        import ipywidgets
        from cowlab.widgets import Lab, Stepper
        from cowlab.selfcheck import widget_class, predict_class
        SelfCheck, Predict = widget_class(), predict_class()
        owners = [o for o in _gc.get_objects()
                  if isinstance(o, (Lab, Stepper, SelfCheck, Predict))]
        def root(o):
            return o if isinstance(o, (SelfCheck, Predict)) else o.ui
        by_root = {root(o).model_id: o for o in owners}
        report = {"displayed": {}, "checks": []}
        for mid in displayed:
            o = by_root.get(mid)
            report["displayed"][mid] = type(o).__name__ if o is not None else None
        for mid in displayed:
            o = by_root.get(mid)
            if o is None:
                continue
            if isinstance(o, Lab):
                report["checks"].append(_probe_lab(o))
            elif isinstance(o, Stepper):
                report["checks"].append(_probe_stepper(o))
            elif isinstance(o, Predict):
                report["checks"].append(_probe_predict(o))
            else:
                report["checks"].append(_probe_question(o))
        return report

    def _probe_lab(lab):
        k = lab.kernel
        live, n_events = len(k.live()), len(k.events)
        log_before, diagram_before = lab.log.value, lab.diagram_box.value
        lab.process.value = k.live()[0].pid
        lab.buttons["fork"].click()
        k = lab.kernel
        forked = len(k.live()) == live + 1
        refused = any(e.kind == "enomem" for e in lab.last_events)
        new_text = lab.log.value != log_before
        child_drawn = forked and k.live()[-1].name in lab.diagram.text
        lab.buttons["undo"].click()
        undone = len(lab.kernel.live()) == live and len(lab.kernel.events) == n_events
        p = lab.selected()
        lab.page.value = 0
        if lab.predict:       # predict mode asks first; a student picks an outcome
            lab.prediction.value = lab.prediction.options[1][1]
        lab.buttons["write"].click()
        pte = lab.kernel.pte(p, 0) if p.alive else None
        wrote = (pte is not None and str(lab.kernel.content(pte.pfn)).startswith("w")
                 and "write" in lab.log.value)
        judged = (not lab.predict) or any(h.startswith("predict") and
                                          ("right" in h or "not quite" in h)
                                          for h in lab.history)
        lab.buttons["reset"].click()
        return {"kind": "Lab", "forked": forked, "refused": refused, "log_changed": new_text,
                "child_drawn": child_drawn or refused, "undo_restores": undone,
                "wrote": wrote, "prediction_judged": judged,
                "errors": [repr(e) for e in lab.errors],
                "diagram_back": lab.diagram_box.value == diagram_before}

    def _probe_stepper(st):
        steps = len(st.states)
        first = st.label.value
        st.buttons["next"].click()
        moved = st.step == min(1, steps - 1) and (steps == 1 or st.label.value != first)
        st.buttons["back"].click()
        back = st.step == 0 and st.label.value == first
        return {"kind": "Stepper", "steps": steps, "next_moves": moved, "back_returns": back,
                "errors": [repr(e) for e in st.errors]}

    def _probe_predict(p):
        hidden = p.feedback.value == "" and len(p.output.outputs) == 0
        nothing = p.commit()                      # nothing chosen yet: no reveal
        still_hidden = nothing is None and len(p.output.outputs) == 0
        wrong = (p.answer + 1) % len(p.choices)
        verdict = p.commit(wrong)
        shown = len(p.output.outputs) > 0 or p.then is None
        return {"kind": "Predict", "hidden_before": hidden and still_hidden,
                "verdict": verdict, "feedback": p.feedback.value, "shown": shown,
                "answer_text": p.choices[p.answer]}

    def _probe_question(q):
        results = {}
        for i, _ in enumerate(q.choices):
            q.options.value = q.choices[i]
            q.button.click()
            results[i] = q.feedback.value
        q.options.value = None
        q.button.click()
        return {"kind": "SelfCheck", "answer": q.answer, "feedback": results,
                "empty": q.feedback.value}
''')


def displayed_widgets(nb):
    ids = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            view = out.get("data", {}).get(WIDGET_VIEW)
            if view:
                ids.append(view["model_id"])
    return ids


def run_with_probe(path):
    """Execute a notebook in a fresh kernel started in notebooks/ (the course's one
    executor), then probe its widgets in that same kernel."""
    nb = nbformat.read(path, as_version=4)
    with execute.session(nb, NOTEBOOKS, timeout=120) as run_cell:
        for index, cell in enumerate(nb.cells):
            run_cell(cell, index)
        shown = displayed_widgets(nb)
        probe = nbformat.v4.new_code_cell(
            PROBE + f"\nprint(_json.dumps(_cowlab_probe({shown!r})))")
        nb.cells.append(probe)
        run_cell(probe, len(nb.cells) - 1)
        nb.cells.pop()
    out = "".join(o.get("text", "") for o in probe.outputs if o.output_type == "stream")
    errors = [o for o in probe.outputs if o.output_type == "error"]
    assert not errors, "the widget probe failed: " + "\n".join(e.evalue for e in errors)
    return nb, json.loads(out.strip().splitlines()[-1])


@pytest.fixture(scope="module", params=notebook_ids())
def executed(request):
    # matplotlib builds its font cache on first use and says so on stderr; build it
    # here, once per machine, so that a first run does not read as a notebook's error.
    import matplotlib.font_manager  # noqa: F401
    return request.param, run_with_probe(NOTEBOOKS / request.param)


def test_runs_top_to_bottom_without_errors(executed):
    name, (nb, _) = executed
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            assert out.output_type != "error", \
                f"{name} cell {i}: {out.ename}: {out.evalue}"
            if out.output_type == "stream":
                assert out.name != "stderr", f"{name} cell {i} wrote to stderr:\n{out.text}"


def test_every_displayed_widget_is_a_cowlab_widget(executed):
    name, (nb, report) = executed
    stray = {mid: kind for mid, kind in report["displayed"].items() if kind is None}
    assert not stray, (f"{name} displays widgets that are not a cowlab Lab, Stepper or "
                       f"self-check question: {sorted(stray)}")


def test_widget_buttons_work(executed):
    name, (nb, report) = executed
    for check in report["checks"]:
        kind = check["kind"]
        if kind == "Lab":
            assert check["errors"] == [], f"{name}: the lab raised inside a callback {check}"
            assert check["forked"] != check["refused"], \
                f"{name}: fork neither added a process nor was refused with a reason {check}"
            assert check["log_changed"] and check["child_drawn"], f"{name}: fork not shown {check}"
            assert check["undo_restores"], f"{name}: undo did not restore the state {check}"
            assert check["wrote"], f"{name}: write did nothing visible {check}"
            assert check["prediction_judged"], f"{name}: predict mode gave no verdict {check}"
            assert check["diagram_back"], f"{name}: reset did not bring the first drawing back"
        elif kind == "Stepper":
            assert check["errors"] == [], f"{name}: the stepper raised {check}"
            assert check["steps"] >= 2 and check["next_moves"] and check["back_returns"], check
        elif kind == "Predict":
            assert check["hidden_before"], f"{name}: a prediction showed its result early {check}"
            assert check["verdict"] is False and "Not quite" in check["feedback"], check
            assert check["answer_text"] in check["feedback"] and check["shown"], \
                f"{name}: after the commit the answer or its drawing is missing {check}"
            assert "could not show" not in check["feedback"], check
        else:
            feedback = check["feedback"]
            right = feedback[str(check["answer"])]
            assert "Right" in right, f"{name}: the right answer is not accepted {check}"
            wrong = [v for i, v in feedback.items() if int(i) != check["answer"]]
            assert wrong and all("Not quite" in v for v in wrong), check
            assert "Pick an answer" in check["empty"], check


def test_every_chapter_has_a_self_check_and_a_lab_or_stepper():
    for path in sorted(NOTEBOOKS.glob("0[0-7]-*.ipynb")):
        sources = "\n".join(c.source for c in nbformat.read(path, 4).cells if c.cell_type == "code")
        asked = len(re.findall(r"\b(?:ask|Question)\(", sources))
        assert asked >= 2, f"{path.name}: fewer than 2 self-check questions"
        assert "Lab(" in sources or "Stepper(" in sources, f"{path.name}: no lab to try"


# -------------------------------------------------------------------- links ---

LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|href=[\"']([^\"']+)[\"']")
MENTIONED = re.compile(r"(?<![\w./-])((?:notebooks|cowlab|exercises|solutions|docs|tests|bench)"
                       r"/[\w./-]*[\w/])")


def prose_sources():
    """(label, text, directory) for every markdown cell of the course and the README."""
    out = []
    for path in PROSE_FILES:
        for i, cell in enumerate(nbformat.read(path, 4).cells):
            if cell.cell_type == "markdown":
                out.append((f"{path.name} cell {i}", cell.source, path.parent))
    readme = ROOT / "README.md"
    if readme.exists():
        out.append(("README.md", readme.read_text(), ROOT))
    return out


def links_in(text):
    return [a or b for a, b in LINK.findall(text)]


def test_relative_links_point_to_existing_files():
    broken = []
    for label, text, base in prose_sources():
        for target in links_in(text):
            url = urlparse(target)
            if url.scheme or target.startswith(("#", "mailto:")):
                continue
            path = (base / url.path).resolve()
            if not path.exists():
                broken.append(f"{label}: {target}")
    assert not broken, "broken relative links:\n" + "\n".join(broken)


def test_mentioned_repository_paths_exist():
    missing = []
    for label, text, base in prose_sources():
        urls = [t for t in links_in(text) if urlparse(t).scheme]
        for path in MENTIONED.findall(text):
            if any(path in u for u in urls):
                continue      # quoted from a URL of the same text (e.g. a GitHub owner/name)
            if not (ROOT / path).exists() and not (base / path).exists():
                missing.append(f"{label}: {path}")
    assert not missing, "the prose names files that do not exist:\n" + "\n".join(missing)


def test_external_urls_are_well_formed():
    bad = []
    for label, text, _ in prose_sources():
        for target in links_in(text):
            url = urlparse(target)
            if url.scheme in ("http", "https"):
                if "." not in url.netloc or " " in target:
                    bad.append(f"{label}: {target}")
            elif url.scheme and url.scheme != "mailto":
                bad.append(f"{label}: {target} (scheme {url.scheme!r})")
    assert not bad, "malformed URLs:\n" + "\n".join(bad)


def test_link_checker_sees_links():
    """Guard the guards: the patterns above must find the links the chapters do contain."""
    text = ("[a](01-fork.ipynb) <a href='x/y.md'>y</a> see `cowlab/kernel.py` and "
            "notebooks/src/00-start.md. [![b](https://x.org/b.svg)](https://x.org/run)")
    assert links_in(text) == ["01-fork.ipynb", "x/y.md", "https://x.org/b.svg",
                              "https://x.org/run"]
    assert MENTIONED.findall(text) == ["cowlab/kernel.py", "notebooks/src/00-start.md"]
