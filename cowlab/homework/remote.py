"""A code answer's class in a process of its own, driven over a pipe.

A code answer (a CowKernel class) is judged without running it where the judge runs:
the judge process holds the Machine and runs the scenarios and invariant checks;
the student's class lives in a second process (`runner.py --code-student`) and every
primitive it calls on the machine is a request over a pipe. Whatever that process
does -- patch modules, print, forge output, exit -- it can only make primitive calls
a kernel could make, or fail to answer.
"""
import json
import os
import time

from . import codex

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


def code_student_main():
    """`runner.py --code-student`: hold the student's class, run its methods on request.

    A MemoryError is reported before anything else is built (the traceback, which
    holds the memory, is dropped first), so a memory bomb reads as `memory`."""
    ch = Channel(0, os.dup(1))
    os.dup2(2, 1)                     # the student's prints go to stderr, not the pipe
    procs = {}
    ch.send(["started"])
    kind, source, qid = ch.recv()
    try:
        ns = dict(codex.PUBLIC)
        exec(compile(source, "<answer>", "exec"), ns)
        kernel = codex.answer_class(ns, qid)()
    except SyntaxError as e:
        ch.send(["bad", f"syntax error on line {e.lineno} of the answer cell"])
        os._exit(0)
    except MemoryError:
        ns = None
        ch.send(["bad", "running the answer cell ran out of memory"])
        os._exit(0)
    except BaseException as e:
        ch.send(["bad", f"running the answer cell raised {type(e).__name__}: {e}"
                        f"{codex.where_in_answer(e)}"[:500]])
        os._exit(0)
    ch.send(["ready"])
    m = MachineProxy(ch, procs)
    while True:
        _, method, args = ch.recv()
        reply = None
        try:
            result = getattr(kernel, method)(m, *decode(args, procs, trusted=False))
            reply = ["ret", encode(result, procs)]
        except MemoryError:
            reply = None              # the frames that hold the memory go with the exception
        except BaseException as e:       # even SystemExit: report it, keep serving
            reply = ["raise", type(e).__name__, f"{e}{codex.where_in_answer(e)}"]
        ch.send(reply or ["raise", "MemoryError", "out of memory"])
