"""Meta-World's tasks as metaworld/<task>: the weld fix that makes them load on current
MuJoCo, the goal in the state, seeded resets, success, cameras; and Meta-World's own
scripted policies, which must succeed through robovision's env."""

import warnings

import mujoco
import numpy as np
import pytest

pytest.importorskip("metaworld")  # the optional extra; `make setup` installs it

from gymnasium.utils.env_checker import check_env

from robovision import make_env
from robovision.envs import meta_world
from robovision.make import available_specs

CHECKED = ("reach-v3", "push-v3", "pick-place-v3", "door-open-v3")
"""Tasks that also go through gymnasium's checker, pixels and a scripted policy."""


def test_the_task_table_is_the_installed_packages():
    meta_world.load()
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    assert sorted(meta_world.TASKS) == sorted(ALL_V3_ENVIRONMENTS)
    listed = [s for s in available_specs() if s.startswith(meta_world.METAWORLD_PREFIX)]
    assert sorted(listed) == sorted(meta_world.METAWORLD_PREFIX + t for t in meta_world.TASKS)


def test_every_task_loads_steps_and_resets_by_seed():
    for task in meta_world.TASKS:
        env = make_env(f"metaworld/{task}")
        first, _ = env.reset(seed=3)
        again, _ = env.reset(seed=3)
        other, _ = env.reset(seed=4)
        assert np.array_equal(first, again), task
        assert not np.array_equal(first, other), task  # positions drawn from the seed
        assert env.observation_space.contains(first), task
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs) and np.isfinite(reward), task
        assert info["success"] in (0.0, 1.0) and not (terminated or truncated), task
        assert np.array_equal(obs[-3:], other[-3:]) and obs[-3:].any(), task  # the goal
        env.close()


@pytest.mark.parametrize("task", CHECKED)
def test_checked_tasks_pass_gymnasiums_checker_and_render(task):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gymnasium's notes on infinite bounds
        env = meta_world.make(task)  # the adapter, whose resets honour the seed
        check_env(env, skip_render_check=True)
        env.close()
    kinds = ("pixels", "state+pixels") if task == "reach-v3" else ("pixels",)
    for kind in kinds:
        env = make_env(f"metaworld/{task}", obs=kind, image_size=84, frame_stack=1)
        obs, _ = env.reset(seed=3)
        again, _ = env.reset(seed=3)
        image = obs["pixels"] if kind == "state+pixels" else obs
        assert image.shape == (3, 84, 84) and image.dtype == np.uint8 and image.std() > 5
        assert np.array_equal(image, again["pixels"] if kind == "state+pixels" else again)
        env.close()


def test_welds_get_meta_worlds_values_and_keep_the_models_last_column():
    env = make_env("metaworld/pick-place-v3")
    model = env.unwrapped.model
    compiled = mujoco.MjModel.from_xml_path(env.unwrapped.model_name)
    welds = [row for row, kind in enumerate(model.eq_type)
             if kind == mujoco.mjtEq.mjEQ_WELD]
    assert welds and model.eq_data.shape[1] > len(meta_world.WELD_VALUES)
    for row in welds:
        assert np.array_equal(model.eq_data[row, :11], meta_world.WELD_VALUES)
        assert np.array_equal(model.eq_data[row, 11:], compiled.eq_data[row, 11:])
    env.close()


def _success_within_the_episode(task: str, seed: int, scripted: bool) -> float:
    from metaworld.policies import ENV_POLICY_MAP

    env = make_env(f"metaworld/{task}")
    policy = ENV_POLICY_MAP[task]()
    obs, _ = env.reset(seed=seed)
    best, done = 0.0, False
    while not done:
        action = policy.get_action(obs) if scripted else np.zeros(4, np.float32)
        obs, _, terminated, truncated, info = env.step(np.clip(action, -1, 1))
        best, done = max(best, info["success"]), terminated or truncated
    env.close()
    return best


@pytest.mark.filterwarnings("ignore:Constant")  # the policies' own note on their gains
@pytest.mark.parametrize("task", CHECKED)
def test_meta_worlds_scripted_policy_succeeds_and_standing_still_does_not(task):
    """The arm must follow its mocap (the welds), objects and goals must be where the
    state says, and success must mean the task is done."""
    seeds = (0, 1)
    assert [_success_within_the_episode(task, s, scripted=True) for s in seeds] == [1.0, 1.0]
    assert [_success_within_the_episode(task, s, scripted=False) for s in seeds] == [0.0, 0.0]


def test_a_bad_camera_lists_the_cameras():
    with pytest.raises(ValueError, match=r"camera 'wrist' does not exist.*corner2"):
        make_env("metaworld/reach-v3", obs="pixels", camera="wrist")


def test_without_the_package_the_error_says_how_to_install(hide_package):
    hide_package("metaworld")
    with pytest.raises(meta_world.MetaWorldNotInstalledError,
                       match=r"robovision\[metaworld\]"):
        make_env("metaworld/reach-v3")


def test_check_env_checks_the_adapter_whose_resets_honour_the_seed():
    from robovision.checkenv import check

    findings = check("metaworld/reach-v3", obs="state")
    assert not [f for f in findings if f.level == "fail"], findings
    assert any(f.check == "gymnasium checker" and f.level != "fail" for f in findings)
