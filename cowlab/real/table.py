"""The comparison table: one row per quantity, the model's figure, the kernel's, a verdict.

The verdicts are listed in cowlab.real.vsmodel. Row makers here decide them:
`exact` for kB, values and bits, `faults` for a fault count (CPython's noise may only
add), `frame_fact` for PFN facts (hidden to non-root), `measured` for timings.
"""
import html
from collections import namedtuple

from .machine import NOISE_FAULTS, PAGE_SIZE

Row = namedtuple("Row", "quantity model kernel verdict note needs_root")

STATS = ("rss", "pss", "shared_dirty", "private_dirty")
KB = PAGE_SIZE // 1024


def _kernel(ram_pages, **kw):
    """A model kernel with this machine's page size (imported late: cowlab.real stays light)."""
    from ..mm import Kernel
    return Kernel(ram_pages=ram_pages, page_size=PAGE_SIZE, **kw)


def _kernel_scaled(ram_pages, swap_pages, page_size, **kw):
    from ..mm import Kernel
    return Kernel(ram_pages=max(ram_pages, 1), swap_pages=swap_pages, page_size=page_size, **kw)


# ---------------------------------------------------------------------------- the table
class Comparison:
    """Predicted vs measured, one verdict per row; `ok` is False if any row DIFFERS."""

    def __init__(self, experiment, rows, measured, notes=()):
        self.experiment = experiment
        self.rows = list(rows)
        self.measured = measured           # the kernel's raw figures (a dict)
        self.notes = list(notes)

    @property
    def ok(self):
        return not self.differs()

    def differs(self):
        return [r for r in self.rows if r.verdict == "DIFFERS"]

    def verdicts(self):
        return {r.quantity: r.verdict for r in self.rows}

    def summary(self, needs_root=True, measured=False):
        """One line per row: the quantity and its verdict, no numbers (what nbval compares).

        needs_root=False leaves out the rows that need PFNs; measured=False the timings.
        """
        lines = [f"{self.experiment}: {'model and kernel agree' if self.ok else 'DIFFERS'}"]
        for r in self.rows:
            if (r.needs_root and not needs_root) or (r.verdict == "measured" and not measured):
                continue
            lines.append(f"  {r.quantity}: {r.verdict}")
        return "\n".join(lines)

    def __str__(self):
        head = ("quantity", "model", "kernel", "verdict")
        cells = [head] + [(r.quantity, _fmt(r.model), _fmt(r.kernel), r.verdict)
                          for r in self.rows]
        width = [max(len(c[i]) for c in cells) for i in range(4)]
        out = [f"{self.experiment}: model vs this kernel"]
        for i, c in enumerate(cells):
            out.append("  ".join(s.ljust(w) for s, w in zip(c, width)).rstrip())
            if i == 0:
                out.append("  ".join("-" * w for w in width))
        notes = [f"  {r.quantity}: {r.note}" for r in self.rows if r.note]
        if notes or self.notes:
            out += ["notes:"] + notes + [f"  {n}" for n in self.notes]
        return "\n".join(out)

    __repr__ = __str__

    def _repr_html_(self):
        colour = {"DIFFERS": "#cf222e", "hidden": "#9a6700", "measured": "#57606a"}
        rows = []
        for r in self.rows:
            c = colour.get(r.verdict, "#1a7f37")
            title = f' title="{html.escape(r.note)}"' if r.note else ""
            rows.append(f"<tr{title}><td style='text-align:left'>{html.escape(r.quantity)}</td>"
                        f"<td>{html.escape(_fmt(r.model))}</td>"
                        f"<td>{html.escape(_fmt(r.kernel))}</td>"
                        f"<td style='color:{c}'>{html.escape(r.verdict)}</td></tr>")
        notes = "".join(f"<li>{html.escape(r.quantity)}: {html.escape(r.note)}</li>"
                        for r in self.rows if r.note)
        notes += "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        return (f"<b>{html.escape(self.experiment)}</b>: model vs this kernel"
                "<table><tr><th>quantity</th><th>model</th><th>kernel</th><th>verdict</th></tr>"
                + "".join(rows) + "</table>" + (f"<ul>{notes}</ul>" if notes else ""))


def _fmt(v):
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.1f}"
    if isinstance(v, (list, tuple)):
        return " ".join(_fmt(x) for x in v)
    return "-" if v is None else str(v)


def exact(quantity, model, kernel, note="", needs_root=False):
    return Row(quantity, model, kernel, "matches" if model == kernel else "DIFFERS", note,
               needs_root)


def faults(quantity, model, kernel):
    """A fault count: kernel is a cowlab.real.measured() dict.

    CPython's noise can only add faults, so the kernel may count up to NOISE_FAULTS
    more than the model, never fewer (unless the baseline subtracted was not zero).
    Fewer faults than predicted is a real difference: the kernel did more per fault.
    """
    net = kernel["faults"]
    ok = model - kernel["baseline"] <= net <= model + NOISE_FAULTS
    note = (f"raw {kernel['raw']} - baseline {kernel['baseline']} (CPython's own); "
            f"warm-up faults, not counted: {kernel['warmup']}")
    return Row(quantity, model, net, "matches within noise" if ok else "DIFFERS", note, False)


def frame_fact(quantity, model, kernel):
    """A fact about PFNs: 'hidden' when pagemap showed no PFNs (non-root)."""
    if kernel is None:
        return Row(quantity, model, "hidden", "hidden",
                   "pagemap shows PFNs only to root (CAP_SYS_ADMIN)", True)
    return exact(quantity, model, kernel, needs_root=True)


def measured(quantity, kernel, model=None, note=""):
    return Row(quantity, model, kernel, "measured", note, False)


def stat_rows(label, model, kernel, fields=STATS):
    return [exact(f"{label}: {f} (kB)", int(model[f]), int(kernel[f])) for f in fields]
