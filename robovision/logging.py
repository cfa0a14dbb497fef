"""Run output: progress bar, metrics CSV, TensorBoard, videos and learning-curve plots.

``metrics.csv`` is long-format (``step, frames, wall_time, name, value``) so any
set of metrics can be appended, and a resumed run rewrites nothing but the
rows logged after its checkpoint.

Everything here is a side job of training: a failure (a missing renderer or
ffmpeg, a damaged or unwritable file, a full disk) is reported once with what to
do, that side job is switched off for the rest of the run, and training,
evaluation numbers and checkpoints go on (:class:`SideJobs`).
"""

from __future__ import annotations

import csv
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

CSV_FIELDS = ("step", "frames", "wall_time", "name", "value")
EVAL_KEY = "eval/return_mean"
SUCCESS_KEY = "eval/success_rate"

HINTS = {
    "video": "videos need the env's renderer (pygame for classic-control envs: pip install "
             "'gymnasium[classic_control]') and ffmpeg (imageio-ffmpeg); set train.video=false "
             "to stop trying",
    "plot": "redraw the curve later with `robovision plot RUN_DIR`",
    "tensorboard": "the CSV still holds every metric; check the disk and RUN_DIR/tb",
    "csv": "check free disk space and that RUN_DIR/metrics.csv is writable",
}


class SideJobs:
    """Runs side jobs so that none of them can stop training.

    The first failure of a job is reported once (its error and what to do), the job is
    switched off for the rest of the run, and the call returns ``None``.
    """

    def __init__(self, report: Callable[[str], None]) -> None:
        self.report = report
        self.off: dict[str, str] = {}

    def enabled(self, job: str) -> bool:
        return job not in self.off

    def run(self, job: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if job in self.off:
            return None
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # any failure of a side job: report, switch off, go on
            self.disable(job, f"{type(exc).__name__}: {str(exc)[:300]}")
            return None

    def disable(self, job: str, why: str) -> None:
        if job in self.off:
            return
        self.off[job] = why
        self.report(f"robovision: {job} failed ({why}). {HINTS.get(job, '')}. It is off for the "
                    "rest of this run; training, evaluation and checkpoints go on.")


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class RunLogger:
    def __init__(self, run_dir: Path, start_step: int, total_steps: int, progress: bool = True,
                 tensorboard: bool = True, frames_per_step: int = 1,
                 side_jobs: SideJobs | None = None, redo_evaluation: bool = False) -> None:
        """``frames_per_step > 1`` makes the progress bar count environment frames;
        ``redo_evaluation``: the run evaluates ``start_step`` again (its checkpoint was
        saved while that evaluation was under way), so rows of one from before go."""
        self.run_dir = Path(run_dir)
        self.side = side_jobs or SideJobs(self.write)
        self.csv_path = self.run_dir / "metrics.csv"
        self._csv_file = None
        note = self.side.run("csv", repair_csv, self.csv_path, start_step, redo_evaluation)
        if note:
            self.write(f"robovision: {note}")
        self.side.run("csv", self._open_csv)
        self._tb = None
        if tensorboard:
            self._tb = self.side.run("tensorboard", _summary_writer, self.run_dir / "tb",
                                     start_step)
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

    def _open_csv(self) -> None:
        new = not self.csv_path.exists()
        self._csv_file = self.csv_path.open("a", newline="")
        self._csv = csv.writer(self._csv_file)
        if new:
            self._csv.writerow(CSV_FIELDS)
            self._csv_file.flush()

    def _write_rows(self, rows: list[tuple]) -> None:
        self._csv.writerows(rows)
        self._csv_file.flush()

    def _write_tensorboard(self, step: int, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            self._tb.add_scalar(name, float(value), step)

    def log(self, step: int, frames: int, metrics: dict[str, float]) -> None:
        wall = round(time.time() - self._start, 2)
        if self._csv_file is not None:
            rows = [(step, frames, wall, name, f"{float(value):.6g}")
                    for name, value in metrics.items()]
            self.side.run("csv", self._write_rows, rows)
        if self._tb is not None:
            self.side.run("tensorboard", self._write_tensorboard, step, metrics)
        if EVAL_KEY in metrics:
            self._postfix["eval"] = f"{metrics[EVAL_KEY]:.1f}"
        if SUCCESS_KEY in metrics:
            self._postfix["success"] = f"{metrics[SUCCESS_KEY]:.0%}"
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
        if getattr(self, "_bar", None) is not None:
            self._bar.write(message, file=sys.stderr)
        else:
            _stderr(message)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
        if self._tb is not None:
            self.side.run("tensorboard", self._tb.close)
        if self._csv_file is not None:
            self.side.run("csv", self._csv_file.close)


def _summary_writer(folder: Path, start_step: int) -> Any:
    """A writer that, in a resumed run, hides what the stopped run logged after its
    checkpoint at ``start_step``: TensorBoard drops the events from ``purge_step`` on. The
    checkpoint's own step stays, as in the CSV: its metrics were logged before it was
    saved."""
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(folder), purge_step=start_step + 1 if start_step else None)


# --------------------------------------------------------------------------- the CSV


def _parse_row(row: list[str]) -> tuple[int, int, float, str, float] | None:
    """A well-formed metrics row, or None for a torn or damaged one."""
    if len(row) != len(CSV_FIELDS):
        return None
    try:
        return int(row[0]), int(row[1]), float(row[2]), row[3], float(row[4])
    except ValueError:
        return None


def last_logged(run_dir: Path, tail_bytes: int = 8192) -> tuple[int, int] | None:
    """``(step, frames)`` of the last well-formed row of a run's ``metrics.csv``, read
    from the file's end so that it stays cheap on a long run; None before any row."""
    path = Path(run_dir) / "metrics.csv"
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - tail_bytes))
            lines = f.read().decode(errors="replace").splitlines()
    except FileNotFoundError:
        return None
    for raw in csv.reader(reversed(lines[1:])):  # the first: the header or a cut row
        row = _parse_row(raw)
        if row is not None:
            return row[0], row[1]
    return None


def repair_csv(path: Path, keep_until_step: int, redo_evaluation: bool = False) -> str | None:
    """Make ``metrics.csv`` fit to append to after a resume from ``keep_until_step``.

    Rows logged after the checkpoint (by the run that was killed) are dropped, and with
    ``redo_evaluation`` the evaluation rows (``eval/...``) at the checkpoint's step; torn
    or damaged rows (a kill or a full disk mid-write) are dropped; a file whose
    header is broken is set aside as ``metrics.csv.damaged-<time>`` (kept, never
    deleted) and a new one is started. Returns a message saying what was done, or
    None when nothing needed doing.
    """
    if not path.exists():
        return None
    with path.open(newline="", errors="replace") as f:
        rows = list(csv.reader(f))
    if not rows:
        path.unlink()
        return None
    if tuple(rows[0]) != CSV_FIELDS:
        aside = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        path.rename(aside)
        return (f"{path} had a damaged header; it was kept as {aside.name} and a new "
                "metrics.csv was started")
    parsed = [(raw, _parse_row(raw)) for raw in rows[1:]]
    torn = sum(1 for _, row in parsed if row is None)
    kept = [raw for raw, row in parsed if row is not None and row[0] <= keep_until_step
            and not (redo_evaluation and row[0] == keep_until_step
                     and row[3].startswith("eval/"))]
    if len(kept) == len(rows) - 1:
        return None
    with path.open("w", newline="") as f:
        csv.writer(f).writerows([rows[0], *kept])
    if torn:
        return (f"{path}: dropped {torn} damaged row(s) (a write cut short) and the rows "
                f"logged after step {keep_until_step}")
    return None  # only rows after the checkpoint: the normal case after a kill


def read_metrics(run_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``name -> (steps, frames, values)`` from a run's ``metrics.csv``; torn or damaged
    rows are skipped (a file with a damaged header reads as empty)."""
    path = Path(run_dir) / "metrics.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {run_dir} a robovision run directory?")
    series: dict[str, list[tuple[int, int, float]]] = defaultdict(list)
    with path.open(newline="", errors="replace") as f:
        rows = csv.reader(f)
        if tuple(next(rows, ())) != CSV_FIELDS:
            return {}
        for raw in rows:
            row = _parse_row(raw)
            if row is not None:
                series[row[3]].append((row[0], row[1], row[4]))
    return {k: tuple(np.array(c) for c in zip(*v, strict=True)) for k, v in series.items()}


def seed_dirs(run_dir: Path) -> list[Path]:
    """A multi-seed run holds ``seed_<n>`` sub-runs; a single run is its own only seed."""
    run_dir = Path(run_dir)
    subs = sorted(p for p in run_dir.glob("seed_*") if (p / "metrics.csv").exists())
    return subs or [run_dir]


def plot_curves(run_dirs: list[Path], out: Path, metric: str = EVAL_KEY,
                x: str = "step") -> Path:
    """Learning curves (mean and min-max band over seeds) of one or more runs as a PNG."""
    fig = curves_figure(run_dirs, metric, x)  # chooses the Agg backend first
    import matplotlib.pyplot as plt

    out = Path(out)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def curves_figure(run_dirs: list[Path], metric: str = EVAL_KEY, x: str = "step") -> Any:
    """The figure :func:`plot_curves` saves: per run, the mean over its seeds (up to the
    evaluations every seed has) and, with several seeds, the band from their min to max."""
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
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    return fig


def ffmpeg_available() -> bool:
    """Whether imageio can write .mp4 files (its ffmpeg plugin, imageio-ffmpeg)."""
    import importlib.util

    return importlib.util.find_spec("imageio_ffmpeg") is not None


def write_video(frames: list[np.ndarray], path: Path, fps: int = 30) -> Path:
    """Write ``frames`` as an .mp4. Without imageio-ffmpeg, imageio would hand the file to
    another plugin (tifffile) and fail with an unrelated TypeError: say what is missing."""
    if not ffmpeg_available():
        raise RuntimeError("writing an .mp4 needs ffmpeg: pip install imageio-ffmpeg")
    import imageio.v2 as imageio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimsave(path, frames, format="FFMPEG", fps=fps, macro_block_size=1)
    return path
