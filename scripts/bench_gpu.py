"""One table for the pixel pipeline of issue 11, on a GPU (or on the CPU, as a proxy).

    python scripts/bench_gpu.py --device cuda --frames 20000 --pairs 2 --arms process,graph
    python scripts/bench_gpu.py --device cpu --frames 600 --no-state
    python scripts/bench_gpu.py --device cpu --pairs 2 --arms "" --main-only --eval-envs 10,10w

Rows, all from the main job's preset (``cheetah_run_pixels``: DrQ-v2's settings, action
repeat 2, 84x84, batch 256) unless said:

- the main job end to end: environment frames/s overall, a final 1-episode evaluation
  included (``robovision train`` in-process for ``--frames`` frames), for each arm of
  ``--arms``, alternating ``--pairs`` times; and the CPU ms per agent step spent outside
  the agent's updates. Arms: ``process`` (eager updates, env in the training process),
  ``worker`` (``train.env_worker=true``), ``graph`` (``train.cuda_graph=true``, the
  preset's setting), ``graph+worker``, ``graph+2envs`` (``env.num_envs=2`` in lockstep),
  ``graph+2workers`` (the two in worker processes), ``graph+2envs+cudnn`` (and
  ``train.cudnn_benchmark=true``), ``graph+async`` and ``graph+2envs+async``
  (``train.eval_async=true``; the other arms evaluate in the training process); with
  ``--eval-every N`` the preset's evaluations every N frames, and the seconds the training
  process spent on them;
- ms per agent step of the pixel env (2 physics frames and one rendered frame);
- ms per sampled batch of 256 from the replay, delivered on the training device;
- ms per ``act`` (one observation) and per ``update`` (one batch), synchronised on CUDA;
  on CUDA also per update replayed as a CUDA graph, per sampling and update replayed as
  one graph (the training loop's path when the replay is on the GPU), and that graph for
  each lever of ``VARIANTS`` (cuDNN benchmark mode, TF32 matrix products, the first conv
  padded to 16 input channels, the bf16 trunk in NCHW, float32 without autocast;
  ``--variants`` times the padding and float32 eagerly on the CPU);
  ``--profile`` adds the kernels that take most of an eager update's GPU time, and the
  ops by input shape (on the CPU, by CPU time);
- ms to copy the agent's weights off the device for the evaluator (``train.eval_async``),
  and their size;
- ms per ``act`` on 10 observations (an evaluation step with ``train.eval_envs=10``); on
  CUDA also both acts replayed as CUDA graphs;
- with ``--eval-envs 1,10,10w``: seconds of one 10-episode evaluation of the main job with
  each number of eval envs (``train.eval_envs``; ``w``: all but the first in worker
  processes, ``train.eval_workers``), alternating;
- state SAC on HalfCheetah-v5, agent steps/s, robovision (eager, and on CUDA with CUDA
  graphs, with one env and with two in lockstep, one update per agent step either way) and
  Stable-Baselines3 on the same device (``scripts/bench_speed.py`` workers; ``--no-state``
  skips them).

Counting: frames are environment frames (agent steps x action repeat 2).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import platform
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
sys.path.insert(0, str(Path(__file__).resolve().parent))


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timed(fn, repeats: int, device) -> float:
    """Median ms of ``fn`` over ``repeats`` calls (after one warm-up call)."""
    fn()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def _kernel_table(update, device, updates: int = 10, rows: int = 15) -> str:
    """What takes most of ``updates`` eager updates' time: on CUDA the kernels, then (on
    both devices) the ops by input shape, so a kernel's time can be traced to a layer."""
    from torch.profiler import ProfilerActivity, profile

    cuda = device.type == "cuda"
    activities = [ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if cuda else [])]
    update()
    _sync(device)
    with profile(activities=activities, record_shapes=True) as prof:
        for _ in range(updates):
            update()
        _sync(device)
    tables = []
    if cuda:
        tables.append(prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=rows))
    tables.append(prof.key_averages(group_by_input_shape=True).table(
        sort_by="cuda_time_total" if cuda else "self_cpu_time_total", row_limit=rows,
        max_name_column_width=32, max_shapes_column_width=70))
    return "\n".join(tables)


def evaluation_seconds(device_name: str, eval_envs: list[str], pairs: int,
                       preset: str = "cheetah_run_pixels", episodes: int = 10
                       ) -> dict[str, list[float]]:
    """Seconds of one evaluation of ``preset`` (``episodes`` episodes, an untrained agent)
    for each eval-env arm, alternating ``pairs`` times. An arm is a number of eval
    envs, stepped in this process (``10``) or, after the first, in worker processes
    (``10w``: ``train.eval_workers``)."""
    import torch

    from robovision import factory
    from robovision.config import load_config
    from robovision.loop import evaluate

    cfg = load_config(preset, [f"device={device_name}", "train.video=false"])
    first = factory.build_env(cfg, seed=0, evaluation=True)
    arms = {}
    for arm in eval_envs:
        workers = arm.endswith("w")
        arm_cfg = load_config(preset, [
            f"device={device_name}", "train.video=false", f"train.eval_episodes={episodes}",
            f"train.eval_envs={arm.removesuffix('w')}", f"train.eval_workers={workers}"])
        arms[arm] = factory.build_extra_eval_envs(arm_cfg, first_seed=0)
    agent = factory.build_agent(cfg, first.observation_space, first.action_space,
                                factory.resolve_device(cfg.device))
    seconds: dict[str, list[float]] = {arm: [] for arm in eval_envs}
    with torch.no_grad():
        for _ in range(pairs):
            for arm, extra in arms.items():
                start = time.perf_counter()
                evaluate(agent, first, episodes, seed=0, extra_envs=extra)
                seconds[arm].append(time.perf_counter() - start)
    for env in (first, *(env for extra in arms.values() for env in extra)):
        env.close()
    return seconds


VARIANTS = ("baseline", "cudnn.benchmark", "tf32", "pad16", "nchw", "fp32", "fp32+nhwc")
"""Levers on the update, each on a freshly built agent: ``cudnn.benchmark`` (cuDNN times
its algorithms per shape; DrQ-v2's code sets it; ``train.cudnn_benchmark``), ``tf32``
(float32 matrix products, the actor's and critics' MLPs, on TF32 tensor cores;
``train.tf32``), ``pad16`` (the first conv's 9 input channels zero-padded to 16, the
multiple of 8 that tensor-core convolutions want; the same function), ``nchw`` (the bf16
trunk in NCHW instead of channels_last, ``PixelEncoder.CHANNELS_LAST_ON_CUDA``), ``fp32``
(no bf16 autocast, DrQ-v2's own precision; ``agent.encoder.amp=false``), ``fp32+nhwc``
(that, channels_last, ``PixelEncoder.CHANNELS_LAST_FP32_ON_CUDA``). On the CPU only
``pad16`` and ``fp32`` (channels_last there): the others are CUDA settings.
``--levers`` picks others, among them :data:`OPT_IN`."""
OPT_IN = ("compile",)
"""Levers timed only when ``--levers`` names them: ``compile`` (``module.compile()``,
inductor, on the encoder, actor, critics and targets before the graphs are captured; it
fuses the update's small elementwise kernels, and compiling takes a minute or more)."""
COMPILED = ("encoder", "actor", "critic", "critic_target", "actor_target")


@contextlib.contextmanager
def _variant(name: str):
    import torch
    import torch.nn.functional as F

    from robovision.nets.encoders import PixelEncoder

    saved = (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32,
             PixelEncoder._normalized_first_conv, PixelEncoder.CHANNELS_LAST_ON_CUDA,
             PixelEncoder.CHANNELS_LAST_FP32_ON_CUDA)

    def padded_first_conv(self, x):  # zero input channels meet zero weights
        extra = -x.shape[1] % 16
        weight, bias = self.folded_first_conv()
        weight = F.pad(weight, (0, 0, 0, 0, 0, extra))
        x = F.pad(x, (0, 0, 0, 0, 0, extra)).contiguous(memory_format=torch.channels_last)
        return F.conv2d(x, weight, bias, self.trunk[0].stride)

    torch.backends.cudnn.benchmark = name == "cudnn.benchmark"
    torch.backends.cuda.matmul.allow_tf32 = name == "tf32"
    PixelEncoder.CHANNELS_LAST_ON_CUDA = name != "nchw"
    PixelEncoder.CHANNELS_LAST_FP32_ON_CUDA = name == "fp32+nhwc"
    if name == "pad16":
        PixelEncoder._normalized_first_conv = padded_first_conv
    try:
        yield
    finally:
        (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32,
         PixelEncoder._normalized_first_conv, PixelEncoder.CHANNELS_LAST_ON_CUDA,
         PixelEncoder.CHANNELS_LAST_FP32_ON_CUDA) = saved


def _variant_config(cfg, name: str):
    """The run config of a lever: ``fp32`` and ``fp32+nhwc`` turn the encoder's bf16
    autocast off."""
    if not name.startswith("fp32"):
        return cfg
    encoder = dataclasses.replace(cfg.agent.encoder, amp=False)
    return dataclasses.replace(cfg, agent=dataclasses.replace(cfg.agent, encoder=encoder))


def default_levers(device_type: str) -> tuple[str, ...]:
    return VARIANTS if device_type == "cuda" else ("baseline", "pad16", "fp32")


def update_variants(cfg, env, replay, device, rows: dict[str, float],
                    names: tuple[str, ...] = (), rounds: int = 2) -> None:
    """ms per update for each lever of ``names`` (default: :func:`default_levers`),
    alternating ``rounds`` times, into ``rows`` once all rounds are done: on CUDA sampling
    and update replayed as one graph (the training loop's path), eager on the CPU. A lever
    that fails says why and is dropped; the others go on."""
    cuda = device.type == "cuda"
    names = names or default_levers(device.type)
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(rounds):
        for name in list(times):
            try:
                times[name].append(_time_lever(cfg, env, replay, device, name))
            except Exception as error:  # a lever may not work on this machine
                print(f"  lever {name} failed: {type(error).__name__}: {error}",
                      file=sys.stderr, flush=True)
                del times[name]
    how = "sample + update as one CUDA graph" if cuda else "eager update"
    for name, t in times.items():
        rows[f"{how} [{name}], ms (median of {rounds}; {min(t):.2f}-{max(t):.2f})"] = (
            statistics.median(t))


def _time_lever(cfg, env, replay, device, name: str) -> float:
    from robovision import factory

    cuda = device.type == "cuda"
    with _variant(name):
        agent = factory.build_agent(_variant_config(cfg, name), env.observation_space,
                                    env.action_space, device)
        if name == "compile":
            for module in filter(None, (getattr(agent, n, None) for n in COMPILED)):
                module.compile()
        if cuda:
            factory.use_cuda_graphs(agent, device)
        for _ in range(8):  # warm-up (compiling, with compile) and capture of both phases
            agent.update_from(replay, 256)
        return _timed(partial(agent.update_from, replay, 256), 30 if cuda else 5, device)


def components(device_name: str, fill_steps: int, rows: dict[str, float],
               profile: bool = False, levers: tuple[str, ...] | None = None) -> None:
    """The pipeline's parts, timed one by one, into ``rows`` as each is measured;
    ``levers``: time these levers on the update too (() for the default set)."""
    import numpy as np

    from robovision import factory
    from robovision.config import load_config
    from robovision.evaluation import snapshot
    from robovision.loop import in_steps
    from robovision.runtime import tune_allocator

    tune_allocator()  # as a training run does
    cfg = load_config("cheetah_run_pixels", [f"device={device_name}", "train.video=false",
                                             "train.buffer_size=20000"])
    device = factory.resolve_device(cfg.device)
    env = factory.build_env(cfg, seed=0)
    agent = factory.build_agent(cfg, env.observation_space, env.action_space, device)
    replay = factory.build_storage(cfg, env.observation_space, env.action_space, device,
                                   in_steps(cfg.train, 2))
    obs, _ = env.reset(seed=0)
    start = time.perf_counter()
    for _ in range(fill_steps):
        action = env.action_space.sample()
        next_obs, reward, terminated, truncated, _ = env.step(action)
        replay.add(obs, action, reward, next_obs, terminated, truncated)
        obs = next_obs if not (terminated or truncated) else env.reset()[0]
    rows["env step, ms (2 physics frames + 1 render)"] = (
        (time.perf_counter() - start) / fill_steps * 1e3)
    rows["sample a batch of 256 on the device, ms"] = _timed(lambda: replay.sample(256), 30,
                                                               device)
    rows["sample a batch of 256 from the device counter (graph-safe), ms"] = _timed(
        lambda: replay.sample(256, replay.t_device), 30, device)
    rows["act, ms"] = _timed(lambda: agent.act(obs), 100, device)
    rows["act on 10 observations (evaluation), ms"] = _timed(
        lambda: agent.act(np.stack([obs] * 10), eval=True), 100, device)
    rows["update, ms"] = _timed(lambda: agent.update(replay.sample(256)), 10, device)
    rows["snapshot of the agent's weights for the evaluator (train.eval_async), ms"] = (
        _timed(lambda: snapshot(agent), 10, device))
    rows["snapshot size, MB"] = len(snapshot(agent)) / 1e6
    if profile:
        print(_kernel_table(lambda: agent.update(replay.sample(256)), device,
                            updates=10 if device.type == "cuda" else 2))
    if levers is not None:
        update_variants(cfg, env, replay, device, rows, levers)
    if device.type == "cuda":
        factory.use_cuda_graphs(agent, device)
        for _ in range(8):  # warm-up and capture of both phases
            agent.update(replay.sample(256))
        rows["update replayed as a CUDA graph, ms"] = _timed(
            lambda: agent.update(replay.sample(256)), 30, device)
        for _ in range(8):
            agent.update_from(replay, 256)
        rows["sample + update replayed as one CUDA graph, ms"] = _timed(
            lambda: agent.update_from(replay, 256), 30, device)
        batch = np.stack([obs] * 10)
        for _ in range(5):  # warm-up and capture of the acts of one and of ten observations
            agent.act(obs), agent.act(batch, eval=True)
        rows["act replayed as a CUDA graph, ms"] = _timed(lambda: agent.act(obs), 100, device)
        rows["act on 10 observations (evaluation), CUDA graph, ms"] = _timed(
            lambda: agent.act(batch, eval=True), 100, device)
    env.close()


def _accumulating(fn, total: list[float]):
    """``fn`` that adds the seconds each call takes to ``total[0]``."""

    def timed(*args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            total[0] += time.perf_counter() - start

    return timed


_ARM_SETTINGS = {  # (cuda_graph, env_worker, num_envs, cudnn_benchmark, eval_async)
    "process": (False, False, 1, False, False), "worker": (False, True, 1, False, False),
    "graph": (True, False, 1, False, False), "graph+worker": (True, True, 1, False, False),
    "graph+2envs": (True, False, 2, False, False),
    "graph+2workers": (True, True, 2, False, False),
    "graph+2envs+cudnn": (True, False, 2, True, False),
    "graph+async": (True, False, 1, False, True),
    "graph+2envs+async": (True, False, 2, False, True)}
ARMS = {arm: [f"train.cuda_graph={str(graph).lower()}",
              f"train.env_worker={str(worker).lower()}", f"env.num_envs={envs}",
              f"train.cudnn_benchmark={str(cudnn).lower()}",
              f"train.eval_async={str(background).lower()}"]
        for arm, (graph, worker, envs, cudnn, background) in _ARM_SETTINGS.items()}
"""Main-job arms: overrides on top of the preset, each naming all five settings
(``train.cuda_graph``, ``train.env_worker``, ``env.num_envs``, ``train.cudnn_benchmark``,
``train.eval_async``; the preset replays its updates as CUDA graphs since the H200 run;
``process`` is the eager update with the env in the training process; ``2envs``: two envs
in lockstep, whose two steps both run while the update's kernels do, updates per frame
unchanged; ``cudnn``: cuDNN's benchmark mode; ``async``: evaluations in a process of
their own, which ``auto`` picks on CUDA)."""


def main_job(device_name: str, frames: int, arm: list[str], preset: str = "cheetah_run_pixels",
             eval_every: int = 0) -> tuple[float, float, float]:
    """The main job for ``frames`` frames: (frames/s overall, CPU ms per agent step spent
    outside ``agent.update`` / ``agent.update_from``, seconds the training process spent
    in evaluations). The second is the training loop's wall time (start-up and the final
    evaluation excluded) minus the time this process spends inside update calls (on CUDA:
    launching them, no extra synchronisation), per agent step, the random warm-up steps
    included. ``eval_every`` (frames): the preset's evaluations that often (0: only a final
    1-episode one); the third figure counts playing them, or with ``train.eval_async``
    sending the weights and waiting for results."""
    from robovision import factory, loop
    from robovision.config import load_config
    from robovision.loop import train

    inside, looping, evaluating = [0.0], [0.0], [0.0]
    build_agent, run_loop = factory.build_agent, loop.LOOPS["off_policy"]
    run_evaluate, run_collect = loop.Run.evaluate, loop.Run.collect_evaluation

    def timed_agent(*args, **kwargs):
        agent = build_agent(*args, **kwargs)
        agent.update = _accumulating(agent.update, inside)
        agent.update_from = _accumulating(agent.update_from, inside)  # replay on the device
        return agent

    timed_loop = _accumulating(run_loop, looping)
    factory.build_agent, loop.LOOPS["off_policy"] = timed_agent, timed_loop
    loop.Run.evaluate = _accumulating(run_evaluate, evaluating)
    loop.Run.collect_evaluation = _accumulating(run_collect, evaluating)
    evaluations = ([f"train.eval_every={eval_every}"] if eval_every else
                   ["train.eval_every=0", "train.eval_episodes=1"])
    try:
        with tempfile.TemporaryDirectory() as run_dir:
            cfg = load_config(preset, [
                f"device={device_name}", "train.video=false", "train.progress=false",
                f"train.total_steps={frames}", f"train.learning_starts={min(4000, frames // 2)}",
                *evaluations, "train.checkpoint_every=0",
                "train.buffer_size=100000", f"run_dir={run_dir}", *arm])
            start = time.perf_counter()
            counters = train(cfg, Path(run_dir))
            wall = time.perf_counter() - start
    finally:
        factory.build_agent, loop.LOOPS["off_policy"] = build_agent, run_loop
        loop.Run.evaluate, loop.Run.collect_evaluation = run_evaluate, run_collect
    return frames / wall, (looping[0] - inside[0]) / counters.step * 1e3, evaluating[0]


class Rows(dict):
    """The table's rows, each also written to stderr as it is measured, so a run cut off by
    a time limit still leaves what it measured."""

    def __setitem__(self, name: str, value: float) -> None:
        print(f"  {name}: {value:.2f}", file=sys.stderr, flush=True)
        super().__setitem__(name, value)

    def update(self, rows: dict[str, float]) -> None:
        for name, value in rows.items():
            self[name] = value


def parse_args() -> tuple[argparse.Namespace, list[str], tuple[str, ...]]:
    """The arguments, with the main-job arms and the levers checked before anything runs."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--frames", type=int, default=20000, help="main job budget (frames)")
    parser.add_argument("--pairs", type=int, default=1,
                        help="alternating rounds of the main-job arms")
    parser.add_argument("--arms", default="process,worker",
                        help=f"main-job arms, comma-separated: {', '.join(ARMS)}")
    parser.add_argument("--preset", default="cheetah_run_pixels",
                        help="main job preset (a name, or a YAML path for another checkout); "
                             "also the preset --eval-envs evaluates")
    parser.add_argument("--eval-every", type=int, default=0,
                        help="main job: evaluate as the preset does every this many frames "
                             "(0: one final 1-episode evaluation)")
    parser.add_argument("--main-only", action="store_true",
                        help="only the main job (no components, no state SAC)")
    parser.add_argument("--fill", type=int, default=1000, help="replay steps before timing")
    parser.add_argument("--no-state", action="store_true", help="skip state SAC vs SB3")
    parser.add_argument("--eval-envs", default="",
                        help="comma-separated eval env counts to time one 10-episode "
                             "evaluation with (alternating --pairs times, at least once); "
                             "a count ending in w (10w) steps all envs but the first in "
                             "worker processes (train.eval_workers)")
    parser.add_argument("--variants", action="store_true",
                        help="time the update's untried levers (VARIANTS); always on CUDA")
    parser.add_argument("--levers", default="",
                        help="comma-separated levers to time instead of the default set "
                             "(implies --variants): any of VARIANTS, and compile")
    parser.add_argument("--profile", action="store_true",
                        help="print the ops (CUDA kernels on a GPU) that take an update's time")
    args = parser.parse_args()
    arms = [arm for arm in args.arms.split(",") if arm]  # --arms "": no main-job runs
    unknown = [arm for arm in arms if arm not in ARMS]
    if unknown:
        parser.error(f"unknown arms {unknown}; choose from {', '.join(ARMS)}")
    levers = tuple(lever for lever in args.levers.split(",") if lever)
    wrong = [lever for lever in levers if lever not in VARIANTS + OPT_IN]
    if wrong:
        parser.error(f"unknown levers {wrong}; choose from {', '.join(VARIANTS + OPT_IN)}")
    return args, arms, levers


def main_job_rows(args: argparse.Namespace, arms: list[str], rows: Rows) -> None:
    for pair in range(args.pairs):  # alternating the arms
        for arm in arms:
            fps, outside, evaluating = main_job(args.device, args.frames, ARMS[arm],
                                                args.preset, args.eval_every)
            rows[f"main job ({args.frames} frames, {arm}) #{pair + 1}, frames/s overall"] = fps
            rows[f"main job ({arm}) #{pair + 1}, CPU ms per agent step outside updates"] = (
                outside)
            if args.eval_every:
                rows[f"main job ({arm}) #{pair + 1}, s in evaluations"] = evaluating


def evaluation_rows(args: argparse.Namespace, rows: Rows) -> None:
    arms = args.eval_envs.split(",")
    for arm, times in evaluation_seconds(args.device, arms, max(args.pairs, 1),
                                         args.preset).items():
        where = f"{arm[:-1]} env(s), all but one in workers" if arm.endswith("w") else (
            f"{arm} env(s) in this process")
        rows[f"evaluation, 10 episodes in {where}, s (median of {len(times)}; "
             f"min {min(times):.2f}, max {max(times):.2f})"] = statistics.median(times)


def state_sac_rows(device: str, rows: Rows) -> None:
    import bench_speed

    bench_speed.DEVICE = device
    rows["state SAC HalfCheetah-v5, robovision steps/s"] = bench_speed.run_worker(
        "robovision", "sac", 1000, 1500, rv_extra=("train.cuda_graph=false",))
    rows["state SAC HalfCheetah-v5, SB3 steps/s"] = bench_speed.run_worker(
        "sb3", "sac", 1000, 1500)
    if device == "cuda":
        rows["state SAC HalfCheetah-v5, robovision with CUDA graphs, steps/s"] = (
            bench_speed.run_worker("robovision", "sac", 1000, 1500,
                                   rv_extra=("train.cuda_graph=true",)))
        rows["state SAC HalfCheetah-v5, robovision with CUDA graphs, 2 envs in lockstep, "
             "steps/s"] = bench_speed.run_worker(
            "robovision", "sac", 1000, 1500,
            rv_extra=("train.cuda_graph=true", "env.num_envs=2"))


def main() -> None:
    args, arms, levers = parse_args()  # checked before any arm runs
    import torch

    where = (torch.cuda.get_device_name() if args.device == "cuda"
             else f"{platform.machine()}, {os.cpu_count()} cores")
    print(f"# {where}, torch {torch.__version__}, MUJOCO_GL={os.environ['MUJOCO_GL']}, "
          f"{time.strftime('%Y-%m-%d')}")
    rows = Rows()
    main_job_rows(args, arms, rows)
    if args.eval_envs:
        evaluation_rows(args, rows)
    if not args.main_only:
        components(args.device, args.fill, rows, args.profile,
                   levers if levers or args.variants or args.device == "cuda" else None)
    if not (args.no_state or args.main_only):
        state_sac_rows(args.device, rows)
    print("| measure | value |")
    print("|---|---|")
    for name, value in rows.items():
        print(f"| {name} | {value:.2f} |")


if __name__ == "__main__":
    main()
