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
