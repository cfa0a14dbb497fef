"""`robovision check-env`, check by check: each finding on small envs built to pass or to
fail it, the boundary of each test, and the report a user reads."""

import math
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.envs.registration import EnvSpec

from robovision import checkenv
from robovision.checkenv import (
    Finding,
    check,
    check_actions,
    check_frames,
    check_gymnasium,
    check_speed,
    check_time_limit,
    report,
)
from robovision.make import make_env

SIZE = 8


def _by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in findings}


class Images(gym.Env):
    """Image observations from ``frame(t, seeded)``: ``t`` the steps since the reset,
    ``seeded`` a number drawn from the reset's seed. ``channels`` per frame, ``stack``
    frames stacked (the first ``stack - 1`` are the frame at reset); with ``state``,
    a dict of the image and a state vector."""

    def __init__(self, frame, channels=3, stack=1, dtype=np.uint8, state=False,
                 end_at=None) -> None:
        self.frame, self.stack, self.end_at = frame, stack, end_at
        self.dtype, self.state = dtype, state
        image = spaces.Box(0, 255, (channels * stack, SIZE, SIZE), dtype)
        self.observation_space = (spaces.Dict({"image": image,
                                               "state": spaces.Box(-1, 1, (4,), np.float32)})
                                  if state else image)
        self.action_space = spaces.Box(-1, 1, (1,), np.float32)
        self.channels, self.t, self.seeded, self.first = channels, 0, 0.0, None
        self.steps_after_end = 0

    def _obs(self):
        newest = np.broadcast_to(self.frame(self.t, self.seeded),
                                 (self.channels, SIZE, SIZE)).astype(self.dtype)
        image = np.concatenate([self.first] * (self.stack - 1) + [newest])
        return {"image": image, "state": np.zeros(4, np.float32)} if self.state else image

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.seeded = 0, float(self.np_random.integers(0, 50))
        self.first = np.broadcast_to(self.frame(0, self.seeded),
                                     (self.channels, SIZE, SIZE)).astype(self.dtype)
        return self._obs(), {}

    def step(self, action):
        if self.end_at is not None and self.t >= self.end_at:
            self.steps_after_end += 1
        self.t += 1
        ended = self.end_at is not None and self.t >= self.end_at
        return self._obs(), 0.0, ended, False, {}


def _gradient(t, seeded):
    """A frame with a gradient that shifts with time and with the seed."""
    return (np.arange(SIZE * SIZE).reshape(SIZE, SIZE) * 3 + 5 * t + seeded) % 256


def test_good_frames_pass_every_frame_check_and_say_what_they_are():
    found = _by_check(check_frames(Images(_gradient, stack=3), frame_stack=3, image_size=SIZE,
                                   seed=0, steps=5))
    assert {f.level for f in found.values()} == {"ok"}
    assert set(found) == {"frame shape", "reset with a seed", "frames change"}
    assert found["frame shape"].message == (f"(9, {SIZE}, {SIZE}) uint8, channels first "
                                            "(3 stacked RGB)")


def test_grey_frames_and_dict_observations_are_read_as_images():
    grey = _by_check(check_frames(Images(_gradient, channels=1, stack=2), 2, SIZE, 0, 5))
    assert grey["frame shape"].level == "ok" and "2 stacked grey" in grey["frame shape"].message
    fused = _by_check(check_frames(Images(_gradient, state=True), 1, SIZE, 0, 5))
    assert fused["frame shape"].level == "ok", fused  # the state vector is not an image
    assert fused["frame shape"].message.startswith(f"(3, {SIZE}, {SIZE})")

    class TwoCameras(Images):
        def _obs(self):
            image = super()._obs()
            return {"front": image, "wrist": 255 - image, "state": np.zeros(4, np.float32)}

    cameras = _by_check(check_frames(TwoCameras(_gradient), 2, SIZE, 0, 5))
    assert cameras["frame shape"].level == "ok", cameras  # stacked along channels
    assert cameras["frame shape"].message.startswith(f"(6, {SIZE}, {SIZE})")


def test_a_state_observation_has_no_frames_to_check():
    class State(Images):
        def _obs(self):
            return np.zeros(4, np.float32)

    found = check_frames(State(_gradient), 1, SIZE, 0, 5)
    assert [(f.level, f.check) for f in found] == [("fail", "frames")]
    assert "no pixel observation (got ndarray)" in found[0].message


@pytest.mark.parametrize(("channels", "size", "frame_stack"), [
    (2, SIZE, 1),          # two channels: neither RGB nor grey
    (3, SIZE, 2),          # 3 channels given, 2 frames said: 1.5 channels a frame
    (3, SIZE + 1, 1),      # another size than asked for
])
def test_frames_of_the_wrong_shape_fail_with_the_shape_expected(channels, size, frame_stack):
    found = _by_check(check_frames(Images(_gradient, channels=channels), frame_stack, size,
                                   0, 5))
    assert found["frame shape"].level == "fail"
    assert found["frame shape"].message.endswith(
        f", expected ({3 * frame_stack}, {size}, {size}) channels-first")


def test_float_frames_fail_the_dtype_check():
    found = _by_check(check_frames(Images(lambda t, s: _gradient(t, s) / 255, dtype=np.float32),
                                   1, SIZE, 0, 5))
    assert found["frame dtype"].level == "fail"
    assert found["frame dtype"].message.startswith("float32, expected uint8")


@pytest.mark.parametrize(("spread", "blank"), [(0, True), (1, True), (2, False)])
def test_a_frame_of_one_colour_is_blank_and_two_shades_apart_is_not(spread, blank):
    def nearly_flat(t, seeded):
        frame = np.full((SIZE, SIZE), 100 + t % 2)  # changes when stepped
        frame[0, 0] += spread
        return frame

    found = _by_check(check_frames(Images(nearly_flat), 1, SIZE, 0, 5))
    assert ("blank frame" in found) == blank
    if blank:
        assert found["blank frame"].message.startswith("every pixel is 100: black frames")


@pytest.mark.parametrize("channels", [3, 1], ids=["rgb", "grey"])
def test_only_the_newest_frame_of_a_stack_is_checked(channels):
    """The older frames of a stack carry a gradient; the newest is flat: blank. And the
    other way round: a flat start whose newest frame has a picture is not blank."""
    class FlatNewest(Images):
        def _obs(self):
            image = super()._obs()
            image[-channels:] = 7
            return image

    found = _by_check(check_frames(FlatNewest(_gradient, channels=channels, stack=3), 3, SIZE,
                                   0, 5))
    assert found["blank frame"].level == "fail"

    class FlatOldest(Images):
        def _obs(self):
            image = super()._obs()
            image[:-3] = 7
            return image

    assert "blank frame" not in _by_check(check_frames(FlatOldest(_gradient, stack=3), 3,
                                                       SIZE, 0, 5))


def test_frames_that_change_only_in_older_stack_slots_have_not_changed():
    class OldestMoves(Images):
        def _obs(self):
            image = super()._obs()
            image[-3:] = _gradient(0, 0)  # the newest frame never changes
            image[:3] = self.t % 256
            return image

    found = _by_check(check_frames(OldestMoves(_gradient, stack=3), 3, SIZE, 0, 4))
    assert found["frames change"].level == "fail"
    assert found["frames change"].message.startswith("4 random steps left the frame unchanged")


def test_an_env_that_ignores_its_seed_fails_the_reset_check():
    class Unseeded(Images):
        resets = 0

        def reset(self, *, seed=None, options=None):
            _, info = super().reset(seed=seed)
            type(self).resets += 1
            self.seeded = float(self.resets)
            return self._obs(), info

    found = _by_check(check_frames(Unseeded(_gradient), 1, SIZE, 0, 5))
    assert found["reset with a seed"].level == "fail"
    assert "ignores the seed" in found["reset with a seed"].message


def test_frames_change_resets_an_episode_that_ends_before_the_frame_changes():
    env = Images(lambda t, seeded: _gradient(0, 0) + (t > 3), end_at=2)
    found = _by_check(check_frames(env, 1, SIZE, 0, 10))
    assert found["frames change"].level == "fail"  # reset at t=2, the frame never moves
    assert env.steps_after_end == 0  # never stepped past its end


# --------------------------------------------------------------------------- actions


class Acting(gym.Env):
    observation_space = spaces.Box(-1, 1, (2,), np.float32)

    def __init__(self, action_space) -> None:
        self.action_space = action_space


def test_discrete_actions_are_for_ppo_and_other_spaces_fail():
    discrete = check_actions(Acting(spaces.Discrete(4)), Acting(spaces.Discrete(4)))
    assert [(f.level, f.message) for f in discrete] == [("ok", "Discrete(4): PPO only")]
    other = Acting(spaces.MultiBinary(3))
    [finding] = check_actions(other, other)
    assert finding.level == "fail" and "take Box or Discrete" in finding.message


@pytest.mark.parametrize(("low", "high"), [(-np.inf, 1.0), (-1.0, np.inf)])
def test_unbounded_actions_fail_with_the_fix(low, high):
    env = Acting(spaces.Box(np.array([-1.0, low], np.float32), np.array([1.0, high], np.float32)))
    [finding] = check_actions(env, env)
    assert (finding.level, finding.check) == ("fail", "action bounds")
    assert "give the actuators finite limits" in finding.message


@pytest.mark.parametrize(("low", "high", "level"), [
    ((-1.0, -0.5), (1.0, 0.5), "ok"), ((-0.5, -1.0), (0.5, 1.0), "ok"),
    ((-0.5, -1.01), (1.0, 1.0), "fail"), ((-1.0, -1.0), (0.5, 1.01), "fail")])
def test_actions_must_be_rescaled_into_minus_one_to_one(low, high, level):
    """Every dimension within [-1, 1], whichever dimension is out."""
    base = Acting(spaces.Box(np.array([-2.54321, 0.0], np.float32),
                             np.array([4.0, 1.23456], np.float32)))
    seen = Acting(spaces.Box(np.array(low, np.float32), np.array(high, np.float32)))
    [finding] = check_actions(base, seen)
    assert finding.level == level
    if level == "ok":  # the base env's own bounds, said to 3 decimals
        assert finding.message == "[-2.543, 0.0]..[4.0, 1.235], rescaled to [-1, 1]"


# --------------------------------------------------------------------------- episode ends


class Episodes(gym.Env):
    """A state env whose step ``t`` (from 1) gives ``outcome(t) -> (reward, terminated,
    truncated)``."""

    observation_space = spaces.Box(-1, 1, (2,), np.float32)
    action_space = spaces.Box(-1, 1, (1,), np.float32)

    def __init__(self, outcome, limit=None, limit_on_env=False) -> None:
        self.outcome, self.t = outcome, 0
        if limit is not None and limit_on_env:
            self.max_episode_steps = limit
        elif limit is not None:
            self.spec = EnvSpec("Episodes-v0", max_episode_steps=limit)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        return (np.zeros(2, np.float32), *self.outcome(self.t), {})


def _one(findings: list[Finding]) -> tuple[str, str, str]:
    [finding] = findings
    return finding.level, finding.check, finding.message


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_reward_that_is_not_finite_fails_at_its_step(bad):
    env = Episodes(lambda t: (bad if t == 3 else 0.0, False, False))
    assert _one(check_time_limit(env, 10, 0)) == ("fail", "reward", f"{bad} at step 3")


def test_an_end_both_terminated_and_truncated_fails():
    env = Episodes(lambda t: (0.0, t == 4, t == 4))
    level, _, message = _one(check_time_limit(env, 10, 0))
    assert level == "fail" and message.startswith("step 4 is both terminated and truncated")


@pytest.mark.parametrize("limit_on_env", [False, True], ids=["spec", "attribute"])
def test_terminated_exactly_at_the_time_limit_warns(limit_on_env):
    env = Episodes(lambda t: (0.0, t == 6, False), limit=6, limit_on_env=limit_on_env)
    level, _, message = _one(check_time_limit(env, 10, 0))
    assert level == "warn"
    assert message.startswith("the first episode ended at agent step 6, terminated, exactly "
                              "at the time limit")


@pytest.mark.parametrize(("end", "terminated", "kind"), [
    (5, True, "terminated"), (6, False, "truncated (time limit)")])
def test_an_episode_that_ends_as_it_should_is_said(end, terminated, kind):
    env = Episodes(lambda t: (0.0, terminated and t == end, not terminated and t == end),
                   limit=6)
    assert _one(check_time_limit(env, 20, 0)) == (
        "ok", "episode end", f"the first episode ended at agent step {end}, {kind}")


def test_an_env_that_never_ends_is_told_to_get_a_time_limit():
    env = Episodes(lambda t: (0.0, False, False))
    level, _, message = _one(check_time_limit(env, 7, 0))
    assert level == "warn" and message.startswith("no episode ended within 7 steps")
    assert env.t == 7


# --------------------------------------------------------------------------- speed, gymnasium


def test_speed_steps_the_env_the_steps_asked_and_times_its_renders():
    env = make_env("Pendulum-v1", obs="pixels", image_size=16, frame_stack=1, action_repeat=1)
    base = env.unwrapped
    calls = {"step": 0, "render": 0}
    step, render = base.step, base.render

    def counted_step(action):
        calls["step"] += 1
        return step(action)

    def counted_render():
        calls["render"] += 1
        return render()

    base.step, base.render = counted_step, counted_render
    found = check_speed(env, 13)
    assert calls == {"step": 13, "render": 1 + 13 + 20}  # reset, each step, 20 timed
    assert [f.check for f in found] == ["speed", "render time"]
    assert found[0].message.endswith(" agent steps/s") and float(found[0].message.split()[0]) > 0
    assert found[1].message.endswith(" ms per frame")
    state = check_speed(Episodes(lambda t: (0.0, False, False)), 5)
    assert [f.check for f in state] == ["speed"]  # no pixel wrapper: no render time


@pytest.mark.parametrize("ends", ["terminated", "truncated"])
def test_speed_resets_each_episode_that_ends(ends):
    class Strict(Episodes):
        """Ends every 3 steps, and refuses a step after its end."""

        resets = 0

        def reset(self, *, seed=None, options=None):
            self.resets += 1
            return super().reset(seed=seed)

        def step(self, action):
            assert self.t < 3, "stepped past the end of its episode"
            return super().step(action)

    env = Strict(lambda t: (0.0, ends == "terminated" and t == 3, ends == "truncated" and t == 3))
    check_speed(env, 10)
    assert env.resets == 1 + 3  # the timed run's reset and one after each end


def test_the_gymnasium_checker_passes_warns_or_fails():
    assert _one(check_gymnasium(Episodes(lambda t: (0.0, False, False)))) == (
        "ok", "gymnasium checker", "passed")

    class Warns(Episodes):
        def step(self, action):
            warnings.warn("\x1b[33mthis step is odd\x1b[0m", UserWarning, stacklevel=1)
            warnings.warn("bounds are infinity", UserWarning, stacklevel=1)
            return super().step(action)

    warned = check_gymnasium(Warns(lambda t: (0.0, False, False)))
    assert [(f.level, f.message) for f in warned] == [("warn", "this step is odd")]

    class Fails(Episodes):
        def reset(self, *, seed=None, options=None):
            return np.zeros(3, np.float32), {}  # not in the observation space

    level, check_name, message = _one(check_gymnasium(Fails(lambda t: (0.0, False, False))))
    assert (level, check_name) == ("fail", "gymnasium checker") and ": " in message


def test_the_gymnasium_checker_sees_the_env_as_its_adapter_serves_it(monkeypatch):
    """Wrappers from robovision.envs are the task (checked); other wrappers above it are
    peeled off, down to the base env when there is no adapter."""
    seen = []
    monkeypatch.setattr("gymnasium.utils.env_checker.check_env",
                        lambda env, skip_render_check: seen.append(env))
    base = Episodes(lambda t: (0.0, False, False))
    adapter = type("Adapter", (gym.Wrapper,), {"__module__": "robovision.envs.fake"})(base)
    check_gymnasium(gym.wrappers.ClipAction(adapter))
    check_gymnasium(gym.wrappers.ClipAction(gym.wrappers.ClipAction(base)))
    assert seen == [adapter, base]


# --------------------------------------------------------------------------- check, report


def test_check_of_a_state_env_skips_the_frames():
    found = check("Pendulum-v1", obs="state", steps=5, max_steps=300)
    assert [f.check for f in found] == ["gymnasium checker", "action bounds", "episode end",
                                        "speed"]
    assert _by_check(found)["episode end"].message.endswith("200, truncated (time limit)")


def test_check_of_pixels_runs_every_check_and_closes_the_env(monkeypatch):
    closed = []
    monkeypatch.setattr(gym.Wrapper, "close", lambda self: closed.append(type(self).__name__))
    found = check("Pendulum-v1", image_size=16, frame_stack=2, steps=5, max_steps=300)
    assert [f.check for f in found] == ["gymnasium checker", "frame shape", "reset with a seed",
                                        "frames change", "action bounds", "episode end",
                                        "speed", "render time"]
    assert _by_check(found)["frame shape"].message.startswith("(6, 16, 16)")
    assert closed, "the env was not closed"


def test_check_says_where_construction_or_stepping_broke(monkeypatch):
    [finding] = check("NoSuchEnv-v9", obs="state")
    assert (finding.level, finding.check) == ("fail", "construction")

    def broken(*args, **kwargs):
        raise ValueError("the step broke")

    monkeypatch.setattr(checkenv, "check_time_limit", broken)
    found = check("Pendulum-v1", obs="state", steps=5)
    assert found[-1] == Finding("fail", "running", "ValueError: the step broke")
    assert "speed" not in _by_check(found)


def test_the_report_marks_each_finding_and_counts_the_failures():
    findings = [Finding("ok", "a", "fine"), Finding("warn", "b", "hm"),
                Finding("fail", "c", "bad"), Finding("fail", "d", "worse")]
    assert report("my-env", findings).splitlines() == [
        "robovision check-env my-env", "  ok   a: fine", "  WARN b: hm", "  FAIL c: bad",
        "  FAIL d: worse", "2 problem(s) to fix"]
    assert report("my-env", findings[:2]).splitlines()[-1] == "ready to train"
