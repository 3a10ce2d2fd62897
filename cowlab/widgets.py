"""The widget lab: click fork, read, write, exec, exit and watch the page tables.

`Lab` (cowlab/lab.py) is a small ipywidgets app around one `cowlab.Kernel`;
`Stepper` (cowlab/stepper.py) walks forward and back through a scripted
`Scenario`; predict mode is cowlab/predict.py and the panes they share (the
drawing as HTML, the smaps/meminfo tables, the log's words) cowlab/panes.py. This
module gathers them under the names notebooks and tests use:

    import cowlab
    lab = cowlab.Lab(ram_pages=16, predict=True)     # or cowlab.widgets.Lab
    cowlab.Stepper(cowlab.Scenario.THREE_SHARERS)

Built only from standard ipywidgets; imported lazily by `cowlab.Lab` /
`cowlab.Stepper`, so `import cowlab` never pays for ipywidgets.
"""
from . import panes
from .lab import ACTIONS, EXEC_PAGES, LOG_KEEP, UNDO_BUDGET, Lab
from .panes import (CSS, SVG_CACHE_SIZE, diagram_html, diagram_svg, diagram_text, draw_kernel,
                    plural, snapshot_size, span, stats_html, tidy, who)
from .predict import (CHOOSE, FAULT_KINDS, NO_FRAME, OUTCOME_WORDS, OUTCOMES, frame_words,
                      new_frame)
from .stepper import Stepper, step_comments

SVG_CACHE = panes.SVG_CACHE   # the cache itself lives in panes (patch cowlab.panes.SVG_CACHE)

__all__ = ["Lab", "Stepper", "ACTIONS", "EXEC_PAGES", "LOG_KEEP", "UNDO_BUDGET", "CSS",
           "SVG_CACHE", "SVG_CACHE_SIZE", "diagram_html", "diagram_svg", "diagram_text",
           "draw_kernel", "plural", "snapshot_size", "span", "stats_html", "tidy", "who",
           "CHOOSE", "FAULT_KINDS", "NO_FRAME", "OUTCOME_WORDS", "OUTCOMES", "frame_words",
           "new_frame", "step_comments"]
