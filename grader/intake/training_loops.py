"""Training written as a top-level loop: which graded function it stands for, and what it needs to run.

The loader drops top-level loops (they are the notebook's long work). When a loop calls ``.backward()``,
this module describes it for the worker (:mod:`grader.worker.loops` runs it):

* **which graded function**: the assignment's ``Spec.training_functions`` maps each training function to
  the model classes whose construction marks a loop as training that model; the loop's own code, its
  set-up and the notebook's definitions they use are searched, in the declared order;
* **its set-up**: the top-level assignments that the loop needs (model, optimizer, scheduler, criterion,
  a wrapper module, ``losses = []`` ...), followed back by name through the statements before it, in
  notebook order; they run again before the loop, since a later cell may have bound the same name to
  something else. Statements that bind a data loader (any ``DataLoader``, a validation one too), a dataset
  fed to one, or a device are not needed: the grader binds its own loader, its dataset and the CPU to
  those names. Nothing is executed here.

When two loops stand for the same function, the later one is graded (a notebook's final training).
"""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass

from grader.worker.loops import describe, dotted

_BUILTINS = set(dir(builtins))


@dataclass
class Statement:
    """One top-level statement of the notebook, in order."""

    cell: int
    where: str
    node: ast.stmt
    source: str
    kept: bool  # the loader keeps it (the worker runs it anyway)


def _branch_with_loop(node: ast.stmt) -> list[ast.stmt] | None:
    """The statements of the branch of an ``if`` / ``with`` / ``try`` that holds a training loop, else None."""
    branches = []
    if isinstance(node, ast.If):
        branches = [node.body, node.orelse]
    elif isinstance(node, (ast.With, ast.AsyncWith)):
        branches = [node.body]
    elif isinstance(node, ast.Try):
        branches = [node.body]
    for body in branches:
        if any(describe(n) is not None or _branch_with_loop(n) for n in body):
            return body
    return None


def unfold(node: ast.stmt, code: str) -> list[tuple[ast.stmt, str]]:
    """A top-level statement as (statement, source) pairs: itself, or, for an ``if TRAIN:`` / ``with ...:`` /
    ``try:`` around a training loop, the statements of the branch that holds it (dedented, with their own line
    numbers), so that the loop and the set-up before it are found as at top level."""
    body = _branch_with_loop(node)
    if body is None:
        return [(node, ast.get_source_segment(code, node) or ast.unparse(node))]
    out = []
    for stmt in body:
        out += unfold(stmt, code) if _branch_with_loop(stmt) else [(stmt, _segment(code, stmt))]
    return out


def _segment(code: str, node: ast.stmt) -> str:
    import textwrap

    return textwrap.dedent(ast.get_source_segment(code, node, padded=True) or ast.unparse(node))


def _loaded(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


class _FirstUse(ast.NodeVisitor):
    """Whether each name is first read ("load") or first bound ("store"), in the order Python evaluates."""

    def __init__(self):
        self.first: dict[str, str] = {}

    def see(self, name: str, what: str) -> None:
        self.first.setdefault(name, what)

    def visit_Name(self, n: ast.Name) -> None:
        self.see(n.id, "store" if isinstance(n.ctx, (ast.Store, ast.Del)) else "load")

    def _own_scope(self, n) -> None:
        return  # a helper defined in the loop has its own scope

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = _own_scope

    def visit_Assign(self, n: ast.Assign) -> None:
        self.visit(n.value)
        for target in n.targets:
            self.visit(target)

    def visit_AugAssign(self, n: ast.AugAssign) -> None:
        if isinstance(n.target, ast.Name):
            self.see(n.target.id, "load")  # x += 1 reads x first
        self.visit(n.value)
        self.visit(n.target)

    def visit_AnnAssign(self, n: ast.AnnAssign) -> None:
        if n.value is not None:
            self.visit(n.value)
        self.visit(n.target)

    def visit_For(self, n) -> None:
        self.visit(n.iter)
        self.visit(n.target)
        for child in n.body + n.orelse:
            self.visit(child)

    visit_AsyncFor = visit_For

    def _comprehension(self, n) -> None:
        for gen in n.generators:  # the comprehension's own variables are local to it
            self.visit(gen.iter)
        inner = {t.id for g in n.generators for t in ast.walk(g.target) if isinstance(t, ast.Name)}
        parts = [n.key, n.value] if isinstance(n, ast.DictComp) else [n.elt]
        parts += [cond for g in n.generators for cond in g.ifs]
        for part in parts:
            for name in _loaded(part) - inner:
                self.see(name, "load")

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _comprehension


def _free(node: ast.AST) -> set[str]:
    """Names a statement reads before it binds them itself, in the order Python evaluates it: a loop's batch
    variables are its own, but ``next(data_iter)`` read before an ``except`` rebinds ``data_iter`` is not."""
    uses = _FirstUse()
    uses.visit(node)
    return {name for name, what in uses.first.items() if what == "load"} - _BUILTINS


def _bound(node: ast.AST) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}


def _is_gpu_device(value: ast.AST | None) -> bool:
    """``"cuda"``, ``torch.device("cuda:0")``, ``"cuda" if torch.cuda.is_available() else "cpu"``: a device that
    may be a GPU (the grading machine has none)."""
    if isinstance(value, ast.Constant):
        return isinstance(value.value, str) and value.value.split(":")[0] in ("cuda", "mps")
    if isinstance(value, ast.IfExp):
        return _is_gpu_device(value.body) or _is_gpu_device(value.orelse)
    if isinstance(value, ast.Call) and (dotted(value.func) or "").rsplit(".", 1)[-1] == "device" and value.args:
        return _is_gpu_device(value.args[0])
    return False


def data_bindings(statements: list[Statement]) -> tuple[set[str], set[str]]:
    """Names the notebook binds to a ``DataLoader`` (a validation loader too), and the datasets fed to one: the
    grader binds its own loader and its dataset to them."""
    loaders: set[str] = set()
    datasets: set[str] = set()
    for stmt in statements:
        if not isinstance(stmt.node, (ast.Assign, ast.AnnAssign)):
            continue
        calls = [
            n
            for n in ast.walk(stmt.node)
            if isinstance(n, ast.Call) and (dotted(n.func) or "").rsplit(".", 1)[-1] == "DataLoader"
        ]
        if not calls:
            continue
        loaders |= _bound(stmt.node)
        for call in calls:
            fed = call.args[:1] + [k.value for k in call.keywords if k.arg == "dataset"]
            datasets |= {n.id for arg in fed for n in ast.walk(arg) if isinstance(n, ast.Name)}
    return loaders, datasets - loaders


def setup_for(
    loop: Statement,
    before: list[Statement],
    skip: set[str],
    redefined: frozenset = frozenset(),
    after: list[Statement] = (),
) -> tuple[list[Statement], list[str]]:
    """The assignments ``loop`` needs, in notebook order, and the names bound to a GPU device. A helper class or
    function that the notebook defines again further down (a ``DDPM`` wrapper made class-conditioned, as the
    course's notebook does) is defined again too, as it was where the loop is (``redefined``). A name no
    statement before the loop binds is looked for in the cells after it (``after``): the notebook's author ran
    its cells out of order."""
    needed = _free(loop.node) - skip
    chosen: list[Statement] = []
    gpu: list[str] = []
    for stmt in reversed(before):
        names = _bound(stmt.node)
        hit = names & needed
        if not hit:
            continue
        is_assignment = isinstance(stmt.node, (ast.Assign, ast.AnnAssign, ast.AugAssign))
        if is_assignment and len(names) == 1 and _is_gpu_device(stmt.node.value):
            gpu.append(next(iter(names)))  # a device: the grader binds the CPU
            needed -= names
            continue
        if not is_assignment:
            needed -= names  # a definition or an import: the worker has it ...
            if isinstance(stmt.node, (ast.ClassDef, ast.FunctionDef)) and stmt.node.name in redefined:
                chosen.append(stmt)  # ... in its last version, which differs from this one
            continue
        # an assignment, dropped or kept: run again, since a later cell may bind the name to something else
        chosen.append(stmt)
        if not isinstance(stmt.node, ast.AugAssign):
            needed -= names
        needed |= _free(stmt.node) - skip
    chosen.reverse()
    for stmt in after:
        names = _bound(stmt.node)
        if not isinstance(stmt.node, (ast.Assign, ast.AnnAssign)) or not names & needed:
            continue
        needed -= names
        if len(names) == 1 and _is_gpu_device(stmt.node.value):
            gpu.append(next(iter(names)))
            continue
        chosen.append(stmt)
        needed |= _free(stmt.node) - skip
    return chosen, gpu


def _uses(nodes: list[ast.AST], definitions: dict[str, ast.stmt]) -> set[str]:
    """Every name the nodes use, and those used by the notebook's definitions they reach."""
    seen: set[str] = set()
    todo = [n for node in nodes for n in _loaded(node)]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in definitions:
            todo.extend(_loaded(definitions[name]))
    return seen


def _redefined_after(statements: list[Statement], index: int, protected: set) -> frozenset:
    """Names defined (def / class) both before and after statement ``index`` with other text, except
    ``protected`` ones (graded names, which the probes bind, and the model classes)."""

    def defs(part):
        return {
            s.node.name: s.source
            for s in part
            if isinstance(s.node, (ast.ClassDef, ast.FunctionDef)) and s.node.name not in protected
        }

    earlier, later = defs(statements[:index]), defs(statements[index + 1 :])
    return frozenset(name for name in earlier if name in later and later[name] != earlier[name])


def find(
    statements: list[Statement], training_functions: dict, provided: set, graded: set = frozenset()
) -> dict[str, dict]:
    """Graded training function -> the loop that stands for it (a record for the worker). ``graded``: the
    assignment's graded names (never defined again for a loop: the probes bind them)."""
    definitions = {
        s.node.name: s.node
        for s in statements
        if isinstance(s.node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
    }
    notebook_loaders, datasets = data_bindings(statements)  # anywhere: notebooks run out of order
    protected = set(graded) | {m for ms in training_functions.values() for m in ms}
    found: dict[str, dict] = {}
    for index, stmt in enumerate(statements):
        if stmt.kept:
            continue
        shape = describe(stmt.node)
        if shape is None:
            continue
        loaders = notebook_loaders | set(shape["data_names"])
        skip = loaders | datasets | set(provided)
        redefined = _redefined_after(statements, index, protected)
        setup, gpu = setup_for(stmt, statements[:index], skip, redefined, statements[index + 1 :])
        wanted = _free(stmt.node) | {n for s in setup for n in _free(s.node)}
        used = _uses([stmt.node] + [s.node for s in setup], definitions)
        api = next((api for api, classes in training_functions.items() if used & set(classes)), None)
        if api is None:
            continue
        found[api] = {
            "api": api,
            "cell": stmt.cell,
            "where": stmt.where,
            "line": stmt.node.lineno,
            "source": stmt.source,
            "setup": [{"source": s.source, "line": s.node.lineno, "where": s.where} for s in setup],
            "models": [m for m in training_functions[api] if m in used],
            "data_names": sorted(loaders & (wanted | set(shape["data_names"]))),
            "dataset_names": sorted(datasets & wanted),
            "cpu_names": gpu,
            "epoch_loop": shape["epoch_loop"],
        }
    return found


__all__ = ["Statement", "find", "setup_for", "unfold"]
