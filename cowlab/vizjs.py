"""Graphviz in the browser: DOT to SVG through viz.js, for a kernel with no `dot`.

In the static site (`make lite`: JupyterLite, the Pyodide kernel, sys.platform ==
"emscripten") there is no process to run, so `cowlab.render.render_svg` asks this
module instead. viz.js (@viz-js/viz, MIT) is Graphviz compiled to WebAssembly; `make
lite` puts its standalone build `viz-global.js` and its licence into the wheel under
`cowlab/_vizjs/` (they are not in the git tree: fetched from npm at build time).

Loading viz.js is asynchronous (it compiles WebAssembly); the kernel's Python waits for
it with `pyodide.ffi.run_sync` (JavaScript Promise Integration: Chromium >= 137; tested
with Chromium 150), once, about 0.1 s. Rendering itself is synchronous, so a redraw from a widget
button needs no waiting. Needs no numpy: the site's check page uses it offline.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VIZ_JS = os.path.join(HERE, "_vizjs", "viz-global.js")
LICENSE = os.path.join(HERE, "_vizjs", "LICENSE")

_viz = None          # the viz.js instance, once loaded


class Unavailable(RuntimeError):
    """viz.js cannot be used here (not a browser kernel, not bundled, or cannot load)."""


def in_browser():
    """True in a Pyodide kernel (JupyterLite), where `dot` cannot run."""
    return sys.platform == "emscripten"


def load():
    """The viz.js instance: loaded on first use and kept. Raises Unavailable with why."""
    global _viz
    if _viz is not None:
        return _viz
    if not in_browser():
        raise Unavailable("viz.js runs only in a browser kernel (Pyodide); "
                          "here cowlab uses dot")
    if not os.path.exists(VIZ_JS):
        raise Unavailable(f"{VIZ_JS} is missing: this cowlab wheel was not built by "
                          "`make lite` (it bundles viz.js)")
    try:
        import js
        from pyodide.code import run_js
        from pyodide.ffi import run_sync
    except ImportError as exc:
        raise Unavailable(f"not a Pyodide kernel ({exc})") from exc
    try:
        if not hasattr(js, "Viz"):
            with open(VIZ_JS, encoding="utf-8") as f:
                run_js(f.read())                      # defines globalThis.Viz
        try:
            from pyodide.ffi import can_run_sync
        except ImportError:                           # older Pyodide: just try
            can_run_sync = None
        if can_run_sync is not None and not can_run_sync():
            raise Unavailable("this browser cannot wait for viz.js from Python here "
                              "(needs JavaScript Promise Integration, e.g. Chromium >= 137); "
                              "run a cell that draws first")
        _viz = run_sync(js.Viz.instance())
    except Unavailable:
        raise
    except Exception as exc:                          # a JS error: say it, plainly
        raise Unavailable(f"viz.js did not load: {exc}") from exc
    return _viz


def graphviz_version():
    """The Graphviz version inside viz.js (e.g. '14.1.2')."""
    return str(load().graphvizVersion)


def render_svg(source):
    """DOT source -> SVG text, rendered by viz.js. RuntimeError on a DOT error."""
    viz = load()
    import js
    from pyodide.ffi import to_js
    options = to_js({"format": "svg"}, dict_converter=js.Object.fromEntries)
    result = viz.render(source, options)
    if result.status != "success":
        errors = [e.message for e in result.errors] if result.errors else []
        raise RuntimeError(f"viz.js failed: {errors[0].strip() if errors else 'no output'}")
    return str(result.output)
