"""Run untrusted student code: a Jupyter kernel (or a plain process) with limits.

The grader never runs a student's code in its own process. It starts

    python cowlab/homework/runner.py --memory MiB -- CMD...

which puts itself in a new session (so the whole group can be killed), sets
RLIMIT_AS to MiB, and exec()s CMD (an ipykernel, or the code-exercise judge).
`Sandbox` drives such a kernel cell by cell: per-cell timeout, and it tells a
timeout, a MemoryError and a dead kernel apart so the grader can restart and go on.
`reap_descendants` kills whatever the student left behind (the caller is a child
subreaper, so even double-forked daemons are still its descendants).

Jupyter (jupyter_client) is imported inside the functions that need it, so the
notebook side can use `to_plain` without paying for it.
"""
import ctypes
import json
import os
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
PR_SET_DUMPABLE = 4
MAX_OUTPUT = 1 << 20        # characters of a cell's stdout kept (answers are read from it)

def to_plain(value, where="answer"):
    """Return `value` as JSON-able plain data, or raise ValueError saying why.

    Exact types only, as bank.plain accepts them: int, float, str, bool, None, list,
    dict (str or int keys), plus tuples and numpy numbers/arrays, converted. An int
    subclass or an object whose __eq__ says True to everything is refused, so only
    data the grader can compare honestly leaves the kernel. Self-contained (no module
    globals): the grader ships its source into the student's kernel.
    """
    budget = [100000]

    def numpy_value(x):
        kind = type(x)
        name = kind.__name__
        if name.startswith(("int", "uint")):
            return int(x)
        if name.startswith("float"):
            return float(x)
        if name in ("bool_", "bool"):
            return bool(x)
        if name == "ndarray":
            return x.tolist()
        raise ValueError(f"a numpy {name} is not plain data")

    def convert(x, where, depth):
        budget[0] -= 1
        if budget[0] < 0 or depth > 50:
            raise ValueError(f"{where} is too big or nested too deeply")
        kind = type(x)
        if kind.__module__ == "numpy" and depth < 50:
            return convert(numpy_value(x), where, depth + 1)
        if kind not in (int, float, str, bool, type(None), list, tuple, dict):
            raise ValueError(f"{where} is an object of type {kind.__name__}, not plain data; use int, float, "
                             "str, bool, None, list or dict")
        if kind is str and len(x) > 100000:
            raise ValueError(f"{where} is a string too long to be an answer")
        if kind in (list, tuple):
            return [convert(y, f"{where}[{i}]", depth + 1) for i, y in enumerate(x)]
        if kind is dict:
            out = {}
            for key, y in x.items():
                if type(key).__module__ == "numpy" and type(key).__name__.startswith("int"):
                    key = int(key)
                if type(key) is not str and type(key) is not int:
                    raise ValueError(f"{where} has a key of type {type(key).__name__}; "
                                     "dict keys must be ints or strings")
                out[str(key)] = convert(y, f"{where}[{key!r}]", depth + 1)
            return out
        return x

    return convert(value, where, 0)


def extract_code(qid, mark):
    """Source to run in the student's kernel: print MARK + JSON of one answer, nothing else.

    Only plain data leaves the kernel; the grader parses and judges it in its own process,
    so whatever the student patched in the kernel can at most change that plain data.
    """
    import inspect
    return f"""
def __cowlab_extract(name, mark, source):
    import json
    ns = {{}}
    exec(source, ns)
    if name not in globals():
        out = {{"state": "missing"}}
    else:
        try:
            out = {{"state": "ok", "value": ns["to_plain"](globals()[name], name)}}
        except Exception as e:
            out = {{"state": "invalid", "why": str(e)[:300]}}
    print(mark + json.dumps(out))
__cowlab_extract({qid!r}, {mark!r}, {inspect.getsource(to_plain)!r})
"""


# ---------------------------------------------------------------- processes

def become_subreaper():
    """Orphans of our descendants re-parent to us, so we can always find and kill them."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)   # others cannot open /proc/<us>/fd
    except (OSError, AttributeError):
        pass


def children_map():
    """{ppid: [pid, ...]} for every process we can see in /proc."""
    kids = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(name))
    return kids


def descendants(pid=None, exclude=()):
    """Every live process below `pid` (default: us), except the subtrees in `exclude`."""
    pid = os.getpid() if pid is None else pid
    kids, out, todo = children_map(), [], [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            if child not in exclude:
                out.append(child)
                todo.append(child)
    return out


def reap_zombies():
    """Collect exit statuses of children (orphans re-parented to a subreaper too)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def reap_descendants(exclude=(), rounds=20):
    """SIGKILL every process below us (except `exclude` subtrees) until none is left."""
    for _ in range(rounds):
        pids = descendants(exclude=exclude)
        if not pids:
            return True
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.05)
        reap_zombies()
    return not descendants(exclude=exclude)


def kill_group(pid):
    """SIGKILL the process group a launcher started (it is its own group leader)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def launcher_cmd(memory_mib, cmd):
    """The command that runs `cmd` under our limits (see `launch`)."""
    return [sys.executable, os.path.abspath(__file__), "--memory", str(memory_mib), "--"] + cmd


def kernel_env(extra_path):
    """A small environment for student code: our package importable, no tokens, 1 thread."""
    env = {k: v for k, v in os.environ.items()
           if k in ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TERM", "USER", "LOGNAME")}
    env.update(PYTHONPATH=extra_path, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", MALLOC_ARENA_MAX="2", PYTHONDONTWRITEBYTECODE="1",
               MPLBACKEND="Agg", PYDEVD_DISABLE_FILE_VALIDATION="1")
    return env


def package_root():
    """The directory holding the `cowlab` package (put on the kernel's PYTHONPATH)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ---------------------------------------------------------------- the kernel

class CellResult:
    """What happened to one cell: status ok/error/timeout/memory/crashed, and why."""

    def __init__(self, status, error="", stdout=""):
        self.status, self.error, self.stdout = status, error, stdout

    def __repr__(self):
        return f"CellResult({self.status!r}, {self.error!r})"


class Sandbox:
    """One limited ipykernel in `cwd`; run cells with `run(code, timeout)`; `restart()`; `close()`."""

    def __init__(self, cwd, memory_mib=2048, startup_timeout=60):
        self.cwd, self.memory_mib, self.startup_timeout = cwd, memory_mib, startup_timeout
        self.km = self.kc = None
        self.log = None
        self.start()

    def start(self):
        from jupyter_client import KernelManager

        memory_mib = self.memory_mib

        class LimitedKernelManager(KernelManager):
            def format_kernel_cmd(self, extra_arguments=None):
                return launcher_cmd(memory_mib, super().format_kernel_cmd(extra_arguments))

        self.log = open(os.path.join(self.cwd, ".kernel.log"), "wb")   # this kernel's words only
        self.km = LimitedKernelManager(kernel_name="python3")
        self.km.connection_file = os.path.join(self.cwd, ".kernel.json")
        self.km.start_kernel(cwd=self.cwd, env=kernel_env(package_root()),
                             stdout=self.log, stderr=self.log, stdin=open(os.devnull))
        self.kc = self.km.client()
        self.kc.start_channels()
        try:
            self.kc.wait_for_ready(timeout=self.startup_timeout)
        except RuntimeError as e:
            self.close()
            raise RuntimeError(f"the grading kernel did not start ({e}); if --memory is "
                               "small, give it more") from None

    def pid(self):
        prov = getattr(self.km, "provisioner", None)
        proc = getattr(prov, "process", None)
        return getattr(proc, "pid", None)

    def alive(self):
        return self.km is not None and self.km.is_alive()

    def run(self, code, timeout):
        """Execute `code`; return a CellResult (never raises for student behaviour)."""
        if not self.alive():
            return CellResult("crashed", "the kernel was not running")
        msg_id = self.kc.execute(code, store_history=False, allow_stdin=False)
        deadline = time.monotonic() + timeout
        out, error, memory, idle, kept = [], "", False, False, 0
        reply = None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return CellResult("timeout", f"ran over the {timeout:g} s limit", "".join(out))
            try:
                msg = self.kc.get_iopub_msg(timeout=min(0.2, left))
            except Exception:      # queue.Empty: nothing yet
                msg = None
            if msg is None:
                if not self.alive():
                    status = "memory" if memory or self.died_of_memory() else "crashed"
                    return CellResult(status, error or "the kernel died while running it",
                                      "".join(out))
                if idle and reply is None:
                    reply = self._reply(msg_id)
                if idle and reply is not None:
                    break
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                text = str(content.get("text", ""))
                if kept < MAX_OUTPUT:        # a cell may print for its whole time limit
                    out.append(text[:MAX_OUTPUT - kept])
                    kept += len(out[-1])
            elif kind == "error":
                error = f"{content.get('ename', '')}: {content.get('evalue', '')}"[:300]
                if "MemoryError" in str(content.get("ename")):   # numpy's _ArrayMemoryError too
                    memory = True
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True
                reply = self._reply(msg_id)
                if reply is not None:
                    break
        if memory:
            return CellResult("memory", error or "MemoryError", "".join(out))
        if error or (reply or {}).get("status") == "error":
            return CellResult("error", error or "the cell raised an error", "".join(out))
        return CellResult("ok", "", "".join(out))

    def died_of_memory(self):
        """Did the dead kernel's last words (its log) say it could not allocate?"""
        try:
            with open(os.path.join(self.cwd, ".kernel.log"), "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - 4000))
                tail = f.read().decode(errors="replace")
        except OSError:
            return False
        return any(s in tail for s in ("MemoryError", "Cannot allocate memory", "bad_alloc",
                                       "out of memory"))

    def _reply(self, msg_id):
        try:
            msg = self.kc.get_shell_msg(timeout=0.5)
        except Exception:
            return None
        if msg.get("parent_header", {}).get("msg_id") != msg_id:
            return None
        return msg["content"]

    def restart(self):
        """A fresh kernel after a timeout, a MemoryError or a crash."""
        self.close()
        self.start()

    def close(self):
        """Stop the kernel and kill its whole process group."""
        pid = self.pid() if self.km is not None else None
        if self.kc is not None:
            try:
                self.kc.stop_channels()
            except Exception:
                pass
        if pid:
            kill_group(pid)
        if self.km is not None:
            try:
                self.km.shutdown_kernel(now=True)
            except Exception:
                pass
            try:
                self.km.cleanup_resources()
            except Exception:
                pass
        if self.log is not None:
            self.log.close()
        self.km = self.kc = self.log = None


# ---------------------------------------------------------------- one-shot jobs

def run_limited(cmd, stdin_data, timeout, memory_mib, cwd, env):
    """Run `cmd` under the launcher; return (returncode or None on timeout, stdout, stderr)."""
    import subprocess
    proc = subprocess.Popen(launcher_cmd(memory_mib, cmd), cwd=cwd, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(stdin_data, timeout=timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        kill_group(proc.pid)
        out, err = proc.communicate()
        code = None
    kill_group(proc.pid)
    return code, out, err


def judge_code_main():
    """`python -m cowlab.homework.runner --judge-code`: grade one code answer from stdin.

    Reads {"assignment", "qid", "student", "source"} as JSON and writes one JSON line
    [status, points, message] on the descriptor stdout had when we started; the student's
    prints go to stderr so they cannot be mistaken for a result.
    """
    job = json.loads(sys.stdin.read())
    result_fd = os.dup(1)
    os.dup2(2, 1)
    try:
        from cowlab.homework import codex
        status, points, message = codex.grade_code(job["assignment"], job["qid"],
                                                   job["student"], job["source"])
        result = [str(status), float(points), str(message)]
    except MemoryError:
        result = ["memory", 0, "your code ran out of memory"]
    except BaseException as e:     # the student's code may raise anything, even SystemExit
        result = ["invalid", 0, f"grading your code failed: {type(e).__name__}: {e}"[:300]]
    os.write(result_fd, (json.dumps(result) + "\n").encode())
    os._exit(0)


def launch(argv):
    """The launcher: new session, RLIMIT_AS, then exec the command after `--`."""
    import resource
    if "--" not in argv:
        print("usage: python -m cowlab.homework.runner --memory MiB -- CMD...", file=sys.stderr)
        return 2
    cut = argv.index("--")
    opts, cmd = argv[:cut], argv[cut + 1:]
    memory = int(opts[opts.index("--memory") + 1]) if "--memory" in opts else 2048
    try:
        os.setsid()
    except OSError:
        pass            # already a session leader (jupyter_client starts a new session)
    limit = memory * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--judge-code"]:
        judge_code_main()
    sys.exit(launch(sys.argv[1:]))
