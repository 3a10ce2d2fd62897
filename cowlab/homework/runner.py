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
            raise ValueError(f"{where} is an object of type {kind.__name__}, not plain data; "
                             "use int, float, str, bool, None, list or dict")
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
    """One limited ipykernel in `cwd`: `run(code, timeout)`, `restart()`, `close()`."""

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
        reap_descendants()     # a daemon it left could hold the pipes open
        out, err = proc.communicate()
        code = None
    kill_group(proc.pid)
    return code, out, err


# ---------------------------------------------------------------- code answers

# A code answer (a CowKernel class) is judged without running it where the judge runs:
# the judge process holds the Machine and runs the scenarios and invariant checks;
# the student's class lives in a second process (`--code-student`) and every
# primitive it calls on the machine is a request over a pipe. Whatever that process
# does -- patch modules, print, forge output, exit -- it can only make primitive calls
# a kernel could make, or fail to answer.

PRIMITIVES = ("kalloc", "kfree", "incref", "decref", "refcount", "is_free", "free_count",
              "copy_frame", "peek", "poke", "new_proc", "walk", "map", "unmap", "vpns", "live",
              "read", "frames")
METHODS = ("fork", "write_fault", "copyout")


class StudentStopped(BaseException):
    """The student's process stopped answering (time limit, crash): ends the judging.

    A BaseException, so the scenario runner's `except Exception` does not swallow it."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status, self.message = status, message


class Channel:
    """JSON lines over a pair of file descriptors, with a timeout on receive."""

    def __init__(self, rfd, wfd):
        self.rfd, self.wfd, self.buf = rfd, wfd, b""

    def send(self, obj):
        data = (json.dumps(obj) + "\n").encode()
        while data:
            data = data[os.write(self.wfd, data):]

    def recv(self, timeout=None):
        import select
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([self.rfd], [], [], left)
            if not ready:
                raise TimeoutError
            chunk = os.read(self.rfd, 1 << 16)
            if not chunk:
                raise EOFError
            self.buf += chunk
            if len(self.buf) > 1 << 24:
                raise ValueError("message too long")
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)


def encode(x, procs):
    """Plain data for the pipe; processes by pid, PTEs and tuples tagged."""
    from cowlab.homework import codex
    if isinstance(x, codex.Proc):
        procs[x.pid] = x
        return {"proc": [x.pid, x.name, x.alive]}
    if isinstance(x, codex.PTE):
        return {"pte": [x.pfn, x.writable, x.cow]}
    if isinstance(x, tuple):
        return {"tuple": [encode(y, procs) for y in x]}
    if isinstance(x, list):
        return [encode(y, procs) for y in x]
    if x is None or type(x) in (int, float, str, bool):
        return x
    raise TypeError(f"a {type(x).__name__} cannot be stored in or passed to the machine")


def decode(x, procs, trusted):
    """The inverse of encode. The judge only accepts processes it handed out itself."""
    from cowlab.homework import codex
    if isinstance(x, list):
        return [decode(y, procs, trusted) for y in x]
    if isinstance(x, dict):
        if set(x) == {"proc"} and isinstance(x["proc"], list) and len(x["proc"]) == 3:
            pid, name, alive = x["proc"]
            if trusted:
                if pid not in procs:
                    raise ValueError(f"pid {pid!r} is not a process of this machine")
                return procs[pid]
            proc = procs.get(pid) or codex.Proc(pid, name)
            proc.alive = bool(alive)
            procs[pid] = proc
            return proc
        if set(x) == {"pte"} and isinstance(x["pte"], list) and len(x["pte"]) == 3:
            return codex.PTE(*x["pte"])
        if set(x) == {"tuple"} and isinstance(x["tuple"], list):
            return tuple(decode(y, procs, trusted) for y in x["tuple"])
        raise ValueError("not a value the machine knows")
    if x is None or type(x) in (int, float, str, bool):
        return x
    raise ValueError("not a value the machine knows")


def rebuild(name, message):
    """The judge's side of an exception raised in the student's process."""
    from cowlab.homework import codex
    known = {"NotImplementedError": NotImplementedError, "Segfault": codex.Segfault,
             "OutOfMemory": codex.OutOfMemory, "RecursionError": RecursionError,
             "MemoryError": MemoryError, "ValueError": ValueError, "TypeError": TypeError}
    cls = known.get(name) or type(str(name)[:60] or "Error", (Exception,), {})
    return cls(str(message)[:500])


class RemoteKernel:
    """The student's kernel as the scenarios see it: each method call runs over there."""

    def __init__(self, channel, timeout):
        self.ch, self.timeout, self.procs = channel, timeout, {}

    def _call(self, method, m, *args):
        self._send(["call", method, [encode(a, self.procs) for a in args]], method)
        while True:
            try:
                msg = self.ch.recv(self.timeout)
            except TimeoutError:
                raise StudentStopped("timeout", f"{method} did not return within "
                                     f"{self.timeout:g} s") from None
            except (EOFError, OSError):
                raise StudentStopped("crashed", f"the process running your code died "
                                     f"during {method}") from None
            except ValueError:
                raise StudentStopped("invalid", f"your code garbled the machine's pipe "
                                     f"during {method}") from None
            kind = msg[0] if isinstance(msg, list) and msg else None
            if kind == "m" and len(msg) == 4 and msg[1] in PRIMITIVES:
                self._send(self._primitive(m, msg[1], msg[2], msg[3]), method)
            elif kind == "ret" and len(msg) == 2:
                return decode(msg[1], self.procs, trusted=True)
            elif kind == "raise" and len(msg) == 3 and msg[1] == "MemoryError":
                raise StudentStopped("memory", f"{method} ran out of memory (the grader's "
                                     "memory limit)")
            elif kind == "raise" and len(msg) == 3:
                raise rebuild(msg[1], msg[2])
            else:
                raise StudentStopped("invalid", f"your code sent the machine a request it "
                                     f"does not know, during {method}")

    def _send(self, message, method):
        try:
            self.ch.send(message)
        except OSError:
            raise StudentStopped("crashed", f"the process running your code died "
                                 f"during {method}") from None

    def _primitive(self, m, name, args, kwargs):
        from cowlab.homework import codex
        try:
            args = decode(args, self.procs, trusted=True)
            if not isinstance(kwargs, dict) or not all(k in ("writable", "cow", "name")
                                                       for k in kwargs):
                raise TypeError(f"{name}() got keyword arguments it does not take")
            kwargs = {k: decode(v, self.procs, trusted=True) for k, v in kwargs.items()}
            value = m.frames if name == "frames" else getattr(m, name)(*args, **kwargs)
            return ["ok", encode(value, self.procs)]
        except (ValueError, TypeError, codex.OutOfMemory, codex.Segfault) as e:
            return ["err", type(e).__name__, str(e)[:500]]

    def fork(self, m, parent):
        return self._call("fork", m, parent)

    def write_fault(self, m, proc, vpn):
        return self._call("write_fault", m, proc, vpn)

    def copyout(self, m, proc, vpn, value):
        return self._call("copyout", m, proc, vpn, value)


class MachineProxy:
    """The student's `m`: every primitive is a request to the judge's machine."""

    def __init__(self, channel, procs):
        self._ch, self._procs = channel, procs

    def _ask(self, name, args=(), kwargs=None):
        from cowlab.homework import codex
        self._ch.send(["m", name, [encode(a, self._procs) for a in args],
                       {k: encode(v, self._procs) for k, v in (kwargs or {}).items()}])
        reply = self._ch.recv()
        if reply[0] == "ok":
            return decode(reply[1], self._procs, trusted=False)
        errors = {"OutOfMemory": codex.OutOfMemory, "Segfault": codex.Segfault,
                  "TypeError": TypeError}
        raise errors.get(reply[1], ValueError)(reply[2])

    @property
    def frames(self):
        return self._ask("frames")

    def __getattr__(self, name):
        if name not in PRIMITIVES:
            raise AttributeError(f"the machine has no {name!r}; its primitives: "
                                 + ", ".join(p for p in PRIMITIVES if p != "frames"))
        return lambda *args, **kwargs: self._ask(name, args, kwargs)


def where_in_answer(exc):
    import traceback
    for fs in reversed(traceback.extract_tb(exc.__traceback__)):
        if fs.filename == "<answer>":
            return f" (in {fs.name}, line {fs.lineno} of your answer)"
    return ""


def code_student_main():
    """`runner.py --code-student`: hold the student's class, run its methods on request."""
    from cowlab.homework import codex
    ch = Channel(0, os.dup(1))
    os.dup2(2, 1)                     # the student's prints go to stderr, not the pipe
    procs = {}
    kind, source, qid = ch.recv()
    try:
        ns = dict(codex.PUBLIC)
        exec(compile(source, "<answer>", "exec"), ns)
        kernel = codex.answer_class(ns, qid)()
    except SyntaxError as e:
        ch.send(["bad", f"syntax error on line {e.lineno} of the answer cell"])
        os._exit(0)
    except BaseException as e:
        ch.send(["bad", f"running the answer cell raised {type(e).__name__}: {e}"
                        f"{where_in_answer(e)}"[:500]])
        os._exit(0)
    ch.send(["ready"])
    m = MachineProxy(ch, procs)
    while True:
        _, method, args = ch.recv()
        try:
            result = getattr(kernel, method)(m, *decode(args, procs, trusted=False))
            ch.send(["ret", encode(result, procs)])
        except BaseException as e:       # even SystemExit: report it, keep serving
            ch.send(["raise", type(e).__name__, f"{e}{where_in_answer(e)}"])


def judge_code(job, memory_mib):
    """(status, points, message) for a code answer: scenarios here, the class over there."""
    import subprocess
    from cowlab.homework import bank, codex
    q = bank.question(job["assignment"], job["qid"])
    if not job["source"].strip():
        return "unanswered", 0, "not yet answered"
    err = open(os.path.join(os.getcwd(), ".student.err"), "wb")
    proc = subprocess.Popen(launcher_cmd(memory_mib, [sys.executable, os.path.abspath(__file__),
                                                      "--code-student"]),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
    ch = Channel(proc.stdout.fileno(), proc.stdin.fileno())
    try:
        ch.send(["load", job["source"], job["qid"]])
        try:
            hello = ch.recv(job["timeout"])
        except TimeoutError:
            return "timeout", 0, f"running the answer cell took over {job['timeout']:g} s"
        except (EOFError, ValueError):
            return "crashed", 0, "the process running your answer cell died"
        if isinstance(hello, list) and len(hello) == 2 and hello[0] == "bad":
            return "invalid", 0, f"invalid: {str(hello[1])[:500]}"
        if hello != ["ready"]:
            return "invalid", 0, "invalid: your answer cell garbled the machine's pipe"
        kernel = RemoteKernel(ch, job["timeout"])
        try:
            return codex.score_kernel(kernel, bank.seed(job["assignment"], job["qid"],
                                                        job["student"]), q.points)
        except StudentStopped as e:
            status = e.status
            if status == "crashed" and died_of_memory(os.path.join(os.getcwd(), ".student.err")):
                status = "memory"
            return status, 0, (f"invalid: {e.message}" if status == "invalid" else e.message)
    finally:
        kill_group(proc.pid)
        proc.wait()
        err.close()


def died_of_memory(path):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4000))
            tail = f.read().decode(errors="replace")
    except OSError:
        return False
    return "MemoryError" in tail or "Cannot allocate memory" in tail


def judge_code_main():
    """`runner.py --judge-code`: read a job (JSON) on stdin, print [status, points, message]."""
    job = json.loads(sys.stdin.read())
    try:
        ctypes.CDLL(None).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)   # no peeking at our memory
    except (OSError, AttributeError):
        pass
    try:
        status, points, message = judge_code(job, job.get("memory", 2048))
        result = [str(status), float(points), str(message)]
    except Exception as e:
        result = ["invalid", 0, f"grading your code failed: {type(e).__name__}: {e}"[:300]]
    print(job.get("nonce", "") + json.dumps(result), flush=True)
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
    if sys.argv[1:2] == ["--code-student"]:
        code_student_main()
    sys.exit(launch(sys.argv[1:]))
