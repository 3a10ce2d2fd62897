"""Answers as plain data: what may leave a student's kernel, and what the judge compares.

`to_plain` is the one converter: the grader ships its source into the student's
kernel (so it must stay self-contained: no module globals), the notebook check runs
it on the answer as the grader will, and bank.judge runs it on whatever it is given.
`extract_code` is the cell the grader runs in the kernel to print one answer as JSON.
"""


def to_plain(value, where="answer"):
    """Return `value` as JSON-able plain data, or raise ValueError saying why.

    Exact types only, as the judge compares them: int, float, str, bool, None, list,
    dict (str or int keys), plus tuples and numpy numbers/arrays, converted. An int
    subclass or an object whose __eq__ says True to everything is refused, so only
    data the grader can compare honestly leaves the kernel. Self-contained (no module
    globals): the grader ships its source into the student's kernel.
    """
    budget = [100000]

    def numpy_value(x):
        kind = type(x)
        name = kind.__name__
        if name.startswith(("int", "uint")):
            return int(x)
        if name.startswith("float"):
            return float(x)
        if name in ("bool_", "bool"):
            return bool(x)
        if name == "ndarray":
            return x.tolist()
        raise ValueError(f"a numpy {name} is not plain data")

    def convert(x, where, depth):
        budget[0] -= 1
        if budget[0] < 0 or depth > 50:
            raise ValueError(f"{where} is too big or nested too deeply")
        kind = type(x)
        if kind.__module__ == "numpy" and depth < 50:
            return convert(numpy_value(x), where, depth + 1)
        if kind not in (int, float, str, bool, type(None), list, tuple, dict):
            raise ValueError(f"{where} is an object of type {kind.__name__}, not plain data; "
                             "use int, float, str, bool, None, list or dict")
        if kind is str and len(x) > 100000:
            raise ValueError(f"{where} is a string too long to be an answer")
        if kind in (list, tuple):
            return [convert(y, f"{where}[{i}]", depth + 1) for i, y in enumerate(x)]
        if kind is dict:
            out = {}
            for key, y in x.items():
                if type(key).__module__ == "numpy" and type(key).__name__.startswith("int"):
                    key = int(key)
                if type(key) is not str and type(key) is not int:
                    raise ValueError(f"{where} has a key of type {type(key).__name__}; "
                                     "dict keys must be ints or strings")
                out[str(key)] = convert(y, f"{where}[{key!r}]", depth + 1)
            return out
        return x

    return convert(value, where, 0)


def extract_code(qid, mark):
    """Source to run in the student's kernel: print MARK + JSON of one answer, nothing else.

    Only plain data leaves the kernel; the grader parses and judges it in its own process,
    so whatever the student patched in the kernel can at most change that plain data.
    """
    import inspect
    return f"""
def __cowlab_extract(name, mark, source):
    import json
    ns = {{}}
    exec(source, ns)
    if name not in globals():
        out = {{"state": "missing"}}
    else:
        try:
            out = {{"state": "ok", "value": ns["to_plain"](globals()[name], name)}}
        except Exception as e:
            out = {{"state": "invalid", "why": str(e)[:300]}}
    print(mark + json.dumps(out))
__cowlab_extract({qid!r}, {mark!r}, {inspect.getsource(to_plain)!r})
"""
