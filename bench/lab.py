"""How long from a click to the redrawn diagram, in the lab.

1. Python side (the button's callback: model call, draw, `dot`, tables, log), for
   the seed scenario on 16 frames (target: under 50 ms) and for a 10 GiB process,
   2,621,440 pages on 4,194,304 frames (target: under 1 s).
2. In a real browser: JupyterLab + headless Chromium, from the click on a lab
   button to the moment the new SVG is in the page (target: feels instant).

Prints medians; asserts nothing (timings belong here, not in tests).
    .venv/bin/python bench/lab.py [--no-browser] [--repeat N]
"""
import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "browser"))

import cowlab  # noqa: E402
import cowlab.widgets  # noqa: E402

BROWSER_PORT = 18775   # first free of 18775..18784 (the browser test uses 18765..)


def clock(button):
    """Seconds for one click, callback included (it redraws before returning).
    The lab's SVG cache is emptied first, so every click pays for `dot`."""
    cowlab.widgets.SVG_CACHE.clear()
    t = time.perf_counter()
    button.click()
    return time.perf_counter() - t


def ms(xs):
    return f"{statistics.median(xs) * 1e3:8.1f} ms (median of {len(xs)}, " \
           f"min {min(xs) * 1e3:.1f}, max {max(xs) * 1e3:.1f})"


def bench_seed(repeat):
    """The seed figure, click by click: fork, then the parent writes VP1."""
    lab = cowlab.Lab(ram_pages=16)
    times = {"fork": [], "write": [], "undo": [], "reset": []}
    for _ in range(repeat):
        times["fork"].append(clock(lab.buttons["fork"]))
        lab.process.value = 1
        lab.page.value = 1
        times["write"].append(clock(lab.buttons["write"]))
        assert "new copy!" in lab.diagram.source
        times["undo"].append(clock(lab.buttons["undo"]))
        times["reset"].append(clock(lab.buttons["reset"]))
    assert not lab.errors, lab.errors
    print("seed scenario, 16 frames (target < 50 ms per click):")
    for name, xs in times.items():
        print(f"  {name:6s} {ms(xs)}")
    return statistics.median(times["fork"] + times["write"])


def bench_big(repeat):
    """A 10 GiB process: fork it, then single-page writes (each a COW copy)."""
    t = time.perf_counter()
    lab = cowlab.Lab(ram_pages=4_194_304, pages=2_621_440)
    build = time.perf_counter() - t
    fork = clock(lab.buttons["fork"])
    lab.process.value = 1
    writes, reads, undos = [], [], []
    for i in range(repeat):
        lab.page.value = 1000 + 7919 * i
        writes.append(clock(lab.buttons["write"]))
        assert "new copy!" in lab.diagram.source
        reads.append(clock(lab.buttons["read"]))
    for _ in range(min(repeat, 3)):
        undos.append(clock(lab.buttons["undo"]))
    assert not lab.errors, lab.errors
    print("10 GiB process, 2,621,440 pages on 4,194,304 frames (target < 1 s per click):")
    print(f"  Lab()  {build * 1e3:8.1f} ms (spawn + first draw, once)")
    print(f"  fork   {fork * 1e3:8.1f} ms (once)")
    print(f"  write  {ms(writes)}")
    print(f"  read   {ms(reads)}")
    print(f"  undo   {ms(undos)}")
    return statistics.median(writes)


CLICK_TO_REDRAW = """async ([word]) => {
  const lab = document.querySelector('.cowlab-lab');
  const box = lab.querySelector('.cowlab-diagram');
  const before = box.innerHTML;
  const button = [...lab.querySelectorAll('button')]
      .find(b => b.textContent.trim() === word);
  return await new Promise(resolve => {
    const t0 = performance.now();
    const seen = new MutationObserver(() => {
      if (box.innerHTML !== before && box.querySelector('svg')) {
        seen.disconnect();
        requestAnimationFrame(() => resolve(performance.now() - t0));  // painted
      }
    });
    seen.observe(box, {subtree: true, childList: true, characterData: true});
    button.click();
    setTimeout(() => { seen.disconnect(); resolve(null); }, 15000);
  });
}"""


def bench_browser(repeat):
    """Click fork, then undo, in a real JupyterLab; time click -> new SVG painted."""
    import jlab
    from playwright.sync_api import sync_playwright
    if not os.path.exists(jlab.CHROMIUM):
        print(f"browser: skipped: {jlab.NO_CHROMIUM}")
        return None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        name = jlab.scratch_notebook(root)
        server = jlab.start_server(root, BROWSER_PORT)
        try:
            with sync_playwright() as pw:
                browser = jlab.launch_chromium(pw)
                try:
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    jlab.open_and_run_all(server, page, name)
                    page.locator(".cowlab-lab .cowlab-diagram svg").wait_for(timeout=30_000)
                    # fork n times: n new pictures, each drawn by dot (cold);
                    # then undo n times: back through pictures drawn before (cached).
                    times = {"fork": [], "undo": []}
                    n = min(repeat, 12)            # 13 processes still fit 16 frames
                    for word in ["fork"] * n + ["undo"] * n:
                        t = page.evaluate(CLICK_TO_REDRAW, [word])
                        if t is None:
                            raise RuntimeError(f"no redraw 15 s after clicking {word}")
                        times[word].append(t / 1e3)
                finally:
                    browser.close()
        finally:
            server.stop()
    print("real browser (JupyterLab + headless Chromium), click -> new SVG painted:")
    print(f"  fork   {ms(times['fork'])}  each a new picture: dot runs")
    print(f"  undo   {ms(times['undo'])}  pictures seen before: SVG cache")
    return statistics.median(times["fork"])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20, help="clicks per measurement")
    ap.add_argument("--no-browser", action="store_true", help="Python side only")
    args = ap.parse_args(argv)
    print("load average at start: %.2f %.2f %.2f on %d cores (timings stretch under load)"
          % (*os.getloadavg(), os.cpu_count()))
    seed = bench_seed(args.repeat)
    big = bench_big(max(3, args.repeat // 4))
    web = None if args.no_browser else bench_browser(args.repeat)
    print("load average at end: %.2f %.2f %.2f" % os.getloadavg())
    print("summary (medians): "
          f"seed click {seed * 1e3:.1f} ms [target 50], "
          f"10 GiB write {big * 1e3:.0f} ms [target 1000]"
          + (f", browser click-to-redraw (fork, dot runs) {web * 1e3:.0f} ms"
             if web is not None else ""))


if __name__ == "__main__":
    main()
