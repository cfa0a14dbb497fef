"""Replay bytes per transition for 84x84 RGB with frame stack 3: robovision's frame
store vs DrQ-v2's layout (stacked observation per step) vs obs + next_obs.

Fills the real ReplayBuffer with cheetah-run episodes (1000 frames, action repeat
2 -> 500 transitions each) and divides the bytes held by the transitions stored.

    python scripts/bench_replay.py --episodes 4
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("MUJOCO_GL", "egl")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--episodes", type=int, default=4)
    args = parser.parse_args()

    from robovision import make_env
    from robovision.replay import ReplayBuffer

    env = make_env("dmc/cheetah-run", obs="pixels", seed=0, action_repeat=2)
    capacity = args.episodes * 501
    buffer = ReplayBuffer(env.observation_space, env.action_space, capacity, gamma=0.99,
                          n_step=3, frame_stack=3)
    transitions = 0
    for episode in range(args.episodes):
        obs, _ = env.reset(seed=episode)
        done = False
        while not done:
            action = env.action_space.sample()
            next_obs, reward, terminated, truncated, _ = env.step(action)
            buffer.add(obs, action, reward, next_obs, terminated, truncated)
            obs, done, transitions = next_obs, terminated or truncated, transitions + 1
    env.close()
    held = sum(t.numel() * t.element_size() for t in
               (*buffer.obs.values(), buffer.action, buffer.reward, buffer.terminated, buffer.last,
                buffer.has_action, buffer.episode_start))
    frame = 3 * 84 * 84
    per = held / transitions
    print(f"{transitions} transitions in {buffer.t} slots ({args.episodes} cheetah-run episodes)")
    print("| layout | bytes per transition | vs robovision |")
    print("|---|---|---|")
    print(f"| robovision frame store (measured) | {per:,.0f} | 1.0x |")
    print(f"| DrQ-v2 (stacked obs per step, 9x84x84) | {3 * frame:,} | {3 * frame / per:.1f}x |")
    print(f"| obs + next_obs stored (2 x 9x84x84) | {6 * frame:,} | {6 * frame / per:.1f}x |")


if __name__ == "__main__":
    main()
