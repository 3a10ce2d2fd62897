"""A forked child that always leaves through os._exit() and is always reaped."""
import json
import mmap
import os
import select
import signal
import sys
import time

from .machine import PAGE_SIZE, STEP_TIMEOUT, ExperimentError, _libc

IN_CLOSE, IN_NONBLOCK, IN_CLOEXEC = 0x8 | 0x10, 0o4000, 0o2000000   # uapi/linux/inotify.h
MM_GONE_TIMEOUT = 5.0                   # seconds a reaped child's mm may take to go


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


class _MmWatch:
    """Tells when a child's address space is gone, which may be after it was reaped.

    A child's page tables are torn down by the last user of its mm (mmput ->
    exit_mmap): a process reading its /proc/PID/smaps or cmdline at the moment it exits
    holds the mm, and the teardown runs later, in that reader. Until then the child's
    PTEs keep their pages' mapcount and refcount up, and a parent's write copies.
    So the child maps a memfd that nothing else holds: exit_mmap releases the file
    after it freed the pages, and inotify on the file reports it (IN_IGNORED when the
    inode goes). Where inotify or memfd is missing, wait() returns at once."""

    def __init__(self):
        self.ino = self.fd = -1
        try:
            libc = _libc()
            ino = libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
            if ino < 0:
                return
            fd = os.memfd_create("cowlab-mm-watch", os.MFD_CLOEXEC)
            os.ftruncate(fd, PAGE_SIZE)
            if libc.inotify_add_watch(ino, f"/proc/self/fd/{fd}".encode(), IN_CLOSE) < 0:
                os.close(fd)
                os.close(ino)
                return
            self.ino, self.fd = ino, fd
        except (OSError, AttributeError):
            pass

    def in_child(self):
        if self.fd >= 0:
            self._map = mmap.mmap(self.fd, PAGE_SIZE)     # held until the mm goes

    def forked(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def wait(self, timeout=MM_GONE_TIMEOUT):
        """Wait (at most `timeout` s) for the child's mm to be gone -> True if it is."""
        if self.ino < 0:
            return True
        try:
            return bool(select.select([self.ino], [], [], timeout)[0])
        finally:
            os.close(self.ino)
            self.ino = -1


class _Child:
    """A forked child running body(link); the parent talks to it and always reaps it,
    and reap() returns once the child's page tables are gone (see _MmWatch)."""

    def __init__(self, body, timeout=STEP_TIMEOUT):
        down_r, down_w = os.pipe()
        up_r, up_w = os.pipe()
        watch = _MmWatch()
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            self.pid = os.fork()
        except OSError:
            for fd in (down_r, down_w, up_r, up_w):
                os.close(fd)
            watch.forked()
            watch.wait(0)
            raise
        if self.pid == 0:                                  # the child
            code = 1
            try:
                os.close(down_w)
                os.close(up_r)
                watch.in_child()
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
        watch.forked()
        self.watch = watch
        self.link = _Link(up_r, down_w, timeout)
        self.status = None
        self.mm_gone = None

    def send(self, obj):
        self.link.send(obj)

    def recv(self):
        return self.link.recv()

    def wait_mm_gone(self, timeout=MM_GONE_TIMEOUT):
        """After the child exec'd: wait until its old address space is gone -> True if it is
        (exec drops the old mm as exit does, and a /proc reader may delay it the same way)."""
        self.mm_gone = self.watch.wait(timeout)
        return self.mm_gone

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
        if self.mm_gone is None:
            self.mm_gone = self.watch.wait()
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
