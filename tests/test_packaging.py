"""The packaging files tell the truth about the code.

A student on a fresh machine gets only what pyproject.toml (make lab/test) or
environment.yml (conda, Binder) installs, so every third-party package that cowlab or
a notebook imports must be declared in both; the two commands must be wired the way
README.md shows them.
"""
import ast
import importlib.metadata
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest
import yaml
from IPython.core.inputtransformer2 import TransformerManager

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIRS = ("notebooks", "solutions", "exercises")

# import name -> (PyPI names, conda-forge names); declaring any one of each is enough.
# An import missing here fails the check: add it, and declare it in both files.
IMPORT_TO_DIST = {
    "numpy": ({"numpy"}, {"numpy"}),
    "graphviz": ({"graphviz"}, {"python-graphviz"}),
    "ipywidgets": ({"ipywidgets"}, {"ipywidgets"}),
    "IPython": ({"ipython", "ipykernel"}, {"ipython", "ipykernel"}),
    "ipykernel": ({"ipykernel"}, {"ipykernel"}),
    "matplotlib": ({"matplotlib"}, {"matplotlib", "matplotlib-base"}),
    "mpl_toolkits": ({"matplotlib"}, {"matplotlib", "matplotlib-base"}),
    "nbformat": ({"nbformat"}, {"nbformat"}),
    "nbclient": ({"nbclient"}, {"nbclient"}),
    "nbval": ({"nbval"}, {"nbval"}),
    "jupytext": ({"jupytext"}, {"jupytext"}),
    "jupyter_client": ({"jupyter-client"}, {"jupyter-client"}),
    "traitlets": ({"traitlets"}, {"traitlets"}),
    "pytest": ({"pytest"}, {"pytest"}),
    "hypothesis": ({"hypothesis"}, {"hypothesis"}),
    "playwright": ({"playwright"}, {"playwright"}),
    "yaml": ({"pyyaml"}, {"pyyaml"}),
    "tomli": ({"tomli"}, {"tomli"}),
    "PIL": ({"pillow"}, {"pillow"}),
    "psutil": ({"psutil"}, {"psutil"}),
    "scipy": ({"scipy"}, {"scipy"}),
    "pandas": ({"pandas"}, {"pandas"}),
    "nbgrader": ({"nbgrader"}, {"nbgrader"}),
    "nbconvert": ({"nbconvert"}, {"nbconvert"}),
}
NEWER_STDLIB = {"tomllib"}  # stdlib from 3.11, imported behind a fallback
# Modules of the Pyodide runtime itself (cowlab/vizjs.py, only in the browser kernel
# of the static site): never installed, so never declared.
PYODIDE_RUNTIME = {"js", "pyodide"}


def normalize(name):
    """PyPI and conda spell the same package with -, _ or . and any case."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(req):
    """'ipywidgets>=8,<9' / 'tomli; python_version<...' / 'jupyterlab >=4' -> its name."""
    match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
    return normalize(match.group(1)) if match else None


# --- reading the two files -------------------------------------------------------------

def load_pyproject(path=ROOT / "pyproject.toml"):
    with open(path, "rb") as f:
        return tomllib.load(f)


def load_environment(path=ROOT / "environment.yml"):
    with open(path) as f:
        return yaml.safe_load(f)


def pyproject_declared(pyproject):
    """Every distribution pyproject.toml installs: dependencies plus all extras."""
    project = pyproject["project"]
    reqs = list(project.get("dependencies", []))
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return {requirement_name(r) for r in reqs} - {None, "cowlab"}


def conda_pip_section(env):
    for dep in env.get("dependencies", []):
        if isinstance(dep, dict) and "pip" in dep:
            return list(dep["pip"])
    return []


def environment_declared(env):
    """Every package environment.yml installs: conda packages and its pip section."""
    names = {requirement_name(d) for d in env.get("dependencies", []) if isinstance(d, str)}
    pip = [r for r in conda_pip_section(env) if not r.startswith(("-", "."))]
    names |= {requirement_name(r) for r in pip}
    return names - {None}


# --- finding the imports ---------------------------------------------------------------

def imported_names(source, filename):
    """(top-level module, line) for every absolute import anywhere in the source,
    inside functions too, and importlib.import_module("literal") calls."""
    tree = ast.parse(source, filename)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name.split(".")[0], node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                yield node.module.split(".")[0], node.lineno
        elif isinstance(node, ast.Call) and node.args:
            func = node.func
            fname = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            arg = node.args[0]
            if (fname in ("import_module", "__import__") and isinstance(arg, ast.Constant)
                    and isinstance(arg.value, str) and not arg.value.startswith(".")):
                yield arg.value.split(".")[0], node.lineno


def notebook_sources(path):
    """(label, python source) of each code cell, IPython magics turned into Python."""
    nb = json.loads(Path(path).read_text())
    transform = TransformerManager().transform_cell
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "code":
            continue
        src = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        yield f"{path} cell {i}", transform(src)


def repo_modules(root):
    """Names the repository itself provides: its top-level folders (`from tests.x
    import`) and every .py module in it (scripts put their folders on sys.path)."""
    skip = {".venv", ".git", "node_modules", "build", "dist"}
    names = {p.name for p in Path(root).iterdir() if p.is_dir()}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in skip and not d.startswith(".")]
        names |= {f[:-3] for f in filenames if f.endswith(".py")}
    return names


def third_party_imports(files, root):
    """{import name: [where, ...]} of third-party imports in .py and .ipynb files."""
    first_party = {"cowlab"} | repo_modules(root)
    stdlib = set(sys.stdlib_module_names) | NEWER_STDLIB | PYODIDE_RUNTIME | {"__future__"}
    found = {}
    for path in files:
        path = Path(path)
        if path.suffix == ".ipynb":
            sources = list(notebook_sources(path))
        else:
            sources = [(str(path), path.read_text())]
        for label, source in sources:
            for name, line in imported_names(source, label):
                if name in stdlib or name in first_party:
                    continue
                found.setdefault(name, []).append(f"{label}:{line}")
    return found


def undeclared(imports, pip_names, conda_names=None):
    """Problems, one readable line each; empty when everything is declared.
    conda_names=None checks pyproject.toml only (tests/ and bench/ need no conda)."""
    problems = []
    for name, where in sorted(imports.items()):
        if name not in IMPORT_TO_DIST:
            problems.append(f"import {name!r} ({where[0]}) is not known to "
                            f"tests/test_packaging.py: add it to IMPORT_TO_DIST and "
                            f"declare its distribution in pyproject.toml and environment.yml")
            continue
        pip, conda = IMPORT_TO_DIST[name]
        if not {normalize(n) for n in pip} & pip_names:
            problems.append(f"import {name!r} ({where[0]}) is not declared in "
                            f"pyproject.toml: add {sorted(pip)[0]!r} to dependencies or an extra")
        if conda_names is not None and not {normalize(n) for n in conda} & conda_names:
            problems.append(f"import {name!r} ({where[0]}) is not declared in "
                            f"environment.yml: add {sorted(conda)[0]!r} to its dependencies")
    return problems


def course_files(root=ROOT):
    files = sorted((root / "cowlab").rglob("*.py"))
    for d in NOTEBOOK_DIRS:
        files += sorted(p for p in (root / d).rglob("*.ipynb")
                        if ".ipynb_checkpoints" not in p.parts)
    return files


# --- the checks ------------------------------------------------------------------------

def test_course_imports_are_declared_in_pyproject_and_environment():
    files = course_files()
    assert any(f.name == "__init__.py" for f in files), "cowlab/ sources not found"
    imports = third_party_imports(files, ROOT)
    problems = undeclared(imports, pyproject_declared(load_pyproject()),
                          environment_declared(load_environment()))
    assert not problems, "\n".join(problems)


def test_test_and_bench_imports_are_declared_in_pyproject():
    files = sorted((ROOT / "tests").rglob("*.py")) + sorted((ROOT / "bench").rglob("*.py"))
    problems = undeclared(third_party_imports(files, ROOT),
                          pyproject_declared(load_pyproject()))
    assert not problems, "\n".join(problems)


def test_checker_names_an_undeclared_import(tmp_path):
    """The check can fail: a fake import, nested in a function and in a notebook
    behind a magic, is reported with its name, file and line; stdlib, relative and
    first-party imports are not."""
    pkg = tmp_path / "cowlab"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import os\nfrom . import sibling\nimport cowlab.kernel\n")
    (pkg / "mod.py").write_text("import numpy as np\n\ndef later():\n"
                                "    import surely_not_a_cowlab_dep\n")
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "outputs": [],
                     "execution_count": None,
                     "source": ["%matplotlib inline\n", "import fake_notebook_dep.sub\n"]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "nb.ipynb").write_text(json.dumps(nb))

    imports = third_party_imports([pkg / "__init__.py", pkg / "mod.py",
                                   tmp_path / "nb.ipynb"], tmp_path)
    assert set(imports) == {"numpy", "surely_not_a_cowlab_dep", "fake_notebook_dep"}
    assert imports["surely_not_a_cowlab_dep"] == [f"{pkg / 'mod.py'}:4"]

    problems = "\n".join(undeclared(imports, {"numpy"}, {"numpy"}))
    assert "'surely_not_a_cowlab_dep'" in problems and "mod.py:4" in problems
    assert "'fake_notebook_dep'" in problems and "nb.ipynb cell 0" in problems
    assert "numpy" not in problems

    # numpy declared for pip but not conda: the conda side is named.
    problems = undeclared({"numpy": ["x.py:1"]}, {"numpy"}, {"python"})
    assert problems == ["import 'numpy' (x.py:1) is not declared in environment.yml: "
                        "add 'numpy' to its dependencies"]
    # graphviz is python-graphviz on conda-forge, graphviz on PyPI.
    assert undeclared({"graphviz": ["x.py:1"]}, {"graphviz"}, {"python-graphviz"}) == []


def test_environment_is_conda_forge_with_pinned_majors():
    env = load_environment()
    assert env.get("channels") == ["conda-forge"], "environment.yml: conda-forge only"
    specs = {requirement_name(d): d for d in env["dependencies"] if isinstance(d, str)}
    assert re.fullmatch(r"python\s*>=\s*3\.10", specs.get("python", "")), \
        f"environment.yml must pin python >=3.10, has {specs.get('python')!r}"
    for name, major in (("jupyterlab", 4), ("ipywidgets", 8)):
        spec = specs.get(name, "")
        version = spec[len(name):].replace(" ", "")
        pinned = (re.fullmatch(rf"=?={major}(\.\d+)*(\.\*)?", version)
                  or re.fullmatch(rf">={major}(\.\d+)*,<{major + 1}", version))
        assert pinned, f"environment.yml must pin {name} {major}.x, has {spec!r}"
    for name in ("numpy", "python-graphviz", "graphviz", "nbval", "pytest", "hypothesis",
                 "matplotlib", "pip"):
        assert name in specs, f"environment.yml lacks {name}"
    assert {"-e .", "."} & set(conda_pip_section(env)), \
        "environment.yml must pip-install the repo itself (- pip: [-e .])"


def test_pyproject_metadata():
    project = load_pyproject()["project"]
    assert project["name"] == "cowlab"
    assert re.fullmatch(r">=\s*3\.10", project["requires-python"])
    runtime = {requirement_name(r) for r in project["dependencies"]}
    assert runtime == {"numpy", "graphviz", "ipywidgets"}, \
        f"runtime deps are kept to numpy, graphviz, ipywidgets (got {sorted(runtime)}); " \
        f"put anything else in an extra"
    test_extra = {requirement_name(r) for r in project["optional-dependencies"]["test"]}
    assert {"pytest", "hypothesis", "nbval", "nbclient", "nbformat", "ipykernel",
            "jupyterlab", "playwright", "matplotlib"} <= test_extra
    assert "dev" in project["optional-dependencies"]
    assert project["scripts"] == {"cowlab": "cowlab.cli:main"}
    assert load_pyproject()["tool"]["pytest"]["ini_options"]["testpaths"] == ["tests"]


def clean_env(**extra):
    """The environment for a make of our own: none of an outer make's flags or knobs
    (`make test PYTEST_ARGS=...` exports PYTEST_ARGS to everything it runs)."""
    outer = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTEST_ARGS", "LAB_ARGS", "PORT", "HOST",
             "NOTEBOOK", "PYTHON", "VENV"}
    env = {k: v for k, v in os.environ.items() if k not in outer}
    env.update(extra)
    return env


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening_addresses(port):
    """Local addresses with a TCP socket listening on port, from /proc/net/tcp{,6}
    (hex, as the kernel prints them: 0100007F is 127.0.0.1, 00000000 is 0.0.0.0)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hexport = local.partition(":")
            if state == "0A" and int(hexport, 16) == port:
                found.add(address)
    return found


def test_make_lab_serves_jupyterlab_on_loopback_at_the_given_port(tmp_path):
    """`make lab PORT=N` starts JupyterLab on 127.0.0.1:N. `-o setup` leaves out the
    .venv set-up (make test has done it), and VENV points at the running environment."""
    make = shutil.which("make")
    assert make, "make is needed for make lab / make test"
    port = free_port()
    log = tmp_path / "lab.log"
    env = clean_env(JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"))
    with open(log, "w") as out:
        lab = subprocess.Popen([make, "-o", "setup", "lab", f"PORT={port}",
                                f"VENV={sys.prefix}", "LAB_ARGS=--no-browser"],
                               cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        answer = None
        while time.monotonic() < deadline and lab.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api", timeout=5) as r:
                    answer = json.load(r)
                    break
            except OSError:
                time.sleep(0.5)
        text = log.read_text()
        assert answer and "version" in answer, f"JupyterLab did not answer:\n{text}"
        assert f"http://127.0.0.1:{port}/lab" in text, text
        assert listening_addresses(port) == {"0100007F"}, \
            f"make lab must listen on 127.0.0.1 only, listens on {listening_addresses(port)}"
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        try:
            lab.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(lab.pid, signal.SIGKILL)
            lab.wait()


def tiny_notebook(stored_output):
    cell = {"cell_type": "code", "execution_count": 1, "metadata": {}, "id": "c0",
            "source": "print(6 * 7)",
            "outputs": [{"output_type": "stream", "name": "stdout", "text": stored_output}]}
    return {"cells": [cell], "nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"}}}


def make_test_in(tmp_path, stored_output):
    """Run the real `make test` recipe on a tiny project: one passing test in tests/, one
    notebook in notebooks/, no solutions/ or exercises/ (set-up and the static site,
    which needs the real project, left out with -o)."""
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_ok.py").write_text("def test_ok():\n    assert 6 * 7 == 42\n")
    sanitize = ROOT / "tests" / "nbval_sanitize.cfg"
    (tmp_path / "tests" / "nbval_sanitize.cfg").write_text(
        sanitize.read_text() if sanitize.exists() else "")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "t.ipynb").write_text(json.dumps(tiny_notebook(stored_output)))
    return subprocess.run([shutil.which("make"), "-o", "setup", "-o", "setup-test",
                           "-o", "lite", "test",
                           f"VENV={sys.prefix}"], cwd=tmp_path, text=True, env=clean_env(),
                          capture_output=True, stdin=subprocess.DEVNULL, timeout=300)


def test_make_test_runs_pytest_then_nbval_over_dirs_with_notebooks(tmp_path):
    run = make_test_in(tmp_path, "42\n")
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    assert "== nbval over: notebooks" in out, out
    assert "solutions/ has no notebooks yet: left out" in out
    assert "exercises/ has no notebooks yet: left out" in out
    assert "tests/test_ok.py ." in out and "notebooks/t.ipynb ." in out, out
    assert "== make test: all passed" in out


def test_make_test_fails_when_a_notebook_output_changed(tmp_path):
    run = make_test_in(tmp_path, "41\n")
    out = run.stdout + run.stderr
    assert run.returncode != 0, out
    assert "tests/test_ok.py ." in out, "pytest over tests/ still runs and reports"
    assert "1 failed" in out and "== make test: FAILED" in out, out


def test_ci_runs_make_test():
    ci = ROOT / ".ci" / "run"
    text = ci.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    commands = [l.strip() for l in text.splitlines()
                if l.strip() and not l.lstrip().startswith("#")]
    assert commands[-1] == "make test", commands
    assert "|| true" not in text and "|| true" not in (ROOT / "Makefile").read_text()
    assert ci.stat().st_mode & stat.S_IXUSR, ".ci/run must be executable"


def test_readme_shows_the_two_commands_first():
    text = (ROOT / "README.md").read_text()
    first_block = re.search(r"```[a-z]*\n(.*?)```", text, re.S)
    assert first_block, "README.md has no code block"
    before = [l for l in text[:first_block.start()].splitlines() if l.strip()]
    assert len(before) == 1 and before[0].startswith("# "), \
        f"only the title may come before make lab / make test, found {before}"
    lines = [l.strip() for l in first_block.group(1).splitlines() if l.strip()]
    assert [l.split("#")[0].strip() for l in lines[:2]] == ["make lab", "make test"], lines
    assert text.index("make lab") < text.index("mybinder.org")
    assert text.index("make test") < text.index("conda env create")
    for chapter in ("00-start", "01-fork", "02-write-faults", "03-refcounting", "04-exec",
                    "05-overcommit", "06-redis-bgsave", "07-cow-beyond-fork",
                    "08-real-kernel"):
        assert chapter in text, f"README.md chapter list lacks {chapter}"
    assert "docs/lab.png" in text
    for command in ("cowlab sim", "cowlab assign", "cowlab grade"):
        assert command in text


def test_readme_quick_start_runs():
    """The model example in README.md is real code that runs as shown."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```python\n(.*?)```", text, re.S)
    assert block, "README.md has no python quick-start"
    out = subprocess.run([sys.executable, "-c", block.group(1)], cwd=ROOT, text=True,
                         capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr


# --- the installed package ---------------------------------------------------------------

def test_import_cowlab_stays_light():
    """The model loads without the UI stack (graphviz, ipywidgets, matplotlib)."""
    code = ("import sys, cowlab; cowlab.Kernel; "
            "print(sorted(m for m in ('graphviz', 'ipywidgets', 'matplotlib', 'IPython') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, text=True,
                         capture_output=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", f"import cowlab pulled in {out.stdout.strip()}"


def test_cowlab_command_is_installed():
    """`pip install -e .` (make lab/test) puts a working `cowlab` command in the venv."""
    exe = Path(sys.executable).parent / "cowlab"
    assert exe.exists(), f"{exe} missing: install the project (make test, or pip install -e .)"
    out = subprocess.run([str(exe), "--help"], text=True, capture_output=True)
    assert out.returncode == 0, out.stderr
    for command in ("sim", "assign", "grade"):
        assert re.search(rf"^\s+{command}\s", out.stdout, re.M), out.stdout


def test_wheel_carries_homework_data_and_license(tmp_path):
    """A non-editable install (pip install .) gets the homework data files too."""
    setuptools = importlib.metadata.version("setuptools")
    assert int(setuptools.split(".")[0]) >= 77, \
        f"setuptools {setuptools} is too old to build cowlab: pip install -e '.[test]'"
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("*.egg-info")     # __pycache__ kept: must stay out
    shutil.copytree(ROOT / "cowlab", src / "cowlab", ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    data = src / "cowlab" / "homework" / "data" / "probe-question.json"
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text('{"probe": true}\n')
    stale = src / "cowlab" / "homework" / "__pycache__" / "probe.cpython-311.pyc"
    stale.parent.mkdir(exist_ok=True)
    stale.write_bytes(b"not a real pyc")
    expected = {p.relative_to(src).as_posix() for p in (src / "cowlab" / "homework").rglob("*")
                if p.is_file() and p.suffix not in (".py", ".pyc")}
    assert "cowlab/homework/data/probe-question.json" in expected

    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                          "--no-build-isolation", "-w", str(tmp_path / "dist"), str(src)],
                         text=True, capture_output=True, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    wheel, = (tmp_path / "dist").glob("cowlab-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert expected <= names, f"wheel lacks {sorted(expected - names)}"
    assert not any("__pycache__" in n for n in names)
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), sorted(names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "cowlab = cowlab.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
