"""No chapter cell a student reads holds a self-check's answer or explanation.

The chapters listed in SWITCHED ask their questions by catalog id (`ask("02-who-copies")`,
`predict("02-predict", then=...)`); the answers live in `cowlab/questions.py`. A code
cell with `answer=` or `why=` would show the answer to anyone who reads the cell.
"""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SWITCHED = ("00-start", "01-fork", "02-write-faults", "03-refcounting", "glossary")
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


@pytest.mark.parametrize("name", SWITCHED[:4])
def test_the_chapter_asks_by_catalog_id(name):
    from cowlab.selfcheck import PREDICTIONS, QUESTIONS
    src = (ROOT / "notebooks" / "src" / f"{name}.md").read_text()
    asked = re.findall(r"\bask\(\"([^\"]+)\"", src)
    predicted = re.findall(r"\bpredict\(\"([^\"]+)\"", src)
    assert len(asked) >= 2 and set(asked) <= set(QUESTIONS), asked
    assert set(predicted) <= set(PREDICTIONS), predicted
    prefix = name[:2]
    assert all(q.startswith(prefix + "-") for q in asked + predicted), (asked, predicted)
    if prefix != "00":
        assert predicted == [f"{prefix}-predict"], "the chapter opens with its prediction"
