"""Self-checks and predictions as a student meets them, in JupyterLab and Chromium.

A question from the catalog shows no answer until tried; a wrong try gets the hint,
a second wrong try the answer. A prediction's drawing appears only after commit.
"""

import nbformat
from playwright.sync_api import expect

import jlab

CELLS = [
    "import cowlab\nfrom cowlab.selfcheck import ask, predict\nask('03-five-writers')",
    "def after_write():\n"
    "    k = cowlab.Kernel(ram_pages=16)\n"
    "    p = k.spawn('parent', pages=3)\n"
    "    k.fork(p)\n"
    "    k.write(p, 1, 'x')\n"
    "    return cowlab.draw(k)\n"
    "predict('02-who-copies', then=after_write)",
]


def test_answers_appear_only_after_trying(page, jupyterlab):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nbformat.write(nb, str(jupyterlab.root / "checks.ipynb"))
    page.set_viewport_size({"width": 1366, "height": 768})
    jlab.open_and_run_all(jupyterlab, page, "checks.ipynb")

    q = page.locator(".cowlab-selfcheck").first
    expect(q).to_be_visible(timeout=30_000)
    assert "fifth writer" not in page.content()             # the why is not in the page
    q.get_by_text("5", exact=True).click()
    q.locator("button", has_text="check").click()
    expect(q).to_contain_text("Hint", timeout=15_000)
    expect(q).to_contain_text("Try once more")
    assert "fifth writer" not in q.inner_text()
    q.get_by_text("1", exact=True).click()
    q.locator("button", has_text="check").click()
    expect(q).to_contain_text("The answer is 4", timeout=15_000)
    expect(q).to_contain_text("fifth writer")

    p = page.locator(".cowlab-prediction").first
    box = p.locator("select")
    shown = box.evaluate("s => s.options[s.selectedIndex].text").replace("\xa0", " ")
    assert shown == "— choose —", shown
    assert p.locator("svg, img").count() == 0               # nothing shown before commit
    box.select_option(label="the\xa0process\xa0that\xa0wrote")
    p.locator("button", has_text="commit").click()
    expect(p).to_contain_text("You predicted", timeout=15_000)
    drawing = p.locator(".jp-OutputArea-output").locator("svg, img")  # JupyterLab: an <img>
    expect(drawing.first).to_be_visible(timeout=30_000)
    expect(p).to_contain_text("Right")
    words = drawing.first.evaluate(
        "e => e.tagName === 'IMG' ? decodeURIComponent(e.src) : e.textContent")
    assert "new copy!" in words and "PF3" in words, words[:300]
    assert box.is_disabled()
    assert "Traceback" not in p.inner_text()
