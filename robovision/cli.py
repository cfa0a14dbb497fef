"""The ``robovision`` command: train, eval, resume, envs, check-env, plot."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _run_dirs(cfg) -> list[tuple[object, Path]]:
    """One (config, dir) per seed: ``seeds=0,1,2`` trains three runs side by side."""
    import copy

    base = Path(cfg.run_dir or Path("runs") / (cfg.name or cfg.algo) / time.strftime(
        "%Y%m%d-%H%M%S"))
    if not cfg.seeds:
        cfg.run_dir = str(base)
        return [(cfg, base)]
    runs = []
    for seed in cfg.seeds:
        one = copy.deepcopy(cfg)
        one.seed, one.seeds, one.run_dir = seed, [], str(base / f"seed_{seed}")
        runs.append((one, base / f"seed_{seed}"))
    return runs


def cmd_train(args: argparse.Namespace) -> int:
    from robovision.config import load_config
    from robovision.loop import train

    cfg = load_config(args.preset, args.overrides)
    runs = _run_dirs(cfg)
    for one, run_dir in runs:
        print(f"robovision: training {one.algo} on {one.env.spec} (seed {one.seed}) -> {run_dir}")
        counters = train(one, run_dir)
        print(f"done: {counters.step} steps, last eval return {counters.last_eval:.1f}, "
              f"best {counters.best_eval:.1f}")
    if len(runs) > 1:
        from robovision.logging import plot_curves

        out = plot_curves([runs[0][1].parent], runs[0][1].parent / "curve.png")
        print(f"curve over seeds: {out}")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    from robovision.config import load_config
    from robovision.loop import train

    run_dir = Path(args.run_dir)
    config_path = run_dir / "config.yaml"
    if not config_path.exists():
        raise SystemExit(
            f"robovision: {config_path} not found; is {run_dir} a run directory? A run "
            "directory holds config.yaml, metrics.csv and checkpoints/. If only config.yaml "
            "was lost, write the training config there (robovision train saves it) and "
            "resume again.")
    cfg = load_config(str(config_path), args.overrides)
    cfg.run_dir = str(run_dir)
    counters = train(cfg, run_dir, resume=True, checkpoint=args.checkpoint)
    print(f"done: {counters.step} steps, last eval return {counters.last_eval:.1f}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    import numpy as np

    from robovision import factory
    from robovision.config import load_config
    from robovision.logging import write_video
    from robovision.loop import evaluate

    run_dir = Path(args.run_dir)
    cfg = load_config(str(run_dir / "config.yaml"))
    ckpt = run_dir / "checkpoints" / f"{args.checkpoint}.pt"
    device = factory.resolve_device(args.device or cfg.device)
    env = factory.build_env(cfg, seed=args.seed, render_mode="rgb_array" if args.video else None,
                            evaluation=True)
    if args.video:  # before evaluating, not after
        from robovision.episode import render_problem

        problem = render_problem(env, seed=args.seed)
        if problem:
            env.close()
            print(f"robovision: error: --video: {cfg.env.spec} cannot render ({problem}). "
                  "Classic-control envs need pygame (pip install 'gymnasium[classic_control]'); "
                  "MuJoCo envs need a GL backend (MUJOCO_GL=egl or osmesa). Run without "
                  "--video to evaluate only.", file=sys.stderr)
            return 2
    agent = factory.restore_agent(cfg, ckpt, env.observation_space, env.action_space, device)
    result = evaluate(agent, env, args.episodes, seed=args.seed, record=args.video)
    env.close()
    returns, frames = result.returns, result.frames
    success = ("" if result.success_rate is None
               else f", success {result.success_rate:.0%}")
    print(f"{cfg.env.spec} {ckpt.name}: return {returns.mean():.2f} +- {returns.std():.2f} "
          f"over {len(returns)} episodes (min {np.min(returns):.2f}, max {np.max(returns):.2f})"
          f"{success}")
    if frames:
        path = write_video(frames, run_dir / "videos" / f"eval_{args.checkpoint}.mp4")
        print(f"video: {path}")
    return 0


def cmd_envs(args: argparse.Namespace) -> int:
    from robovision.make import available_specs

    specs = [s for s in available_specs() if args.filter.lower() in s.lower()]
    print("\n".join(specs))
    return 0


def cmd_check_env(args: argparse.Namespace) -> int:
    import yaml

    from robovision.checkenv import check, report
    from robovision.config import parse_overrides

    options = {k: yaml.safe_load(v) for k, v in parse_overrides(args.options)}
    camera = args.camera.split(",") if args.camera and "," in args.camera else args.camera
    if args.frames:
        options["frames"] = args.frames
    findings = check(args.spec, obs=args.obs, image_size=args.image_size,
                     frame_stack=args.frame_stack, camera=camera, seed=args.seed, **options)
    print(report(args.spec, findings))
    return 1 if any(f.level == "fail" for f in findings) else 0


def cmd_plot(args: argparse.Namespace) -> int:
    from robovision.logging import plot_curves

    out = Path(args.out or Path(args.run_dirs[0]) / "curve.png")
    plot_curves([Path(d) for d in args.run_dirs], out, metric=args.metric, x=args.x)
    print(out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="robovision", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train from a preset name or a YAML file")
    p.add_argument("preset", help="preset name (see configs/) or path to a YAML config")
    p.add_argument("overrides", nargs="*", help="key=value, e.g. seed=1 agent.actor_lr=1e-3")
    p.set_defaults(fn=cmd_train)

    p = sub.add_parser("resume", help="continue a run from its latest checkpoint")
    p.add_argument("run_dir")
    p.add_argument("overrides", nargs="*", help="e.g. train.total_steps=200000")
    p.add_argument("--checkpoint", choices=["latest", "best"], default="latest",
                   help="best: the best evaluation's weights (the replay refills)")
    p.set_defaults(fn=cmd_resume)

    p = sub.add_parser("eval", help="evaluate a run's checkpoint")
    p.add_argument("run_dir")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--video", action="store_true", help="write an mp4 of the first episode")
    p.add_argument("--checkpoint", choices=["best", "latest"], default="best")
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default=None)
    p.set_defaults(fn=cmd_eval)

    p = sub.add_parser("envs", help="list the env specs make_env accepts")
    p.add_argument("filter", nargs="?", default="", help="show only specs containing this")
    p.set_defaults(fn=cmd_envs)

    p = sub.add_parser("check-env", help="check that an env is fit to train on, and say what "
                                         "to fix")
    p.add_argument("spec", help="gymnasium ID, dmc/<domain>-<task>, mjcf:scene.xml, "
                                "module:factory or path/to/file.py:factory")
    p.add_argument("options", nargs="*", help="env options, e.g. reward=my_module:reward")
    p.add_argument("--obs", choices=["state", "pixels", "state+pixels"], default="pixels")
    p.add_argument("--image-size", type=int, default=84)
    p.add_argument("--frame-stack", type=int, default=3)
    p.add_argument("--camera", default=None, help="a camera name, or several: front,wrist")
    p.add_argument("--frames", default=None, help="a frame source: folder:PATH, video:PATH or "
                                                  "module:function")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(fn=cmd_check_env)

    p = sub.add_parser("plot", help="learning curves of one or more runs as a PNG")
    p.add_argument("run_dirs", nargs="+")
    p.add_argument("--out", default=None)
    p.add_argument("--metric", default="eval/return_mean")
    p.add_argument("--x", choices=["step", "frames"], default="step")
    p.set_defaults(fn=cmd_plot)
    return parser


def main(argv: list[str] | None = None) -> int:
    from robovision.checkpoint import CheckpointError
    from robovision.config import ConfigError
    from robovision.envs import MJCFError
    from robovision.lock import RunDirLocked
    from robovision.loop import NonFiniteLossError
    from robovision.make import UnknownEnvError

    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except (ConfigError, UnknownEnvError, CheckpointError, NonFiniteLossError, RunDirLocked,
            MJCFError, FileNotFoundError, MemoryError) as exc:
        print(f"robovision: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
