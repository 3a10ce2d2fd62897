"""`cowlab sim`: reproducible questions, and answers (-c) that match the model."""
import os
import re
import subprocess
import sys

import pytest

import cowlab
from cowlab import sim
from cowlab.scenario import Scenario

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(cowlab.__file__)))
FAULTS = cowlab.FAULT_KINDS          # named once, by the model (shared_map included)


def cowlab_sim(*args, path=None):
    """Run `python -m cowlab sim ARGS` as a real process (PATH replaced if given)."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    if path is not None:
        env["PATH"] = path
    return subprocess.run([sys.executable, "-m", "cowlab", "sim", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def run_main(capsys, *args):
    code = sim.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def parse_output(out):
    """ARG settings, and per step: its text and its answer lines."""
    args = dict(re.findall(r"^ARG (\w+) (\S+)", out, re.M))
    steps = []
    for line in out.splitlines():
        m = re.match(r"Step (\d+): (.*)$", line)
        if m:
            assert int(m.group(1)) == len(steps) + 1
            steps.append((m.group(2), []))
        elif line.startswith("  ") and steps:
            steps[-1][1].append(line.strip())
    return args, steps


def frames_in(line):
    """{pfn: rc} from 'frames: PF0 rc=2, PF3..PF5 rc=1 (3 frames), ...'."""
    got = {}
    for a, b, rc in re.findall(r"PF(\d+)(?:\.\.PF(\d+))? rc=(\d+)", line):
        for pfn in range(int(a), int(b or a) + 1):
            got[pfn] = int(rc)
    return got


def check_answers_against_the_model(out):
    """Replay the printed steps on a fresh model and compare every answer line."""
    args, steps = parse_output(out)
    k = cowlab.Kernel(ram_pages=int(args["ram"]), rules=args["rules"])
    run = Scenario.parse("\n".join(text for text, _ in steps)).start(k)
    for text, answer in steps:
        out_ = run.step()
        assert out_.step.text == text
        tagged = [l.split(":")[0] for l in answer
                  if not l.startswith(("frames:", "faults:", "no event:", "refused:"))]
        assert tagged == [e.kind for e in out_.events], text
        for e in out_.events:
            assert any(e.text.endswith(l.split(": ", 1)[1]) for l in answer), e.text
        frames = next(l for l in answer if l.startswith("frames:"))
        rc = k.refcounts()
        assert frames_in(frames) == {int(f): int(rc[f]) for f in rc.nonzero()[0]}, text
        faults = [l for l in answer if l.startswith("faults:")]
        if faults:
            assert faults == [f"faults: {sum(e.kind in FAULTS for e in out_.events)}"]
    return k


def test_same_seed_same_output_as_a_real_process():
    a, b = cowlab_sim("-s", "1"), cowlab_sim("-s", "1")
    assert a.returncode == b.returncode == 0, a.stderr
    assert a.stdout == b.stdout and a.stderr == b.stderr == ""
    assert "ARG question 1" in a.stdout and "Step 1: spawn parent" in a.stdout
    assert "Run again with -c to check" in a.stdout
    _, steps = parse_output(a.stdout)
    assert len(steps) == 6 and all(answer == ["?"] for _, answer in steps)
    other = cowlab_sim("-s", "2")
    assert other.stdout != a.stdout


def test_answers_of_a_real_process_match_the_model():
    done = cowlab_sim("-s", "1", "-c")
    assert done.returncode == 0, done.stderr
    k = check_answers_against_the_model(done.stdout)
    assert "Final state:" in done.stdout
    final = done.stdout.split("Final state:\n")[1]
    for p in k.live():
        assert f"{p.name} (pid {p.pid}): " in final
    # the questions are the same steps, without answers
    plain = cowlab_sim("-s", "1")
    assert [t for t, _ in parse_output(plain.stdout)[1]] == \
        [t for t, _ in parse_output(done.stdout)[1]]


@pytest.mark.parametrize("seed", range(2, 14))
def test_answers_match_the_model_for_many_seeds(capsys, seed):
    code, out, err = run_main(capsys, "-s", str(seed), "-c", "-n", "9")
    assert code == 0 and err == ""
    check_answers_against_the_model(out)


def test_xv6_rules_and_little_ram_change_the_answers(capsys):
    _, linux, _ = run_main(capsys, "-A", "THREE_SHARERS", "-c")
    _, xv6, _ = run_main(capsys, "-A", "THREE_SHARERS", "-c", "--rules", "xv6")
    assert "ARG rules xv6" in xv6
    assert parse_output(linux)[1][-1][1][0].startswith("cow_reuse:")
    assert parse_output(xv6)[1][-1][1][0].startswith("cow_copy:")
    check_answers_against_the_model(xv6)
    code, small, _ = run_main(capsys, "-s", "5", "-c", "--ram", "5", "-n", "10")
    assert code == 0 and "ARG ram 5 frames" in small
    check_answers_against_the_model(small)


def test_seed_scenario_answers_are_the_seed_figure(capsys):
    code, out, _ = run_main(capsys, "-A", "SEED", "-c")
    assert code == 0
    _, steps = parse_output(out)
    assert steps[1][1][-1] == "frames: PF0 rc=2, PF1 rc=2, PF2 rc=2"
    assert steps[2][1][0].startswith("cow_copy: page fault: VP1") and "new PF3" in steps[2][1][0]
    assert steps[2][1][-2:] == ["faults: 1", "frames: PF0 rc=2, PF1 rc=1, PF2 rc=2, PF3 rc=1"]


def test_given_scenario_runs_and_bad_ones_name_the_line(capsys):
    code, out, _ = run_main(capsys, "-A", "spawn a 2; fork a b; write b 0 z", "-c")
    assert code == 0 and "Step 3: write b 0 z" in out
    check_answers_against_the_model(out)
    bad = cowlab_sim("-A", "spawn a 2\nfrok a b")
    assert bad.returncode == 2 and bad.stdout == ""
    assert "line 2, step 2" in bad.stderr and "did you mean 'fork'?" in bad.stderr
    assert "Traceback" not in bad.stderr
    code, out, err = run_main(capsys, "-A", "spawn a 1; madvise a 4 1 dontfork")
    assert code == 2 and "line 1, step 2" in err and "Traceback" not in err


def test_svg_draws_the_final_state(tmp_path, capsys):
    path = tmp_path / "final.svg"
    code, out, err = run_main(capsys, "-A", "SEED", "--svg", str(path))
    assert code == 0, err
    svg = path.read_text()
    assert "<svg" in svg and "PF3 rc=1" in svg and "parent (pid 1)" in svg
    code, out, err = run_main(capsys, "-A", "SEED", "--svg", str(tmp_path / "no" / "x.svg"))
    assert code == 1 and "cannot write" in err


def test_svg_without_any_renderer_says_how_to_install_one(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    done = cowlab_sim("-A", "SEED", "-c", "--svg", str(tmp_path / "x.svg"), path=str(empty))
    assert done.returncode == 1 and not (tmp_path / "x.svg").exists()
    assert "apt-get install graphviz, or pip install graphviz-pure" in done.stderr
    assert "Traceback" not in done.stderr and "Final state:" in done.stdout


def test_help_and_bad_flags(capsys):
    code, out, _ = run_main(capsys, "-h")
    assert code == 0 and "-s SEED" in out and "REDIS_BGSAVE" in out and "-c" in out
    code, _, err = run_main(capsys, "--bogus")
    assert code == 2 and "unrecognized arguments" in err
    code, _, err = run_main(capsys, "-n", "1")
    assert code == 2 and "-n must be 2 or more" in err
    code, _, err = run_main(capsys, "--ram", "2")
    assert code == 2 and "--ram must be 4 or more" in err


def test_the_cowlab_command_dispatches_to_sim(capsys):
    from cowlab import cli
    assert cli.main(["sim", "-s", "4"]) == 0
    via_cli = capsys.readouterr().out
    assert sim.main(["-s", "4"]) == 0
    assert capsys.readouterr().out == via_cli


def test_sim_needs_no_graphviz_unless_asked_to_draw():
    """Where the graphviz package is missing, `cowlab sim` still asks and answers in words
    (cowlab.describe); only --svg needs it, and says so."""
    code = ("import sys; sys.modules['graphviz'] = None\n"
            "from cowlab import sim\n"
            "status = sim.main(['-A', 'SEED', '-c'])\n"
            "assert 'cowlab.render' not in sys.modules, 'sim imported the drawings'\n"
            "print('status', status)\n"
            "print('svg', sim.main(['-A', 'SEED', '-c', '--svg', sys.argv[1]]))\n")
    done = subprocess.run([sys.executable, "-c", code, os.devnull], cwd=ROOT, timeout=120,
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT))
    assert done.returncode == 0, done.stderr
    first = done.stdout.split("status 0")[0]
    check_answers_against_the_model(first)
    assert "Final state:" in first and "parent (pid 1): VP0 -> PF0" in first
    assert "svg 1" in done.stdout and "pip install graphviz" in done.stderr
    assert "Traceback" not in done.stderr
