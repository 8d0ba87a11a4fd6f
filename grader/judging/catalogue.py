"""Known readings and mistakes, as edits of the reference solution.

Each :class:`Variant` rewrites one function of the reference notebook (textual
replacements in its source, checked to apply). ``grader fixtures build`` runs
every variant's probes and stores the outputs beside the reference's; a check
then accepts a submission that matches the reference or an *accepted* reading,
and names the *mistake* whose output a failing submission matches.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Variant:
    api: str  # the graded name whose checks this variant concerns
    id: str  # short stable identifier, e.g. "cfg-reversed"
    message: str  # what the student reads when their output matches this variant
    edits: tuple = field(default_factory=tuple)  # ((function, old, new), ...)
    accepted: bool = False  # an allowed reading of the spec rather than a mistake
    parts: tuple = ()  # for a pair of mistakes: the ids of the two single mistakes it combines


#: Says that a message names two mistakes at once (see :func:`pairs`).
PAIR_PREFIX = "two mistakes together: "


def pairs(variants: list[Variant]) -> list[Variant]:
    """Every pair of known mistakes of the same graded name, as one variant that makes both edits.

    A submission that matches no single mistake may still match two of them made together; the
    fixture builder runs each pair whose edits apply one after the other (and keeps those whose
    outputs differ from the reference and from either mistake alone), and the judge names both.
    """
    out = []
    mistakes = [v for v in variants if not v.accepted and not v.parts]
    for i, a in enumerate(mistakes):
        for b in mistakes[i + 1 :]:
            if a.api == b.api:
                out.append(
                    Variant(
                        a.api,
                        f"{a.id}+{b.id}",
                        f"{PAIR_PREFIX}{a.message}; and {b.message}",
                        a.edits + b.edits,
                        parts=(a.id, b.id),
                    )
                )
    return out


def with_pairs(variants: list[Variant]) -> list[Variant]:
    """The catalogue followed by its pairs of mistakes (singles first: a single mistake is named first)."""
    return list(variants) + pairs(variants)


def apply_edits(chunks: list[dict], variant: Variant) -> str:
    """Source that, executed after the reference's chunks, turns it into the variant."""
    by_name: dict[str, str] = {}
    for chunk in chunks:
        if chunk["kind"] != "def" and chunk["kind"] != "stmt":
            continue
        try:
            tree = ast.parse(chunk["source"])
        except SyntaxError:
            continue
        for node in tree.body:
            name = getattr(node, "name", None)
            if name is None and isinstance(node, ast.Assign):
                name = next((t.id for t in node.targets if isinstance(t, ast.Name)), None)
            if name:
                by_name[name] = chunk["source"]
    patched: dict[str, str] = {}
    for func, old, new in variant.edits:
        source = patched.get(func, by_name.get(func))
        if source is None:
            raise KeyError(f"variant {variant.id}: the reference defines no {func}")
        if old not in source:
            raise ValueError(f"variant {variant.id}: {old!r} not found in the reference {func}")
        patched[func] = source.replace(old, new)
    return "\n\n".join(patched.values())
