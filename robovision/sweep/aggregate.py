"""Aggregates over seeds and tasks as rliable computes them: one PNG and one CSV per sweep.

Per task and variant: the interquartile mean (IQM) of the evaluation return over
seeds at every evaluation, and of the final return, each with a stratified bootstrap
95 % confidence interval (Agarwal et al., 2021). Over tasks, when a sweep has
several: the IQM of final returns min-max normalised per task over the sweep's runs
(0 = the worst run on that task, 1 = the best), and performance profiles (the
fraction of runs above each normalised score). The x axis counts what the runs
count: environment frames for runs with ``train.unit=frames``, agent steps
otherwise.

The CSV is long-format: ``kind, task, variant, unit, x, runs, iqm, ci_low, ci_high``
with ``kind`` one of ``curve`` (x: the evaluation's steps or frames), ``final``,
``final_normalised`` (task ``all``) and ``profile`` (x: the normalised score tau,
``iqm``: the fraction of runs above it).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from robovision.logging import EVAL_KEY, read_metrics, seed_dirs

CSV_FIELDS = ("kind", "task", "variant", "unit", "x", "runs", "iqm", "ci_low", "ci_high")


@dataclass
class Runs:
    """The seeds of one variant on one task: their evaluation curves."""

    task: str
    variant: str
    unit: str
    curves: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    """Per seed, ``(x, values)``."""

    def aligned(self) -> tuple[np.ndarray, np.ndarray]:
        """The x values every seed evaluated at, and the ``(seeds, len(x))`` scores there."""
        common = self.curves[0][0]
        for x, _ in self.curves[1:]:
            common = np.intersect1d(common, x)
        scores = np.stack([v[np.searchsorted(x, common)] for x, v in self.curves])
        return common, scores


def _read_run(run_dir: Path, metric: str) -> tuple[str, str, np.ndarray, np.ndarray] | None:
    """``(task, unit, x, values)`` of one run, or None when it has no evaluation yet."""
    series = read_metrics(run_dir).get(metric) if (run_dir / "metrics.csv").exists() else None
    if series is None or not len(series[0]):
        return None
    config = yaml.safe_load((run_dir / "config.yaml").read_text()) or {}
    unit = (config.get("train") or {}).get("unit", "steps")
    task = (config.get("env") or {}).get("spec", "?")
    steps, frames, values = series
    x = frames if unit == "frames" else steps
    last = {int(xi): float(vi) for xi, vi in zip(x, values, strict=True)}  # a resume may
    xs = np.array(sorted(last))                                             # repeat a point
    return task, unit, xs, np.array([last[k] for k in xs])


def collect(dirs: list[Path], metric: str = EVAL_KEY) -> list[Runs]:
    """The runs of sweep directories (``trials.yaml``), multi-seed run directories
    (``seed_<n>``) or single runs, grouped by task and variant."""
    groups: dict[tuple[str, str], Runs] = {}
    for folder in map(Path, dirs):
        trials_file = folder / "trials.yaml"
        if trials_file.exists():
            members = [(folder / t["name"], t.get("variant") or t["group"])
                       for t in yaml.safe_load(trials_file.read_text())]
        else:
            members = [(sub, folder.name) for sub in seed_dirs(folder)]
        for run_dir, variant in members:
            read = _read_run(run_dir, metric)
            if read is None:
                continue
            task, unit, x, values = read
            runs = groups.setdefault((task, variant), Runs(task, variant, unit))
            runs.curves.append((x, values))
    return list(groups.values())


CONFIDENCE = 0.95
BLOCK = 4_000_000
"""Most values one block of bootstrap resamples holds (32 MB of float64)."""


def interquartile_mean(scores: np.ndarray, axis: tuple[int, ...] | int) -> np.ndarray:
    """Interquartile mean over ``axis``: the mean of the middle half of the values once
    ``int(n / 4)`` are cut from each end (``scipy.stats.trim_mean(.., 0.25)``, rliable's
    ``aggregate_iqm``)."""
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    rest = [a for a in range(scores.ndim) if a not in axes]
    flat = np.transpose(scores, [*axes, *rest]).reshape(-1, *[scores.shape[a] for a in rest])
    cut = int(0.25 * flat.shape[0])
    return np.sort(flat, axis=0)[cut:flat.shape[0] - cut].mean(axis=0)


def bootstrap(matrix: np.ndarray, statistic: Callable[[np.ndarray], np.ndarray], reps: int,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``statistic`` of ``matrix`` (runs, tasks, ...) and its stratified bootstrap 95 %
    percentile interval ``(point[k], ci[2, k])`` (Agarwal et al., 2021; rliable's
    ``get_interval_estimates``): each resample draws runs with replacement separately
    in every other cell, so tasks are never mixed. ``statistic`` maps ``(reps, runs,
    tasks, ...)`` to ``(reps, k)``; all resamples are computed at once, in blocks of
    at most :data:`BLOCK` values."""
    rng = np.random.default_rng(seed)
    point = statistic(matrix[None])[0]
    per_block = max(1, BLOCK // matrix.size)
    stats = []
    for start in range(0, reps, per_block):
        n = min(per_block, reps - start)
        runs = rng.integers(0, matrix.shape[0], size=(n, *matrix.shape))
        stats.append(statistic(np.take_along_axis(matrix[None], runs, axis=1)))
    tail = 100 * (1 - CONFIDENCE) / 2
    return point, np.percentile(np.concatenate(stats), [tail, 100 - tail], axis=0)


def _iqm_ci(matrix: np.ndarray, reps: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """IQM over runs (axis 0) and tasks (axis 1) for each column of axis 2, with its
    stratified bootstrap 95 % interval: ``(iqm[k], ci[2, k])``."""
    return bootstrap(matrix, lambda m: interquartile_mean(m, axis=(1, 2)), reps, seed)


def _profile_ci(matrix: np.ndarray, taus: np.ndarray, reps: int, seed: int = 0
                ) -> tuple[np.ndarray, np.ndarray]:
    """Performance profile of a ``(runs, tasks)`` matrix: the fraction of its scores
    above each ``tau`` (rliable's score distribution), with its 95 % interval."""
    def above(m: np.ndarray) -> np.ndarray:
        return (m[..., None] > taus).mean(axis=(1, 2))

    return bootstrap(matrix, above, reps, seed)


def aggregate(groups: list[Runs], reps: int = 2000) -> list[dict]:
    """The rows of the aggregate CSV (see the module docstring)."""
    rows: list[dict] = []
    for runs in groups:
        x, scores = runs.aligned()
        iqm, ci = _iqm_ci(scores[:, None, :], reps)
        base = {"task": runs.task, "variant": runs.variant, "unit": runs.unit,
                "runs": len(scores)}
        rows += [base | {"kind": "curve", "x": int(xi), "iqm": m, "ci_low": lo, "ci_high": hi}
                 for xi, m, lo, hi in zip(x, iqm, ci[0], ci[1], strict=True)]
        rows.append(base | {"kind": "final", "x": int(x[-1]), "iqm": iqm[-1],
                            "ci_low": ci[0, -1], "ci_high": ci[1, -1]})
    tasks = sorted({r.task for r in groups})
    if len(tasks) > 1:
        rows += _over_tasks(groups, tasks, reps)
    return rows


def normalised_finals(groups: list[Runs], tasks: list[str]) -> dict[str, np.ndarray]:
    """Per variant present on every task: a ``(runs, tasks)`` matrix of final scores,
    min-max normalised per task over all of that task's runs (seeds beyond the
    smallest count on any task are left out: the bootstrap needs a full matrix)."""
    finals = {(r.task, r.variant): r.aligned()[1][:, -1] for r in groups}
    low = {t: min(v.min() for (task, _), v in finals.items() if task == t) for t in tasks}
    high = {t: max(v.max() for (task, _), v in finals.items() if task == t) for t in tasks}
    by_variant: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    for (task, variant), values in finals.items():
        span = high[task] - low[task]
        by_variant[variant][task] = (values - low[task]) / span if span > 0 else values * 0.0
    out = {}
    for variant, per_task in by_variant.items():
        if set(per_task) == set(tasks):
            n = min(len(v) for v in per_task.values())
            out[variant] = np.stack([per_task[t][:n] for t in tasks], axis=1)
    return out


def _over_tasks(groups: list[Runs], tasks: list[str], reps: int) -> list[dict]:
    rows = []
    matrices = normalised_finals(groups, tasks)
    taus = np.linspace(0.0, 1.0, 21)
    for variant, matrix in matrices.items():
        unit = next(r.unit for r in groups if r.variant == variant)
        base = {"task": "all", "variant": variant, "unit": unit, "runs": matrix.shape[0]}
        iqm, ci = _iqm_ci(matrix[..., None], reps)
        rows.append(base | {"kind": "final_normalised", "x": 0, "iqm": iqm[0],
                            "ci_low": ci[0, 0], "ci_high": ci[1, 0]})
        profile, profile_ci = _profile_ci(matrix, taus, reps)
        rows += [base | {"kind": "profile", "x": float(t), "iqm": p, "ci_low": lo, "ci_high": hi}
                 for t, p, lo, hi in zip(taus, profile, profile_ci[0], profile_ci[1],
                                         strict=True)]
    return rows


def write_csv(rows: list[dict], path: Path) -> Path:
    with Path(path).open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows({k: f"{v:.6g}" if isinstance(v, float) else v for k, v in r.items()}
                         for r in rows)
    return Path(path)


def plot(rows: list[dict], path: Path, metric: str = EVAL_KEY) -> Path:
    """Curves per task, final IQMs with their intervals, and performance profiles when
    there are several tasks, in one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({r["task"] for r in rows if r["kind"] == "curve"})
    profiles = [r for r in rows if r["kind"] == "profile"]
    panels = len(tasks) + 1 + bool(profiles)
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels, 4.0), squeeze=False)
    axes = axes[0]
    variants = sorted({r["variant"] for r in rows})
    colour = {v: plt.cm.tab10(i % 10) for i, v in enumerate(variants)}
    for ax, task in zip(axes, tasks, strict=False):
        for variant in variants:
            pts = [r for r in rows if r["kind"] == "curve" and r["task"] == task
                   and r["variant"] == variant]
            if not pts:
                continue
            x = [r["x"] for r in pts]
            ax.plot(x, [r["iqm"] for r in pts], color=colour[variant],
                    label=f"{variant} ({pts[0]['runs']})")
            ax.fill_between(x, [r["ci_low"] for r in pts], [r["ci_high"] for r in pts],
                            color=colour[variant], alpha=0.2)
            unit = pts[0]["unit"]
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("environment frames" if unit == "frames" else "agent steps")
        ax.set_ylabel(f"IQM {metric} (95% CI)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    _final_panel(axes[len(tasks)], rows, variants, colour)
    if profiles:
        ax = axes[-1]
        for variant in variants:
            pts = [r for r in profiles if r["variant"] == variant]
            if pts:
                ax.plot([r["x"] for r in pts], [r["iqm"] for r in pts], color=colour[variant],
                        label=variant)
                ax.fill_between([r["x"] for r in pts], [r["ci_low"] for r in pts],
                                [r["ci_high"] for r in pts], color=colour[variant], alpha=0.2)
        ax.set_title("performance profile over tasks", fontsize=9)
        ax.set_xlabel("normalised score tau")
        ax.set_ylabel("fraction of runs with score > tau")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return Path(path)


def _final_panel(ax, rows: list[dict], variants: list[str], colour: dict) -> None:
    finals = [r for r in rows if r["kind"] in ("final", "final_normalised")]
    labels = []
    for i, r in enumerate(finals):
        ax.errorbar(r["iqm"], i, xerr=[[r["iqm"] - r["ci_low"]], [r["ci_high"] - r["iqm"]]],
                    fmt="o", color=colour[r["variant"]], capsize=3)
        task = "all tasks (normalised)" if r["kind"] == "final_normalised" else r["task"]
        labels.append(f"{r['variant']} | {task}")
    ax.set_yticks(range(len(finals)), labels, fontsize=7)
    ax.set_title("final IQM (95% CI)", fontsize=9)
    ax.grid(alpha=0.3, axis="x")


def aggregate_dirs(dirs: list[Path], out_png: Path, metric: str = EVAL_KEY,
                   reps: int = 2000) -> tuple[Path, Path]:
    """Aggregate runs under ``dirs`` into ``out_png`` and a CSV beside it."""
    groups = collect(dirs, metric)
    if not groups:
        raise FileNotFoundError(f"no run under {', '.join(map(str, dirs))} has logged "
                                f"{metric} yet")
    rows = aggregate(groups, reps)
    out_png = Path(out_png)
    return plot(rows, out_png, metric), write_csv(rows, out_png.with_suffix(".csv"))
