"""Per-student feedback reports: DIR/<student>.md, one per graded notebook.

A report repeats what the grades say, question by question, with the hint the
checks give -- never the expected answer -- and what happened to cells the grader
had to skip (time limit, memory, a crash). File names come from the student id,
made safe so that an id like `../../etc/x` cannot leave DIR.
"""
import os
import re
from pathlib import Path

ICONS = {"correct": "ok", "wrong": "wrong", "unanswered": "not answered", "invalid": "invalid",
         "timeout": "time limit", "memory": "memory limit", "crashed": "crashed",
         "unreadable": "unreadable"}


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


def report(path, rows, result):
    """The markdown text for one submission."""
    first = rows[0]
    got = sum(float(r["points"]) for r in rows)
    most = sum(float(r["max_points"]) for r in rows)
    lines = [f"# Homework feedback: {first['assignment'] or 'unknown assignment'}", "",
             f"- student: `{first['student']}`",
             f"- notebook: `{Path(path).name}`",
             f"- score: **{got:g} / {most:g}**", "",
             "| question | points | result | feedback |", "| --- | --- | --- | --- |"]
    for r in rows:
        message = r["message"].replace("|", "\\|")
        lines.append(f"| {title(r['assignment'], r['question'])} | {r['points']} / {r['max_points']} | "
                     f"{ICONS.get(r['status'], r['status'])} | {message} |")
    notes = (result or {}).get("notes") or []
    if notes:
        lines += ["", "## What the grader noticed while running your notebook", ""]
        lines += [f"- {n}" for n in notes]
    lines += ["", "Wrong answers get a hint, not the answer: re-read the chapter, use the "
              "lab to try your numbers, and run the check cell again.", ""]
    return "\n".join(lines)


def write_feedback(directory, graded):
    """graded: [(path, rows, result)] -> DIR/<student>.md (a -2, -3 suffix on clashes)."""
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    used, written = set(), []
    for path, rows, result in graded:
        if not rows:
            continue
        base = safe_name(rows[0]["student"])
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        dest = (directory / f"{name}.md").resolve()
        if dest.parent != directory:      # cannot happen with safe_name; refuse anyway
            raise ValueError(f"refusing to write feedback outside {directory}: {dest}")
        tmp = dest.with_suffix(".md.tmp")
        tmp.write_text(report(path, rows, result), encoding="utf-8")
        os.replace(tmp, dest)
        written.append(dest)
    return written
