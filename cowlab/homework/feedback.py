"""Per-student feedback reports: DIR/<student>.md, a section per graded notebook.

A report repeats what the grades say, question by question, with the hint the
checks give -- never the expected answer -- and what happened to cells the grader
had to skip (time limit, memory, a crash). File names come from the student id,
made safe so that an id like `../../etc/x` cannot leave DIR. Everything that comes from
a notebook (the id, messages, notes) is HTML-escaped, so a report opened in a browser or
a Markdown viewer shows `<script>` as text instead of running it, and a Markdown link or
image in it stays text.
"""
import html
import os
import re
from pathlib import Path

ICONS = {"correct": "ok", "wrong": "wrong", "unanswered": "not answered", "invalid": "invalid",
         "timeout": "time limit", "memory": "memory limit", "crashed": "crashed",
         "unreadable": "unreadable", "manual": "left for the teacher"}


def safe_name(student):
    """A file name for a student id: letters, digits, `.`, `-`, `_` only, no leading dot."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", str(student))[:80].lstrip(".")
    return name or "student"


def title(assignment, qid):
    """`q1 Free frames after fork`: the question's title from the bank, if it has one."""
    try:
        from . import bank
        return f"{qid} {bank.question(assignment, qid).title}".replace("|", "/")
    except Exception:
        return qid


def text(value):
    """Notebook-borne text for Markdown: HTML-escaped; table bars, backticks and the
    brackets of a link or image (`![](http://...)` would load a picture) defused."""
    return (html.escape(str(value)).replace("|", "\\|").replace("`", "&#96;")
            .replace("[", "&#91;").replace("]", "&#93;"))


def section(path, rows, result):
    """The markdown for one graded notebook of a student."""
    first = rows[0]
    got = sum(float(r["points"]) for r in rows)
    most = sum(float(r["max_points"]) for r in rows)
    pending = sum(float(r["max_points"]) for r in rows if r["status"] == "manual")
    lines = [f"## {text(first['assignment'] or 'unknown assignment')}: {got:g} / {most:g}",
             "", f"Notebook `{text(Path(path).name)}`."
             + (f" {pending:g} points are left for the teacher (free-text answers, graded "
                "by hand; pending)." if pending else ""), ""]
    if first.get("flag"):
        lines += [f"**Warning: {text(first['flag'])}.** Each copy is graded on its own.", ""]
    lines += ["| question | points | result | feedback |", "| --- | --- | --- | --- |"]
    for r in rows:
        message = text(r["message"])
        lines.append(f"| {text(title(r['assignment'], r['question']))} | {r['points']} / "
                     f"{r['max_points']} | {ICONS.get(r['status'], r['status'])} | {message} |")
    notes = (result or {}).get("notes") or []
    if notes:
        lines += ["", "What the grader noticed while running this notebook:", ""]
        lines += [f"- {text(n)}" for n in notes]
    return "\n".join(lines + [""])


def report(student, graded):
    """The whole report of one student: a section per notebook they handed in."""
    lines = [f"# Homework feedback for `{text(student)}`", ""]
    lines += [section(path, rows, result) for path, rows, result in graded]
    lines += ["Wrong answers get a hint, not the answer: re-read the chapter, try your numbers "
              "in the lab, and run the check cell again.", ""]
    return "\n".join(lines)


def write_feedback(directory, graded):
    """graded: [(path, rows, result)] -> one DIR/<student>.md per student.

    Two ids that become the same file name (`a/b`, `a_b`) get `-2`, `-3`... suffixes."""
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    students = {}
    for path, rows, result in graded:
        if rows:
            students.setdefault(rows[0]["student"], []).append((path, rows, result))
    used, written = set(), []
    for student, theirs in students.items():
        base = safe_name(student)
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        dest = (directory / f"{name}.md").resolve()
        if dest.parent != directory:      # cannot happen with safe_name; refuse anyway
            raise ValueError(f"refusing to write feedback outside {directory}: {dest}")
        tmp = dest.with_suffix(".md.tmp")
        tmp.write_text(report(student, theirs), encoding="utf-8")
        os.replace(tmp, dest)
        written.append(dest)
    return written
