"""The `cowlab` command: one entry point, a subcommand per job.

    cowlab sim ...      OSTEP-style questions on random COW scenarios (cowlab.sim)
    cowlab assign ...   write exercises/ from solutions/ (cowlab.homework.assign)
    cowlab grade ...    grade submitted notebooks (cowlab.homework.grade)
"""
import importlib
import importlib.util
import sys

# Jupyter machinery the instructor's commands need (pip install 'cowlab[grade]').
NEEDS = {"assign": ("nbformat", "nbclient", "ipykernel"),
         "grade": ("nbformat", "nbclient", "jupyter_client", "ipykernel")}

COMMANDS = {
    "sim": ("cowlab.sim", "random COW scenarios to predict, OSTEP style (-s SEED, -c)"),
    "assign": ("cowlab.homework.assign", "generate exercises/ from solutions/"),
    "grade": ("cowlab.homework.grade", "grade submitted homework notebooks"),
}


def usage():
    lines = ["usage: cowlab COMMAND [options]   (cowlab COMMAND -h for help)", ""]
    lines += [f"  {name:<8}{help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"cowlab: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    missing = [m for m in NEEDS.get(name, ()) if importlib.util.find_spec(m) is None]
    if missing:
        print(f"cowlab {name}: needs {', '.join(missing)}; install them with "
              f"pip install 'cowlab[grade]'", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    return module.main(rest) or 0
