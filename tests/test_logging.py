"""Run output: the long-format CSV, its trimming on resume, reading it back, the plot."""

import math

import numpy as np

from robovision.logging import (
    EVAL_KEY,
    RunLogger,
    last_logged,
    plot_curves,
    read_metrics,
    repair_csv,
    seed_dirs,
)


def _log(run_dir, start, steps, total=100):
    run_dir.mkdir(parents=True, exist_ok=True)
    logger = RunLogger(run_dir, start, total, progress=False, tensorboard=False)
    for step in steps:
        logger.log(step, step * 2, {EVAL_KEY: step / 10, "train/loss": 1.0 / step})
    logger.close()


def test_metrics_round_trip_with_frames(tmp_path):
    _log(tmp_path, 0, [10, 20, 30])
    metrics = read_metrics(tmp_path)
    steps, frames, values = metrics[EVAL_KEY]
    assert steps.tolist() == [10, 20, 30] and frames.tolist() == [20, 40, 60]
    assert values.tolist() == [1.0, 2.0, 3.0]
    assert math.isclose(metrics["train/loss"][2][0], 0.1)


def test_resume_drops_rows_logged_after_the_checkpoint(tmp_path):
    _log(tmp_path, 0, [10, 20, 30])  # the killed run wrote up to 30, checkpoint at 20
    _log(tmp_path, 20, [30, 40])
    steps = read_metrics(tmp_path)[EVAL_KEY][0].tolist()
    assert steps == [10, 20, 30, 40]  # 30 once, from the resumed run


def test_the_last_logged_step_is_read_from_the_end_past_a_torn_row(tmp_path):
    assert last_logged(tmp_path) is None
    _log(tmp_path, 0, range(10, 2010, 10))
    assert last_logged(tmp_path) == (2000, 4000)
    assert last_logged(tmp_path, tail_bytes=100) == (2000, 4000)  # the first line read is cut
    with (tmp_path / "metrics.csv").open("a") as f:
        f.write("2010,4020,1.5,train/lo")  # a kill mid-write
    assert last_logged(tmp_path) == (2000, 4000)
    (tmp_path / "metrics.csv").write_text("step,frames,wall_time,name,value\n")
    assert last_logged(tmp_path) is None
    with (tmp_path / "metrics.csv").open("a") as f:
        f.write("10,20,0.5,train/loss,1.0\n")  # one row
    assert last_logged(tmp_path) == (10, 20)


def test_redoing_an_evaluation_drops_only_the_checkpoints_own_evaluation_rows(tmp_path):
    _log(tmp_path, 0, [100, 200, 300])  # frames = 2 x steps: a step is never its frame
    path = tmp_path / "metrics.csv"
    repair_csv(path, keep_until_step=200, redo_evaluation=True)
    metrics = read_metrics(tmp_path)
    assert metrics[EVAL_KEY][0].tolist() == [100]  # 200's evaluation is played again
    assert metrics["train/loss"][0].tolist() == [100, 200]
    _log(tmp_path, 0, [100, 200, 300])
    repair_csv(path, keep_until_step=200)
    assert read_metrics(tmp_path)[EVAL_KEY][0].tolist() == [100, 200]
    _log(tmp_path, 0, [100, 200, 300])
    repair_csv(path, keep_until_step=300, redo_evaluation=True)  # exactly one row to drop
    assert read_metrics(tmp_path)[EVAL_KEY][0].tolist() == [100, 200]


def test_plot_over_seeds_writes_a_png(tmp_path):
    for seed in (0, 1):
        _log(tmp_path / f"seed_{seed}", 0, [10, 20])
    assert [p.name for p in seed_dirs(tmp_path)] == ["seed_0", "seed_1"]
    out = plot_curves([tmp_path], tmp_path / "curve.png", x="frames")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
    assert np.all(read_metrics(tmp_path / "seed_1")[EVAL_KEY][1] == [20, 40])


def test_the_progress_bar_counts_frames_from_where_a_resumed_run_stands(tmp_path):
    logger = RunLogger(tmp_path, 10, 100, frames_per_step=2, tensorboard=False)
    bar = logger._bar  # DrQ-v2's action repeat of 2: frames, as the published tables count
    assert (bar.total, bar.n, bar.unit) == (200, 20, "frame")
    logger.advance(15, 30)
    logger.advance(15, 30)  # no step taken: nothing counted twice
    assert bar.n == 30
    logger.log(15, 30, {EVAL_KEY: 12.345, "eval/success_rate": 0.5,
                        "train/episode_return": -3.21})
    assert bar.postfix == "eval=12.3, success=50%, ep=-3.2"
    logger.close()
    steps = RunLogger(tmp_path / "state", 0, 50, tensorboard=False)
    assert (steps._bar.total, steps._bar.unit) == (50, "step")
    steps.advance(5, 20)  # counted in steps, frames shown beside them
    assert steps._bar.n == 5 and steps._bar.postfix == "frames=20"
    steps.advance(6, 6)
    assert steps._bar.postfix == "frames=20"  # one frame a step: nothing new to say
    steps.close()
    quiet = RunLogger(tmp_path / "quiet", 0, 50, progress=False, tensorboard=False)
    quiet.advance(5, 20)  # no bar: advancing is a no-op, not an error
    quiet.close()


def test_csv_rows_carry_the_seconds_since_the_logger_started(tmp_path):
    import csv

    _log(tmp_path, 0, [1, 2])
    with (tmp_path / "metrics.csv").open() as f:
        walls = [float(row["wall_time"]) for row in csv.DictReader(f)]
    assert all(0 <= wall < 60 for wall in walls)


def test_tensorboard_gets_every_metric_and_a_resume_replaces_what_came_after(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def logged(start, steps):
        logger = RunLogger(tmp_path, start, 100, progress=False)
        for step in steps:
            logger.log(step, step, {"train/loss": step / 10})
        logger.close()

    logged(0, [1, 2, 3, 4])  # stopped after step 4, its checkpoint at step 2
    logged(2, [3, 5])
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    scalars = events.Scalars("train/loss")
    assert [(s.step, round(s.value, 3)) for s in scalars] == [(1, 0.1), (2, 0.2), (3, 0.3),
                                                              (5, 0.5)]


def test_a_failing_side_job_is_reported_once_and_switched_off():
    from robovision.logging import SideJobs

    reports, calls = [], []
    side = SideJobs(reports.append)

    def broken():
        calls.append(1)
        raise OSError("disk full " + "x" * 400)

    assert side.run("plot", broken) is None and side.run("plot", broken) is None
    assert calls == [1] and not side.enabled("plot") and side.enabled("video")
    assert len(reports) == 1 and "plot failed (OSError: disk full" in reports[0]
    assert len(reports[0]) < 600  # the error is cut short
    assert side.run("video", lambda x: x * 2, 21) == 42
    side.disable("video", "no ffmpeg")
    side.disable("video", "no ffmpeg")
    assert len(reports) == 2 and "video failed (no ffmpeg)" in reports[1]


def _evaluations(run_dir, values, every=10):
    """A run whose evaluations at steps ``every, 2 every, ...`` returned ``values``
    (frames are twice the steps)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    logger = RunLogger(run_dir, 0, 100, progress=False, tensorboard=False)
    for i, value in enumerate(values, start=1):
        logger.log(i * every, 2 * i * every, {EVAL_KEY: value})
    logger.close()


def test_the_curve_is_the_seed_mean_in_a_min_max_band_up_to_what_every_seed_has(tmp_path):
    import matplotlib.pyplot as plt

    from robovision.logging import curves_figure

    _evaluations(tmp_path / "sac" / "seed_0", [1.0, 5.0, 9.0, 7.0])
    _evaluations(tmp_path / "sac" / "seed_1", [3.0, 1.0, 2.0])  # stopped after three
    _evaluations(tmp_path / "td3", [2.0, 4.0])
    _log(tmp_path / "empty", 0, [])  # started, nothing evaluated yet
    fig = curves_figure([tmp_path / "sac", tmp_path / "td3", tmp_path / "empty"], x="frames")
    ax = fig.axes[0]
    sac, td3 = ax.lines
    assert sac.get_xydata().tolist() == [[20, 2.0], [40, 3.0], [60, 5.5]]  # frames; mean
    assert td3.get_xydata().tolist() == [[20, 2.0], [40, 4.0]]
    (band,) = ax.collections  # one band: only sac has several seeds
    corners = band.get_paths()[0].vertices
    assert {tuple(v) for v in corners} >= {(20, 1.0), (40, 1.0), (60, 2.0),  # min and max
                                           (20, 3.0), (40, 5.0), (60, 9.0)}  # over seeds
    assert corners[:, 0].max() == 60 and corners[:, 1].max() == 9.0
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["sac (2 seeds)",
                                                                   "td3 (1 seed)"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("environment frames", EVAL_KEY)
    plt.close(fig)
    fig = curves_figure([tmp_path / "td3"])
    assert fig.axes[0].lines[0].get_xydata()[:, 0].tolist() == [10, 20]
    assert fig.axes[0].get_xlabel() == "agent steps"
    plt.close(fig)
    fig = curves_figure([tmp_path / "empty"])  # no evaluation yet: axes, no legend
    assert not fig.axes[0].lines and fig.axes[0].get_legend() is None
    plt.close(fig)
