"""Step 1 of the data path: a submitted notebook becomes a list of definitions.

Only what a grader needs survives: imports, function and class definitions, and
top-level statements that are evidently cheap (no calls other than to a short
allow-list), such as ``strided_timesteps = list(range(990, -1, -30))`` or a loop
that appends to it. Model loading, training loops, plots, downloads, shell lines
and magics are dropped, and so are otter's set-up and check cells (``import otter``,
``grader = otter.Notebook(...)``, ``grader.check("forward")``). A syntax error costs only
the cell it is in.

Nothing here executes student code: it reads JSON and parses Python.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from grader.intake import training_loops
from grader.intake.notebook_file import (
    infer_assignment,
    read_notebook,
)
from grader.intake.supplied_names import MODULE_NAMES, _display_source, names_read
from grader.worker.loops import calls_backward, dotted

#: Callables a kept top-level statement may call (by dotted name or bare name).
SAFE_CALLS = {
    "range",
    "list",
    "tuple",
    "int",
    "float",
    "bool",
    "str",
    "len",
    "dict",
    "set",
    "reversed",
    "sorted",
    "zip",
    "enumerate",
    "min",
    "max",
    "abs",
    "round",
    "sum",
    "print",
    "np.arange",
    "np.linspace",
    "np.array",
    "numpy.arange",
    "numpy.linspace",
    "numpy.array",
    "torch.tensor",
    "torch.arange",
    "torch.linspace",
    "torch.device",
    "math.sqrt",
    "math.log",
    "math.exp",
    "math.pi",
}
#: Modules a notebook imports for its own tooling, never for graded code: otter's client,
#: which the student notebook's first cell starts for ``grader.check(...)``.
TOOLING_MODULES = {"otter"}
#: Base classes that give a class nothing of its own: with only placeholders it is a stub.
_PLAIN_BASES = {"nn.Module", "torch.nn.Module", "Module", "object"}
#: Method names that may be called on anything inside a kept statement.
SAFE_METHODS = {"append", "extend", "insert", "reverse", "sort", "tolist", "item", "astype", "flip", "copy"}


#: A notebook the grader reads: its file size, and its JSON (metadata and outputs included). The course's
#: notebooks are 0.2 MB, 4 levels deep, with 700 lists or objects and 4,200 values; a notebook full of
#: outputs is far larger, and still well within these.
@dataclass
class Loaded:
    """What survived loading: code to execute and notes for the report."""

    source: str
    assignment: str | None
    notes: list[str] = field(default_factory=list)
    defined: list[str] = field(default_factory=list)
    #: cells holding a top-level training loop (a loop that calls ``.backward()``) that the grader cannot run
    #: in place of a training function (graded loops are ``graded_loops``)
    training_loops: list[str] = field(default_factory=list)  # (their cells, as 'the cell starting "..."')
    #: graded training function -> the top-level loop graded in its place (see grader.intake.training_loops)
    graded_loops: dict = field(default_factory=dict)


def _to_python(cell_source: str) -> str:
    """Turn IPython syntax (magics, !shell) into plain Python that the filter then drops."""
    lines = cell_source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        magic = lines[0].split()[0]
        # Cell magics that still run the body as Python: keep the body.
        if magic in ("%%time", "%%timeit", "%%capture"):
            cell_source = "\n".join(lines[1:])
        else:
            return ""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        return _transformed(TransformerManager(), cell_source)
    except Exception:
        return "\n".join(l for l in cell_source.splitlines() if not l.lstrip().startswith(("!", "%")))


def _transformed(manager, cell_source: str) -> str:
    """``manager.transform_cell(cell_source)``, without its token pass when the cleaned cell is already Python:
    that pass only rewrites what Python cannot parse (magics, ``!``, ``x?``, ``a = %b``), and costs 2/3 of the whole
    (0.16 of 0.5 s of reading a Part B notebook)."""
    cleanup = getattr(manager, "cleanup_transforms", None)
    per_line = getattr(manager, "line_transforms", None)
    if not isinstance(cleanup, list) or not isinstance(per_line, list):  # another IPython: its own way
        return manager.transform_cell(cell_source)
    lines = (cell_source if cell_source.endswith("\n") else cell_source + "\n").splitlines(keepends=True)
    for transform in cleanup + per_line:
        lines = transform(lines)
    text = "".join(lines)
    try:
        ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return "".join(manager.do_token_transforms(lines))
    return text


def _assigned_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _is_cheap(node: ast.AST) -> bool:
    """True when every call in the statement is to an allow-listed callable or method."""
    for sub in ast.walk(node):
        if isinstance(sub, (ast.Lambda, ast.Await, ast.Yield, ast.YieldFrom, ast.While)):
            return False
        if isinstance(sub, ast.Call):
            name = dotted(sub.func)
            if name in SAFE_CALLS:
                continue
            if isinstance(sub.func, ast.Attribute) and sub.func.attr in SAFE_METHODS:
                continue
            return False
    return True


def _keep(node: ast.stmt, provided: set[str]) -> tuple[bool, str | None]:
    """Decide whether a top-level statement survives; return (keep, note)."""
    if isinstance(node, ast.Import) and all(a.name.split(".")[0] in TOOLING_MODULES for a in node.names):
        return False, None
    if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in TOOLING_MODULES:
        return False, None
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in provided:
            return False, None  # a pasted copy of a provided helper: the grader's wins
        return True, None
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.For, ast.If, ast.Expr)):
        if isinstance(node, ast.Expr) and not isinstance(node.value, ast.Call):
            return False, None  # bare expressions (a variable shown at the end of a cell)
        if isinstance(node, ast.Expr) and dotted(node.value.func) in ("print",):
            return False, None
        names = _assigned_names(node)
        if names & provided:
            return False, None
        if _is_cheap(node):
            return True, None
    return False, None


def _nested_imports(node: ast.stmt) -> list[ast.stmt]:
    """Imports inside a dropped top-level statement (``try: import x``, ``if IN_COLAB: from y import z``), not
    inside a function or class: the notebook's author had them, and the grader keeps them (a failed import
    costs only a note)."""
    found = []

    def visit(n):
        for child in ast.iter_child_nodes(n):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                if not _keep(child, set())[0]:
                    continue
                found.append(child)
            else:
                visit(child)

    visit(node)
    return found


def _is_constant(value: ast.AST) -> bool:
    """A literal: ``10``, ``-1e-3``, ``"cuda"``, ``(28, 28)``, ``[5, 20]``."""
    if isinstance(value, ast.Constant):
        return True
    if isinstance(value, ast.UnaryOp) and isinstance(value.op, (ast.USub, ast.UAdd)):
        return _is_constant(value.operand)
    if isinstance(value, (ast.Tuple, ast.List)):
        return all(_is_constant(v) for v in value.elts)
    return False


def nested_definitions(node: ast.stmt, provided: set) -> list[ast.stmt]:
    """Definitions and constant assignments inside a dropped top-level ``for`` / ``while`` / ``if`` / ``with`` /
    ``try`` (not inside a function or class): a helper a plotting cell defines in its loop, a hyper-parameter set in
    a branch. The grader keeps them as if they stood at top level."""
    found = []

    def visit(n):
        for child in ast.iter_child_nodes(n):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if child.name not in provided:
                    found.append(child)
            elif isinstance(child, ast.Lambda):
                continue
            elif isinstance(child, (ast.Assign, ast.AnnAssign)):
                targets = child.targets if isinstance(child, ast.Assign) else [child.target]
                if (
                    child.value is not None
                    and _is_constant(child.value)
                    and all(isinstance(t, ast.Name) and t.id not in provided for t in targets)
                ):
                    found.append(child)
            elif isinstance(child, ast.stmt):
                visit(child)

    visit(node)
    return found


def is_training_loop(node: ast.stmt) -> bool:
    """A top-level ``for`` / ``while`` loop that calls ``.backward()`` (training written outside a function), also
    inside a top-level ``if`` / ``with`` / ``try``."""
    return isinstance(node, (ast.For, ast.While, ast.If, ast.With, ast.Try)) and calls_backward(node)


#: Conventional names of modules that student code uses without defining them.
def _placeholder(stmt: ast.stmt) -> bool:
    """A statement that does no graded work: ``...``, ``pass``, a docstring, an assert,
    ``raise NotImplementedError`` or an argument-free ``super().__init__()``."""
    if isinstance(stmt, (ast.Pass, ast.Assert)):
        return True
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
        return True
    if isinstance(stmt, ast.Raise):
        return stmt.exc is None or "NotImplementedError" in ast.unparse(stmt.exc)
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):  # super().__init__() without arguments
        call = stmt.value  # (with arguments it may do the work: class ConvBlock(nn.Sequential))
        return ast.unparse(call.func).startswith("super(") and not call.args and not call.keywords
    return False


def is_stub(node: ast.stmt) -> bool:
    """True for a definition not written yet: a function whose body is only placeholders
    (as the student notebook hands it out, ``...``), or a class whose methods all are."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return all(_placeholder(s) for s in node.body)
    if isinstance(node, ast.ClassDef):
        # a subclass of anything but a bare Module may inherit all its work: not a stub
        plain = all(dotted(b) in _PLAIN_BASES for b in node.bases) and not node.keywords
        return plain and all(
            is_stub(s) if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) else _placeholder(s) for s in node.body
        )
    return False


#: Top-level statements whose nested definitions and constants are kept when the statement itself is dropped.
_COMPOUND = (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith, ast.Try)


def _nested_chunk(node: ast.stmt, code: str, index: int, cell_source: str) -> "Chunk":
    """A definition or constant found inside a dropped statement, as a chunk of its own (dedented)."""
    import textwrap

    seg = textwrap.dedent(ast.get_source_segment(code, node, padded=True) or ast.unparse(node))
    decorators = getattr(node, "decorator_list", [])
    if decorators:
        pad = " " * node.col_offset
        seg = "\n".join(textwrap.dedent(pad + "@" + ast.get_source_segment(code, d)) for d in decorators) + "\n" + seg
    is_def = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    return Chunk(
        cell=index + 1,
        where=cell_label(cell_source),
        line=min([node.lineno] + [d.lineno for d in decorators]),
        source=seg,
        kind="def" if is_def else "stmt",
        name=node.name if is_def else "",
        stub=is_def and is_stub(node),
    )


@dataclass
class Chunk:
    """One kept statement group, executed by the worker on its own (so one failure costs only it)."""

    cell: int
    source: str
    kind: str  # "import" | "def" | "stmt"
    name: str = ""  # the name a "def" chunk defines
    stub: bool = False  # a definition still holding only placeholders (see is_stub)
    quiet: bool = False  # an import taken out of a dropped statement: its failure is not worth a note
    where: str = ""  # the cell as Jupyter shows it: 'the cell starting "def forward(im, t):"'
    line: int = 1  # the cell line the source starts on (messages give the student's line numbers)
    loop: dict | None = None  # kind "loop": a top-level training loop, kept for a probe to run (not run at load)


#: Plotting modules: a notebook's import of one changes nothing the grader checks, so when it cannot be
#: made (the student kit does not install matplotlib) or is slow, students get no note about it.
PLOTTING = ("matplotlib", "seaborn", "mediapy")


def is_plotting_import(node: ast.stmt) -> bool:
    names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
    return all(n.split(".")[0] in PLOTTING for n in names)


def cell_label(source: str) -> str:
    """A cell as a student finds it in Jupyter (which numbers no cells): by its first line."""
    first = next((line.strip() for line in source.splitlines() if line.strip()), "")
    return f'the cell starting "{first if len(first) <= 48 else first[:45] + "..."}"'


def _spec(assignment: str | None):
    from grader import course

    try:
        return course.get(assignment)
    except course.UnknownAssignment:
        return None


def load_notebook(path: str | Path, assignment: str | None = None) -> tuple[list[Chunk], Loaded]:
    """Read a notebook and return the chunks to execute plus a summary for the report."""
    nb = read_notebook(path)
    assignment = assignment or infer_assignment(nb, path)
    spec = _spec(assignment)
    provided = (set(spec.provided) if spec else set()) | {"get_ipython"}
    statements: list[training_loops.Statement] = []
    chunks: list[Chunk] = []
    info = Loaded(source="", assignment=assignment)
    if not any(c.cell_type == "code" for c in nb.cells):
        info.notes.append("the notebook has no code cells")
    trees: list[ast.Module] = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        code = _to_python(cell.source)
        tree = _parsed(code, cell.source, info)
        if tree is None:
            continue
        trees.append(tree)
        for node in tree.body:
            keep, _ = _keep(node, provided)
            seg = ast.get_source_segment(code, node) or ast.unparse(node)
            for part, text in training_loops.unfold(node, code) if not keep else [(node, seg)]:
                statements.append(training_loops.Statement(index + 1, cell_label(cell.source), part, text, keep))
            if keep:
                chunks.append(_kept_chunk(node, seg, code, index, cell.source, info))
            else:
                chunks.extend(_from_dropped(node, code, index, cell.source, provided, info))
    _supply(chunks, trees, provided, info)
    info.source = "\n\n".join(c.source for c in chunks)
    if spec is not None and spec.training_functions and info.training_loops:
        _add_graded_loops(chunks, info, statements, spec, provided)
    return chunks, info


def _parsed(code: str, cell_source: str, info: Loaded) -> ast.Module | None:
    """The cell's syntax tree, or None with a note (a syntax error or a parser bomb costs its cell only)."""
    try:
        return ast.parse(code)
    except SyntaxError as e:
        info.notes.append(
            f"{cell_label(cell_source)} has a syntax error on its line {e.lineno}: {e.msg}; "
            "its definitions were skipped"
        )
    except (RecursionError, MemoryError, ValueError) as e:
        info.notes.append(
            f"{cell_label(cell_source)} could not be parsed ({type(e).__name__}: it is nested too deeply "
            "or too large); its definitions were skipped"
        )
    return None


def _from_dropped(node: ast.stmt, code: str, index: int, cell_source: str, provided: set, info: Loaded) -> list:
    """What a dropped top-level statement still gives: the imports and definitions nested in it."""
    out: list[Chunk] = []
    if is_training_loop(node) and cell_label(cell_source) not in info.training_loops:
        info.training_loops.append(cell_label(cell_source))
    for imp in _nested_imports(node):
        source = ast.get_source_segment(code, imp) or ast.unparse(imp)
        out.append(Chunk(cell=index + 1, source=source, kind="import", quiet=True))
    for inner in nested_definitions(node, provided) if isinstance(node, _COMPOUND) else ():
        out.append(_nested_chunk(inner, code, index, cell_source))
        if out[-1].kind == "def":
            info.defined.append(out[-1].name)
            info.notes.append(
                f"{out[-1].name} is defined inside a top-level loop or branch of "
                f"{cell_label(cell_source)}: the grader kept it as if it stood at top level"
            )
    return out


def _kept_chunk(node: ast.stmt, seg: str, code: str, index: int, cell_source: str, info: Loaded) -> Chunk:
    """The chunk of a kept top-level statement (an import, a definition or a cheap assignment)."""
    # Decorators are not part of the node's segment before 3.8's end positions; add them.
    if getattr(node, "decorator_list", None):
        seg = "\n".join("@" + ast.get_source_segment(code, d) for d in node.decorator_list) + "\n" + seg
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        kind = "import"
    elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        kind = "def"
    else:
        kind = "stmt"
    if kind == "def":
        info.defined.append(node.name)
    elif kind == "stmt":
        info.defined.extend(sorted(_assigned_names(node)))
    return Chunk(
        cell=index + 1,
        where=cell_label(cell_source),
        line=min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]),
        source=seg,
        kind=kind,
        name=getattr(node, "name", "") if kind == "def" else "",
        stub=kind == "def" and is_stub(node),
        quiet=kind == "import" and is_plotting_import(node),
    )


def _supply(chunks: list[Chunk], trees: list[ast.Module], provided: set, info: Loaded) -> None:
    """The conventional imports a notebook uses without writing (first), and display no-ops (last)."""
    supplied = []
    missing, display = names_read(trees, provided)
    for name, users in missing.items():
        supplied.append(Chunk(cell=0, source=MODULE_NAMES[name], kind="import", quiet=True, where="the grader"))
        info.notes.append(
            f"your notebook uses {name} without importing it: the grader added `{MODULE_NAMES[name]}` "
            f"(at no cost; add it to your notebook, {', '.join(users[:4])}{' ...' if len(users) > 4 else ''} need it)"
        )
    chunks[:0] = supplied  # before every definition: a decorator such as @torch.no_grad() needs it at once
    if display:
        chunks.append(Chunk(cell=0, source=_display_source(display), kind="stmt", quiet=True, where="the grader"))


def _add_graded_loops(chunks: list[Chunk], info: Loaded, statements, spec, provided: set) -> None:
    """Top-level training loops that can stand for a training function: kept for the probes to run."""
    graded = {p.api for p in spec.probes.values()}
    info.graded_loops = training_loops.find(statements, dict(spec.training_functions), provided, graded)
    for api, record in info.graded_loops.items():
        chunks.append(
            Chunk(
                cell=record["cell"],
                source=record["source"],
                kind="loop",
                name=api,
                where=record["where"],
                line=record["line"],
                loop=record,
            )
        )
    graded = {r["where"] for r in info.graded_loops.values()}
    info.training_loops = [c for c in info.training_loops if c not in graded]
