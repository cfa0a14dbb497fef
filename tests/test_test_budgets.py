"""scripts/test_budgets.py: where every seed's curve stays above a test's threshold."""

import importlib.util
import re
import sys
from pathlib import Path

import pytest

_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "test_budgets.py"
_SPEC = importlib.util.spec_from_file_location("budgets_script", _SCRIPT)
test_budgets = importlib.util.module_from_spec(_SPEC)  # loaded without touching sys.path
sys.modules["budgets_script"] = test_budgets  # its dataclass looks its module up there
_SPEC.loader.exec_module(test_budgets)


def test_the_budget_point_is_where_the_last_seed_crosses_for_good():
    steps = [500, 1000, 1500, 2000]
    curves = {0: (steps, [-900, -300, -200, -150]),
              1: (steps, [-300, -900, -250, -120])}  # above at 500, then a dip
    assert test_budgets.stays_above(curves, -400) == 1500
    assert test_budgets.stays_above(curves, -250) == 1500  # at the threshold counts
    assert test_budgets.stays_above(curves, -100) is None


def test_every_case_names_a_preset_that_loads():
    from robovision.config import load_config

    for name, case in test_budgets.CASES.items():
        cfg = load_config(case.preset, list(case.overrides))
        assert cfg.algo and case.steps > 0, name


def test_every_case_carries_the_budget_and_overrides_its_test_trains_with():
    """A case whose budget drifted from its test's would print a stale "test budget
    today" and train the wrong length by default; one without the test's overrides (a
    smaller network, say) would draw the curves of another configuration."""
    tests = Path(__file__).resolve().parent
    blocks = [(path, block) for path in sorted(tests.glob("test_*.py"))
              if path.name != Path(__file__).name
              for block in re.split(r"\n(?=@pytest|def )", path.read_text())]
    for name, case in test_budgets.CASES.items():
        as_parameter = re.compile(rf'"{case.preset}",\s*{case.steps}\b')
        as_override = re.compile(rf"total_steps={case.steps}\b")
        files = {path for path, block in blocks
                 if as_parameter.search(block) or (f'"{case.preset}"' in block
                                                   and as_override.search(block))}
        assert files, f"{name}: no test trains {case.preset} {case.steps} steps"
        for override in case.overrides:
            if not override.startswith("env.num_envs="):  # a parameter of the pendulum test
                assert any(f'"{override}"' in path.read_text() for path in files), \
                    f"{name}: its test does not set {override}"


def test_a_shorter_run_keeps_the_case_but_its_budget(monkeypatch, capsys):
    calls = []

    def fake_curve(case, seed, every, episodes, run_dir):
        calls.append((case.steps, seed, every, episodes))
        return [every, 2 * every], [case.threshold - 1, case.threshold]
    monkeypatch.setattr(test_budgets, "curve", fake_curve)
    test_budgets.main(["pendulum_sac", "--seeds", "3", "4", "--every", "250", "--steps", "900"])
    assert calls == [(900, 3, 250, 10), (900, 4, 250, 10)]
    out = capsys.readouterr().out
    assert "seed 3" in out and "stays >= -400 from step 500" in out
    budget = test_budgets.CASES["pendulum_sac"].steps
    assert budget != 900 and f"test budget today: {budget})" in out  # not the short run's
    with pytest.raises(SystemExit):
        test_budgets.main(["no_such_case"])


def test_extra_overrides_go_on_top_of_the_case(monkeypatch, capsys):
    seen = []

    def fake_curve(case, seed, every, episodes, run_dir):
        seen.append(case.overrides)
        return [every], [case.threshold]
    monkeypatch.setattr(test_budgets, "curve", fake_curve)
    test_budgets.main(["landmark2d_td3", "--seeds", "0", "--set", "train.batch_size=32",
                       "agent.gamma=0.9"])
    base = test_budgets.CASES["landmark2d_td3"].overrides
    assert seen == [(*base, "train.batch_size=32", "agent.gamma=0.9")]
