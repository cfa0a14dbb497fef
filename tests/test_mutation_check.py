"""scripts/mutation_check.py: the changes it makes, one place at a time."""

import ast
import importlib.util
from pathlib import Path

_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "mutation_check.py"
_SPEC = importlib.util.spec_from_file_location("mutation_check", _SCRIPT)
mutation_check = importlib.util.module_from_spec(_SPEC)  # loaded without touching sys.path
_SPEC.loader.exec_module(mutation_check)

SOURCE = '''
def f(a: int, b: float = 1.5) -> bool:
    """Doc 7."""
    return min(a + 1, b) < 2 and not a
'''


def test_each_mutant_changes_one_place_and_leaves_docstrings_and_annotations():
    found = list(mutation_check.mutants(SOURCE, None))
    changes = [description for _, description, _ in found]
    assert changes == ["1.5 -> 2.5", "and -> or", "< -> <=", "min -> max", "+ -> -",
                       "1 -> 2", "2 -> 3", "drop unary not"]
    original = ast.unparse(ast.parse(SOURCE))
    for _, description, source in found:
        assert source != original, description
        ast.parse(source)  # still Python
        differing = [a for a, b in zip(original.splitlines(), source.splitlines(),
                                       strict=True) if a != b]
        assert len(differing) == 1, description
    assert found[3][0] == "4:12" and "return max(a + 1, b) < 2" in found[3][2]
    in_lines = [description for _, description, _ in mutation_check.mutants(SOURCE, range(1, 3))]
    assert in_lines == ["1.5 -> 2.5"]  # --lines 1-2: the signature only


def test_the_copy_imports_its_own_envs_and_configs(tmp_path):
    """``envs/`` and ``configs/`` install as ``robovision.envs`` / ``robovision.configs``;
    a mutant of ``envs/...`` must be what the copy's tests import, not the install's."""
    import subprocess
    import sys

    checkout = tmp_path / "checkout"
    mutation_check.copy_checkout(checkout)
    probe = ("import robovision.envs.vision.geometry as g, robovision.configs as c; "
             "print(g.__file__); print(c.__file__)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=checkout, capture_output=True,
                          text=True, env={"PYTHONPATH": str(checkout), "PATH": ""}, check=True)
    for path in done.stdout.split():
        assert Path(path).resolve().is_relative_to(checkout.resolve()), path
