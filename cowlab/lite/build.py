"""`make lite`: the course as a static JupyterLite site, in build/lite/.

    python -m cowlab.lite.build [--out build/lite] [--cache build/lite-cache]

What goes in, and from where (everything fetched is cached under --cache, never in git):
- JupyterLab and the Pyodide kernel: jupyterlite-core and jupyterlite-pyodide-kernel
  from .venv (`jupyter lite build`, no source maps).
- The Pyodide runtime: the npm package `pyodide`, at the version the kernel pins.
- The pure-Python wheels the kernel needs to start (micropip, ipython, jedi and their
  dependencies), from PyPI at the versions of Pyodide's lock; PyPI's files differ
  byte-wise from Pyodide's builds, so the lock gets their sha256.
- comm, ipywidgets, graphviz (PyPI, the versions in .venv) and cowlab (a wheel built
  from this checkout, with viz.js from npm inside), added to the lock and preloaded
  by the kernel's settings: `import cowlab` works in the first cell, no %pip.
- Every other package of the lock (numpy, matplotlib, ...: compiled for WebAssembly,
  on no package index) points at the Pyodide CDN the kernel is configured with.
- Pages: chapters 00-07, chapter 08 with a note that it needs a real Linux machine,
  the homework (exercises/), a lab page and a check page.
"""
import argparse
import copy
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
VIZJS_VERSION = "3.31.0"
# Started by the kernel itself (micropip first, then ipython and jedi): served locally.
KERNEL_NEEDS = ["micropip", "ipython", "jedi"]
# Not in Pyodide's lock; added with the versions of .venv, so the site runs what the
# tests ran. Each with its dependencies inside the lock.
EXTRA = {"comm": [], "graphviz": [], "ipywidgets": ["comm", "ipython", "traitlets"]}
COWLAB_DEPENDS = ["numpy", "graphviz", "ipywidgets"]
PLUGIN = "@jupyterlite/pyodide-kernel-extension:kernel"
KERNELSPEC = {"name": "python", "display_name": "Python (Pyodide)", "language": "python"}
CHAPTERS = "0[0-7]-*.ipynb"
REAL_LINUX = "08-*.ipynb"


def say(msg):
    print(f"== lite: {msg}", flush=True)


def norm(name):
    """The normalised project name (PEP 503), as Pyodide's lock keys packages."""
    return re.sub(r"[-_.]+", "-", name).lower()


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def run(cmd, **kw):
    say(" ".join(str(c) for c in cmd))
    subprocess.run([str(c) for c in cmd], check=True, **kw)


# ---------------------------------------------------------------- inputs

def kernel_pins():
    """The Pyodide version the kernel pins, and the CDN URL it is configured with."""
    schema = Path(sys.prefix, "share/jupyter/labextensions/@jupyterlite/"
                  "pyodide-kernel-extension/static/schema/kernel.v0.schema.json")
    if not schema.exists():
        raise SystemExit(f"{schema} is missing: install jupyterlite-pyodide-kernel "
                         "(make lite does: pip install -e '.[lite]')")
    url = json.loads(schema.read_text())["properties"]["pyodideUrl"]["default"]
    found = re.search(r"/v(\d+\.\d+\.\d+)/full/pyodide\.mjs$", url)
    if not found:
        raise SystemExit(f"cannot read the Pyodide version from the kernel's default "
                         f"URL {url}: update cowlab/lite/build.py")
    return found.group(1), url.rsplit("/", 1)[0] + "/"


def npm_packages(cache, pyodide_version):
    """node_modules with pyodide and @viz-js/viz at our versions (npm, cached)."""
    npm_dir = cache / "npm"
    wanted = {"pyodide": pyodide_version, "@viz-js/viz": VIZJS_VERSION}

    def have():
        for name, version in wanted.items():
            pkg = npm_dir / "node_modules" / name / "package.json"
            if not pkg.exists() or json.loads(pkg.read_text())["version"] != version:
                return False
        return True

    if not have():
        if shutil.which("npm") is None:
            raise SystemExit("npm is missing: `make lite` installs it as root "
                             "(apt-get install npm); or install Node.js's npm")
        npm_dir.mkdir(parents=True, exist_ok=True)
        (npm_dir / "package.json").write_text('{"private": true}\n')
        run(["npm", "install", "--no-audit", "--no-fund", "--cache", cache / "npm-cache",
             *[f"{n}@{v}" for n, v in wanted.items()]], cwd=npm_dir)
        if not have():
            raise SystemExit(f"npm did not install {wanted}")
    return npm_dir / "node_modules"


def wheel_file(wheels, name, version):
    """The cached wheel of name==version, or None."""
    stem = re.sub(r"[-_.]+", "_", name).lower()
    for f in wheels.glob("*.whl"):
        n, v = f.name.split("-")[:2]
        if n.lower().replace(".", "_") == stem and v == version:
            return f
    return None


def pypi_wheels(wheels, pins):
    """Pure-Python wheels name==version from PyPI (cached). -> {name: path}"""
    wheels.mkdir(parents=True, exist_ok=True)
    missing = [f"{n}=={v}" for n, v in pins.items() if wheel_file(wheels, n, v) is None]
    if missing:
        run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--python-version", "3.14", "--dest", wheels, *missing])
    found = {}
    for n, v in pins.items():
        f = wheel_file(wheels, n, v)
        if f is None or not f.name.endswith("-none-any.whl"):
            raise SystemExit(f"no pure-Python wheel of {n}=={v} on PyPI: cannot serve it")
        found[n] = f
    return found


def cowlab_wheel(cache, viz_js):
    """A wheel of this checkout with viz.js and its licence inside (cowlab/_vizjs/).

    Built from a copy, so the checkout itself never holds the fetched file."""
    stage = cache / "cowlab-src"
    shutil.rmtree(stage, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "_vizjs")
    shutil.copytree(REPO / "cowlab", stage / "cowlab", ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, stage / name)
    (stage / "cowlab" / "_vizjs").mkdir()
    shutil.copy(viz_js, stage / "cowlab" / "_vizjs" / "viz-global.js")
    shutil.copy(REPO / "cowlab" / "lite" / "vizjs-LICENSE.txt",
                stage / "cowlab" / "_vizjs" / "LICENSE")
    out = cache / "cowlab-wheel"
    shutil.rmtree(out, ignore_errors=True)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--quiet", "--wheel-dir", out, stage])
    shutil.rmtree(stage)
    (wheel,) = out.glob("cowlab-*.whl")
    with zipfile.ZipFile(wheel) as z:
        if "cowlab/_vizjs/viz-global.js" not in z.namelist():
            raise SystemExit(f"{wheel.name} lacks cowlab/_vizjs/viz-global.js: "
                             "pyproject.toml's package-data must list it")
    return wheel


# ---------------------------------------------------------------- the Pyodide folder

def closure(packages, names):
    """names and everything they depend on in the lock (normalised keys)."""
    seen, todo = set(), [norm(n) for n in names]
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo += [norm(d) for d in packages[n]["depends"]]
    return seen


def lock_entry(name, wheel, depends, imports):
    return {"name": name, "version": wheel.name.split("-")[1], "file_name": wheel.name,
            "install_dir": "site", "sha256": sha256(wheel), "package_type": "package",
            "imports": imports, "depends": depends}


def pyodide_dir(dest, node_modules, cache, cdn, cowlab_whl):
    """static/pyodide/: the runtime, the wheels we serve, and the rewritten lock."""
    src = node_modules / "pyodide"
    dest.mkdir(parents=True)
    for name in ("pyodide.mjs", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip",
                 "package.json"):
        shutil.copy(src / name, dest / name)
    lock = json.loads((src / "pyodide-lock.json").read_text())
    packages = lock["packages"]
    served = closure(packages, KERNEL_NEEDS + [d for deps in EXTRA.values() for d in deps
                                               if norm(d) in packages])
    pins = {packages[n]["name"]: packages[n]["version"] for n in sorted(served)}
    from importlib.metadata import version
    extra_pins = {n: version(n) for n in EXTRA}
    wheels = pypi_wheels(cache / "wheels", {**pins, **extra_pins})
    for n in served:
        entry, whl = packages[n], wheels[packages[n]["name"]]
        entry.update(file_name=whl.name, sha256=sha256(whl))
        shutil.copy(whl, dest / whl.name)
    for name, depends in EXTRA.items():
        whl = wheels[name]
        packages[norm(name)] = lock_entry(name, whl, depends, [name.replace("-", "_")])
        shutil.copy(whl, dest / whl.name)
    packages["cowlab"] = lock_entry("cowlab", cowlab_whl, COWLAB_DEPENDS, ["cowlab"])
    shutil.copy(cowlab_whl, dest / cowlab_whl.name)
    local = served | {norm(n) for n in EXTRA} | {"cowlab"}
    for n, entry in packages.items():
        if n not in local:                      # numpy, matplotlib, ...: the CDN
            entry["file_name"] = cdn + entry["file_name"]
    (dest / "pyodide-lock.json").write_text(json.dumps(lock, indent=1))
    return sorted(local)


# ---------------------------------------------------------------- pages

def for_pyodide(nb):
    nb = copy.deepcopy(nb)
    nb.setdefault("metadata", {})["kernelspec"] = dict(KERNELSPEC)
    return nb


def markdown(source, cell_id):
    return {"cell_type": "markdown", "id": cell_id, "metadata": {},
            "source": source.splitlines(keepends=True)}


def code(source, cell_id):
    return {"cell_type": "code", "id": cell_id, "metadata": {}, "execution_count": None,
            "outputs": [], "source": source.splitlines(keepends=True)}


def notebook(cells):
    return {"cells": cells, "metadata": {"kernelspec": dict(KERNELSPEC)},
            "nbformat": 4, "nbformat_minor": 5}


REAL_LINUX_NOTE = """\
> **This chapter needs a real Linux machine.** It measures the live Linux kernel
> (`/proc/PID/smaps`, `/proc/PID/pagemap`, fault counters after a real `fork()`).
> This site runs Python inside your browser tab (Pyodide, WebAssembly): there is no
> Linux kernel, no `fork()` and no `/proc` here, so its cells cannot run. Read it
> here; run it on Linux with the course installed (`make lab` in a checkout, or
> Binder).
"""

LAB_PAGE = """\
# The lab

Fork, read, write, exit and undo on a 16-frame kernel model; the drawing shows page
tables, frames and reference counts after each click (drawn by viz.js, Graphviz in
your browser). The chapters explain what you see: start with `notebooks/00-start`.
"""

CHECK_PAGE = """\
# Check this browser

Run the cell (Shift+Enter). It says which parts of cowlab work in this tab: the
kernel, the cowlab package, numpy (loaded from the Pyodide CDN, so it needs the
network once) and drawings (viz.js). Then press **draw a fork**: a small drawing of
two processes sharing two frames must appear. If it does, the chapters will draw too.
"""


def pages(contents):
    """The site's files: chapters, 08 with its note, homework, lab and check pages."""
    (contents / "notebooks").mkdir(parents=True)
    for src in sorted((REPO / "notebooks").glob(CHAPTERS)):
        nb = for_pyodide(json.loads(src.read_text()))
        (contents / "notebooks" / src.name).write_text(json.dumps(nb, indent=1))
    real = sorted((REPO / "notebooks").glob(REAL_LINUX))
    for src in real:
        nb = for_pyodide(json.loads(src.read_text()))
        nb["cells"].insert(0, markdown(REAL_LINUX_NOTE, "lite-needs-linux"))
        (contents / "notebooks" / src.name).write_text(json.dumps(nb, indent=1))
    (contents / "exercises").mkdir()
    for src in sorted((REPO / "exercises").glob("*.ipynb")):
        nb = for_pyodide(json.loads(src.read_text()))
        (contents / "exercises" / src.name).write_text(json.dumps(nb, indent=1))
    lab = notebook([markdown(LAB_PAGE, "lab-00"),
                    code("import cowlab\n\ncowlab.Lab(ram_pages=16)", "lab-01")])
    (contents / "lab.ipynb").write_text(json.dumps(lab, indent=1))
    check = notebook([markdown(CHECK_PAGE, "check-00"),
                      code("from cowlab.lite.check import check\n\ncheck()", "check-01")])
    (contents / "check.ipynb").write_text(json.dumps(check, indent=1))
    chapters = len(list((contents / "notebooks").glob("*.ipynb")))
    if chapters < 9:
        raise SystemExit(f"only {chapters} chapters in notebooks/: expected 00-08")
    return chapters


# ---------------------------------------------------------------- the site

def settings(preload):
    return {
        "jupyter-lite-schema-version": 0,
        "jupyter-config-data": {
            "appName": "cowlab",
            "litePluginSettings": {PLUGIN: {
                "disablePyPIFallback": True,
                "loadPyodideOptions": {"packages": preload},
            }},
            # No news or update checks: nothing but this site is ever asked.
            "settingsOverrides": {
                "@jupyterlab/apputils-extension:notification": {
                    "fetchNews": "false", "checkForUpdates": False},
            },
        },
    }


def build(out, cache):
    start = time.monotonic()
    out, cache = Path(out).resolve(), Path(cache).resolve()
    pyodide_version, cdn = kernel_pins()
    say(f"Pyodide {pyodide_version} (the kernel's pin); compiled packages from {cdn}")
    node_modules = npm_packages(cache, pyodide_version)
    viz_js = node_modules / "@viz-js" / "viz" / "dist" / "viz-global.js"
    wheel = cowlab_wheel(cache, viz_js)
    lite_dir = cache / "lite-dir"
    shutil.rmtree(lite_dir, ignore_errors=True)
    local = pyodide_dir(lite_dir / "static" / "pyodide", node_modules, cache, cdn, wheel)
    say(f"served by the site: {', '.join(local)}")
    (lite_dir / "jupyter-lite.json").write_text(json.dumps(settings(["cowlab"]), indent=1))
    contents = cache / "contents"
    shutil.rmtree(contents, ignore_errors=True)
    chapters = pages(contents)
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(lite_dir / ".jupyterlite.doit.db", ignore_errors=True)
    jupyter = Path(sys.executable).with_name("jupyter")
    run([jupyter, "lite", "build", "--lite-dir", lite_dir, "--output-dir", out,
         "--contents", contents, "--no-sourcemaps", "--no-libarchive"],
        cwd=lite_dir, env=dict(os.environ, JUPYTER_PLATFORM_DIRS="1"))
    maps = glob.glob(str(out / "**" / "*.map"), recursive=True)
    for m in maps:                               # the odd map a bundle still ships
        os.remove(m)
    files = [p for p in out.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    say(f"built {out}: {chapters} chapters, {len(files)} files, {size / 1e6:.1f} MB, "
        f"in {time.monotonic() - start:.0f} s")
    say(f"try it: python -m http.server -d {out} 8000 -b 127.0.0.1, then open "
        "http://127.0.0.1:8000/lab/index.html?path=check.ipynb")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "build" / "lite"))
    ap.add_argument("--cache", default=str(REPO / "build" / "lite-cache"),
                    help="npm and PyPI downloads, kept between builds")
    args = ap.parse_args(argv)
    build(args.out, args.cache)


if __name__ == "__main__":
    main()
