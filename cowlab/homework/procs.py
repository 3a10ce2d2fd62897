"""Processes of untrusted code: start them limited, find them, kill them all.

`launcher_cmd` wraps a command so that it runs as `python runner.py --memory MiB --
CMD...`: a new session (so the whole group can be killed) and RLIMIT_AS, then
exec(). The grader is a child subreaper, so even a double-forked daemon a student
leaves behind is still its descendant, and `reap_descendants` kills it.
"""
import ctypes
import os
import signal
import sys
import time

PR_SET_CHILD_SUBREAPER = 36
PR_SET_DUMPABLE = 4
RUNNER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runner.py")


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


def kill_until_gone(find, rounds=20, pause=0.05, then=None):
    """SIGKILL every pid `find()` lists, again and again, until it lists none."""
    for _ in range(rounds):
        pids = find()
        if not pids:
            return True
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(pause)
        if then:
            then()
    return not find()


def reap_descendants(exclude=(), rounds=20):
    """SIGKILL every process below us (except `exclude` subtrees) until none is left."""
    return kill_until_gone(lambda: descendants(exclude=exclude), rounds, 0.05, reap_zombies)


def kill_group(pid):
    """SIGKILL the process group a launcher started (it is its own group leader)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


class Limits:
    """What the launcher applies to a process of a submission: RLIMIT_AS (`memory_mib`)
    always; with a sandbox, joining the submission's cgroup and running inside bwrap
    with `workdir` writable and the `hide` directories covered (jail.command)."""

    def __init__(self, memory_mib, cgroup=None, workdir=None, hide=()):
        self.memory_mib, self.cgroup, self.workdir = memory_mib, cgroup, workdir
        self.hide = list(hide)

    def argv(self):
        out = ["--memory", str(self.memory_mib)]
        for path in (self.cgroup.join_paths() if self.cgroup else ()):
            out += ["--cgroup", path]
        if self.workdir:
            out += ["--jail", self.workdir]
            for d in self.hide:
                out += ["--hide", d]
        return out

    @property
    def sandboxed(self):
        return bool(self.workdir)


def launcher_cmd(limits, cmd):
    """The command that runs `cmd` under `limits` (a Limits, or MiB of RLIMIT_AS alone)."""
    if not isinstance(limits, Limits):
        limits = Limits(limits)
    return [sys.executable, RUNNER] + limits.argv() + ["--"] + list(cmd)


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


def run_limited(cmd, stdin_data, timeout, limits, cwd, env):
    """Run `cmd` under the launcher; return (returncode or None on timeout, stdout, stderr)."""
    import subprocess
    proc = subprocess.Popen(launcher_cmd(limits, cmd), cwd=cwd, env=env,
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


def died_of_memory(path):
    """Did a dead process's last words (the tail of its log) say it could not allocate?"""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 4000))
            tail = f.read().decode(errors="replace")
    except OSError:
        return False
    return any(s in tail for s in ("MemoryError", "Cannot allocate memory", "bad_alloc",
                                   "out of memory"))


def launch(argv):
    """The launcher: join the cgroup, new session, rlimits, then exec the command after
    `--` (inside bubblewrap when --jail names the submission's directory)."""
    import resource
    if "--" not in argv:
        print("usage: runner.py --memory MiB [--cgroup PROCS]... [--jail DIR [--hide DIR]...]"
              " -- CMD...", file=sys.stderr)
        return 2
    cut = argv.index("--")
    opts, cmd = argv[:cut], argv[cut + 1:]

    def values(name):
        return [opts[i + 1] for i, o in enumerate(opts[:-1]) if o == name]
    memory = int((values("--memory") or [2048])[-1])
    for path in values("--cgroup"):      # before anything else: all we start is counted
        with open(path, "w") as f:
            f.write(str(os.getpid()))
    try:
        os.setsid()
    except OSError:
        pass            # already a session leader (jupyter_client starts a new session)
    limit = memory * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if values("--jail"):
        from cowlab.homework import jail
        fsize = jail.WORK_BYTES
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        cmd = jail.command(values("--jail")[-1], cmd, values("--hide"))
    os.execv(cmd[0], cmd)
