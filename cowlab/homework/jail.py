"""The sandbox of one submission: bubblewrap for the view, a cgroup for the totals.

Every process that runs a student's code -- the kernel, the code answer's process,
the process that judges it -- starts inside bubblewrap (Debian `bubblewrap`):

- `--unshare-all`: its own pid namespace (it cannot see or signal the grader, nor
  read /proc/<grader>/cmdline), no network, and `--die-with-parent`;
- a user namespace in which it runs as uid/gid 65534, with no capability;
- the whole file system read-only (the project, the venv, the grader's code), a fresh
  size-capped tmpfs for /tmp and HOME (so ~/.ipython/startup or a .pth written there
  dies with it), the batch's other submissions hidden under an empty tmpfs, and one
  writable directory: this submission's private copy (a size-capped tmpfs when the
  grader is root).

`Cgroup` (cgroup.py) bounds the whole submission together: memory, process count and
CPU, however many processes it starts. `check()` says what is missing and how to fix
it; `cowlab grade` refuses to grade without a sandbox unless told `--no-sandbox`.
"""
import ctypes
import os
import shutil
import subprocess
import sys

UID = 65534                       # nobody, inside the sandbox's user namespace
TMP_BYTES = 64 << 20              # the sandbox's /tmp (and HOME)
WORK_BYTES = 64 << 20             # the submission's private directory
FIX = ("install bubblewrap (as root: apt-get install bubblewrap; `make` does it) and run "
       "`cowlab grade` as root, which it needs for the cgroup that bounds a whole "
       "submission; or pass --no-sandbox to grade without one (unsafe: student code then "
       "runs with your rights)")


CGROUP_FIX = ("run `cowlab grade` as root: it makes a cgroup per submission to bound the "
              "memory, processes and CPU of all its processes together (or own a delegated "
              "cgroup subtree); or pass --no-sandbox to grade without a sandbox (unsafe: "
              "student code then runs with your rights)")


def bwrap():
    return shutil.which("bwrap")


def check():
    """None if bubblewrap can make a sandbox here, else a sentence saying what is missing
    (cgroup.check says the same of the cgroups)."""
    if bwrap() is None:
        return "no bubblewrap (bwrap) on PATH"
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return "no setpriv (util-linux) on PATH to drop to an unprivileged uid"
    try:
        run = subprocess.run(command("/", ["/bin/true"]), capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"bubblewrap does not start ({e})"
    if run.returncode != 0:
        return ("bubblewrap cannot make a sandbox here ("
                + run.stderr.decode(errors="replace").strip()[:200] + ")")
    return None


def _needed():
    """Directories the sandboxed python needs to see (they may sit under a hidden HOME)."""
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = {os.path.realpath(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix,
                                          package_root)}
    out.add(os.path.dirname(os.path.realpath(sys.executable)))
    return sorted(out)


def command(workdir, cmd, hide=()):
    """The bwrap command line that runs `cmd` with `workdir` as the only writable place.

    As root, bubblewrap makes the namespaces (pid, net, ipc, uts, cgroup) and setpriv
    then drops to uid/gid 65534 with no capability and no_new_privs: a real other uid,
    so root-only files stay closed. Unprivileged, bubblewrap's user namespace maps the
    caller to uid 65534 instead (`--unshare-all --uid`)."""
    if os.geteuid() == 0:
        args = [bwrap(), "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                "--unshare-cgroup-try"]
        drop = [shutil.which("setpriv") or "setpriv", f"--reuid={UID}", f"--regid={UID}",
                "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    else:
        args = [bwrap(), "--unshare-all", "--unshare-user", "--uid", str(UID),
                "--gid", str(UID), "--disable-userns"]
        drop = []
    args += ["--die-with-parent", "--new-session",
             "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev"]
    needed = _needed()
    home = os.path.expanduser("~")
    covered = ["/tmp"]
    if home not in ("/", "") and os.path.isdir(home):
        covered.append(home)
    for d in sorted({os.path.realpath(h) for h in hide if os.path.isdir(h)}):
        if not any(n == d or n.startswith(d + os.sep) for n in needed) and d != "/":
            covered.append(d)
    for d in covered:
        args += ["--size", str(TMP_BYTES), "--perms", "1777", "--tmpfs", d]
    made = set()
    for n in needed:        # put back what a covering tmpfs hid, through dirs it may enter
        top = next((d for d in covered if n.startswith(d.rstrip("/") + "/")), None)
        if top is None:
            continue
        parts = n[len(top.rstrip("/")) + 1:].split("/")
        for i in range(1, len(parts)):
            a = top.rstrip("/") + "/" + "/".join(parts[:i])
            if a not in made:
                made.add(a)
                args += ["--perms", "0755", "--dir", a]
        args += ["--ro-bind", n, n]
    if workdir != "/":
        args += ["--bind", workdir, workdir, "--chdir", workdir]
    args += ["--setenv", "HOME", "/tmp", "--setenv", "IPYTHONDIR", "/tmp/.ipython",
             "--setenv", "TMPDIR", "/tmp",
             # ipykernel would take getppid() == 1 (bwrap's init) for a dead parent;
             # --die-with-parent does that job here
             "--unsetenv", "JPY_PARENT_PID", "--"]
    return args + drop + list(cmd)


# -- the private directory, size-capped --------------------------------------------------

MNT_DETACH = 2


def _libc():
    return ctypes.CDLL(None, use_errno=True)


CLONE_NEWNS = 0x00020000
MS_REC, MS_PRIVATE = 0x4000, 1 << 18


def private_mounts():
    """Give this process a mount namespace of its own whose mounts do not propagate:
    what it mounts (the submission's tmpfs) goes away with it and its children, even if
    it is killed before it can unmount. Root only; True if done."""
    if os.geteuid() != 0:
        return False
    libc = _libc()
    if libc.unshare(CLONE_NEWNS) != 0:
        return False
    return libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) == 0


def cap_directory(path, size=WORK_BYTES):
    """Mount a tmpfs of `size` bytes on `path` (root only, in the worker's private mount
    namespace: see private_mounts); True if it is capped now."""
    if os.geteuid() != 0 or not private_mounts():
        return False
    opts = f"size={size},mode=0700,uid={UID},gid={UID}".encode()
    ok = _libc().mount(b"cowlab-submission", os.fsencode(path), b"tmpfs", 0, opts) == 0
    return ok


def uncap_directory(path):
    """Unmount what cap_directory mounted (lazily: a process may still hold it)."""
    if os.geteuid() == 0:
        _libc().umount2(os.fsencode(path), MNT_DETACH)
