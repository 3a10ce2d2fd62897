"""The course's notebooks, built from their text sources.

    python -m cowlab.course            # make notebooks: rebuild what is stale
    python -m cowlab.course --check    # list stale notebooks, change nothing

`sources` reads a chapter or homework source (MyST markdown, jupytext) into the
notebook it stands for; `cowlab.execute` (beside this package, so `cowlab assign`
uses it without importing the builder) is the one place that runs notebooks in a Jupyter
kernel (the builder, `cowlab assign`, the tests and the benchmarks use it);
`build` compares, rebuilds and writes. Needs the `test` extra (jupytext, nbclient).
"""
