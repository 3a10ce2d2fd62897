"""The static site (build/lite/, `make lite`): its size, what a first visit downloads,
and how long a student waits, in headless Chromium, offline as in the test.

    .venv/bin/python bench/lite.py [--runs 3]

Figures: files and MB of the site; bytes a first visit to the check page fetches;
seconds from navigation to the kernel idle and to the first executed cell (the check
page's cell, which imports cowlab and loads viz.js); ms from the click on "draw a
fork" to the SVG. Medians of --runs fresh browsers. Offline, numpy is not loaded
(the CDN is refused); online the first start also downloads numpy (about 3 MB).
"""
import argparse
import functools
import http.server
import os
import re
import statistics
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "browser"))
import jlab                                   # noqa: E402
from test_lite import SITE, Handler           # noqa: E402


def one_visit(site):
    from playwright.sync_api import sync_playwright
    fetched = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=jlab.CHROMIUM, headless=True,
                                     args=jlab.CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1366, "height": 768},
                                          service_workers="allow")
            context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(site)
                          else r.abort())

            def done(req):
                sizes = req.sizes()
                fetched.append(sizes["responseBodySize"])
            context.on("requestfinished", done)
            page = context.new_page()
            t0 = time.monotonic()
            page.goto(f"{site}/lab/index.html?path=check.ipynb")
            page.locator(".jp-NotebookPanel .jp-CodeCell").first.wait_for(timeout=120_000)
            shell = time.monotonic() - t0
            page.locator(".jp-StatusBar-TextItem", has_text=re.compile(
                r"Python \(Pyodide\) \| Idle")).first.wait_for(timeout=240_000)
            kernel = time.monotonic() - t0
            page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
            button = page.locator(".cowlab-check-draw")
            button.wait_for(timeout=120_000)
            first_cell = time.monotonic() - t0
            t1 = time.monotonic()
            button.click()
            page.locator(".cowlab-check-picture svg").wait_for(timeout=30_000)
            draw = time.monotonic() - t1
        finally:
            browser.close()
    return shell, kernel, first_cell, draw, sum(fetched)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not (SITE / "lab" / "index.html").exists():      # as `make lite` would
        from cowlab.lite.build import build
        build(SITE, REPO / "build" / "lite-cache")
    files = [p for p in SITE.rglob("*") if p.is_file()]
    print(f"site: {len(files)} files, {sum(p.stat().st_size for p in files) / 1e6:.1f} MB "
          f"({SITE})")
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(SITE)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    site = f"http://127.0.0.1:{server.server_address[1]}"
    runs = []
    try:
        for _ in range(args.runs):
            runs.append(one_visit(site))
            print("run: shell %.1f s, kernel idle %.1f s, first cell %.1f s, "
                  "draw %.0f ms, fetched %.1f MB" % (*runs[-1][:3], 1000 * runs[-1][3],
                                                     runs[-1][4] / 1e6))
    finally:
        server.shutdown()
    med = [statistics.median(r[i] for r in runs) for i in range(5)]
    print("median of %d: shell %.1f s, kernel idle %.1f s, first executed cell %.1f s, "
          "click to SVG %.0f ms, first visit fetches %.1f MB"
          % (len(runs), med[0], med[1], med[2], 1000 * med[3], med[4] / 1e6))
    print("load average: %.2f %.2f %.2f" % os.getloadavg())


if __name__ == "__main__":
    main()
