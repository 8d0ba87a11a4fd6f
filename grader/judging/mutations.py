"""Single edits of the reference solution, generated mechanically: the search that names mistakes.

The catalogue (:mod:`grader.judging.catalogue`) lists the mistakes someone thought of. This module makes every
*single* edit of a reference definition that a student plausibly makes, by rewriting its syntax tree:

* a coefficient for its neighbour: a scalar (``abar_t``, ``alpha``, ``beta``, ...) for another of the same
  function, with or without its square root, or as ``1 - x``; a square root dropped (``x.sqrt()``,
  ``torch.sqrt(x)``, ``x ** 0.5``);
* a sign or an operator: ``+`` for ``-`` and back, ``*`` for ``/`` and back, ``a - b`` for ``b - a``,
  a unary minus dropped; one factor or term left out (a missing rescale);
* an index or a timestep: ``t`` for ``t'`` (any two index-like names of the function), an index one
  step early or late (``timesteps[i + 1]`` for ``timesteps[i]``, ``alphas_cumprod[t - 1]``), a loop
  one step short or late (each bound of ``range`` +-1), a dimension for its neighbour (``dims=[-1]``);
* a channel slice for the other half (``out[:, 3:]`` for ``out[:, :3]``);
* an argument ignored: a parameter with a default replaced by that default (``scale`` -> ``7``), a
  parameter for another one (``prompt_embeds_2`` for ``prompt_embeds_1``), two arguments of a call
  swapped, a call replaced by one of its arguments (``add_variance`` or a blur left out);
* a statement left out (a re-assignment such as pasting the known region), a clamp added.

``grader fixtures build`` runs each edit of the definitions a graded name reaches (its own and the
helpers it calls) on that name's probes and keeps, per probe, a small fingerprint of each output that
differs from the reference (:func:`fingerprint`: a fixed sample of its values, in float16). At grade
time a failing output that matches one fingerprint is named by the edit: "equals the reference with
``sqrt(1 - abar)`` replaced by ``(1 - abar)`` in line 3 of forward". Nothing here imports torch.
"""

from __future__ import annotations

import ast
import copy
from dataclasses import dataclass

from grader.judging.expression_edits import _expression_edits, _Kinds


@dataclass(frozen=True)
class Mutant:
    """One edit of one reference definition."""

    func: str  # the definition edited
    line: int  # its line in the definition (the ``def`` is line 1; comment lines are not counted)
    old: str  # the expression (or statement) as the reference writes it
    new: str  # what the edit makes of it ("" for a statement left out)
    statement: str  # the reference's statement that holds the edit
    source: str  # the edited definition, to run after the reference's
    which: str = ""  # " (occurrence 2 of 2)" where the statement holds ``old`` more than once

    def short(self) -> str:
        """The edit in a few words, for a second edit that gives the same outputs."""
        if not self.new:
            return f"without `{_short(self.old, 50)}` (line {self.line} of {self.func})"
        return f"`{_short(self.old, 40)}`{self.which} replaced by `{_short(self.new, 40)}` in line {self.line} of {self.func}"

    def describe(self) -> str:
        """What the student reads, e.g. "the reference with `x.sqrt()` replaced by `x` in line 3 of forward (...)"."""
        where = f"in line {self.line} of {self.func} (`{_short(self.statement, 90)}`)"
        if not self.new:
            return f"the reference without the statement `{_short(self.old, 90)}` (line {self.line} of {self.func})"
        return f"the reference with `{_short(self.old, 70)}`{self.which} replaced by `{_short(self.new, 70)}` {where}"


def _short(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 3] + "..."


# ---- the edits ------------------------------------------------------------------------------------


def _strip_comments(source: str) -> str:
    """The definition without comment-only lines (so that line numbers count code)."""
    return "\n".join(line for line in source.splitlines() if not line.strip().startswith("#"))


def _statement_edits(stmt: ast.stmt, assigned_before: set[str]) -> list[ast.stmt | None]:
    """Edits of a whole statement: left out (None) when it re-assigns names, or its value clamped."""
    out: list[ast.stmt | None] = []
    if isinstance(stmt, ast.Assign) and all(isinstance(t, ast.Name) for t in stmt.targets):
        if all(t.id in assigned_before for t in stmt.targets):
            out.append(None)
            clamped = copy.deepcopy(stmt)
            clamped.value = ast.Call(
                ast.Attribute(_paren(stmt.value), "clamp", ast.Load()), [ast.Constant(-1), ast.Constant(1)], []
            )
            out.append(clamped)
    if isinstance(stmt, ast.Return) and stmt.value is not None and not isinstance(stmt.value, ast.Tuple):
        clamped = copy.deepcopy(stmt)
        clamped.value = ast.Call(
            ast.Attribute(_paren(stmt.value), "clamp", ast.Load()), [ast.Constant(-1), ast.Constant(1)], []
        )
        out.append(clamped)
    return out


def _paren(node):
    return copy.deepcopy(node)


def _parents(tree) -> dict:
    parents = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[child] = node
    return parents


def _statement_of(node, parents):
    while node is not None and not isinstance(node, ast.stmt):
        node = parents.get(node)
    return node


def _assigned_before(fn: ast.FunctionDef) -> dict:
    """stmt -> names assigned (or parameters) before it, in the order the definition reads."""
    seen = {a.arg for a in fn.args.args + fn.args.kwonlyargs}
    out = {}
    for stmt in _statements(fn.body):
        out[stmt] = set(seen)
        if isinstance(stmt, ast.For):
            head = [stmt.target]
        elif isinstance(stmt, (ast.If, ast.While, ast.With, ast.Try)):
            head = []  # their bodies are visited as statements of their own
        else:
            head = [stmt]
        for part in head:
            for node in ast.walk(part):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    seen.add(node.id)
    return out


def _statements(body):
    for stmt in body:
        yield stmt
        for field_name in ("body", "orelse", "handlers", "finalbody"):
            inner = getattr(stmt, field_name, None)
            if isinstance(inner, list) and inner and isinstance(inner[0], ast.stmt):
                yield from _statements(inner)


def mutants(func: str, source: str, globals_: set[str]) -> list[Mutant]:
    """Every single edit of the definition ``func`` (its source), in a fixed order (reproducible)."""
    text = _strip_comments(source)
    tree = ast.parse(text)
    fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == func)
    kinds = _Kinds(fn, globals_)
    parents = _parents(fn)
    before = _assigned_before(fn)
    out: list[Mutant] = []
    seen_sources: set[str] = set()

    # expression edits, in reading order
    for node in ast.walk(fn):
        if node is fn or isinstance(node, (ast.arguments, ast.arg)):
            continue
        if not isinstance(node, ast.expr):
            continue
        stmt = _statement_of(node, parents)
        if stmt is None or isinstance(stmt, ast.FunctionDef):
            continue
        for replacement in _expression_edits(node, kinds, parents.get(node)):
            _add(out, seen_sources, tree, fn, node, replacement, stmt, func)
    for stmt in _statements(fn.body):
        for replacement in _statement_edits(stmt, before.get(stmt, set())):
            _add(out, seen_sources, tree, fn, stmt, replacement, stmt, func)
    out.sort(key=lambda m: (m.line, m.old, m.new))
    return out


def _add(out, seen_sources, tree, fn, node, replacement, stmt, func) -> None:
    edited_tree = _ReplaceCopy(node, replacement).run(tree)
    try:
        source = ast.unparse(edited_tree)
        compile(source, f"<mutant of {func}>", "exec")
    except (SyntaxError, ValueError, TypeError):
        return
    if source in seen_sources or source == ast.unparse(tree):
        return
    seen_sources.add(source)
    old, which = ast.unparse(node), ""
    new = "" if replacement is None else ast.unparse(replacement)
    if isinstance(node, ast.stmt) and replacement is not None:
        old, new = ast.unparse(node.value), ast.unparse(replacement.value)
    elif isinstance(node, ast.expr):  # which occurrence, where the statement holds the same text more than once
        same = [n for n in ast.walk(stmt) if isinstance(n, ast.expr) and ast.unparse(n) == old]
        if len(same) > 1:
            same.sort(key=lambda n: (n.lineno, n.col_offset))
            nth = next(k for k, n in enumerate(same) if n is node) + 1
            which = f" (occurrence {nth} of {len(same)})"
    line = stmt.lineno - fn.lineno + 1
    out.append(Mutant(func, line, old, new, ast.unparse(stmt).splitlines()[0], source, which))


class _ReplaceCopy:
    """A copy of ``tree`` with ``target`` (a node of it) replaced by ``replacement`` (None: removed)."""

    def __init__(self, target, replacement):
        self.target, self.replacement = target, replacement

    def run(self, tree):
        memo = {id(self.target): self.replacement if self.replacement is not None else _REMOVED}
        copied = copy.deepcopy(tree, memo)
        if self.replacement is None:
            for node in ast.walk(copied):
                for field_name in ("body", "orelse"):
                    body = getattr(node, field_name, None)
                    if isinstance(body, list) and any(s is _REMOVED for s in body):
                        kept = [s for s in body if s is not _REMOVED]
                        setattr(node, field_name, kept or [ast.Pass()])
        return ast.fix_missing_locations(copied)


_REMOVED = ast.Pass()


# ---- which definitions a graded name reaches ----------------------------------------------------------


def definitions(chunks: list[dict]) -> dict[str, str]:
    """name -> source of each top-level function the reference defines (the last definition of a name)."""
    out = {}
    for chunk in chunks:
        if chunk.get("kind") != "def":
            continue
        try:
            tree = ast.parse(chunk["source"])
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                out[node.name] = chunk["source"]
    return out


def reached(api: str, defs: dict[str, str], graded: set[str]) -> list[str]:
    """``api`` and the reference's helpers it calls, directly or through other helpers (not other graded names)."""
    order, todo = [], [api]
    while todo:
        name = todo.pop(0)
        if name in order or name not in defs:
            continue
        order.append(name)
        called = {
            n.func.id
            for n in ast.walk(ast.parse(defs[name]))
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
        }
        todo += sorted(c for c in called if c in defs and c not in graded and _returns_value(defs[c], c))
    return order


def _returns_value(source: str, name: str) -> bool:
    """Whether the definition returns something (a helper that only shows or prints cannot change an output)."""
    fn = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == name)
    return any(isinstance(n, ast.Return) and n.value is not None for n in ast.walk(fn))


def candidates(
    api: str, chunks: list[dict], graded: set[str], globals_: set[str], done: set[str] | None = None
) -> list[Mutant]:
    """The single edits to try for ``api``: of its own definition first, then of each helper it reaches that is not
    in ``done`` (a helper's edits are tried once, with the first graded name that reaches it; ``done`` is updated)."""
    defs = definitions(chunks)
    done = set() if done is None else done
    out = []
    for name in reached(api, defs, graded):
        if name != api and name in done:
            continue
        done.add(name)
        out += mutants(name, defs[name], globals_)
    return out
