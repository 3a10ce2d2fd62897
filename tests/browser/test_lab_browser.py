"""The lab in a real JupyterLab, in a real Chromium: open the course's 01-fork
notebook, run it, click fork then write on the parent's VP1, and see the
diagram redraw with the new frame PF3 marked "new copy!"."""
import re
import shutil

from playwright.sync_api import expect

import jlab


def svg_text(lab):
    return lab.locator(".cowlab-diagram svg").text_content()


def test_fork_then_write_redraws_the_diagram(page, jupyterlab, artifacts):
    assert jlab.COURSE_NOTEBOOK.exists(), f"{jlab.COURSE_NOTEBOOK} is missing"
    name = jlab.copy_notebook(jlab.COURSE_NOTEBOOK, jupyterlab.root)
    try:
        fork_then_write(jupyterlab, page, name, artifacts)
    except Exception:
        page.screenshot(path=str(artifacts / "lab-failure.png"), full_page=True)
        raise


def fork_then_write(jupyterlab, page, name, artifacts):
    jlab.open_and_run_all(jupyterlab, page, name)
    lab = page.locator(".cowlab-lab").first
    lab.scroll_into_view_if_needed()
    diagram = lab.locator(".cowlab-diagram svg")
    expect(diagram).to_be_visible(timeout=30_000)
    # The first lab starts as the chapter says: one parent, 3 pages, PF0-PF2.
    before = svg_text(lab)
    assert "PF2" in before and "PF3" not in before, before

    lab.locator("button", has_text=re.compile(r"^\s*fork\s*$")).click()
    expect(diagram).to_contain_text("rc=2", timeout=15_000)
    expect(diagram).to_contain_text("child (pid 2)")
    assert "PF3" not in svg_text(lab), "fork copied a page"

    parent = lab.locator(".cowlab-process select")
    label = next(t for t in parent.locator("option").all_inner_texts() if t.startswith("parent"))
    parent.select_option(label=label)
    vp = lab.locator(".cowlab-page input")
    vp.fill("1")
    vp.press("Enter")
    lab.locator("button", has_text=re.compile(r"^\s*write\s*$")).click()

    expect(diagram).to_contain_text("PF3", timeout=15_000)
    expect(diagram).to_contain_text("new copy!")
    expect(diagram).to_contain_text("VP1 -> PF3 RW")
    words = lab.locator(".cowlab-diagram figcaption").text_content()
    assert "PF3 rc=1 (new copy!)" in words and "PF1 rc=1" in words, words
    log = lab.locator(".cowlab-log").first.inner_text()
    assert "copy PF1 into new PF3" in log, log
    assert "something went wrong" not in log and "Traceback" not in log, log
    assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0

    shot = artifacts / "lab.png"
    lab.screenshot(path=str(shot))
    shutil.copy(shot, jlab.REPO / "docs" / "lab.png")

    # undo redraws the picture from before the write (from the lab's SVG cache)
    lab.locator("button", has_text=re.compile(r"^\s*undo\s*$")).click()
    expect(diagram).not_to_contain_text("PF3", timeout=15_000)
    expect(diagram).to_contain_text("VP1 -> PF1 RO COW")


def test_missing_chromium_fails_with_the_fix():
    import pytest
    with pytest.raises(pytest.fail.Exception, match=r"make test` as root .*apt-get install chromium"):
        jlab.require_chromium("/nonexistent/chromium")
