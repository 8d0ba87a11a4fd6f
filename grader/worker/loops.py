"""Training written as a top-level loop, run in place of the graded training function (worker side).

A notebook may train with a loop in a cell instead of the contract's ``train_*`` function. The grading
side (:mod:`grader.intake.training_loops`) finds such a loop, the set-up statements it needs and the graded
name it stands for. Here it is run on the grader's terms:

* the classes that build the model (the assignment names them) hand out the grader's model instead;
* the loop's data source (``train_loader``, ``tqdm(train_loader)``, ``DataLoader(...)``) becomes the
  grader's loader, and names bound to a GPU device become the CPU; a loop over steps
  (``for step in range(num_steps)`` taking ``next(data_iter)``) runs as many steps per epoch as the
  grader's loader has batches;
* the epoch loop runs the first few of its epochs (its own count is recorded, for a schedule that
  depends on it); a loop with no epoch loop is run as many times;
* calls that only save files (``torch.save``, ``savefig``, ``wandb``) are left out;
* the objective is what ``.backward()`` is called on: its values are the losses.

The loop's statements keep the student's line numbers. Nothing here holds a reference answer.
"""

from __future__ import annotations

import ast
import itertools

from grader.worker import adapters

#: Callables that wrap an iterable without changing its items' order: the data source is their first argument.
_WRAPPERS = {"enumerate", "iter", "list", "tuple", "track", "progress_bar"}
#: Calls that only write files or logs: left out of the loop (a Colab path would fail the whole run).
_SAVERS = {
    "torch.save",
    "np.save",
    "numpy.save",
    "np.savez",
    "save_image",
    "vutils.save_image",
    "utils.save_image",
    "torchvision.utils.save_image",
    "files.download",
}
_SAVER_METHODS = {"savefig", "save_pretrained", "add_scalar", "add_image", "add_images", "log"}
LOADER = "__dg_loader__"
EPOCHS = "__dg_epochs__"
STEPS = "__dg_steps__"


def dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def calls_backward(node: ast.AST) -> bool:
    return any(
        isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "backward"
        for n in ast.walk(node)
    )


def _loops_within(node: ast.AST) -> list:
    """Loops nested in ``node`` (not inside a function or class defined there), in source order."""
    found = []

    def visit(n):
        for child in ast.iter_child_nodes(n):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
                continue
            if isinstance(child, (ast.For, ast.While)):
                found.append(child)
            visit(child)

    visit(node)
    return found


def batch_loop(node: ast.stmt):
    """The innermost loop around ``.backward()`` (the loop over batches), or None."""
    current = node
    while True:
        inner = [n for n in _loops_within(current) if calls_backward(n)]
        if not inner:
            return current if calls_backward(current) else None
        current = inner[0]


def _is_wrapper(call: ast.Call) -> bool:
    name = (dotted(call.func) or "").rsplit(".", 1)[-1]
    return bool(call.args) and (name in _WRAPPERS or "tqdm" in name.lower())


def _innermost(expr: ast.expr) -> ast.expr:
    """What the wrappers (``tqdm``, ``enumerate``, ...) around an iterable wrap; a ``trange``-like one is kept."""
    while isinstance(expr, ast.Call) and _is_wrapper(expr) and "range" not in (dotted(expr.func) or ""):
        expr = expr.args[0]
    return expr


def data_names(source_expr: ast.expr, within: ast.AST | None = None) -> list[str]:
    """The names the data source is read from (``train_loader`` in ``tqdm(enumerate(train_loader))``); a name
    the loop binds itself (``pbar = tqdm(train_loader)``) is followed to what it wraps."""
    expr = _innermost(source_expr)
    if not isinstance(expr, ast.Name):
        return []
    names = [expr.id]
    for node in ast.walk(within) if within is not None else ():
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id == expr.id
            and isinstance(node.value, (ast.Call, ast.Name))
        ):
            names += [n for n in data_names(node.value) if n not in names]
    return names


def counts_steps(source_expr: ast.expr) -> bool:
    """``for step in range(num_steps)`` (also ``trange`` or ``tqdm(range(...))``): a loop over steps that takes its
    batches itself (``next(data_iter)``), not a loop over the data."""
    expr = _innermost(source_expr)
    return isinstance(expr, ast.Call) and (dotted(expr.func) or "").rsplit(".", 1)[-1] in ("range", "trange", "tnrange")


def _replace_source(expr: ast.expr) -> ast.expr:
    if isinstance(expr, ast.Call) and _is_wrapper(expr):
        expr.args[0] = _replace_source(expr.args[0])
        return expr
    return ast.copy_location(ast.Name(id=LOADER, ctx=ast.Load()), expr)


def describe(node: ast.stmt) -> dict | None:
    """What a top-level training loop is made of, or None when it cannot be run as a function: the loop over
    batches must be a ``for`` loop, and any loop around it the loop over epochs."""
    if not isinstance(node, ast.For):
        return None
    inner = batch_loop(node)
    if not isinstance(inner, ast.For):
        return None
    names = [] if counts_steps(inner.iter) else data_names(inner.iter, node)
    return {"epoch_loop": inner is not node, "data_names": names}


class _Rewrite(ast.NodeTransformer):
    def __init__(self, inner: ast.For):
        self.inner = inner

    def visit_Expr(self, node):
        if isinstance(node.value, ast.Call):
            name = dotted(node.value.func) or ""
            attr = node.value.func.attr if isinstance(node.value.func, ast.Attribute) else ""
            if name in _SAVERS or name.startswith("wandb.") or attr in _SAVER_METHODS:
                return ast.copy_location(ast.Pass(), node)
        return self.generic_visit(node)

    def visit_FunctionDef(self, node):
        return node  # a helper defined inside the loop: left as written


def rewrite(source: str, line: int) -> ast.Module:
    """The loop as the grader runs it (see the module docstring), with the cell's line numbers."""
    tree = ast.parse("\n" * (line - 1) + source)
    node = tree.body[0]
    inner = batch_loop(node)
    if counts_steps(inner.iter):  # as many steps as the grader's loader has batches, per epoch
        inner.iter = _wrapped(STEPS, inner.iter)
    else:
        inner.iter = _replace_source(inner.iter)
    _Rewrite(inner).visit(node)
    if inner is not node:  # the loop over epochs: its own iterable, cut short
        node.iter = _wrapped(EPOCHS, node.iter)
    else:  # no loop over epochs: one around it
        epochs = _wrapped(EPOCHS, ast.copy_location(ast.Constant(value=None), node))
        target = ast.Name(id="__dg_epoch__", ctx=ast.Store())
        tree.body[0] = ast.copy_location(ast.For(target=target, iter=epochs, body=[node], orelse=[]), node)
    return ast.fix_missing_locations(tree)


def _wrapped(helper: str, expr: ast.expr) -> ast.expr:
    """``helper(expr)``, at ``expr``'s place in the source."""
    return ast.copy_location(ast.Call(func=ast.Name(id=helper, ctx=ast.Load()), args=[expr], keywords=[]), expr)


def _plain_progress_bars(ns: dict) -> None:
    """tqdm's notebook bars need Jupyter widgets, which a grading machine may lack: use its plain-text bars."""
    try:
        from tqdm import std
    except ImportError:
        return
    for name, value in list(ns.items()):
        if (getattr(value, "__module__", "") or "") != "tqdm.notebook":
            continue
        if isinstance(value, type) and issubclass(value, std.tqdm):
            ns[name] = std.tqdm
        elif callable(value) and (getattr(value, "__name__", "") or "").endswith("range"):
            ns[name] = std.trange


class LoopTraining:
    """A top-level training loop, callable as ``run(model, loader, epochs) -> losses``.

    ``record`` comes from the grading side: ``api``, ``where``, ``line``, ``source`` (the loop), ``setup``
    (``[{"source", "line", "where"}]``), ``models`` (classes that build the model), ``data_names``
    (bound to the grader's loader), ``dataset_names`` (to its dataset), ``cpu_names``.
    """

    is_training_loop = True

    def __init__(self, ns: dict, record: dict):
        self.ns, self.record = ns, record
        self.__name__ = record["api"]
        self.declared_epochs: int | None = None
        self.setup_errors: list[str] = []

    def __call__(self, *args, **kwargs) -> list[float]:
        """Called as the training function it stands for (by a notebook's own check): the model is the first
        argument with parameters, the data the first other iterable, and ``num_epochs`` the epochs (else 1);
        the function's other arguments have no counterpart in a loop, which keeps its own."""
        values = list(args) + list(kwargs.values())
        model = next((v for v in values if hasattr(v, "parameters")), None)
        loader = next(
            (
                v
                for v in values
                if v is not model
                and hasattr(v, "__iter__")
                and not hasattr(v, "shape")
                and not isinstance(v, (dict, str))
            ),
            None,
        )
        if model is None or loader is None:
            raise TypeError(f"{self.__name__} (your training loop) needs a model and a data loader")
        return self.run(model, loader, int(kwargs.get("num_epochs", 1)), note=False)

    def _bind_grader_parts(self, model, loader) -> None:
        """The grader's model, data, CPU and plain progress bars in place of the notebook's."""
        import torch

        ns, rec = self.ns, self.record

        def build(*args, **kwargs):
            return model

        for name in rec.get("models", ()):
            ns[name] = build
        for name in rec.get("data_names", ()):
            ns[name] = loader
        for name in rec.get("dataset_names", ()):
            ns[name] = getattr(loader, "dataset", loader)
        _plain_progress_bars(ns)
        for name in rec.get("cpu_names", ()):
            ns[name] = torch.device("cpu")
        ns[LOADER] = loader

    def _run_setup(self) -> None:
        """The loop's set-up statements; one that fails is noted (the loop may not need it)."""
        for stmt in self.record.get("setup", ()):
            code = compile("\n" * (stmt["line"] - 1) + stmt["source"], f"<{stmt['where']}>", "exec")
            try:
                exec(code, self.ns)
            except Exception as e:  # noqa: BLE001 - a set-up statement the loop may not need
                self.setup_errors.append(f"{stmt['where']}, line {stmt['line']}: {type(e).__name__}: {e}")

    def run(self, model, loader, epochs: int, note: bool = True) -> list[float]:
        import torch

        ns, rec = self.ns, self.record
        self._bind_grader_parts(model, loader)
        declared: list = []

        def first_epochs(iterable):
            if iterable is None:
                declared.append(None)
                return range(epochs)
            try:
                declared.append(len(iterable))
            except TypeError:
                declared.append(None)
            return itertools.islice(iterable, epochs)

        ns[EPOCHS] = first_epochs
        ns[STEPS] = lambda iterable: itertools.islice(iterable, len(loader))
        self._run_setup()
        losses: list[float] = []
        original = torch.Tensor.backward

        inside: list = []

        def backward(tensor, *args, **kwargs):
            # (a torch-function mode hands the call back here once more: count the outer call only)
            if tensor.numel() == 1 and not inside:
                losses.append(float(tensor.detach().reshape(())))
            inside.append(1)
            try:
                return original(tensor, *args, **kwargs)
            finally:
                inside.pop()

        torch.Tensor.backward = backward
        try:
            exec(compile(rewrite(rec["source"], rec["line"]), f"<{rec['where']}>", "exec"), ns)
        except Exception as e:
            adapters.note(f"graded your training loop ({rec['where']}) as {rec['api']}: it stopped with an error")
            if self.setup_errors:
                raise RuntimeError(f"{e} (after its set-up failed: {'; '.join(self.setup_errors)})") from e
            raise
        finally:
            torch.Tensor.backward = original
        self.declared_epochs = declared[0] if declared else None
        of = f" of its {self.declared_epochs}" if self.declared_epochs else ""
        if not note:
            return losses
        adapters.note(
            f"graded your training loop ({rec['where']}) as {rec['api']}: {epochs}{of} epochs ran on the grader's "
            f"small model and data, with the loop's own optimizer, learning rate, schedule and objective"
        )
        return losses
