"""make_env and the dm_control adapter."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from robovision import make_env
from robovision.make import UnknownEnvError, available_specs


def test_dmc_adapter_passes_gymnasium_check_env():
    env = make_env("dmc/cartpole-swingup", seed=0)
    check_env(env.unwrapped, skip_render_check=True)
    obs, _ = env.reset(seed=1)
    assert obs.dtype == np.float32 and obs.shape == env.observation_space.shape
    env.close()


def test_dmc_time_limit_is_truncation_not_termination():
    env = make_env("dmc/cheetah-run", seed=0, task_kwargs={"time_limit": 0.1})
    env.reset(seed=0)
    steps, terminated, truncated = 0, False, False
    while not (terminated or truncated):
        _, _reward, terminated, truncated, _ = env.step(env.action_space.sample())
        steps += 1
    assert truncated and not terminated
    assert steps == 10  # 0.1 s at cheetah's 0.01 s control step
    env.close()


def test_dmc_seeding_is_reproducible():
    a, b = make_env("dmc/walker-walk"), make_env("dmc/walker-walk")
    oa, _ = a.reset(seed=7)
    ob, _ = b.reset(seed=7)
    oc, _ = b.reset(seed=8)
    assert np.array_equal(oa, ob) and not np.array_equal(oa, oc)


def test_every_suite_task_is_listed():
    from robovision.envs import SUITE_TASKS, dmc_id, dmc_tasks

    assert sorted(SUITE_TASKS) == dmc_tasks()  # the static table is the installed suite's
    specs = available_specs()
    assert {dmc_id(d, t) for d, t in dmc_tasks()} <= set(specs)
    assert "HalfCheetah-v5" in specs


def test_importing_robovision_registers_its_ids_without_dm_control_or_torch():
    import subprocess
    import sys

    code = ("import sys, gymnasium as gym, robovision\n"
            "gym.register_envs(robovision)\n"
            "ids = [i for i in gym.registry if i.startswith(('robovision/', 'dmc/'))]\n"
            "heavy = [m for m in ('dm_control', 'torch', 'mujoco') if m in sys.modules]\n"
            "env = gym.make('robovision/PointReach-v0')\n"
            "print(len(ids), heavy, type(env.unwrapped).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert int(out[0]) >= 55 and out[1] == "[]" and out[2] == "PointReach"


def test_action_space_is_rescaled_to_unit_box():
    env = make_env("Pendulum-v1", seed=0)
    assert env.action_space.low.tolist() == [-1.0] and env.action_space.high.tolist() == [1.0]
    # +1 must reach the real torque limit (2.0): the rescale is linear onto [low, high]
    assert env.unwrapped.action_space.high[0] == pytest.approx(2.0)


def test_unknown_spec_suggests_closest():
    with pytest.raises(UnknownEnvError, match="dmc/cheetah-run"):
        make_env("dmc/cheetah-rn")
    with pytest.raises(UnknownEnvError, match="HalfCheetah-v5"):
        make_env("HalfCheeta-v5")


def test_bad_obs_kind():
    with pytest.raises(ValueError, match="obs='depth'"):
        make_env("Pendulum-v1", obs="depth")


def _place_mass(env, xy):
    physics = env.unwrapped.physics
    with physics.reset_context():
        physics.named.data.qpos[["root_x", "root_y"]] = xy


def test_point_mass_reach_is_a_dense_dm_control_task():
    env = make_env("robovision/PointMassReach-v0", seed=0)
    check_env(env.unwrapped, skip_render_check=True)
    env.reset(seed=0)
    zero = np.zeros(env.action_space.shape, np.float32)
    rewards = {}
    for name, xy in {"target": [0.0, 0.0], "halfway": [0.15, 0.0], "wall": [0.29, 0.0]}.items():
        _place_mass(env, xy)
        rewards[name] = env.step(zero)[1]
    # falls with the distance across the whole arena (the suite's easy task pays only
    # within the target's radius)
    assert rewards["target"] > 0.95
    assert 0.3 < rewards["halfway"] < 0.7
    assert rewards["wall"] < 0.1
    env.close()


def test_dmc_env_takes_a_custom_loader():
    from robovision.envs.dmc import DMCEnv
    from robovision.envs.point_mass_reach import DenseReach, load

    env = DMCEnv("point_mass", "reach", loader=load)
    assert isinstance(env.dm_env.task, DenseReach)
    assert env.observation_space.shape == (4,)


def test_custom_dm_control_task_takes_pixels_and_a_named_camera():
    env = make_env("robovision/PointMassReach-v0", obs="pixels", image_size=32, frame_stack=2,
                   camera="cam0", seed=0)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (6, 32, 32) and obs.dtype == np.uint8 and obs.max() > 0
    with pytest.raises(ValueError, match="cameras"):
        make_env("robovision/PointMassReach-v0", obs="pixels", image_size=32, camera="nope")


def test_a_spec_with_a_colon_is_a_factory_unless_it_is_an_mjcf_file_or_a_registered_id():
    from robovision.make import is_factory

    assert is_factory("my_robot.envs:make_arm")
    assert is_factory("envs/arm.py:make")
    assert not is_factory("mjcf:scenes/arm.xml")  # a MuJoCo scene, built by MJCFEnv
    assert not is_factory("HalfCheetah-v5")
    assert not is_factory("gymnasium.envs.mujoco:HalfCheetah-v5")  # gymnasium's module:ID


class _ActionBoundsEnv(gym.Env):
    """An env with the action bounds a test gives it."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, low, high):
        self.action_space = gym.spaces.Box(np.array(low, np.float32), np.array(high, np.float32))

    def reset(self, *, seed=None, options=None):
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), 0.0, False, False, {}


@pytest.mark.parametrize(("low", "high", "rescaled"), [
    ([-1.0, -1.0], [2.0, 2.0], True),  # one side off [-1, 1] is enough
    ([-3.0, -1.0], [1.0, 1.0], True),
    ([-1.0, -1.0], [1.0, 2.0], True),
    ([-1.0, -1.0], [1.0, 1.0], False),  # already there
    ([-1.0, -np.inf], [1.0, np.inf], False),  # one unbounded dimension: left alone
    ([-2.0, -np.inf], [2.0, 2.0], False),
    ([-2.0, -2.0], [2.0, np.inf], False),
])
def test_bounded_actions_are_rescaled_to_the_unit_box_and_only_those(low, high, rescaled):
    from robovision.make import action_repeat_of

    env_id = "robovision-test/ActionBounds-v0"
    gym.register(env_id, entry_point=_ActionBoundsEnv)
    try:
        env = make_env(env_id, low=low, high=high)
    finally:
        del gym.registry[env_id]  # leave the registry as other tests list it
    assert isinstance(env, gym.wrappers.RescaleAction) is rescaled
    if rescaled:
        assert env.action_space.low.tolist() == [-1.0, -1.0]
        assert env.action_space.high.tolist() == [1.0, 1.0]
    assert action_repeat_of(env) == 1  # state: no repeat wrapper, and none reported
    env.close()
