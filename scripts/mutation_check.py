"""Mutation check: does the suite notice when a module's arithmetic or logic changes?

Each mutant changes one place in the module (``+`` to ``-``, ``<`` to ``<=``, ``min`` to
``max``, a constant ``c`` to ``c + 1``, ``and`` to ``or``, a unary minus dropped, ...),
then the given tests run against it. A mutant no test fails on ("survived") marks
logic the tests do not pin down: either a missing assertion or code that does not
matter. The module is mutated in a copy of the checkout, never in place.

    python scripts/mutation_check.py robovision/agents/losses.py tests/test_losses.py
    python scripts/mutation_check.py robovision/replay/buffer.py --lines 120-220 \\
        --timeout 120 -- tests/test_replay.py tests/test_pixels.py -k replay

Pytest options (``-k``) go after ``--``.

Prints one line per mutant (line:column, change, killed or survived) and a summary.
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BINARY = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
          ast.FloorDiv: ast.Mult, ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult}
COMPARE = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
           ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
           ast.In: ast.NotIn, ast.NotIn: ast.In}
SWAPPED_NAMES = {"min": "max", "max": "min", "minimum": "maximum", "maximum": "minimum",
                 "amin": "amax", "amax": "amin", "clamp_min": "clamp_max",
                 "clamp_max": "clamp_min", "any": "all", "all": "any"}


def _symbol(op: ast.AST) -> str:
    return {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
            ast.Mod: "%", ast.Pow: "**", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
            ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.Is: "is", ast.IsNot: "is not",
            ast.In: "in", ast.NotIn: "not in", ast.And: "and", ast.Or: "or"}[type(op)]


def _changes(node: ast.AST) -> Iterator[tuple[str, ast.AST]]:
    """(description, mutated copy of ``node``) for each mutation of this node alone."""
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        new = copy.copy(node)
        new.op = BINARY[type(node.op)]()
        yield f"{_symbol(node.op)} -> {_symbol(new.op)}", new
    elif isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in COMPARE:
        new = copy.copy(node)
        new.ops = [COMPARE[type(node.ops[0])]()]
        yield f"{_symbol(node.ops[0])} -> {_symbol(new.ops[0])}", new
    elif isinstance(node, ast.BoolOp):
        new = copy.copy(node)
        new.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        yield f"{_symbol(node.op)} -> {_symbol(new.op)}", new
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.Not):
        yield f"drop unary {'-' if isinstance(node.op, ast.USub) else 'not'}", node.operand
    elif (isinstance(node, ast.Constant) and type(node.value) in (int, float)
          and not isinstance(node.value, bool)):
        yield f"{node.value!r} -> {node.value + 1!r}", ast.Constant(node.value + 1)
    elif isinstance(node, ast.Constant) and isinstance(node.value, bool):
        yield f"{node.value} -> {not node.value}", ast.Constant(not node.value)
    elif isinstance(node, ast.Name) and node.id in SWAPPED_NAMES:
        yield f"{node.id} -> {SWAPPED_NAMES[node.id]}", ast.Name(SWAPPED_NAMES[node.id],
                                                                 node.ctx)
    elif isinstance(node, ast.Attribute) and node.attr in SWAPPED_NAMES:
        new = copy.copy(node)
        new.attr = SWAPPED_NAMES[node.attr]
        yield f".{node.attr} -> .{new.attr}", new


def _in_docstring_or_annotation(tree: ast.Module) -> set[int]:
    """ids of the nodes of docstrings and type annotations: changing them tests nothing."""
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) and isinstance(
                body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            skip.add(id(body[0].value))
        for annotation in [getattr(node, "annotation", None), getattr(node, "returns", None)]:
            if annotation is not None:
                skip.update(id(n) for n in ast.walk(annotation))
    return skip


def mutants(source: str, lines: range | None) -> Iterator[tuple[str, str, str]]:
    """("line:column", description, mutated source) for every mutation site of ``source``."""
    tree = ast.parse(source)
    skip = _in_docstring_or_annotation(tree)
    sites = [n for n in ast.walk(tree) if id(n) not in skip and hasattr(n, "lineno")]
    for node in sorted(sites, key=lambda n: (n.lineno, n.col_offset)):
        if lines is not None and node.lineno not in lines:
            continue
        for description, replacement in _changes(node):
            mutated = _replace(tree, node, replacement)
            if mutated is not None:
                yield f"{node.lineno}:{node.col_offset + 1}", description, mutated


def _replace(tree: ast.Module, target: ast.AST, replacement: ast.AST) -> str | None:
    """The source of ``tree`` with ``target`` replaced; ``tree`` itself is left as it is
    (its copy is walked in the same order, so the target is found by position)."""
    position = next(i for i, n in enumerate(ast.walk(tree)) if n is target)
    mutated = copy.deepcopy(tree)
    copied_target = next(n for i, n in enumerate(ast.walk(mutated)) if i == position)

    class Swap(ast.NodeTransformer):
        def visit(self, node: ast.AST) -> ast.AST:
            if node is copied_target:
                return ast.copy_location(replacement, node)
            return self.generic_visit(node)

    try:
        return ast.unparse(ast.fix_missing_locations(Swap().visit(mutated)))
    except (ValueError, TypeError, AttributeError):
        return None


def run_tests(checkout: Path, tests: list[str], timeout: float) -> bool:
    """Whether the tests fail (the mutant is killed)."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    try:
        done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p",
                               "no:cacheprovider", *tests], cwd=checkout, env=env,
                              capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return True  # a mutant that hangs is noticed
    return done.returncode != 0


MOUNTED = {"envs": "robovision/envs", "configs": "robovision/configs"}
"""Folders installed under another name (setup.py): linked there in the copy, so the
copy's ``robovision.envs`` is its own ``envs/``, not the editable install's."""


def copy_checkout(checkout: Path) -> None:
    shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns(
        ".venv", ".git", "runs", "*.egg-info", "__pycache__", ".gpu"))
    for folder, name in MOUNTED.items():
        (checkout / name).symlink_to(checkout / folder, target_is_directory=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("module", help="path of the module to mutate, from the checkout")
    parser.add_argument("tests", nargs="+",
                        help="pytest arguments that should notice (after --, if any is an "
                             "option)")
    parser.add_argument("--lines", default="", help="only mutate these lines: START-END")
    parser.add_argument("--timeout", type=float, default=300, help="s per mutant's tests")
    args = parser.parse_args()
    lines = None
    if args.lines:
        start, end = (int(x) for x in args.lines.split("-"))
        lines = range(start, end + 1)
    with tempfile.TemporaryDirectory(prefix="mutation-") as folder:
        checkout = Path(folder) / "checkout"
        copy_checkout(checkout)
        target = checkout / args.module
        original = target.read_text()
        if run_tests(checkout, args.tests, args.timeout):
            sys.exit("the tests fail on the unmutated code: fix them first")
        target.write_text(f"raise ImportError('mutation check')\n{original}")
        if not run_tests(checkout, args.tests, args.timeout):
            sys.exit(f"the tests pass with {args.module} unimportable: they never load it "
                     "(from this copy)")
        survivors, total, started = [], 0, time.monotonic()
        for where, description, source in mutants(original, lines):
            total += 1
            target.write_text(source)
            killed = run_tests(checkout, args.tests, args.timeout)
            print(f"{args.module}:{where}: {description}: "
                  f"{'killed' if killed else 'SURVIVED'}", flush=True)
            if not killed:
                survivors.append((where, description))
        target.write_text(original)
    print(f"{total - len(survivors)} of {total} mutants killed, {len(survivors)} survived "
          f"({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    main()
