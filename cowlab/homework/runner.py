"""The entry script of every process that runs student code (run as a file, not -m,
so that the working directory -- the student's -- is not on sys.path):

    python runner.py --memory MiB -- CMD...   the launcher (procs.launch): new session,
                                              RLIMIT_AS, then exec CMD
    python runner.py --judge-code             judge one code answer (codejudge)
    python runner.py --code-student           hold the student's class (remote)
"""
import sys

if __name__ == "__main__":
    if sys.argv[1:2] == ["--judge-code"]:
        from cowlab.homework.codejudge import judge_code_main
        judge_code_main()
    if sys.argv[1:2] == ["--code-student"]:
        from cowlab.homework.remote import code_student_main
        code_student_main()
    from cowlab.homework.procs import launch
    sys.exit(launch(sys.argv[1:]))
