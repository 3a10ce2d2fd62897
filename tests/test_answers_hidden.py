"""No chapter cell a student reads holds a self-check's answer or explanation.

Every chapter (and the glossary) asks its questions by catalog id (`ask("02-who-copies")`,
`predict("02-predict", then=...)`); the answers live in `cowlab/questions.py` and
`cowlab/predictions.py`. A code cell with `answer=` or `why=` would show the answer to
anyone who reads the cell; so would an output, or the widget state saved in the
notebook, that carries a question's explanation or the `then=` result of a prediction.
"""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SWITCHED = ("00-start", "01-fork", "02-write-faults", "03-refcounting", "04-exec",
            "05-overcommit", "06-redis-bgsave", "07-cow-beyond-fork", "08-real-kernel",
            "09-why-linux-decides", "glossary")
CHAPTERS = SWITCHED[:-1]
SPELLED_OUT = re.compile(r"\b(answer|why)\s*=")


@pytest.mark.parametrize("name", SWITCHED)
def test_no_answer_in_a_visible_cell(name):
    src = (ROOT / "notebooks" / "src" / f"{name}.md").read_text()
    nb = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    blocks = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", src, re.S)
    assert len(blocks) == len(cells), "source and notebook disagree: run make notebooks"
    found = [c for c in cells + blocks if SPELLED_OUT.search(c)]
    assert not found, f"{name}: a cell spells an answer out; use ask(id) / predict(id):\n" \
                      + "\n---\n".join(found)


@pytest.mark.parametrize("name", CHAPTERS)
def test_the_chapter_asks_by_catalog_id(name):
    from cowlab.selfcheck import PREDICTIONS, QUESTIONS
    src = (ROOT / "notebooks" / "src" / f"{name}.md").read_text()
    blocks = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", src, re.S)
    # ask("id"), or ask(qid) in a loop over ("id", ...): the catalog ids of an ask cell
    asked = [i for b in blocks if re.search(r"\bask\(", b)
             for i in re.findall(r"\"(\d\d-[a-z0-9-]+)\"", b)]
    predicted = re.findall(r"\bpredict\(\"([^\"]+)\"", src)
    assert len(asked) >= 2 and set(asked) <= set(QUESTIONS), asked
    assert set(predicted) <= set(PREDICTIONS) | set(QUESTIONS), predicted
    prefix = name[:2]
    assert all(q.startswith(prefix + "-") for q in asked + predicted), (asked, predicted)
    if prefix not in ("00", "08"):        # 08 measures first, then predicts a reading
        assert predicted[:1] == [f"{prefix}-predict"], "the chapter opens with its prediction"
    if prefix != "00":
        assert predicted, "a prediction in the text is a predict widget"


def _explanations():
    from cowlab.selfcheck import PREDICTIONS, QUESTIONS
    return {qid: q["why"] for cat in (QUESTIONS, PREDICTIONS) for qid, q in cat.items()
            if q.get("why")}


@pytest.mark.parametrize("name", SWITCHED)
def test_no_explanation_in_an_output_or_the_saved_widget_state(name):
    """The executed notebook as committed (what a student opens) shows no question's
    explanation, and no prediction's `then=` output was saved before a commit."""
    nb = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text())
    outputs = json.dumps([c.get("outputs", []) for c in nb["cells"]])
    state = (nb.get("metadata", {}).get("widgets", {})
             .get("application/vnd.jupyter.widget-state+json", {}).get("state", {}))
    saved = json.dumps(state)
    for qid, why in _explanations().items():
        probe = json.dumps(why[:60])[1:-1]
        assert probe not in outputs and probe not in saved, \
            f"{name}: the explanation of {qid} is readable before an answer: {why[:60]!r}"
    filled = [m for m in state.values()
              if m.get("model_name") == "OutputModel" and m["state"].get("outputs")]
    assert not filled, f"{name}: an output widget was saved with content (a prediction's " \
                       "result shown before the student committed?)"


def test_the_probe_finds_an_explanation():
    """The test above can fail: an explanation printed in an output is found."""
    qid, why = next(iter(_explanations().items()))
    outputs = json.dumps([{"output_type": "stream", "text": [why]}])
    assert json.dumps(why[:60])[1:-1] in outputs
