"""How many aten ops one eager update of a preset's agent dispatches (issue 11).

On a GPU each op is a call from Python through the dispatcher and, mostly, a kernel
launch; a CUDA graph (``train.cuda_graph=true``) replaces them with a handful of host
calls. Counted on random batches shaped like the preset's observations, after two
warm-up updates, on the CPU.

    python scripts/count_update_ops.py cheetah_run_pixels halfcheetah_sac
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("MUJOCO_GL", "egl")


def count_ops(preset: str, batch_size: int = 16) -> int:
    import torch

    from robovision import factory
    from robovision.agents.graph import OpRecorder
    from robovision.config import load_config
    from robovision.replay import Batch

    cfg = load_config(preset, ["device=cpu", "train.video=false"])
    env = factory.build_env(cfg, seed=0)
    space, actions = env.observation_space, env.action_space
    agent = factory.build_agent(cfg, space, actions, torch.device("cpu"))
    env.close()

    def observations() -> torch.Tensor:
        if space.dtype == "uint8":
            return torch.randint(0, 256, (batch_size, *space.shape), dtype=torch.uint8)
        return torch.randn(batch_size, *space.shape)

    def batch() -> Batch:
        return Batch(obs=observations(), action=torch.rand(batch_size, *actions.shape) * 2 - 1,
                     reward=torch.randn(batch_size), next_obs=observations(),
                     discount=torch.full((batch_size,), 0.99))

    for _ in range(2):
        agent.update(batch())
    with OpRecorder() as recorder:
        agent.update(batch())
    return len(recorder.ops)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("presets", nargs="+", help="off-policy presets with Box observations")
    args = parser.parse_args()
    for preset in args.presets:
        print(f"{preset}: {count_ops(preset)} aten ops per eager update")


if __name__ == "__main__":
    main()
