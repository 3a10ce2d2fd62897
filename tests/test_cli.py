"""The `cowlab` command: help, unknown commands, and a clear fix when Jupyter is missing."""
import subprocess
import sys

from cowlab import cli


def test_help_lists_every_command(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("sim", "assign", "grade"))


def test_an_unknown_command_says_so(capsys):
    assert cli.main(["gradee"]) == 2
    assert "unknown command 'gradee'" in capsys.readouterr().err


def test_grading_without_jupyter_names_the_extra():
    """A plain `pip install cowlab` has no kernel machinery: say what to install."""
    out = subprocess.run([sys.executable, "-c", "import sys; sys.modules['nbclient'] = None;"
                          "from cowlab import cli; raise SystemExit(cli.main(['grade', 'x']))"],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert "pip install 'cowlab[grade]'" in out.stderr and "Traceback" not in out.stderr
