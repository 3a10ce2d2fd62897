"""Every link a chapter makes opens, in the JupyterLab that `make lab` starts.

The test runs `make lab` itself (a free port, `LAB_ARGS=--no-browser` and a token of its
own, throwaway Jupyter config/data/runtime dirs), then asks that server for every
relative link in every notebook of `notebooks/` (markdown links and images, resolved
from the notebook's folder) through its `/files/` and `/api/contents/` URLs: each must
answer 200. http(s) links are only checked for syntax (no network). The server is then
stopped through its own API, and `make` must exit.
"""
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
MD_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"""(?:href|src)\s*=\s*["']([^"']+)["']""")


def links():
    """[(notebook name, link)] for every markdown cell of every notebook."""
    found = []
    for nb in sorted(NOTEBOOKS.glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] != "markdown":
                continue
            text = "".join(cell["source"])
            text = re.sub(r"`[^`\n]*`", "", text)          # code spans are not links
            found += [(nb.name, m) for m in MD_LINK.findall(text) + HTML_LINK.findall(text)]
    return found


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MakeLab:
    """`make lab` as a user starts it, with a token and a port of this test's own."""

    def __init__(self, home):
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.runtime = home / "runtime"
        self.url = f"http://127.0.0.1:{self.port}"
        dirs = {k: home / k for k in ("config", "data", "runtime", "settings", "workspaces")}
        for d in dirs.values():
            d.mkdir(parents=True)
        env = dict(os.environ, JUPYTER_CONFIG_DIR=str(dirs["config"]),
                   JUPYTER_DATA_DIR=str(dirs["data"]), JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
                   JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
                   JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]))
        self.log = open(home / "make-lab.log", "w+")
        args = (f"--no-browser --IdentityProvider.token={self.token} --port-retries=0 "
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate")
        self.proc = subprocess.Popen(["make", "--no-print-directory", "lab", f"PORT={self.port}",
                                      f"LAB_ARGS={args}"],
                                     cwd=ROOT, env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def text(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def get(self, path):
        """(status, body) of GET path on the server, with the token."""
        req = urllib.request.Request(self.url + path,
                                     headers={"Authorization": f"token {self.token}"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, b""

    def wait_ready(self, timeout=180):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                pytest.fail(f"make lab exited ({self.proc.returncode}):\n{self.text()[-3000:]}")
            try:
                if self.get("/api/status")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.5)
        pytest.fail(f"make lab did not answer on {self.url} in {timeout}s:\n{self.text()[-3000:]}")

    def stop(self):
        """Shut the server down through its API; make must then exit on its own."""
        if self.proc.poll() is None:
            req = urllib.request.Request(self.url + "/api/shutdown", method="POST",
                                         headers={"Authorization": f"token {self.token}"})
            try:
                urllib.request.urlopen(req, timeout=30).read()
            except OSError:
                pass
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGTERM)      # the session this test started
            self.proc.wait(timeout=30)
            return None


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    server = MakeLab(tmp_path_factory.mktemp("make-lab"))
    try:
        server.wait_ready()
        yield server
    finally:
        code = server.stop()
        server.log.close()
    assert code is not None, "make lab did not stop after /api/shutdown"


def test_the_chapters_make_links():
    """Guards the tests below against a parser that finds nothing."""
    found = links()
    assert sum(1 for _, target in found if target.startswith("../exercises/")) >= 5, found
    assert {nb for nb, target in found if "glossary" in target} >= \
        {p.name for p in NOTEBOOKS.glob("[0-9][0-9]-*.ipynb")}, "a chapter without the glossary"


def test_make_lab_serves_the_repository_and_opens_00_start(lab):
    status, body = lab.get("/api/contents/")
    assert status == 200
    names = {item["name"] for item in json.loads(body)["content"]}
    assert {"notebooks", "exercises", "README.md"} <= names, names
    assert f"Serving notebooks from local directory: {ROOT}\n" in lab.text(), lab.text()[-2000:]
    opened = "".join(p.read_text() for p in lab.runtime.glob("jpserver-file-to-run-*-open.html"))
    assert f"{lab.url}/lab/tree/notebooks/00-start.ipynb" in opened, \
        "make lab does not open notebooks/00-start.ipynb in the browser: " + opened


def test_no_build_script_among_the_chapters(lab):
    status, body = lab.get("/api/contents/notebooks")
    assert status == 200
    shown = [item["name"] for item in json.loads(body)["content"]]
    assert not [n for n in shown if n.endswith((".py", ".sh"))], shown
    assert "00-start.ipynb" in shown


def test_every_link_of_every_notebook_opens(lab):
    dead, checked = [], 0
    for nb, target in links():
        parts = urllib.parse.urlsplit(target)
        if parts.scheme in ("http", "https"):
            assert parts.netloc and "." in parts.netloc and " " not in target, (nb, target)
            continue
        assert not parts.scheme, f"{nb}: a link with scheme {parts.scheme!r}: {target}"
        if not parts.path:                     # '#section' within the same page
            continue
        path = (NOTEBOOKS / urllib.parse.unquote(parts.path)).resolve()
        assert ROOT in path.parents, f"{nb}: {target} leaves the repository"
        rel = urllib.parse.quote(path.relative_to(ROOT).as_posix())
        for url in (f"/files/{rel}", f"/api/contents/{rel}?content=0"):
            status, _ = lab.get(url)
            checked += 1
            if status != 200:
                dead.append(f"{nb}: {target} -> {url} answered {status}")
    assert not dead, "dead links:\n" + "\n".join(dead)
    assert checked > 0


def test_every_page_of_notebooks_is_built_from_a_source():
    """The glossary too: a page a link reaches is fixed in its text source, never by hand."""
    from cowlab.course import sources
    built = {dest for _, _, dest in sources.targets(ROOT)}
    pages = set(NOTEBOOKS.glob("*.ipynb"))
    assert NOTEBOOKS / "glossary.ipynb" in pages
    assert pages <= built, f"notebooks without a source in notebooks/src/: {sorted(pages - built)}"
