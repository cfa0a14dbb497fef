"""bf16 against float32 for the main job's encoder on CPUs with and without native bf16.

``agent.encoder.amp=auto`` turns bf16 autocast on only where the device computes bf16
natively. This measures why, on one machine: each ISA level runs in a child process with
oneDNN (``ONEDNN_MAX_CPU_ISA``) and ATen (``ATEN_CPU_CAPABILITY``) held to it, so the
same CPU stands in for an AVX2 laptop, an AVX-512 server without BF16, and itself.
Rows: ms per act on 10 observations (an evaluation step of the main job, what the
background evaluator does on the host CPU of a GPU machine) and ms per eager update at
batch 256 (training on the CPU), bf16 and float32, medians over ``--rounds`` rounds in
which the ISA levels alternate.

    python scripts/bench_bf16.py --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

LEVELS = {"avx2": ("AVX2", "avx2"), "avx512": ("AVX512_CORE", "avx512"),
          "avx512_bf16": ("AVX512_CORE_BF16", "avx512"), "native": (None, None)}
"""Label -> (ONEDNN_MAX_CPU_ISA, ATEN_CPU_CAPABILITY); ``native``: nothing held back."""


def measure(acts: int, updates: int) -> dict[str, float]:
    """In this process: median ms per act on 10 observations and per update, bf16 and
    float32, for the main job's preset (batches made before the clock starts)."""
    results: dict[str, float] = {}
    for amp, precision in (("true", "bf16"), ("false", "fp32")):
        act_ms, update_ms = _measure_one(amp, acts, updates)
        results[f"act10 {precision}"], results[f"update {precision}"] = act_ms, update_ms
    return results


def _measure_one(amp: str, acts: int, updates: int) -> tuple[float, float]:
    os.environ.setdefault("MUJOCO_GL", "egl")
    import numpy as np
    import torch

    from robovision import factory
    from robovision.config import load_config
    from robovision.replay import Batch
    from robovision.runtime import tune_allocator

    tune_allocator()  # as a training run does
    torch.set_num_threads(os.cpu_count() or 1)
    cfg = load_config("cheetah_run_pixels", ["device=cpu", f"agent.encoder.amp={amp}"])
    env = factory.build_env(cfg, seed=0)
    space, actions = env.observation_space, env.action_space
    env.close()
    torch.manual_seed(0)
    agent = factory.build_agent(cfg, space, actions, torch.device("cpu"))
    obs = np.random.default_rng(0).integers(0, 256, (10, *space.shape), dtype=np.uint8)

    def pixels() -> torch.Tensor:
        return torch.randint(0, 256, (256, *space.shape), dtype=torch.uint8)

    batches = iter([Batch(obs=pixels(), action=torch.rand(256, *actions.shape) * 2 - 1,
                          reward=torch.randn(256), next_obs=pixels(),
                          discount=torch.full((256,), 0.99)) for _ in range(updates + 2)])
    return (_median_ms(lambda: agent.act(obs, eval=True), acts),
            _median_ms(lambda: agent.update(next(batches)), updates))


def _median_ms(call, times: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(times):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return 1000 * statistics.median(samples)


def child(level: str, acts: int, updates: int) -> dict[str, float]:
    onednn, aten = LEVELS[level]
    env = dict(os.environ)
    for key, value in (("ONEDNN_MAX_CPU_ISA", onednn), ("ATEN_CPU_CAPABILITY", aten)):
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    out = subprocess.run([sys.executable, __file__, "--child", "--acts", str(acts),
                          "--updates", str(updates)], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--acts", type=int, default=15, help="timed acts per measure")
    parser.add_argument("--updates", type=int, default=3, help="timed updates per measure")
    parser.add_argument("--levels", default=",".join(LEVELS))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.acts, args.updates)))
        return
    from robovision.runtime import cpu_bf16_flag

    levels = args.levels.split(",")
    print(f"this CPU's bf16 flag: {cpu_bf16_flag()}; {os.cpu_count()} cores")
    rows: dict[str, list[dict[str, float]]] = {level: [] for level in levels}
    for round_ in range(args.rounds):
        for level in levels if round_ % 2 == 0 else reversed(levels):
            rows[level].append(child(level, args.acts, args.updates))
            print(f"round {round_ + 1} {level}: {rows[level][-1]}", flush=True)
    measures = list(rows[levels[0]][0])
    print("\n| ISA held to | " + " | ".join(f"{m}, ms" for m in measures)
          + " | bf16/fp32 act | bf16/fp32 update |")
    print("|---" * (len(measures) + 3) + "|")
    for level in levels:
        med = {m: statistics.median(r[m] for r in rows[level]) for m in measures}
        spread = {m: (min(r[m] for r in rows[level]), max(r[m] for r in rows[level]))
                  for m in measures}
        cells = [f"{med[m]:.1f} ({spread[m][0]:.1f}-{spread[m][1]:.1f})" for m in measures]
        ratios = [med["act10 bf16"] / med["act10 fp32"], med["update bf16"] / med["update fp32"]]
        print(f"| {level} | " + " | ".join(cells) + " | "
              + " | ".join(f"{r:.2f}" for r in ratios) + " |")


if __name__ == "__main__":
    main()
