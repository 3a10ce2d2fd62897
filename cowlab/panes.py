"""The lab's panes: the drawing as HTML, the smaps/meminfo tables, the log's words.

Shared by `Lab` and `Stepper`; plain functions of a kernel state, so the tests can
call them without clicking. `tidy` and `who` make the log name every process
uniquely ("child pid 3") and say "1 PTE", not "1 PTEs", whatever the narration says.
"""
import html
import re

CSS = """<style>
.cowlab-log { max-height: 22em; overflow-y: auto; font-size: 90%; line-height: 1.3; }
.cowlab-log ul { margin: 0 0 4px 0; padding-left: 1.2em; }
.cowlab-log .cowlab-refused { color: #a40000; }
.cowlab-log .cowlab-bug { color: #a40000; font-weight: bold; }
.cowlab-log .cowlab-right { color: #006400; }
.cowlab-stats table { border-collapse: collapse; font-size: 90%; }
.cowlab-stats td, .cowlab-stats th { padding: 1px 6px; text-align: right; line-height: 1.25;
                                     white-space: nowrap; }
.cowlab-stats th:first-child, .cowlab-stats td:first-child { text-align: left; }
.cowlab-sr { position: absolute; width: 1px; height: 1px; overflow: hidden;
             clip: rect(0 0 0 0); white-space: nowrap; }
</style>"""



# ---------------------------------------------------------------- diagram ---

def diagram_text(diagram):
    """The words a screen reader (and nbval) gets for a drawing."""
    return diagram.text


SVG_CACHE = {}            # DOT source -> SVG: undo and back/next redraw known states
SVG_CACHE_SIZE = 64


def diagram_svg(diagram):
    """SVG markup of a drawing; without a renderer, the drawing's own fallback
    (the DOT source and the one-line fix). Runs `dot` once per distinct picture."""
    source = diagram.source
    if source in SVG_CACHE:
        SVG_CACHE[source] = SVG_CACHE.pop(source)      # most recently used last
        return SVG_CACHE[source]
    bundle = diagram._repr_mimebundle_()
    svg = bundle.get("image/svg+xml")
    if not svg:   # no renderer: show the fallback, and do not cache it
        return bundle.get("text/html") or "<pre>" + html.escape(source) + "</pre>"
    i = svg.find("<svg")
    SVG_CACHE[source] = svg[i:] if i >= 0 else svg
    while len(SVG_CACHE) > SVG_CACHE_SIZE:
        del SVG_CACHE[next(iter(SVG_CACHE))]
    return SVG_CACHE[source]


def diagram_html(diagram):
    """The diagram widget's value: the picture plus the same state in words."""
    text = diagram_text(diagram)
    return (
        f'<figure class="cowlab-figure" role="group" style="margin:0">'
        f'<div aria-hidden="true" style="overflow-x:auto">{diagram_svg(diagram)}</div>'
        f'<figcaption class="cowlab-sr">{html.escape(text)}</figcaption>'
        f'</figure>'
        f'<details><summary>the diagram in words</summary>'
        f'<pre style="white-space:pre-wrap">{html.escape(text)}</pre></details>')


def draw_kernel(kernel, events=()):
    """Draw the state, marking what the last action did (events)."""
    from .render import draw
    return draw(kernel, events=list(events))


# ------------------------------------------------------------------ tables ---

def stats_html(kernel):
    """Per-process smaps figures and /proc/meminfo, as the kernel reports them."""
    rows = []
    for p in kernel.live():
        s = kernel.stats(p)
        rows.append(
            f"<tr><td>{html.escape(p.name)} (pid {p.pid})</td><td>{s['rss']}</td>"
            f"<td>{s['pss']}</td><td>{s['shared_dirty']}</td><td>{s['private_dirty']}</td>"
            f"<td>{s['minor_faults']}</td></tr>")
    if not rows:
        rows.append('<tr><td colspan="6">no live process: click undo or reset</td></tr>')
    m = kernel.meminfo()
    free = kernel.free_frames()
    return (
        '<div class="cowlab-stats"><table><tr><th>process</th><th>RSS kB</th>'
        '<th>PSS kB</th><th>Shared_Dirty kB</th><th>Private_Dirty kB</th>'
        '<th>minor faults</th></tr>' + "".join(rows) + "</table>"
        f"<table><tr><th>MemTotal</th><td>{m['mem_total']} kB</td></tr>"
        f"<tr><th>MemFree</th><td>{m['mem_free']} kB ({plural(free, 'free frame')})</td></tr>"
        f"<tr><th>CommitLimit</th><td>{m['commit_limit']} kB</td></tr>"
        f"<tr><th>Committed_AS</th><td>{m['committed_as']} kB</td></tr>"
        f"<tr><th>overcommit_memory</th><td>{kernel.overcommit_memory}</td></tr>"
        "</table></div>")


def span(kernel, p):
    """One past the highest vpn the process has mapped (0 if none)."""
    return max((r.start + r.pages for r in kernel.regions(p)), default=0)


def snapshot_size(kernel):
    """Rough cost of one undo entry, in table entries."""
    return kernel.ram_pages + sum(span(kernel, p) for p in kernel.live()) + 1



def who(kernel, pid):
    """'child pid 3': a name is not unique (three children are all 'child'), a pid is."""
    for p in kernel.processes:
        if p.pid == pid:
            return f"{p.name} pid {pid}"
    return f"pid {pid}"


def plural(n, word, many=None):
    """'1 page', '2 pages', '1 PTE', '3 PTEs'."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


SINGULAR = {"PTEs": "PTE", "pages": "page", "frames": "frame", "zeroed frames": "zeroed frame",
            "page-table entries": "page-table entry", "entries": "entry", "faults": "fault",
            "copies": "copy", "processes": "process"}
ONE_OF_MANY = re.compile(r"(?<![\d,.])\b1 (" + "|".join(sorted(SINGULAR, key=len, reverse=True))
                         + r")\b")


def tidy(kernel, event):
    """An event's narration for the log: singular after 1, and who it happened to,
    unless the text names the process already."""
    text = ONE_OF_MANY.sub(lambda m: "1 " + SINGULAR[m.group(1)], event.text)
    if event.pid is not None and f"(pid {event.pid})" not in text:
        text = f"{who(kernel, event.pid)}: {text}"
    return text
