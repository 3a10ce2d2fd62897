"""The static site (`make lite`, build/lite/) in a real, offline Chromium.

Everything up to numpy runs offline: JupyterLab loads from the site, the Pyodide
kernel starts, the cowlab wheel installs (preloaded by the kernel's settings, no
%pip), and the check page draws a fork through cowlab's viz.js backend when its
button is clicked. Every request not to 127.0.0.1 is refused (playwright routing, and
a dead proxy for anything routing would miss) and logged: the only ones allowed to be
*attempted* are the compiled packages the site takes from the Pyodide CDN (numpy).
What needs numpy (the chapters, the lab) is the manual check in the README; offline,
the lab must say that it needs numpy and how to get it.
"""
import functools
import http.server
import json
import re
import threading
import time
from urllib.parse import urlparse

import pytest

import jlab

SITE = jlab.REPO / "build" / "lite"
NOT_BUILT = f"{SITE} is missing: run `make lite` (make test builds it first)"


class Handler(http.server.SimpleHTTPRequestHandler):
    """A static host, as GitHub Pages would be; module workers need the JS type."""
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".mjs": "text/javascript", ".js": "text/javascript",
                      ".wasm": "application/wasm", ".json": "application/json"}

    def log_message(self, *args):
        pass


@pytest.fixture
def site():
    if not (SITE / "lab" / "index.html").exists():
        pytest.fail(NOT_BUILT, pytrace=False)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(SITE)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def cdn_base():
    """Where the site's lock sends compiled packages (numpy): the Pyodide CDN."""
    lock = json.loads((SITE / "static" / "pyodide" / "pyodide-lock.json").read_text())
    url = lock["packages"]["numpy"]["file_name"]
    assert url.startswith("https://"), f"numpy should come from the CDN, not {url}"
    return url.rsplit("/", 1)[0] + "/"


def test_chapter_08_says_it_needs_linux():
    if not SITE.exists():
        pytest.fail(NOT_BUILT, pytrace=False)
    nb = json.loads((SITE / "files" / "notebooks" / "08-real-kernel.ipynb").read_text())
    first = "".join(nb["cells"][0]["source"])
    assert "needs a real Linux machine" in first
    chapters = sorted(p.name[:2] for p in (SITE / "files" / "notebooks").glob("*.ipynb"))
    assert chapters == [f"{i:02d}" for i in range(9)]
    assert sorted((SITE / "files" / "exercises").glob("*.ipynb")), "no homework in the site"
    assert (SITE / "files" / "lab.ipynb").exists()
    assert not list(SITE.rglob("*.map")), "source maps in the site"


def test_site_offline_kernel_cowlab_and_vizjs_drawing(site, artifacts):
    jlab.require_chromium()
    from playwright.sync_api import sync_playwright
    local = urlparse(site).netloc
    cdn = cdn_base()
    served, refused = [], []

    def route(r):
        url = r.request.url
        if urlparse(url).netloc == local:
            r.continue_()
        else:
            refused.append(url)
            r.abort("internetdisconnected")

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=jlab.CHROMIUM, headless=True,
            # Anything routing might not see (a worker's fetch) meets a dead proxy.
            args=jlab.CHROMIUM_ARGS + ["--proxy-server=http://127.0.0.1:9",
                                       "--proxy-bypass-list=127.0.0.1"])
        try:
            context = browser.new_context(viewport={"width": 1366, "height": 768},
                                          service_workers="allow")
            context.route("**/*", route)
            context.on("requestfinished", lambda req: served.append(req.url))
            page = context.new_page()
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            t0 = time.monotonic()
            page.goto(f"{site}/lab/index.html?path=check.ipynb")
            # JupyterLab loads from the site, with the check page open.
            page.locator(".jp-NotebookPanel .jp-CodeCell").first.wait_for(timeout=120_000)
            # The Pyodide kernel starts (Pyodide, its wheels, cowlab preloaded).
            kernel = page.locator(".jp-StatusBar-TextItem",
                                  has_text=re.compile(r"Python \(Pyodide\) \| Idle"))
            try:
                kernel.first.wait_for(timeout=240_000)
            except Exception:
                page.screenshot(path=str(artifacts / "lite-failed.png"))
                raise AssertionError(f"the Pyodide kernel did not start: {errors[:5]}")
            kernel_s = time.monotonic() - t0
            # Run the check cell (Run > Run All Cells): import cowlab, no %pip.
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-itemLabel",
                         has_text=re.compile(r"^Run All Cells$")).click()
            button = page.locator(".cowlab-check-draw")
            try:
                button.wait_for(timeout=120_000)
            except Exception:
                page.screenshot(path=str(artifacts / "lite-failed.png"))
                raise AssertionError(
                    "the check widget did not appear; cell output: "
                    f"{page.locator('.jp-OutputArea').first.inner_text()[:2000]!r}; "
                    f"page errors: {errors[:5]}")
            first_cell_s = time.monotonic() - t0
            status = page.locator(".jp-OutputArea-output").first.inner_text()
            assert "cowlab: 0.1.0" in status, status
            assert "emscripten" in status, status           # really the browser kernel
            assert "via viz.js" in status, status           # viz.js loaded from the wheel
            assert "numpy: not available" in status, status  # offline: as documented
            # A drawing, from a button click, through cowlab's viz.js backend.
            button.click()
            svg = page.locator(".cowlab-check-picture svg")
            svg.wait_for(timeout=30_000)
            assert "PF1 rc=2" in svg.text_content()
            assert svg.locator("g.node").count() == 4, "parent, child, PF0, PF1"
            assert svg.locator("g.edge").count() == 4
            assert svg.bounding_box()["width"] > 100, "the drawing is not visible"
            assert "drawn by viz.js" in page.locator(".cowlab-check-note").inner_text()
            page.screenshot(path=str(artifacts / "lite-check.png"))
            # The lab needs numpy: offline it says so, and how to get it, in one line.
            page.goto(f"{site}/lab/index.html?path=lab.ipynb")
            page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell") \
                .first.wait_for(timeout=120_000)
            kernel.first.wait_for(timeout=240_000)
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-itemLabel",
                         has_text=re.compile(r"^Run All Cells$")).click()
            error = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output",
                                 has_text="Error")
            try:
                error.first.wait_for(timeout=120_000)
            except Exception:
                page.screenshot(path=str(artifacts / "lite-failed.png"))
                raise
            words = error.first.inner_text()
            page.screenshot(path=str(artifacts / "lite-offline-lab.png"))
            assert "cowlab.Lab needs numpy" in words, words
            assert "reload the page while online" in words, words
        finally:
            browser.close()
    names = [urlparse(u).path.rsplit("/", 1)[-1] for u in served]
    assert "pyodide.asm.wasm" in names, "the Pyodide runtime did not come from the site"
    assert any(n.startswith("cowlab-") and n.endswith(".whl") for n in names), \
        "the cowlab wheel was not installed from the site"
    # Nothing left localhost; the only attempts are the CDN's compiled packages.
    assert all(urlparse(u).netloc == local for u in served)
    assert all(u.startswith(cdn) for u in refused), \
        f"requests outside the site other than the Pyodide CDN: {refused}"
    print(f"kernel idle {kernel_s:.1f} s, first executed cell {first_cell_s:.1f} s after "
          f"navigation; refused {refused}")
