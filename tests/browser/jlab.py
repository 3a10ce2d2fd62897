"""A real JupyterLab and a real Chromium for the browser test and bench/lab.py.

The server runs on 127.0.0.1 on a fixed port (the first free one of a fixed
range of ten, so two checkouts testing at once do not collide), with a token
made for this run (so we never talk to another run's server) and throwaway
Jupyter config/data/runtime dirs, so nothing from the user's setup leaks in;
it is always stopped by its pid. Chromium is Debian's /usr/bin/chromium,
driven headless by playwright (no browser download).
"""
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PORTS = 10          # ports tried: base, base+1, ... base+9
COURSE_NOTEBOOK = REPO / "notebooks" / "01-fork.ipynb"
NO_CHROMIUM = (f"{CHROMIUM} is missing: run `make test` as root (it installs it) "
               "or `apt-get install chromium`")


def require_chromium(path=None):
    """Fail (never skip) when the browser is missing, saying how to get it."""
    import pytest
    if not os.path.exists(path or CHROMIUM):
        pytest.fail(NO_CHROMIUM if path is None else NO_CHROMIUM.replace(CHROMIUM, path),
                    pytrace=False)


class Server:
    """A JupyterLab server serving `root`; stop() it (always)."""

    def __init__(self, root, port):
        self.root, self.port = Path(root), port
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{port}"
        home = self.root.parent / "jupyter-home"
        dirs = {name: home / name for name in ("config", "data", "runtime", "settings",
                                               "workspaces", "ipython")}
        for d in dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        # No news/update pop-ups over the notebook in a headless run.
        notif = dirs["settings"] / "@jupyterlab" / "apputils-extension"
        notif.mkdir(parents=True, exist_ok=True)
        (notif / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        # Every cell in the page, on screen or not, so a test can measure all outputs.
        tracker = dirs["settings"] / "@jupyterlab" / "notebook-extension"
        tracker.mkdir(parents=True, exist_ok=True)
        (tracker / "tracker.jupyterlab-settings").write_text(
            json.dumps({"windowingMode": "none"}))
        env = dict(os.environ,
                   JUPYTER_CONFIG_DIR=str(dirs["config"]),
                   JUPYTER_DATA_DIR=str(dirs["data"]),
                   JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
                   JUPYTERLAB_SETTINGS_DIR=str(dirs["settings"]),
                   JUPYTERLAB_WORKSPACES_DIR=str(dirs["workspaces"]),
                   IPYTHONDIR=str(dirs["ipython"]),
                   PYTHONPATH=os.pathsep.join(
                       [str(REPO)] + ([os.environ["PYTHONPATH"]]
                                      if os.environ.get("PYTHONPATH") else [])))
        self.logfile = open(self.root.parent / "jupyterlab.log", "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1",
             f"--port={port}", "--port-retries=0", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={self.root}", "--ServerApp.open_browser=False",
             "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
            + (["--allow-root"] if os.geteuid() == 0 else []),
            env=env, stdout=self.logfile, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.pid = self.proc.pid

    def api(self, path, method="GET"):
        req = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                     headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(req, timeout=10) as r:
            body = r.read()
        return json.loads(body) if body else None

    def log(self):
        self.logfile.flush()
        self.logfile.seek(0)
        return self.logfile.read()[-4000:]

    def wait_ready(self, timeout=90):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"JupyterLab exited ({self.proc.returncode}):\n{self.log()}")
            try:
                self.api("status")
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"JupyterLab did not answer on {self.url} in {timeout}s:\n{self.log()}")

    def kernels(self):
        """The running kernels; a transient server error (a kernel still starting
        up can give HTTP 500) counts as none yet."""
        try:
            return self.api("kernels") or []
        except OSError as e:
            self.last_error = e
            return []

    def wait_idle(self, timeout=240, settle=1.0):
        """Every kernel idle (and staying idle for `settle` seconds)."""
        end = time.monotonic() + timeout
        quiet_since = None
        while time.monotonic() < end:
            kernels = self.kernels()
            if kernels and all(k["execution_state"] == "idle" for k in kernels):
                quiet_since = quiet_since or time.monotonic()
                if time.monotonic() - quiet_since >= settle:
                    return
            else:
                quiet_since = None
            time.sleep(0.2)
        raise TimeoutError(f"kernel not idle after {timeout}s "
                           f"(last API error: {getattr(self, 'last_error', None)}):\n{self.log()}")

    def stop(self):
        """Shut the kernels down, then the server, by pid (also on failure)."""
        try:
            for k in self.api("kernels") or []:
                self.api(f"kernels/{k['id']}", method="DELETE")
        except OSError:
            pass
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        try:   # anything the server left behind in its own session (kernels)
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.logfile.close()


def start_server(root, base_port):
    """A ready server on the first free port of base_port .. base_port+PORTS-1."""
    root = Path(root)
    for port in range(base_port, base_port + PORTS):
        server = Server(root, port)
        try:
            server.wait_ready()
            return server
        except RuntimeError:
            busy = "is not available" in server.log() or "already in use" in server.log()
            server.stop()
            if not busy:
                raise
    raise RuntimeError(f"ports {base_port}..{base_port + PORTS - 1} are all in use: "
                       "are other browser tests running? `ss -ltnp` shows who holds them")


def launch_chromium(playwright):
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                      args=CHROMIUM_ARGS)


def copy_notebook(src, root):
    """Copy a notebook into the server's root (never run the course's own copy)."""
    dst = Path(root) / Path(src).name
    shutil.copy(src, dst)
    return dst.name


def scratch_notebook(root, name="lab-scratch.ipynb"):
    """A one-lab notebook, as 01-fork's first lab (for the bench)."""
    import nbformat
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("import cowlab\nlab = cowlab.Lab(ram_pages=16)\nlab")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nbformat.write(nb, str(Path(root) / name))
    return name


def open_and_run_all(server, page, name, timeout=240):
    """Open a notebook in JupyterLab, run every cell, wait for the kernel."""
    page.goto(f"{server.url}/lab/tree/{name}?reset&token={server.token}")
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=60_000)
    end = time.monotonic() + 60   # the kernel starts when the notebook opens
    while not server.kernels():
        if time.monotonic() > end:
            raise TimeoutError("no kernel started for the notebook")
        time.sleep(0.2)
    server.wait_idle(timeout=60)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
    page.wait_for_timeout(500)
    server.wait_idle(timeout=timeout)
    # Every code cell has a prompt number: nothing is queued or running.
    page.wait_for_function(
        """() => ![...document.querySelectorAll('.jp-InputPrompt')]
                 .some(p => p.textContent.includes('*'))""", timeout=60_000)
