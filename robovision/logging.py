"""Run output: progress bar, metrics CSV, TensorBoard, videos and learning-curve plots.

``metrics.csv`` is long-format (``step, frames, wall_time, name, value``) so any
set of metrics can be appended, and a resumed run rewrites nothing but the
rows logged after its checkpoint.
"""

from __future__ import annotations

import csv
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

CSV_FIELDS = ("step", "frames", "wall_time", "name", "value")
EVAL_KEY = "eval/return_mean"


class RunLogger:
    def __init__(self, run_dir: Path, start_step: int, total_steps: int, progress: bool = True,
                 tensorboard: bool = True, frames_per_step: int = 1) -> None:
        """``frames_per_step > 1`` makes the progress bar count environment frames."""
        self.run_dir = Path(run_dir)
        self.csv_path = self.run_dir / "metrics.csv"
        _truncate_csv(self.csv_path, start_step)
        new = not self.csv_path.exists()
        self._csv_file = self.csv_path.open("a", newline="")
        self._csv = csv.writer(self._csv_file)
        if new:
            self._csv.writerow(CSV_FIELDS)
        self._tb = None
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(self.run_dir / "tb"), purge_step=start_step or None)
        self._start = time.time()
        self._bar = None
        if progress:
            from tqdm import tqdm

            self._bar = tqdm(total=total_steps * frames_per_step,
                             initial=start_step * frames_per_step,
                             unit="frame" if frames_per_step > 1 else "step",
                             dynamic_ncols=True, smoothing=0.05)
        self._scale = frames_per_step
        self._last_step = start_step
        self._postfix: dict[str, str] = {}

    def log(self, step: int, frames: int, metrics: dict[str, float]) -> None:
        wall = round(time.time() - self._start, 2)
        for name, value in metrics.items():
            self._csv.writerow((step, frames, wall, name, f"{float(value):.6g}"))
            if self._tb is not None:
                self._tb.add_scalar(name, float(value), step)
        self._csv_file.flush()
        if EVAL_KEY in metrics:
            self._postfix["eval"] = f"{metrics[EVAL_KEY]:.1f}"
        if "train/episode_return" in metrics:
            self._postfix["ep"] = f"{metrics['train/episode_return']:.1f}"
        if self._bar is not None:
            self._bar.set_postfix(self._postfix, refresh=False)

    def advance(self, step: int, frames: int | None = None) -> None:
        if self._bar is not None and step > self._last_step:
            if frames is not None and frames != step and self._scale == 1:
                self._postfix["frames"] = str(frames)
            self._bar.set_postfix(self._postfix, refresh=False)
            self._bar.update((step - self._last_step) * self._scale)
        self._last_step = step

    def write(self, message: str) -> None:
        if self._bar is not None:
            self._bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._tb is not None:
            self._tb.close()
        self._csv_file.close()


def _truncate_csv(path: Path, keep_until_step: int) -> None:
    """Drop rows logged after ``keep_until_step`` (they belong to a run that was killed)."""
    if not path.exists():
        return
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    kept = [rows[0]] + [r for r in rows[1:] if r and int(r[0]) <= keep_until_step]
    if len(kept) != len(rows):
        with path.open("w", newline="") as f:
            csv.writer(f).writerows(kept)


def read_metrics(run_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``name -> (steps, frames, values)`` from a run's ``metrics.csv``."""
    path = Path(run_dir) / "metrics.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {run_dir} a robovision run directory?")
    series: dict[str, list[tuple[int, int, float]]] = defaultdict(list)
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            series[row["name"]].append((int(row["step"]), int(row["frames"]), float(row["value"])))
    return {k: tuple(np.array(c) for c in zip(*v, strict=True)) for k, v in series.items()}


def seed_dirs(run_dir: Path) -> list[Path]:
    """A multi-seed run holds ``seed_<n>`` sub-runs; a single run is its own only seed."""
    run_dir = Path(run_dir)
    subs = sorted(p for p in run_dir.glob("seed_*") if (p / "metrics.csv").exists())
    return subs or [run_dir]


def plot_curves(run_dirs: list[Path], out: Path, metric: str = EVAL_KEY,
                x: str = "step") -> Path:
    """Learning curves (mean and min-max band over seeds) of one or more runs as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for run_dir in run_dirs:
        curves = []
        for sub in seed_dirs(run_dir):
            data = read_metrics(sub).get(metric)
            if data is not None:
                curves.append((data[0] if x == "step" else data[1], data[2]))
        if not curves:
            continue
        xs = curves[0][0]
        n = min(len(c[1]) for c in curves)
        values = np.stack([c[1][:n] for c in curves])
        label = f"{Path(run_dir).name} ({len(curves)} seed{'s' if len(curves) > 1 else ''})"
        ax.plot(xs[:n], values.mean(0), label=label)
        if len(curves) > 1:
            ax.fill_between(xs[:n], values.min(0), values.max(0), alpha=0.2)
    ax.set_xlabel("agent steps" if x == "step" else "environment frames")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    out = Path(out)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def write_video(frames: list[np.ndarray], path: Path, fps: int = 30) -> Path:
    import imageio.v2 as imageio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimsave(path, frames, fps=fps, macro_block_size=1)
    return path
