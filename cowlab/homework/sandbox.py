"""A limited ipykernel that runs a student's notebook cell by cell.

`Sandbox` starts the kernel under the launcher (procs.launcher_cmd), runs a cell
with a time limit and tells a timeout, a MemoryError and a dead kernel apart, so
the grader can restart it and go on. jupyter_client is imported when a kernel is
started, not when this module is.
"""
import os
import time

from .procs import Limits, died_of_memory, kernel_env, kill_group, launcher_cmd, package_root

MAX_OUTPUT = 1 << 20        # characters of a cell's stdout kept (answers are read from it)


class CellResult:
    """What happened to one cell: status ok/error/timeout/memory/crashed, and why."""

    def __init__(self, status, error="", stdout=""):
        self.status, self.error, self.stdout = status, error, stdout

    def __repr__(self):
        return f"CellResult({self.status!r}, {self.error!r})"


class Sandbox:
    """One limited ipykernel in `cwd`: `run(code, timeout)`, `restart()`, `close()`.

    With `limits` sandboxed (procs.Limits with a workdir), the kernel runs in bubblewrap
    with no network: it talks to us over unix sockets in `cwd` (jupyter's ipc transport),
    the only directory it may write."""

    def __init__(self, cwd, memory_mib=2048, startup_timeout=60, limits=None, budget=None):
        self.cwd, self.startup_timeout = cwd, startup_timeout
        self.limits = limits or Limits(memory_mib)
        self.budget = budget
        self.end = None if budget is None else time.monotonic() + budget
        self.km = self.kc = None
        self.log = None
        self.start()

    def start(self):
        from jupyter_client import KernelManager

        limits = self.limits

        class LimitedKernelManager(KernelManager):
            def format_kernel_cmd(self, extra_arguments=None):
                return launcher_cmd(limits, super().format_kernel_cmd(extra_arguments))

            def write_connection_file(self, **kwargs):
                super().write_connection_file(**kwargs)
                if limits.sandboxed and os.geteuid() == 0:     # the kernel's uid reads it
                    from .jail import UID
                    os.chown(self.connection_file, UID, UID)

        self.log = open(os.path.join(self.cwd, ".kernel.log"), "wb")   # this kernel's words only
        if limits.sandboxed:
            self.km = LimitedKernelManager(kernel_name="python3", transport="ipc",
                                           ip=os.path.join(self.cwd, ".kernel"))
        else:
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

    def left(self):
        """Seconds left of the whole submission's budget (None: no budget)."""
        return None if self.end is None else self.end - time.monotonic()

    def over(self):
        return self.end is not None and self.left() <= 0

    def run(self, code, timeout):
        """Execute `code`; return a CellResult (never raises for student behaviour).

        A cell gets `timeout` seconds, or what is left of the submission's budget."""
        if self.end is not None:
            if self.left() <= 0:
                return CellResult("timeout", f"the notebook used up its {self.budget:g} s "
                                  "in all before this cell")
            if self.left() < timeout:
                timeout = self.left()
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
        """Did the submission hit its cgroup's memory limit, or the dead kernel's last
        words (its log) say it could not allocate?"""
        group = self.limits.cgroup
        return ((group is not None and group.hit_memory())
                or died_of_memory(os.path.join(self.cwd, ".kernel.log")))

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
