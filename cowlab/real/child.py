"""A forked child that always leaves through os._exit() and is always reaped."""
import json
import os
import select
import signal
import sys
import time

from .machine import STEP_TIMEOUT, ExperimentError


class _Link:
    """JSON messages over a pair of pipes, with a time limit on every wait."""

    def __init__(self, rfd, wfd, timeout):
        self.rfd, self.wfd, self.timeout, self._buf = rfd, wfd, timeout, b""

    def send(self, obj):
        data = (json.dumps(obj) + "\n").encode()
        while data:
            data = data[os.write(self.wfd, data):]

    def recv(self):
        deadline = time.monotonic() + self.timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.rfd], [], [], left)[0]:
                raise ExperimentError(f"no answer within {self.timeout:.0f} s")
            chunk = os.read(self.rfd, 1 << 16)
            if not chunk:
                raise ExperimentError("the other side exited early")
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        msg = json.loads(line)
        if isinstance(msg, dict) and "child_error" in msg:
            raise ExperimentError(f"the child failed: {msg['child_error']}")
        return msg

    def close(self):
        for fd in (self.rfd, self.wfd):
            try:
                os.close(fd)
            except OSError:
                pass


class _Child:
    """A forked child running body(link); the parent talks to it and always reaps it."""

    def __init__(self, body, timeout=STEP_TIMEOUT):
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            self.pid = os.fork()
        except OSError:
            for fd in (down_r, down_w, up_r, up_w):
                os.close(fd)
            raise
        if self.pid == 0:                                  # the child
            code = 1
            try:
                os.close(down_w)
                os.close(up_r)
                link = _Link(down_r, up_w, timeout)
                try:
                    body(link)
                    code = 0
                except BaseException as e:                # report it; never print here
                    try:
                        link.send({"child_error": f"{type(e).__name__}: {e}"})
                    except BaseException:
                        pass
            finally:
                os._exit(code)
        os.close(down_r)
        os.close(up_w)
        self.link = _Link(up_r, down_w, timeout)
        self.status = None

    def send(self, obj):
        self.link.send(obj)

    def recv(self):
        return self.link.recv()

    def reap(self, timeout=STEP_TIMEOUT):
        """Wait for the child (SIGKILL after timeout); -> its wait status."""
        if self.status is not None:
            return self.status
        self.link.close()                       # EOF on its pipe: a waiting child exits
        deadline = time.monotonic() + timeout
        while True:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.kill(self.pid, signal.SIGKILL)
                _, status = os.waitpid(self.pid, 0)
                break
            time.sleep(0.002)
        self.status = status
        return status

    def __enter__(self):
        return self

    def __exit__(self, kind, *rest):
        if kind is not None and self.status is None:   # we failed: do not wait politely
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.reap()


def _pages_info(infos):
    return [list(i) for i in infos]
