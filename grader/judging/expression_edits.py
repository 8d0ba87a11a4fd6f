"""The search's single edits of one expression (:mod:`grader.judging.mutations`): what kind each name of a
reference function is (scalar, index, tensor, parameter), and every plausible one-token change of a name,
call, operator, sign or subscript."""

from __future__ import annotations

import ast
import copy


def _names_in(node) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


class _Kinds:
    """What the names of one function are: parameters (with defaults), index-like and value scalars."""

    def __init__(self, fn: ast.FunctionDef, globals_: set[str]):
        args = fn.args.args + fn.args.kwonlyargs
        defaults = dict(zip([a.arg for a in fn.args.args][::-1], fn.args.defaults[::-1]))
        defaults.update({a.arg: d for a, d in zip(fn.args.kwonlyargs, fn.args.kw_defaults) if d is not None})
        self.params = [a.arg for a in args]
        self.defaults = defaults
        # names used as an index somewhere (alphas_cumprod[t], timesteps[i]) or as a loop counter
        self.index_like: set[str] = set()
        counters: set[str] = set()
        for node in ast.walk(fn):
            if isinstance(node, ast.Subscript) and not isinstance(node.slice, (ast.Slice, ast.Tuple)):
                self.index_like |= _names_in(node.slice)
            if isinstance(node, ast.For):
                counters |= _names_in(node.target)
            if isinstance(node, ast.Assign):  # t, t_prev = timesteps[i], timesteps[i + 1]: values of a list parameter
                for target, value in _assigned_pairs(node):
                    if (
                        isinstance(value, ast.Subscript)
                        and isinstance(value.value, ast.Name)
                        and value.value.id in self.params
                        and not isinstance(value.slice, (ast.Slice, ast.Tuple))
                    ):
                        self.index_like.add(target)
        self.index_like |= counters
        # value scalars: locals assigned from a subscript of a global, or arithmetic of scalars and constants
        self.scalars: list[str] = []
        known = set()
        for node in ast.walk(fn):
            if not isinstance(node, ast.Assign):
                continue
            for name, value in _assigned_pairs(node):
                if name in self.index_like or name in known:
                    continue
                if self._scalar(value, globals_, known):
                    known.add(name)
                    self.scalars.append(name)
        #: other locals (images, noise estimates): one may stand for a kin of it (eps_c for eps_u, x0 for x_t)
        assigned = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
        self.tensors = sorted(
            n
            for n in assigned
            if n not in self.scalars and n not in self.index_like and n not in self.params and n != "_"
        )
        #: timesteps and the like, each of which may stand for another (t for t'); loop counters are not among them
        self.index_names = sorted(self.index_like - counters)

    def same_kind(self, a: str, b: str) -> bool:
        """Whether one name may stand for the other: two timesteps, two alike parameters, two local tensors."""
        if a in self.index_like or b in self.index_like:
            return a in self.index_names and b in self.index_names
        if a in self.params and b in self.params:
            return alike(a, b)
        return a not in self.params and b not in self.params and a not in self.scalars and b not in self.scalars

    def _scalar(self, value, globals_, known) -> bool:
        if isinstance(value, ast.Subscript):
            return isinstance(value.value, ast.Name) and value.value.id in globals_
        if isinstance(value, ast.BinOp):
            return all(self._scalar_term(v, globals_, known) for v in (value.left, value.right))
        return False

    def _scalar_term(self, v, globals_, known) -> bool:
        if isinstance(v, ast.Constant) and isinstance(v.value, (int, float)):
            return True
        if isinstance(v, ast.Name):
            return v.id in known
        return self._scalar(v, globals_, known)


def _assigned_pairs(node: ast.Assign) -> list[tuple[str, ast.expr]]:
    """(name, value) of an assignment, element by element for ``a, b = x, y``."""
    pairs = []
    for target in node.targets:
        if isinstance(target, ast.Name):
            pairs.append((target.id, node.value))
        elif isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
            pairs += [(t.id, v) for t, v in zip(target.elts, node.value.elts) if isinstance(t, ast.Name)]
    return pairs


def alike(a: str, b: str) -> bool:
    """Names of the same kind of value: ``prompt_embeds_1`` and ``prompt_embeds_2``, ``prompt_embeds`` and
    ``uncond_prompt_embeds``, ``x_t`` and ``x0``."""
    ta, tb = set(a.rstrip("0123456789_").split("_")), set(b.rstrip("0123456789_").split("_"))
    return ta <= tb or tb <= ta


def kin(a: str, b: str) -> bool:
    """Locals of one family: the same first word, digits aside (``eps_c`` and ``eps_u``, ``eps`` and ``eps_1``,
    ``x0`` and ``x_t``)."""
    return a.split("_")[0].rstrip("0123456789") == b.split("_")[0].rstrip("0123456789")


def _parse(text: str) -> ast.expr:
    return ast.parse(text, mode="eval").body


def _plus(node: ast.expr, k: int) -> ast.expr:
    """``node + k`` written simply (``i + 1`` -> ``i``, ``t`` -> ``t - 1``)."""
    if isinstance(node, ast.BinOp) and isinstance(node.right, ast.Constant) and isinstance(node.right.value, int):
        if isinstance(node.op, (ast.Add, ast.Sub)):
            value = node.right.value if isinstance(node.op, ast.Add) else -node.right.value
            value += k
            if value == 0:
                return copy.deepcopy(node.left)
            op = ast.Add() if value > 0 else ast.Sub()
            return ast.BinOp(copy.deepcopy(node.left), op, ast.Constant(abs(value)))
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return ast.Constant(node.value + k)
    return ast.BinOp(copy.deepcopy(node), ast.Add() if k > 0 else ast.Sub(), ast.Constant(abs(k)))


def _name_edits(node, kinds: _Kinds, parent) -> list[ast.expr]:
    """Another name of the same kind, a scalar's square root or complement, a default, a similar parameter."""
    out: list[ast.expr] = []
    name = node.id
    if name in kinds.scalars:
        out += [ast.Name(o, ast.Load()) for o in kinds.scalars if o != name]
        if not (isinstance(parent, ast.Attribute) and parent.attr == "sqrt"):
            out.append(_parse(f"{name}.sqrt()"))
        out.append(_parse(f"(1 - {name})"))
    elif name in kinds.index_names:
        out += [ast.Name(o, ast.Load()) for o in kinds.index_names if o != name]
    elif name in kinds.tensors:
        out += [ast.Name(o, ast.Load()) for o in kinds.tensors if o != name and kin(name, o)]
    elif name in kinds.defaults:
        out.append(copy.deepcopy(kinds.defaults[name]))
    elif name in kinds.params and name not in kinds.index_like:
        out += [
            ast.Name(o, ast.Load())
            for o in kinds.params
            if o != name and o not in kinds.defaults and o not in kinds.index_like and alike(name, o)
        ]
    return out


def _call_edits(node, kinds: _Kinds, parent) -> list[ast.expr]:
    """A square root or clamp dropped, a range bound +-1, the call left out, two arguments swapped."""
    out: list[ast.expr] = []
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr == "sqrt" and not node.args:
        out.append(copy.deepcopy(func.value))  # x.sqrt() -> x
    elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.attr == "sqrt":
        out += [copy.deepcopy(a) for a in node.args[:1]]  # torch.sqrt(x) -> x
    elif isinstance(func, ast.Attribute) and func.attr in ("clamp", "clip") and not isinstance(func.value, ast.Name):
        out.append(copy.deepcopy(func.value))
    elif isinstance(func, ast.Name) and func.id == "range":
        for j, arg in enumerate(node.args[:2]):
            for k in (1, -1):
                edited = copy.deepcopy(node)
                edited.args[j] = _plus(arg, k)
                out.append(edited)
    else:
        ends = {id(a): a for a in (node.args[:1] + node.args[-1:])}.values()  # what a call usually transforms
        tensors = [
            a
            for a in ends
            if not isinstance(a, ast.Constant)
            and not (isinstance(a, ast.Name) and (a.id in kinds.index_like or a.id in kinds.defaults))
        ]
        out += [copy.deepcopy(a) for a in tensors]  # the call left out: its input instead
        for j in range(len(node.args) - 1):  # two neighbouring arguments of a kind swapped
            a, b = node.args[j], node.args[j + 1]
            if isinstance(a, ast.Name) and isinstance(b, ast.Name) and kinds.same_kind(a.id, b.id):
                edited = copy.deepcopy(node)
                edited.args[j], edited.args[j + 1] = edited.args[j + 1], edited.args[j]
                out.append(edited)
    return out


def _binop_edits(node, kinds: _Kinds, parent) -> list[ast.expr]:
    """An operator for its opposite, operands swapped, a factor or term left out, ** 0.5 dropped."""
    out: list[ast.expr] = []
    left, right, op = node.left, node.right, node.op
    swap = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult}
    if type(op) in swap and not (isinstance(op, ast.Mult) and _is_tensor(right, kinds)):
        out.append(ast.BinOp(copy.deepcopy(left), swap[type(op)](), copy.deepcopy(right)))
    if isinstance(op, ast.Sub) and not isinstance(left, ast.Constant) and not isinstance(right, ast.Constant):
        out.append(ast.BinOp(copy.deepcopy(right), ast.Sub(), copy.deepcopy(left)))
    if isinstance(op, (ast.Mult, ast.Div)):
        out.append(copy.deepcopy(left))  # a factor left out
        if isinstance(op, ast.Mult):
            out.append(copy.deepcopy(right))
    if isinstance(op, (ast.Add, ast.Sub)) and not isinstance(left, ast.Constant):
        out.append(copy.deepcopy(left))  # a term left out
        if isinstance(op, ast.Add):
            out.append(copy.deepcopy(right))
    if isinstance(op, ast.Pow) and isinstance(right, ast.Constant) and right.value == 0.5:
        out.append(copy.deepcopy(left))
    return out


def _unary_edits(node, kinds: _Kinds, parent) -> list[ast.expr]:
    """A dimension for its neighbour (-1 for -2), a minus sign dropped."""
    out: list[ast.expr] = []
    if isinstance(node.operand, ast.Constant) and isinstance(node.operand.value, int) and _in_dims(parent):
        out += [ast.Constant(-(node.operand.value + 1)), ast.Constant(-(node.operand.value - 1))]
    elif not isinstance(node.operand, ast.Constant):
        out.append(copy.deepcopy(node.operand))
    return out


def _subscript_edits(node, kinds: _Kinds, parent) -> list[ast.expr]:
    """A channel slice for the other half, an index one step early or late."""
    out: list[ast.expr] = []
    index = node.slice
    if isinstance(index, ast.Tuple):
        for j, part in enumerate(index.elts):
            if isinstance(part, ast.Slice) and (part.lower is None) != (part.upper is None):
                edited = copy.deepcopy(node)
                edited.slice.elts[j] = ast.Slice(part.upper, part.lower, None)  # :3 <-> 3:
                out.append(edited)
    elif not isinstance(index, ast.Slice) and _names_in(index) & kinds.index_like:
        for k in (1, -1):
            edited = copy.deepcopy(node)
            edited.slice = _plus(index, k)
            out.append(edited)
    return out


def _expression_edits(node: ast.expr, kinds: _Kinds, parent) -> list[ast.expr]:
    """Replacements of one expression node (each a single edit)."""
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
        return _name_edits(node, kinds, parent)
    if isinstance(node, ast.Call):
        return _call_edits(node, kinds, parent)
    if isinstance(node, ast.BinOp):
        return _binop_edits(node, kinds, parent)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return _unary_edits(node, kinds, parent)
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
        return _subscript_edits(node, kinds, parent)
    return []


def _is_tensor(node, kinds: _Kinds) -> bool:
    """An expression of images or noise estimates (locals or parameters that are neither scalars nor indices):
    nobody divides by one where the reference multiplies."""
    live = set(kinds.tensors) | {p for p in kinds.params if p not in kinds.defaults and p not in kinds.index_like}
    return bool(_names_in(node) & live)


def _in_dims(parent) -> bool:
    return isinstance(parent, (ast.List, ast.Tuple, ast.keyword))
