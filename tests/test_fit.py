"""The drawings fit a laptop: at 1366x768 the notebook column is about 930 px.

The three states that overflowed before (02's "who copies?", 03's rules side by
side, 03's lab after the chapter's own instructions) are rebuilt as the chapters
build them, rendered with the real `dot`, and measured: at their natural size (the
notebook shows an SVG at 1 pt = 4/3 px, never shrunk) they are at most 930 px wide
and every label is at least 9 px tall. The chapters' own code is in
notebooks/_build.py; the browser test checks the same in JupyterLab itself.
"""
import re

import pytest

import cowlab
from cowlab import render

COLUMN_PX = 930
MIN_LABEL_PX = 9
PX_PER_PT = 4 / 3


def measure(diagram):
    """(width in px, smallest font in px, all the words) of the diagram as displayed."""
    svg = diagram.svg()
    width_pt = float(re.search(r'<svg width="([\d.]+)pt"', svg).group(1))
    view = [float(v) for v in re.search(r'viewBox="([^"]+)"', svg).group(1).split()]
    scale = width_pt / view[2] * PX_PER_PT          # px per SVG user unit
    sizes = [float(s) for s in re.findall(r'font-size="([\d.]+)"', svg)]
    assert sizes, "no text in the SVG"
    words = " ".join(re.findall(r">([^<>]+)</text>", svg))
    return width_pt * PX_PER_PT, min(sizes) * scale, words


def after_write(who):
    """02 'Who copies?': parent and child share 3 pages; one of them writes VP1."""
    k = cowlab.Kernel(ram_pages=16)
    p = k.spawn("parent", pages=3)
    c = k.fork(p)
    k.write(p if who == "parent" else c, 1, "x")
    return k


def writes_after_forks(n_children, rules="linux"):
    """03: fork n children off a 3-page parent, then every process writes VP0."""
    k = cowlab.Kernel(ram_pages=16, rules=rules)
    parent = k.spawn("parent", pages=3)
    procs = [parent] + [k.fork(parent) for _ in range(n_children)]
    for p in procs:
        k.write(p, 0, p.pid)
    return k


def lab_after_03_instructions():
    """03 'Try': fork three times, then each of the four processes writes VP0."""
    lab = cowlab.Lab(ram_pages=16, predict=True)
    for _ in range(3):
        lab.process.value = 1
        lab.buttons["fork"].click()
    for pid in (1, 2, 3, 4):
        lab.process.value = pid
        lab.page.value = 0
        lab.prediction.value = "cow_copy"
        lab.buttons["write"].click()
    assert lab.errors == []
    return lab


STATES = {
    "02 who copies": lambda: cowlab.draw(
        [after_write("parent"), after_write("child")],
        titles=["the parent writes first", "the child writes first"]),
    "03 rules side by side": lambda: cowlab.draw(
        [writes_after_forks(1, "linux"), writes_after_forks(1, "xv6")],
        titles=["Linux rules", "xv6-lab rules (always copy)"]),
    "03 lab after the instructions": lambda: lab_after_03_instructions().diagram,
}


@pytest.mark.parametrize("name", STATES)
def test_wide_states_fit_the_column_with_readable_labels(name):
    diagram = STATES[name]()
    assert render.find_renderer().endswith("/dot")
    width, font, words = measure(diagram)
    assert width <= COLUMN_PX, f"{name}: {width:.0f} px wide, the column is {COLUMN_PX}"
    assert font >= MIN_LABEL_PX, f"{name}: a label is {font:.1f} px tall"
    # nothing was left out to make it fit: every process's table is drawn
    for line in diagram.text.splitlines():
        head = line.split(":")[0]
        if "(pid " in head:
            assert head.split(" [")[0].replace("&", "&amp;") in words, (head, words)


def test_lab_after_03_shows_all_four_page_tables():
    lab = lab_after_03_instructions()
    _, _, words = measure(lab.diagram)
    for pid in (1, 2, 3, 4):
        assert f"(pid {pid})" in words
    assert "rc=1" in words and "PF0" in words


def test_many_processes_stay_in_two_columns():
    """Eight sharers: the drawing grows down, not sideways."""
    five = measure(cowlab.draw(writes_after_forks(4)))[0]
    eight = measure(cowlab.draw(writes_after_forks(7)))[0]
    assert eight <= COLUMN_PX and abs(eight - five) < 1, (five, eight)


def test_kernels_stack_in_the_order_given():
    """Two kernels are read top to bottom in the order of the titles."""
    svg = STATES["03 rules side by side"]().svg()
    y = {t: float(v) for v, t in
         re.findall(r'<text[^>]*y="([-\d.]+)"[^>]*>((?:Linux|xv6)[^<]*)<', svg)}
    linux = y["Linux rules"]
    xv6 = next(v for t, v in y.items() if t.startswith("xv6"))
    assert linux < xv6, y        # SVG y grows downwards: Linux's title is higher


def steps_of(scenario):
    run = scenario.start()
    for out in run:
        yield run.kernel, out


def test_every_step_of_every_built_in_scenario_fits():
    """What the Steppers of the chapters show, step by step."""
    from cowlab.scenario import BUILTIN
    from cowlab.widgets import draw_kernel
    for name, scenario in BUILTIN.items():
        for k, out in steps_of(scenario):
            width, font, _ = measure(draw_kernel(k, out.events))
            assert width <= COLUMN_PX and font >= MIN_LABEL_PX, (name, out.step.text, width)


def test_random_lab_states_fit():
    """States a student can click to (cowlab sim's random scenarios), marks included."""
    from cowlab.scenario import Scenario
    from cowlab.widgets import draw_kernel
    for seed in range(12):
        for k, out in steps_of(Scenario.random(seed, steps=10)):
            width, font, _ = measure(draw_kernel(k, out.events))
            assert width <= COLUMN_PX and font >= MIN_LABEL_PX, (seed, out.step.text, width)


def test_a_ten_gib_state_with_scattered_writes_fits():
    k = cowlab.Kernel(ram_pages=3 << 20, overcommit_memory=1)
    p = k.spawn("redis-server", pages=2_621_440)
    c = k.fork(p)
    k.write_many(p, range(0, 2_621_440, 97), value=1)
    k.write(c, 5, "x")
    width, font, words = measure(cowlab.draw(k))
    assert width <= COLUMN_PX and font >= MIN_LABEL_PX, width
    assert "mixed" in words or "pages)" in words
