"""Rewrite one definition so that the usual disguises leave no trace in its text.

What goes: comments and formatting (the code is parsed and printed again by :func:`ast.unparse`),
docstrings and other bare constants, type annotations, ``print(...)`` lines, and dead code: statements
after a ``return`` / ``raise`` / ``continue`` / ``break``, ``if False:`` branches, and assignments in a
function to names that nothing reads. Identifiers are left alone here; the fingerprinting replaces every
name by one letter anyway (see :mod:`.compare`).

Nothing here executes student code: it parses and prints Python.
"""

from __future__ import annotations

import ast

_ENDS_BLOCK = (ast.Return, ast.Raise, ast.Continue, ast.Break)
_BODIES = ("body", "orelse", "finalbody")


def _constant_test(node: ast.expr) -> bool | None:
    """The truth of an ``if`` / ``while`` test that is a literal (``False``, ``0``, ``None``, ``True``), else None."""
    if isinstance(node, ast.Constant) and not isinstance(node.value, (str, bytes)):
        return bool(node.value)
    return None


def _is_noise(stmt: ast.stmt) -> bool:
    """A statement that does nothing to the result: a bare constant (docstring, ``...``) or a ``print(...)``."""
    if not isinstance(stmt, ast.Expr):
        return False
    value = stmt.value
    if isinstance(value, ast.Constant):
        return True
    return isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "print"


def _clean_body(body: list[ast.stmt]) -> list[ast.stmt]:
    out: list[ast.stmt] = []
    for stmt in body:
        if _is_noise(stmt):
            continue
        if isinstance(stmt, (ast.If, ast.While)):
            truth = _constant_test(stmt.test)
            if truth is False:
                out.extend(stmt.orelse if isinstance(stmt, ast.If) else [])
                continue
            if truth is True and isinstance(stmt, ast.If):
                out.extend(stmt.body)
                if any(isinstance(s, _ENDS_BLOCK) for s in stmt.body):
                    break
                continue
        out.append(stmt)
        if isinstance(stmt, _ENDS_BLOCK):
            break  # what follows never runs
    return out


class _Strip(ast.NodeTransformer):
    def generic_visit(self, node):
        super().generic_visit(node)
        for attr in _BODIES:
            body = getattr(node, attr, None)
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                cleaned = _clean_body(body)
                if not cleaned and attr == "body":
                    cleaned = [ast.Pass()]
                setattr(node, attr, cleaned)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            node.returns = None
            _drop_unread_assignments(node)
        if isinstance(node, ast.arg):
            node.annotation = None
        return node

    def visit_AnnAssign(self, node):
        self.generic_visit(node)
        if node.value is None:
            return None  # a bare declaration ``x: int``
        return ast.copy_location(ast.Assign(targets=[node.target], value=node.value, lineno=node.lineno), node)


def _drop_unread_assignments(func: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
    """Remove assignments whose targets are plain local names that the function never reads."""
    read = {n.id for n in ast.walk(func) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Store)}
    for n in ast.walk(func):
        if isinstance(n, (ast.Global, ast.Nonlocal)):
            read.update(n.names)

    def unread(stmt: ast.stmt) -> bool:
        targets = (
            stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AugAssign) else []
        )
        return bool(targets) and all(isinstance(t, ast.Name) and t.id not in read for t in targets)

    for node in ast.walk(func):
        for attr in _BODIES:
            body = getattr(node, attr, None)
            if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
                kept = [s for s in body if not unread(s)]
                setattr(node, attr, kept or [ast.Pass()])


def normalise(source: str) -> str:
    """``source`` (one or more statements) printed again without comments, docstrings, annotations, prints
    or dead code; the text itself when it does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return source
    try:
        tree = _Strip().visit(tree)
        tree.body = _clean_body(tree.body)
        return ast.unparse(ast.fix_missing_locations(tree))
    except (RecursionError, ValueError):
        return source


def names_used(source: str) -> list[str]:
    """The global names ``source`` reads (read but never bound in it: not arguments, not assigned), in order
    of first use."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    bound = {n.arg for n in ast.walk(tree) if isinstance(n, ast.arg)}
    bound |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    seen: dict[str, None] = {}
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Store) and n.id not in bound:
            seen.setdefault(n.id)
    return list(seen)
