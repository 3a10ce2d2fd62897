"""The one judge of code answers: the scenarios of a student's variant on a kernel.

    judge_kernel(assignment, qid, student, kernel, public_only=False)

is what the notebook check (`hw.check`, on the class in the student's own kernel)
and the grader (on a remote.RemoteKernel whose class runs in a process of its own)
both call. `judge_code` is the grader's judging process: it starts the student's
process, and `runner.py --judge-code` runs it on a job read from stdin.
"""
import json
import os
import subprocess
import sys

from . import catalog
from .procs import PR_SET_DUMPABLE, RUNNER, died_of_memory, kill_group, launcher_cmd
from .question import seed
from .remote import Channel, RemoteKernel, StudentStopped
from .scenarios import SCENARIOS, score_kernel

START_TIMEOUT = 60     # s for the student's process to start (imports), before any limit


def judge_kernel(assignment, qid, student, kernel, public_only=False):
    """(status, points, message): every scenario (or only the public ones) of this
    student's variant run on `kernel`, one point's share per scenario that passes."""
    q = catalog.question(assignment, qid)
    if q.kind != "code":
        raise ValueError(f"{assignment}/{qid} is not a code question")
    return score_kernel(kernel, seed(assignment, qid, student), q.points, public_only)


def hidden_count():
    """How many scenarios only the grader runs (the check says so)."""
    return sum(1 for _, public, _ in SCENARIOS.values() if not public)


def judge_code(job, memory_mib):
    """(status, points, message) for a code answer: scenarios here, the class over there."""
    if not job["source"].strip():
        return "unanswered", 0, "not yet answered"
    errors = os.path.join(os.getcwd(), ".student.err")
    err = open(errors, "wb")
    proc = subprocess.Popen(launcher_cmd(memory_mib, [sys.executable, RUNNER, "--code-student"]),
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
    ch = Channel(proc.stdout.fileno(), proc.stdin.fileno())
    try:
        try:      # the process's own start-up (imports) is not the student's time
            started = ch.recv(START_TIMEOUT)
        except (TimeoutError, EOFError, ValueError):
            started = None
        if started != ["started"]:
            raise RuntimeError("the process for the student's code did not start")
        ch.send(["load", job["source"], job["qid"]])
        try:
            hello = ch.recv(job["timeout"])
        except TimeoutError:
            return "timeout", 0, f"running the answer cell took over {job['timeout']:g} s"
        except (EOFError, ValueError):
            return ("memory" if died_of_memory(errors) else "crashed", 0,
                    "the process running your answer cell died")
        if isinstance(hello, list) and len(hello) == 2 and hello[0] == "bad":
            return "invalid", 0, f"invalid: {str(hello[1])[:500]}"
        if hello != ["ready"]:
            return "invalid", 0, "invalid: your answer cell garbled the machine's pipe"
        kernel = RemoteKernel(ch, job["timeout"])
        try:
            return judge_kernel(job["assignment"], job["qid"], job["student"], kernel)
        except StudentStopped as e:
            status = e.status
            if status == "crashed" and died_of_memory(errors):
                status = "memory"
            return status, 0, (f"invalid: {e.message}" if status == "invalid" else e.message)
    finally:
        kill_group(proc.pid)
        proc.wait()
        err.close()


def judge_code_main():
    """`runner.py --judge-code`: read a job (JSON) on stdin, print [status, points, message]."""
    job = json.loads(sys.stdin.read())
    try:
        import ctypes
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
