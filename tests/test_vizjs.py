"""cowlab.vizjs out of the browser: it refuses plainly, and drawing still uses dot.

The browser side (viz.js loaded in a Pyodide kernel, a drawing from a button) is
tested for real in tests/browser/test_lite.py against the built site."""
import sys

import pytest

import cowlab
from cowlab import render, vizjs


def test_vizjs_says_it_is_for_the_browser_only():
    assert sys.platform != "emscripten"
    with pytest.raises(vizjs.Unavailable, match="only in a browser kernel"):
        vizjs.load()
    with pytest.raises(vizjs.Unavailable, match="here cowlab uses dot"):
        vizjs.render_svg("digraph { a -> b }")


def test_out_of_the_browser_drawings_still_come_from_dot():
    k = cowlab.Kernel(ram_pages=16)
    k.fork(k.spawn("parent", pages=2))
    svg = cowlab.draw(k).svg()
    assert svg.lstrip().startswith("<?xml") and "PF1" in svg
    # The renderer is the program on PATH, as before the static site existed.
    assert render.find_renderer() is not None
