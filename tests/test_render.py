"""cowlab.draw: the seed figure's words in the DOT source, the text and the real SVG.

Diagrams are checked as a student reads them: the page-table entries, frames and
refcounts, the marks of the last event, and what the model itself says (pte,
refcount) must agree with what is drawn. SVGs come from the real `dot`.
"""
import html
import json
import os
import re
import subprocess
import sys
import textwrap
from collections import Counter

import numpy as np
import pytest

import cowlab
from cowlab import render
from cowlab.render import draw, FIX

GiB10 = 10 * (1 << 30) // 4096          # 2,621,440 pages of 4 KiB


def seed_kernel():
    k = cowlab.Kernel(ram_pages=16)
    p = k.spawn("parent", pages=3)
    c = k.fork(p)
    return k, p, c


def edges(source, left, right):
    """{(row, frame row)} for edges left-table -> frames and frames -> right-table."""
    out = set()
    for a, b in re.findall(rf"\b{left}:r(\d+):e -> frames:f(\d+):w", source):
        out.add(("L", int(a), int(b)))
    for b, a in re.findall(rf"\bframes:f(\d+):e -> {right}:r(\d+):w", source):
        out.add(("R", int(a), int(b)))
    return out


def svg_text(svg):
    """All the words drawn in an SVG, unescaped, one string."""
    return html.unescape(" ".join(re.findall(r"<text[^>]*>([^<]*)</text>", svg)))


def entries(text, who):
    """The entries listed for one process in the text description."""
    line = next(l for l in text.splitlines() if l.startswith(who))
    return re.split(r", (?=VP)", line.split(": ", 1)[1])


# ---------------------------------------------------------------- the seed's two steps

def test_seed_step1_after_fork_both_tables_point_at_the_same_frames_rc2_all_RO():
    k, p, c = seed_kernel()
    d = draw(k)
    assert entries(d.text, "parent (pid 1)") == \
        ["VP0 -> PF0 RO COW", "VP1 -> PF1 RO COW", "VP2 -> PF2 RO COW"]
    assert entries(d.text, "child (pid 2)") == \
        ["VP0 -> PF0 RO COW", "VP1 -> PF1 RO COW", "VP2 -> PF2 RO COW"]
    assert "frames: PF0 rc=2, PF1 rc=2, PF2 rc=2; free: 13 of 16" in d.text
    assert " RW" not in d.text.split("last event")[0]
    assert "last event: fork" in d.text
    # the drawing: parent rows -> frames on the left, frames -> child rows on the right
    src = d.source
    assert edges(src, "p1", "p2") == {(s, i, i) for s in "LR" for i in range(3)}
    for i in range(3):
        assert f"PF{i} rc=2" in src and f"VP{i} -&gt; PF{i} RO COW" in src
    assert "page fault!" not in src and "new copy!" not in src
    # and it agrees with the model
    assert [k.refcount(i) for i in range(3)] == [2, 2, 2]
    assert all(k.pte(q, v).cow and not k.pte(q, v).writable for q in (p, c) for v in range(3))


def test_seed_step2_parent_write_fault_new_copy_marked():
    k, p, c = seed_kernel()
    events = k.write(p, 1, "x")
    d = draw(k)
    assert [e.kind for e in events] == ["cow_copy"]
    assert entries(d.text, "parent (pid 1)") == \
        ["VP0 -> PF0 RO COW", "VP1 -> PF3 RW (page fault!)", "VP2 -> PF2 RO COW"]
    assert entries(d.text, "child (pid 2)") == \
        ["VP0 -> PF0 RO COW", "VP1 -> PF1 RO COW", "VP2 -> PF2 RO COW"]
    assert "frames: PF0 rc=2, PF1 rc=1, PF2 rc=2, PF3 rc=1 (new copy!)" in d.text
    assert "last event: cow_copy, parent (pid 1), VP1: " + events[0].text in d.text
    assert (k.pte(p, 1).pfn, k.refcount(1), k.refcount(3)) == (3, 1, 1)
    src = d.source
    # parent VP1 now goes to PF3 (frame row 3); the child still points at PF1
    assert edges(src, "p1", "p2") == {("L", 0, 0), ("L", 1, 3), ("L", 2, 2),
                                      ("R", 0, 0), ("R", 1, 1), ("R", 2, 2)}
    # the marks: words, plus a thick vermillion border (not colour alone)
    fault = re.search(r'<TD PORT="r1"[^>]*>', src).group(0)
    assert 'BORDER="3"' in fault and render.VERMILLION in fault
    assert '<B>VP1 -&gt; PF3 RW<BR/>(page fault!)</B>' in src
    assert '<B>PF3 rc=1<BR/>(new copy!)</B>' in src
    assert re.search(r"p1:r1:e -> frames:f3:w \[[^]]*penwidth", src)


def test_seed_step2_svg_from_real_dot_carries_the_words():
    k, p, c = seed_kernel()
    k.write(p, 1, "x")
    assert render.find_renderer().endswith("/dot")
    words = svg_text(draw(k).svg())
    for token in ("parent (pid 1)", "child (pid 2)", "VP1 -> PF3 RW (page fault!)",
                  "PF3 rc=1 (new copy!)", "PF1 rc=1", "PF0 rc=2", "VP1 -> PF1 RO COW"):
        assert token in words


def test_text_is_deterministic_and_free_of_addresses():
    a = draw(seed_kernel()[0]).text
    b = draw(seed_kernel()[0]).text
    assert a == b and repr(draw(seed_kernel()[0])) == a
    assert not re.search(r"0x[0-9a-f]{6,}", a)


# ---------------------------------------------------------------- other states

def test_zero_page_read_is_drawn_as_the_zero_page_with_a_dotted_edge():
    k = cowlab.Kernel(ram_pages=16)
    p = k.spawn("parent", pages=1)
    start = k.mmap(p, 3)
    k.read(p, start)
    d = draw(k)
    assert k.pte(p, start).pfn == cowlab.ZERO_PFN
    assert entries(d.text, "parent (pid 1)") == [
        "VP0 -> PF0 RW", f"VP{start} -> zero page RO (page fault!)",
        f"VP{start + 1} -> not present", f"VP{start + 2} -> not present"]
    assert "zero page (shared by all, never copied)" in d.text
    assert re.search(r"p1:r1:e -> frames:zero:w \[[^]]*style=dotted", d.source)
    assert "zero page (shared by all, never copied)" in svg_text(d.svg())


def test_shared_mapping_is_marked_shared_with_bold_edges_in_both_processes():
    k = cowlab.Kernel(ram_pages=16)
    p = k.spawn("parent", pages=1)
    s = k.mmap(p, 1, shared=True, populate=True)
    c = k.fork(p)
    k.write(c, s, "x")
    d = draw(k, events=[])
    pfn = k.pte(p, s).pfn
    assert k.pte(c, s).pfn == pfn and k.pte(c, s).writable and not k.pte(c, s).cow
    assert f"VP{s} -> PF{pfn} RW shared" in entries(d.text, "parent (pid 1)")
    assert f"VP{s} -> PF{pfn} RW shared" in entries(d.text, "child (pid 2)")
    assert f"PF{pfn} rc={k.refcount(pfn)}" in d.text
    shared_edges = re.findall(r"(\S+ -> \S+) \[[^]]*style=bold[^]]*\]", d.source)
    assert len(shared_edges) == 2 and all(render.PURPLE in l for l in
                                          re.findall(r".*style=bold.*", d.source))


def test_freed_frame_after_exit_is_marked_freed_and_the_exit_shown():
    k, p, c = seed_kernel()
    k.write(p, 1, "x")                  # parent copies; PF1 is now the child's alone
    k.exit(c)
    d = draw(k)
    assert k.refcount(1) == 0
    assert "PF1 rc=0 (freed)" in d.text
    assert "child (pid 2) [exited]: no pages" in d.text
    assert "last events: exit, child (pid 2)" in d.text
    assert "PF1 rc=0 (freed)" in svg_text(d.svg())
    # without the mark, a free frame is not drawn unless asked for
    plain = draw(k, events=[])
    assert "PF1" not in plain.text.split("frames:")[1].split(";")[0]
    free = draw(k, events=[], free=True)
    assert "PF1 free" in free.text and "PF4..PF15 free (12 frames)" in free.text


def test_side_by_side_xv6_vs_linux_the_last_sharer_copies_or_reuses():
    kernels = []
    for rules in ("xv6", "linux"):
        k = cowlab.Kernel(ram_pages=16, rules=rules)
        p = k.spawn("parent", pages=3)
        c = k.fork(p)
        k.write(p, 1, "x")
        last = k.write(c, 1, "y")       # the child holds the last reference to PF1
        kernels.append((k, c, last))
    d = draw([k for k, _, _ in kernels], titles=["xv6", "Linux"])
    xv6, linux = d.text.split("\n\n")
    (kx, cx, lx), (kl, cl, ll) = kernels
    assert [e.kind for e in lx][0] == "cow_copy" and [e.kind for e in ll] == ["cow_reuse"]
    assert xv6.startswith("xv6:\n") and linux.startswith("Linux:\n")
    assert f"VP1 -> PF{kx.pte(cx, 1).pfn} RW (page fault!)" in xv6
    assert "PF1 rc=0 (freed)" in xv6 and "(new copy!)" in xv6
    assert "VP1 -> PF1 RW (page fault!)" in linux and "PF1 rc=1 (reused, no copy)" in linux
    src = d.source
    assert "subgraph cluster_0" in src and "subgraph cluster_1" in src
    assert re.search(r"k0_p1:r1:e -> k0_frames", src) and re.search(r"k1_p1:r1:e -> k1_frames", src)
    words = svg_text(d.svg())
    assert "xv6" in words and "Linux" in words and "PF1 rc=1 (reused, no copy)" in words
    with pytest.raises(ValueError, match="one title per kernel"):
        draw([kx, kl], titles=["only one"])
    # one list of events per kernel: here only xv6's last write is marked
    marked = draw([kx, kl], titles=["xv6", "Linux"], events=[lx, []])
    xv6, linux = marked.text.split("\n\n")
    assert "(page fault!)" in xv6 and "(page fault!)" not in linux
    assert linux.endswith("last event: none")
    with pytest.raises(ValueError, match="one list of events per kernel"):
        draw([kx, kl], events=[lx])


def test_three_processes_get_three_columns_and_every_entry_an_edge():
    k, p, c = seed_kernel()
    k.fork(p, name="child2")
    d = draw(k)
    for pid in (1, 2, 3):
        assert f"p{pid} [label=" in d.source
    assert len(re.findall(r"-> frames:f\d+:w", d.source)) == 6      # two left columns
    assert len(re.findall(r"frames:f\d+:e -> p2", d.source)) == 3
    assert "frames: PF0 rc=3, PF1 rc=3, PF2 rc=3" in d.text
    assert "child2 (pid 3)" in svg_text(d.svg())


# ---------------------------------------------------------------- scale

@pytest.fixture(scope="module")
def redis10():
    """A 10 GiB process, forked, whose parent then wrote VP3."""
    k = cowlab.Kernel(ram_pages=GiB10 + 64)
    p = k.spawn("redis", pages=GiB10)
    c = k.fork(p)
    k.write(p, 3, "x")
    return k, p, c


def test_10gib_process_is_summarised_into_runs_and_renders(redis10):
    k, p, c = redis10
    new = k.pte(p, 3).pfn
    d = draw(k)
    assert entries(d.text, "redis (pid 1)") == [
        "VP0..VP2 -> PF0..PF2 RO COW (3 pages)", f"VP3 -> PF{new} RW (page fault!)",
        f"VP4..VP{GiB10 - 1} -> PF4..PF{GiB10 - 1} RO COW ({GiB10 - 4} pages)"]
    assert entries(d.text, "redis-child (pid 2)") == [
        f"VP0..VP{GiB10 - 1} -> PF0..PF{GiB10 - 1} RO COW ({GiB10} pages)"]
    assert f"PF4..PF{GiB10 - 1} rc=2 ({GiB10 - 4} frames)" in d.text
    assert f"PF{new} rc=1 (new copy!)" in d.text and "PF3 rc=1" in d.text
    assert d.source.count("<TR>") < 20
    words = svg_text(d.svg())
    assert f"VP4..VP{GiB10 - 1} -> PF4..PF{GiB10 - 1} RO COW ({GiB10 - 4} pages)" in words
    assert f"VP3 -> PF{new} RW (page fault!)" in words


def test_scattered_writes_fold_into_mixed_rows_whose_counts_match_the_model():
    n = 1 << 18                          # 1 GiB
    k = cowlab.Kernel(ram_pages=2 * n)
    p = k.spawn("redis", pages=n)
    k.fork(p)
    written = np.arange(5, n, 97)
    k.write_many(p, written, value=1)
    d = draw(k, events=[])
    rows = entries(d.text, "redis (pid 1)")
    assert len(rows) <= render.MAX_ROWS
    rw = ro = 0
    for row in rows:
        m = re.search(r"mixed \((.*)\)$", row)
        if m:
            counts = dict((w, int(c)) for c, w in
                          (part.split(" ", 1) for part in m.group(1).split(", ")))
            rw += counts.get("RW", 0)
            ro += counts.get("RO COW", 0)
        else:
            size = int(re.search(r"\((\d+) pages\)", row).group(1)) if "pages)" in row else 1
            rw += size if row.endswith(" RW") or " RW (" in row else 0
            ro += size if "RO COW" in row else 0
    assert rw == len(written) and ro == n - len(written)
    assert "mixed (" in d.text and "mixed (" in svg_text(d.svg())


# ---------------------------------------------------------------- display and fallback

def test_mimebundle_has_svg_and_the_words_and_caches_the_svg(monkeypatch):
    k, p, c = seed_kernel()
    d = draw(k)
    bundle = d._repr_mimebundle_()
    assert bundle["text/plain"] == d.text == repr(d)
    assert "<svg" in bundle["image/svg+xml"]
    # cached: with the renderer gone, the same drawing still displays its SVG ...
    monkeypatch.setattr(render, "find_renderer", lambda: None)
    assert d._repr_mimebundle_()["image/svg+xml"] == bundle["image/svg+xml"]
    # ... but a changed drawing is rendered anew, and falls back without raising
    d.attr(label="changed")
    again = d._repr_mimebundle_()
    assert "image/svg+xml" not in again and FIX in again["text/html"]
    assert d._repr_mimebundle_(include=["text/plain"]) == {"text/plain": d.text}


def test_copy_keeps_the_words():
    d = draw(seed_kernel()[0])
    assert repr(d.copy()) == d.text


FALLBACK_SCRIPT = textwrap.dedent("""
    import json, cowlab
    from cowlab import render
    k = cowlab.Kernel(ram_pages=16)
    p = k.spawn("parent", pages=3); k.fork(p); k.write(p, 1, "x")
    d = cowlab.draw(k)
    out = {"renderer": render.find_renderer(), "bundle": d._repr_mimebundle_(),
           "repr": repr(d)}
    print(json.dumps(out))
""")


def run_with_path(path_dirs, tmp_path):
    """Run the script in a fresh Python whose PATH holds only path_dirs."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(cowlab.__file__)))
    env = dict(os.environ, PATH=os.pathsep.join(path_dirs), PYTHONPATH=root)
    done = subprocess.run([sys.executable, "-c", FALLBACK_SCRIPT], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return json.loads(done.stdout)


def test_no_renderer_shows_dot_source_and_the_fix_never_a_traceback(tmp_path):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    out = run_with_path([str(empty)], tmp_path)
    assert out["renderer"] is None
    bundle = out["bundle"]
    assert set(bundle) == {"text/plain", "text/html"}
    assert bundle["text/plain"] == out["repr"]
    assert "VP1 -> PF3 RW (page fault!)" in bundle["text/plain"]
    page = html.unescape(bundle["text/html"])
    assert FIX in page
    assert "digraph cow {" in page and "p1:r1:e -> frames:f3:w" in page


def test_graphviz_pure_is_used_when_dot_is_missing(tmp_path):
    """A `graphviz-pure` command is found and run as `graphviz-pure -Tsvg` on stdin.

    (Here it is a wrapper around the real dot that records its arguments.)
    """
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "calls.txt"
    tool = bindir / "graphviz-pure"
    dot = subprocess.run(["which", "dot"], capture_output=True, text=True).stdout.strip()
    tool.write_text(f'#!/bin/sh\necho "$@" >> {log}\nexec {dot} "$@"\n')
    tool.chmod(0o755)
    out = run_with_path([str(bindir)], tmp_path)
    assert out["renderer"] == str(tool)
    assert "<svg" in out["bundle"]["image/svg+xml"]
    assert "PF3 rc=1 (new copy!)" in svg_text(out["bundle"]["image/svg+xml"])
    assert log.read_text().split() == ["-Tsvg"]


def test_a_failing_renderer_is_reported_not_raised(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "dot").write_text("#!/bin/sh\necho 'Error: syntax error in line 1' >&2\nexit 1\n")
    (bindir / "dot").chmod(0o755)
    out = run_with_path([str(bindir)], tmp_path)
    page = html.unescape(out["bundle"]["text/html"])
    assert "Could not draw (dot failed: Error: syntax error in line 1)" in page
    assert "digraph cow {" in page


def test_notebook_display_in_a_real_jupyter_kernel_with_and_without_renderer():
    import nbformat
    from cowlab import execute
    setup = ("import cowlab\nk = cowlab.Kernel(ram_pages=16)\n"
             "p = k.spawn('parent', pages=3); c = k.fork(p); _ = k.write(p, 1, 'x')")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell(setup),
        nbformat.v4.new_code_cell("cowlab.draw(k)"),
        nbformat.v4.new_code_cell("import os; os.environ['PATH'] = '/nonexistent'\n"
                                  "cowlab.draw(k)"),
    ])
    root = os.path.dirname(os.path.dirname(os.path.abspath(cowlab.__file__)))
    execute.run(nb, root, timeout=120)
    outputs = [c.outputs for c in nb.cells]
    assert not any(o.output_type == "error" for out in outputs for o in out)
    with_dot, without = outputs[1][0]["data"], outputs[2][0]["data"]
    assert "<svg" in with_dot["image/svg+xml"]
    assert "VP1 -> PF3 RW (page fault!)" in with_dot["text/plain"]
    assert "image/svg+xml" not in without and FIX in html.unescape(without["text/html"])
    assert with_dot["text/plain"] == without["text/plain"]


# ---------------------------------------------------------------- misuse

def test_bad_arguments_say_what_to_do():
    k, p, c = seed_kernel()
    with pytest.raises(TypeError, match="expected a cowlab.Kernel"):
        draw("not a kernel")
    with pytest.raises(ValueError, match="no process named 'nobody'"):
        draw(k, processes=["nobody"])
    with pytest.raises(ValueError, match="max_rows"):
        draw(k, max_rows=1)
    before = (list(k.events), k.refcounts().tolist())
    assert [l.split(":")[0] for l in draw(k, processes=["parent"]).text.splitlines()] == \
        ["parent (pid 1)", "frames", "last event"]
    assert (list(k.events), k.refcounts().tolist()) == before     # drawing changes nothing


# ---------------------------------------------------------------- the words agree with the model

def expand(row):
    """{vpn: (pfn or None, words)} for an exact row: one page or a run with named frames."""
    m = re.match(r"VP(\d+)(?:\.\.VP(\d+))? -> (?:PF(\d+)(?:\.\.PF(\d+))? )?(.*?)"
                 r"(?: \(\d+ pages\))?(?: \((?:page fault!)\))?$", row)
    assert m, row
    a, b = int(m.group(1)), int(m.group(2) or m.group(1))
    pf = int(m.group(3)) if m.group(3) else None
    return {v: (None if pf is None else pf + v - a, m.group(5)) for v in range(a, b + 1)}


def pte_words(k, p, vpn):
    pte = k.pte(p, vpn)
    if pte is None:
        return None, "not present"
    if pte.pfn == cowlab.ZERO_PFN:
        return None, "zero page RO"
    shared = any(r.shared and r.start <= vpn < r.start + r.pages for r in k.regions(p))
    words = ("RW" if pte.writable else "RO") + (" COW" if pte.cow else "") + \
        (" shared" if shared else "")
    return pte.pfn, words


@pytest.mark.parametrize("max_rows", [24, 4])
def test_every_drawn_entry_and_frame_agrees_with_the_model(max_rows):
    """Random scenarios, drawn in full and heavily summarised: each row is what the
    model's pte() and refcount() say, page by page."""
    from cowlab.scenario import Scenario
    checked, kinds = 0, set()
    for seed in range(40):
        if seed < 30:
            run = Scenario.random(seed, steps=12).start()
        else:                               # wide tables, scattered writes, zero pages
            rng = np.random.default_rng(seed)
            steps = ["ram 128", "spawn parent 40", "fork parent child", "mmap parent 10",
                     "mmap parent 3 shared populate"]
            steps += [f"write parent {v} a" for v in rng.choice(40, 9, replace=False)]
            steps += [f"read child {v}" for v in rng.choice(40, 3)]
            steps += [f"read parent {v}" for v in rng.choice(np.arange(40, 50), 4)]
            steps += [f"write parent {v} b" for v in rng.choice(np.arange(40, 50), 2)]
            run = Scenario.parse("\n".join(steps)).start()
        list(run)
        k = run.kernel
        d = draw(k, max_rows=max_rows)
        for p in k.live():
            rows = entries(d.text, f"{p.name} (pid {p.pid})")
            mapped = [v for r in k.regions(p) for v in range(r.start, r.start + r.pages)]
            seen = []
            for row in rows:
                summary = re.match(r"VP(\d+)\.\.VP(\d+) -> (mixed \((.*)\)|[a-zA-Z ]+ "
                                   r"\((\d+) pages\))$", row)
                if summary:                      # a same-state run or a folded stretch
                    first, last = int(summary.group(1)), int(summary.group(2))
                    inside = [v for v in mapped if first <= v <= last]
                    states = Counter(pte_words(k, p, v)[1] for v in inside)
                    if summary.group(4):
                        said = {w: int(c) for c, w in (part.split(" ", 1) for part in
                                                       summary.group(4).split(", "))}
                    else:
                        said = {summary.group(3).rsplit(" (", 1)[0]: int(summary.group(5))}
                    assert states == said, (seed, row)
                    kinds.add("mixed" if summary.group(4) else "same-state run")
                    seen += inside
                    continue
                kinds.add("exact run" if re.match(r"VP\d+\.\.VP", row) else "page")
                for v, (pfn, words) in expand(row).items():
                    assert (pfn, words) == pte_words(k, p, v), (seed, row)
                    seen.append(v)
                    checked += 1
            assert seen == mapped, seed
        frames = d.text.split("frames: ")[1].split("; free")[0]
        for a, b, rc in re.findall(r"PF(\d+)(?:\.\.PF(\d+))? rc=(\d+)", frames):
            for f in range(int(a), int(b or a) + 1):
                assert k.refcount(f) == int(rc), (seed, f)
    assert checked > 100
    assert kinds == {"page", "exact run", "same-state run", "mixed"}, kinds   # all exercised


def test_huge_page_copy_marks_the_frame_the_faulting_entry_now_maps():
    k = cowlab.Kernel(ram_pages=2048, thp="copy")          # before Linux 5.8
    p = k.spawn("parent", pages=1)
    start = k.mmap(p, k.huge_pages, huge=True, populate=True)
    c = k.fork(p)
    events = k.write(c, start + 3, "x")
    assert [e.kind for e in events] == ["cow_copy"]
    now = k.pte(c, start + 3).pfn
    d = draw(k, events=events)
    assert f"VP{start + 3} -> PF{now} RW (page fault!)" in d.text
    assert f"PF{now} rc=1 (new copy!)" in d.text
    # the whole 2 MiB was copied: the child's huge range maps new frames, all rc=1
    assert all(k.pte(c, v).pfn != k.pte(p, v).pfn for v in range(start, start + k.huge_pages))


def test_a_frame_held_by_a_pin_pipe_or_page_cache_shows_both_counts_and_why():
    """Issue 13: where the refcount and the mapcount differ, the frame says both and
    what holds it, in words and in a blue fill; frames whose counts agree are unchanged."""
    k = cowlab.Kernel(ram_pages=16)
    p = k.spawn("parent", pages=2)
    pin = k.pin(p, 0)
    c = k.fork(p)
    pinned, shared = k.pte(p, 0).pfn, k.pte(p, 1).pfn
    assert (k.refcount(pinned), k.mapcount(pinned)) == (2, 1)
    d = draw(k)
    assert f"PF{pinned} rc=2 map=1 (pinned)" in d.text
    assert f"PF{shared} rc=2," in d.text and f"PF{shared} rc=2 map" not in d.text
    words = svg_text(d.svg())
    assert "(pinned)" in words and "map: page-table entries mapping it" in words
    held_cell = re.search(rf'BGCOLOR="([^"]+)"[^>]*>(?:<[^>]+>)*PF{pinned} rc=2 map=1', d.source)
    assert held_cell and held_cell.group(1) == render.BLUE
    k.unpin(pin)
    assert f"PF{pinned} rc=1" in draw(k).text and "map=" not in draw(k).text
    assert "map: page-table" not in draw(k).source

    # a pipe holding a page the child unmapped; a file page in the page cache
    k = cowlab.Kernel(ram_pages=16, rules="linux-5.7")
    p = k.spawn("parent", pages=1)
    c = k.fork(p)
    pipe = k.vmsplice(c, 0)
    k.exit(c)
    assert f"PF{k.pte(p, 0).pfn} rc=2 map=1 (pipe)" in draw(k).text
    k = cowlab.Kernel(ram_pages=16)
    p = k.spawn("p", pages=1)
    v = k.mmap(p, 1, file="data")
    k.read(p, v)
    cached = k.pte(p, v).pfn
    assert f"PF{cached} rc=2 map=1 (page cache)" in draw(k).text
    k.write(p, v, "mine")
    assert f"PF{cached} rc=1 map=0 (page cache)" in draw(k).text
