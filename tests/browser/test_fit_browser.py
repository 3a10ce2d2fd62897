"""Every chapter at laptop size: a real JupyterLab in a real Chromium at 1366x768.

Each chapter of notebooks/ is opened and run (so its labs, steppers and questions
are live widgets, as a student sees them), then every output is measured:

- no output wider than the notebook column: nothing sticks out past the notebook's
  right edge and nothing hides a wider picture behind a horizontal scroll bar;
- no drawing text under 9 px as displayed (an SVG shrunk to fit would be caught:
  the size is the font size times the scale the browser draws the SVG at);
- no dropdown in an output shows a blank (a prediction box shows its prompt).

Then every prediction of the chapter is committed, as a student would, and the same
is measured again: what a prediction reveals (a drawing, a table) must fit too.
"""
import json
import re

import pytest

import jlab

VIEWPORT = {"width": 1366, "height": 768}
MIN_TEXT_PX = 9
CHAPTERS = sorted(p.name for p in (jlab.REPO / "notebooks").glob("[0-9][0-9]-*.ipynb"))

MEASURE = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  const right = panel.getBoundingClientRect().right;
  const column = document.querySelector(
      '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output');
  const found = {wide: [], small: [], blank: [], svgs: 0, selects: 0,
                 column: column ? column.getBoundingClientRect().width : null};
  const cellOf = el => {
    const cell = el.closest('.jp-Cell');
    const cells = [...panel.querySelectorAll('.jp-Cell')];
    return cells.indexOf(cell);
  };
  const outputs = panel.querySelectorAll('.jp-OutputArea-output');
  for (const out of outputs) {
    const boxes = [out, ...out.querySelectorAll('*')];
    for (const el of boxes) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      const style = getComputedStyle(el);
      const scrolls = ['auto', 'scroll', 'hidden'].includes(style.overflowX);
      if (r.right > right + 1 || (scrolls && el.scrollWidth > el.clientWidth + 1
                                  && !(el.classList.contains('cowlab-sr')))) {
        found.wide.push({cell: cellOf(el), tag: el.tagName, cls: String(el.className).slice(0, 60),
                         right: Math.round(r.right), column_right: Math.round(right),
                         scroll: el.scrollWidth, client: el.clientWidth});
        break;
      }
    }
    const pics = [];
    for (const svg of out.querySelectorAll('svg')) {
      if (!svg.getAttribute('viewBox') || svg.closest('.cowlab-sr')) continue;
      pics.push([svg, svg]);
    }
    for (const img of out.querySelectorAll('img')) {
      const src = img.getAttribute('src') || '';
      if (!src.startsWith('data:image/svg+xml')) continue;
      const body = src.slice(src.indexOf(',') + 1);
      const text = src.slice(0, src.indexOf(',')).includes(';base64') ? atob(body)
                   : decodeURIComponent(body);
      const doc = new DOMParser().parseFromString(text, 'image/svg+xml');
      pics.push([img, doc.documentElement]);
    }
    for (const [shown, svg] of pics) {
      const box = shown.getBoundingClientRect();
      const view = (svg.getAttribute('viewBox') || '').trim().split(/[\\s,]+/).map(Number);
      if (view.length !== 4 || !view[2] || box.width === 0) continue;
      found.svgs += 1;
      const scale = box.width / view[2];
      for (const t of svg.querySelectorAll('text')) {
        let size = parseFloat(t.getAttribute('font-size') || '');
        if (!size) {
          const holder = t.closest('[font-size]');
          size = holder ? parseFloat(holder.getAttribute('font-size')) : 14;
        }
        const px = size * scale;
        if (px < %(min)s - 0.01) {
          found.small.push({cell: cellOf(shown), text: t.textContent.slice(0, 40),
                            px: Math.round(px * 10) / 10});
          break;
        }
      }
    }
    for (const sel of out.querySelectorAll('select')) {
      found.selects += 1;
      const opt = sel.selectedIndex >= 0 ? sel.options[sel.selectedIndex] : null;
      if (!opt || !opt.text.trim()) {
        found.blank.push({cell: cellOf(sel),
                          options: [...sel.options].map(o => o.text).slice(0, 4)});
      }
    }
  }
  return found;
}""" % {"min": MIN_TEXT_PX}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("fit") / "root"
    root.mkdir()
    s = jlab.start_server(root, 18775)
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def browser():
    jlab.require_chromium()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        b = jlab.launch_chromium(pw)
        try:
            yield b
        finally:
            b.close()


def test_every_chapter_is_listed():
    assert len(CHAPTERS) >= 9 and CHAPTERS[0].startswith("00-"), CHAPTERS


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_fits_a_laptop(chapter, server, browser, tmp_path_factory):
    name = jlab.copy_notebook(jlab.REPO / "notebooks" / chapter, server.root)
    page = browser.new_page(viewport=VIEWPORT)
    try:
        jlab.open_and_run_all(server, page, name)
        page.wait_for_timeout(1000)            # widgets draw after the kernel is idle
        found = page.evaluate(MEASURE)
        if found["wide"] or found["small"] or found["blank"]:
            shots = jlab.REPO / "artifacts"
            shots.mkdir(exist_ok=True)
            page.screenshot(path=str(shots / f"fit-{chapter}.png"), full_page=True)
        assert 800 <= found["column"] <= 1000, found["column"]   # the laptop's column
        assert not found["wide"], f"{chapter}: wider than the column: " + json.dumps(found["wide"])
        assert not found["small"], f"{chapter}: text under {MIN_TEXT_PX} px: " + \
            json.dumps(found["small"])
        assert not found["blank"], f"{chapter}: a dropdown shows a blank: " + \
            json.dumps(found["blank"])
        if re.match(r"0[0-7]-", chapter):     # every chapter but 08 draws something
            assert found["svgs"] > 0, f"{chapter}: no drawing was measured"
        committed = commit_every_prediction(page)
        if not chapter.startswith("00-"):     # 01..09 each ask at least one prediction
            assert committed > 0, f"{chapter}: no prediction to commit"
        server.wait_idle(timeout=120)
        page.wait_for_timeout(1000)
        after = page.evaluate(MEASURE)
        if after["wide"] or after["small"]:
            shots = jlab.REPO / "artifacts"
            shots.mkdir(exist_ok=True)
            page.screenshot(path=str(shots / f"fit-{chapter}-committed.png"), full_page=True)
        assert not after["wide"], f"{chapter}, predictions committed: wider than the " \
                                  "column: " + json.dumps(after["wide"])
        assert not after["small"], f"{chapter}, predictions committed: text under " \
                                   f"{MIN_TEXT_PX} px: " + json.dumps(after["small"])
    finally:
        for k in server.kernels():
            server.api(f"kernels/{k['id']}", method="DELETE")
        page.close()


def commit_every_prediction(page):
    """Pick the first choice of every prediction box and commit; -> how many."""
    from playwright.sync_api import expect
    boxes = page.locator(".cowlab-prediction")
    n = boxes.count()
    for i in range(n):
        p = boxes.nth(i)
        p.scroll_into_view_if_needed()
        p.locator("select").first.select_option(index=1)
        p.locator("button", has_text="commit").click()
        expect(p).to_contain_text("You predicted", timeout=60_000)
    return n


def test_03_lab_after_its_instructions_fits(server, browser):
    """03's 'Try': fork three times, then each of the four processes predicts and
    writes VP0. The lab then holds four page tables; all must be in the column."""
    from playwright.sync_api import expect
    name = jlab.copy_notebook(jlab.REPO / "notebooks" / "03-refcounting.ipynb", server.root)
    page = browser.new_page(viewport=VIEWPORT)
    try:
        jlab.open_and_run_all(server, page, name)
        lab = page.locator(".cowlab-lab").first
        lab.scroll_into_view_if_needed()
        diagram = lab.locator(".cowlab-diagram svg")
        expect(diagram).to_be_visible(timeout=30_000)
        fork = lab.locator("button", has_text=re.compile(r"^\s*fork\s*$"))
        for n in (2, 3, 4):
            fork.click()
            expect(diagram).to_contain_text(f"(pid {n})", timeout=15_000)
        process = lab.locator(".cowlab-process select")
        shown = process.locator("option").all_inner_texts()
        assert len(shown) == 4, shown
        for label in shown:
            process.select_option(label=label)
            label = label.replace("\xa0", " ")          # ipywidgets shows spaces as nbsp
            lab.locator(".cowlab-page input").fill("0")
            lab.locator(".cowlab-page input").press("Enter")
            lab.locator(".cowlab-predict select").first.select_option(index=2)
            lab.locator("button", has_text=re.compile(r"^\s*write\s*$")).click()
            expect(lab.locator(".cowlab-log").first).to_contain_text(
                f"write({label.replace(' (', ' ').rstrip(')')}, VP0", timeout=15_000)
        expect(diagram).to_contain_text("reused", timeout=15_000)
        found = page.evaluate(MEASURE)
        text = diagram.text_content()
        for pid in (1, 2, 3, 4):
            assert f"(pid {pid})" in text, text
        assert not found["wide"], json.dumps(found["wide"])
        assert not found["small"], json.dumps(found["small"])
        assert not found["blank"], json.dumps(found["blank"])
        box = diagram.bounding_box()
        assert box["width"] <= found["column"], (box, found["column"])
        log = lab.locator(".cowlab-log").first.inner_text()
        assert "Traceback" not in log and "something went wrong" not in log, log
    finally:
        for k in server.kernels():
            server.api(f"kernels/{k['id']}", method="DELETE")
        page.close()
