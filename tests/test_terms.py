"""Terms defined before use: the first time a student meets Rss, Pss, Shared_Dirty,
Private_Dirty, a minor fault, CommitLimit or Committed_AS, the course says what it is.

The chapters are read in course order (00..09), cell by cell, as the committed
notebooks show them: a markdown cell's text, a code cell's outputs (what the lab and
the experiments print). The first cell that names a term must be a markdown cell that
defines it, in bold (`**RSS** (resident set size): ...`), and no output may show the
term before that cell.
"""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))

# term -> how it may be written (case as Linux prints it, or as prose says it)
TERMS = {
    "Rss": r"\bR[Ss][Ss]\b",
    "Pss": r"\bP[Ss][Ss]\b",
    "Shared_Dirty": r"\bShared_Dirty\b",
    "Private_Dirty": r"\bPrivate_Dirty\b",
    "minor fault": r"\bminor[ _]faults?\b",
    "CommitLimit": r"\bCommitLimit\b",
    "Committed_AS": r"\bCommitted_AS\b",
}


def cells_in_course_order():
    """(chapter, index, kind, text) for every cell a student sees, in course order."""
    for path in CHAPTERS:
        nb = json.loads(path.read_text())
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] == "markdown":
                yield path.stem, i, "markdown", "".join(cell["source"])
            elif cell["cell_type"] == "code":
                shown = []
                for out in cell.get("outputs", []):
                    shown.append("".join(out.get("text", "")))
                    for mime in ("text/plain", "text/html", "text/markdown"):
                        shown.append("".join(out.get("data", {}).get(mime, "")))
                yield path.stem, i, "output", "\n".join(shown)


def first_use(pattern):
    rx = re.compile(pattern, re.I if pattern.startswith(r"\bminor") else 0)
    for chapter, i, kind, text in cells_in_course_order():
        m = rx.search(text)
        if m:
            return chapter, i, kind, text, rx
    return None


@pytest.mark.parametrize("term", TERMS)
def test_a_term_is_defined_where_a_student_first_meets_it(term):
    found = first_use(TERMS[term])
    assert found, f"{term} is never used: drop it from the list"
    chapter, i, kind, text, rx = found
    assert kind == "markdown", (f"{term} first appears in an output ({chapter} cell {i}) "
                                "before any prose defines it")
    bold = re.compile(r"\*\*(" + rx.pattern + r")\*\*", rx.flags)
    assert bold.search(text), (f"{term} first appears in {chapter} cell {i} without a "
                               f"definition (in bold): {text[:300]!r}")


def test_the_check_fails_on_an_undefined_use():
    """The test above can fail: a term used bare, or shown by an output first, is caught."""
    rx = re.compile(TERMS["Private_Dirty"])
    bold = re.compile(r"\*\*(" + rx.pattern + r")\*\*")
    assert rx.search("the child's Private_Dirty grows") and not bold.search(
        "the child's Private_Dirty grows")
    assert bold.search("- **Private_Dirty**: written pages only this process maps")
