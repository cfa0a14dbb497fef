"""The ``robovision`` command: train, sweep, eval, resume, envs, check-env, plot."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _default_run_dir(cfg) -> Path:
    return Path(cfg.run_dir or Path("runs") / (cfg.name or cfg.algo) / time.strftime(
        "%Y%m%d-%H%M%S"))


def cmd_train(args: argparse.Namespace) -> int:
    from robovision.config import load_config

    cfg = load_config(args.preset, args.overrides)
    if len(cfg.seeds) > 1:
        return _train_seeds(args, cfg)
    if cfg.seeds:
        cfg.seed, cfg.seeds = cfg.seeds[0], []
    from robovision.loop import train

    run_dir = _default_run_dir(cfg)
    cfg.run_dir = str(run_dir)
    print(f"robovision: training {cfg.algo} on {cfg.env.spec} (seed {cfg.seed}) -> {run_dir}")
    counters = train(cfg, run_dir)
    print(f"done: {counters.step} steps, last eval return {counters.last_eval:.1f}, "
          f"best {counters.best_eval:.1f}")
    return 0


def _train_seeds(args: argparse.Namespace, cfg) -> int:
    """``seeds=0,1,2``: one sweep over seeds, the runs side by side on local Ray (one GPU
    shared between them when the run uses CUDA)."""
    from robovision.config import parse_overrides
    from robovision.sweep.spec import load_spec

    overrides = {k: v for k, v in parse_overrides(args.overrides)
                 if k not in ("seeds", "seed", "run_dir", "name")}
    gpu = 0.0
    if cfg.device != "cpu":
        import torch

        gpu = 1.0 / len(cfg.seeds) if torch.cuda.is_available() else 0.0
    spec = load_spec({"name": cfg.name, "preset": args.preset, "overrides": overrides,
                      "seeds": cfg.seeds,
                      "resources": {"cpu": max(cfg.threads, 1), "gpu": gpu}})
    return _run_and_report(spec, _default_run_dir(cfg), resume=False, address=None)


def cmd_sweep(args: argparse.Namespace) -> int:
    from robovision.sweep.spec import load_spec

    if args.resume:
        return _run_and_report(None, Path(args.resume), resume=True, address=args.address)
    if not args.spec:
        raise SystemExit("robovision sweep: give a spec (SPEC.yaml) or --resume SWEEP_DIR")
    spec = load_spec(args.spec)
    sweep_dir = Path(args.dir or Path("runs") / "sweeps" / spec.name / time.strftime(
        "%Y%m%d-%H%M%S"))
    return _run_and_report(spec, sweep_dir, resume=False, address=args.address)


def _run_and_report(spec, sweep_dir: Path, resume: bool, address: str | None) -> int:
    from robovision.sweep.runner import print_summary, reopen, run_sweep

    verb = "resuming" if resume else "running"
    print(f"robovision: {verb} sweep -> {sweep_dir}", flush=True)
    outcomes = run_sweep(spec, sweep_dir, resume=resume, address=address)
    spec = spec or reopen(sweep_dir)[0]
    print_summary(outcomes, spec.mode, spec.metric)
    try:
        from robovision.sweep.aggregate import aggregate_dirs

        png, table = aggregate_dirs([sweep_dir], sweep_dir / "aggregate.png")
        print(f"aggregates over seeds: {png} and {table}")
    except FileNotFoundError as exc:
        print(f"robovision: no aggregate: {exc}", file=sys.stderr)
    if any(o.status in ("interrupted", "running", "pending") for o in outcomes):
        print(f"robovision: the sweep is not complete; go on with: robovision sweep --resume "
              f"{sweep_dir}", file=sys.stderr)
        return 130
    return 1 if any(o.status == "error" for o in outcomes) else 0


def cmd_resume(args: argparse.Namespace) -> int:
    from robovision.config import load_config
    from robovision.loop import train

    run_dir = Path(args.run_dir)
    config_path = run_dir / "config.yaml"
    if not config_path.exists() and (run_dir / "trials.yaml").exists():
        raise SystemExit(f"robovision: {run_dir} is a sweep (several seeds or trials); go on "
                         f"with: robovision sweep --resume {run_dir}")
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
    cfg = load_config(str(run_dir / "config.yaml"), args.overrides)
    ckpt = run_dir / "checkpoints" / f"{args.checkpoint}.pt"
    device = factory.resolve_device(args.device or cfg.device)
    env = factory.build_eval_env(cfg, args.seed, args.video)
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
    # The run's evaluation envs (train.eval_envs, train.eval_workers) play the episodes
    # several at a time, as in training; episode i is seeded seed + i either way.
    cfg.train.eval_episodes = args.episodes
    extra = factory.build_extra_eval_envs(cfg, args.seed)
    try:
        result = evaluate(agent, env, args.episodes, seed=args.seed, record=args.video,
                          extra_envs=extra)
    finally:
        for each in (env, *extra):
            each.close()
    returns, frames = result.returns, result.frames
    success = ("" if result.success_rate is None
               else f", success {result.success_rate:.0%}")
    changed = f" ({', '.join(args.overrides)})" if args.overrides else ""
    print(f"{cfg.env.spec} {ckpt.name}{changed}: return {returns.mean():.2f} +- "
          f"{returns.std():.2f} over {len(returns)} episodes (min {np.min(returns):.2f}, "
          f"max {np.max(returns):.2f}){success}")
    if frames:
        try:
            path = write_video(frames, run_dir / "videos" / f"eval_{args.checkpoint}.mp4")
        except Exception as exc:
            print(f"robovision: video not written: {exc}", file=sys.stderr)
            return 1
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
    dirs = [Path(d) for d in args.run_dirs]
    if args.rliable or any((d / "trials.yaml").exists() for d in dirs):
        from robovision.sweep.aggregate import aggregate_dirs

        out = Path(args.out or dirs[0] / "aggregate.png")
        png, table = aggregate_dirs(dirs, out, metric=args.metric, reps=args.reps)
        print(f"{png}\n{table}")
        return 0
    from robovision.logging import plot_curves

    out = Path(args.out or dirs[0] / "curve.png")
    plot_curves(dirs, out, metric=args.metric, x=args.x)
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
    p.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                   help="changes to the run's config for this evaluation only, e.g. "
                        "env.eval_options.split=test")
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

    p = sub.add_parser("sweep", help="seeds x tasks x hyper-parameters as Ray Tune trials")
    p.add_argument("spec", nargs="?", help="a sweep spec (YAML); see examples/sweeps/")
    p.add_argument("--resume", metavar="SWEEP_DIR", default=None,
                   help="go on with an interrupted sweep: finished trials stay, the others "
                        "continue from their checkpoints")
    p.add_argument("--dir", default=None, help="sweep directory (default: "
                                               "runs/sweeps/<name>/<timestamp>)")
    p.add_argument("--address", default=None,
                   help="a Ray cluster to run on ('auto' or host:port; default RAY_ADDRESS, "
                        "else a local Ray)")
    p.set_defaults(fn=cmd_sweep)

    p = sub.add_parser("plot", help="learning curves of runs as a PNG; for a sweep directory, "
                                    "IQM aggregates over seeds and tasks (PNG and CSV)")
    p.add_argument("run_dirs", nargs="+")
    p.add_argument("--out", default=None)
    p.add_argument("--metric", default="eval/return_mean")
    p.add_argument("--x", choices=["step", "frames"], default="step",
                   help="curves of single runs; aggregates use each run's own unit")
    p.add_argument("--rliable", action="store_true",
                   help="aggregate run directories that are not sweeps too (IQMs and "
                        "bootstrap intervals as rliable computes them)")
    p.add_argument("--reps", type=int, default=2000, help="bootstrap resamples")
    p.set_defaults(fn=cmd_plot)
    return parser


def _parse(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Arguments, with ``key=value`` items allowed after the options too (argparse takes
    a command's positional list only in one run: ``eval RUN --episodes 5 seed=1``)."""
    args, extra = parser.parse_known_args(argv)
    listed = next((name for name in ("overrides", "options") if hasattr(args, name)), None)
    stray = [item for item in extra if item.startswith("-") or "=" not in item]
    if stray or (extra and listed is None):
        parser.error(f"unrecognized arguments: {' '.join(stray or extra)}")
    if extra:
        setattr(args, listed, [*getattr(args, listed), *extra])
    return args


# Errors a user can fix, printed as one line without a traceback: (module, class). A
# command that never imported a module cannot raise its error, so ``main`` looks them up
# only in modules already imported, and a light command (``envs``, ``plot``, the ``sweep``
# driver) never loads torch for them.
USER_ERRORS = (("robovision.checkpoint", "CheckpointError"), ("robovision.config", "ConfigError"),
               ("robovision.envs", "MJCFError"), ("robovision.lock", "RunDirLocked"),
               ("robovision.loop", "NonFiniteLossError"), ("robovision.make", "UnknownEnvError"),
               ("robovision.wrappers.pixels", "RenderError"))


def is_user_error(exc: BaseException) -> bool:
    if isinstance(exc, FileNotFoundError | MemoryError):
        return True
    return any(isinstance(exc, getattr(sys.modules[module], name))
               for module, name in USER_ERRORS if module in sys.modules)


def main(argv: list[str] | None = None) -> int:
    args = _parse(build_parser(), argv)
    try:
        return args.fn(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if not is_user_error(exc):
            raise
        print(f"robovision: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
