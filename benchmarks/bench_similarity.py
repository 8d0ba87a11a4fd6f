"""Print how long ``grader similarity`` takes on a course-sized folder.

    python benchmarks/bench_similarity.py [--notebooks 300] [-j 1] [--seed 0]

Writes N proj5a notebooks to a temporary folder: each part filled by one of the similarity corpus's
authors (tests/corpus/similarity/make_corpus.py), chosen at random and rewritten in a student's own way
(operands swapped, powers for roots, a few lines added, local names renamed), and one in twenty a disguised
copy of another. Then runs the report as the command does, and prints the seconds
spent reading the notebooks, comparing every pair, and writing the report, with the number of pairs
compared and flagged, and the CPU time used. Needs the ``similarity`` extra. The machine may be shared:
quote the figures with its load average (printed); on a busy machine the CPU time is the fairer figure.
"""

from __future__ import annotations

import argparse
import ast
import os
import random
import re
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "corpus" / "similarity"))

import make_corpus  # noqa: E402
import nbformat  # noqa: E402

from grader.similarity import THRESHOLD  # noqa: E402
from grader.similarity.command import run  # noqa: E402

AUTHORS = [make_corpus.ALICE, make_corpus.BOB, make_corpus.MALLORY, {**make_corpus.ALICE, **make_corpus.FA23}]
LOCALS = ["x", "t", "noise_est", "var_est", "a_bar", "cur", "img", "e", "v", "ab", "k", "i", "j"]


class _Rewrite(ast.NodeTransformer):
    """One student's own way of writing the same formulas: operands of + and * swapped at random, powers for
    square roots, and now and then a line of their own."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def visit_BinOp(self, node):
        self.generic_visit(node)
        if isinstance(node.op, (ast.Add, ast.Mult)) and self.rng.random() < 0.5:
            node.left, node.right = node.right, node.left
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        if ast.unparse(node.func) == "torch.sqrt" and len(node.args) == 1 and self.rng.random() < 0.5:
            return ast.BinOp(left=node.args[0], op=ast.Pow(), right=ast.Constant(0.5))
        return node

    def visit_FunctionDef(self, node):
        self.generic_visit(node)
        for _ in range(self.rng.randint(0, 2)):
            arg = self.rng.choice(node.args.args).arg
            line = self.rng.choice([f"assert {arg} is not None", f"{arg} = {arg}", f"_ = type({arg})"])
            node.body.insert(self.rng.randint(0, len(node.body) - 1), ast.parse(line).body[0])
        return node


def own_version(code: str, rng: random.Random) -> str:
    """``code`` as another student might have written it (see _Rewrite), local names renamed."""
    code = ast.unparse(ast.fix_missing_locations(_Rewrite(rng).visit(ast.parse(code))))
    return disguise(code, rng)


def disguise(code: str, rng: random.Random) -> str:
    """Local names renamed (the whole word), a comment added: what a copier does."""
    for name in rng.sample(LOCALS, 4):
        code = re.sub(rf"\b{name}\b", f"{name}_{rng.randint(0, 99)}", code)
    return code.replace(":\n", ":  # step\n", 1)


def make_folder(folder: Path, n: int, rng: random.Random) -> None:
    keys = list(make_corpus.ALICE)
    written = []
    for i in range(n):
        if written and rng.random() < 0.05:
            blocks = {k: disguise(v, rng) for k, v in rng.choice(written).items()}
        else:
            blocks = {k: own_version(rng.choice(AUTHORS).get(k, make_corpus.ALICE[k]), rng) for k in keys}
        written.append(blocks)
        nbformat.write(make_corpus.filled(blocks), str(folder / f"student_{i:03d}.ipynb"))


def _cpu() -> float:
    """CPU seconds of this process and its finished children (user + system)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--notebooks", type=int, default=300)
    p.add_argument("-j", "--jobs", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-similarity-") as tmp:
        folder, out = Path(tmp) / "subs", Path(tmp) / "out"
        folder.mkdir()
        make_folder(folder, args.notebooks, random.Random(args.seed))
        notebooks = [(p, p.stem) for p in sorted(folder.glob("*.ipynb"))]
        t0, c0 = time.perf_counter(), _cpu()
        outcome = run(notebooks, "proj5a", out, jobs=args.jobs)
        total, cpu = time.perf_counter() - t0, _cpu() - c0
    n = len(notebooks)
    flagged = sum(m.score >= THRESHOLD for m in outcome.matches)
    print(
        f"notebooks: {n}   pairs compared: {n * (n - 1) // 2}   pairs listed: {len(outcome.matches)}   flagged: {flagged}"
    )
    print(
        "   ".join(f"{k}: {v:.1f} s" for k, v in outcome.seconds.items()) + f"   total: {total:.1f} s (-j {args.jobs})"
    )
    print(
        f"CPU time: {cpu:.1f} s (this process and its workers together: about the wall time on one idle core, less with -j N on N idle cores)"
    )
    print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
