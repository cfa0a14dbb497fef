"""gymnasium-robotics' goal tasks as robotics/<ID>: the compatibility layer that makes
them load on current MuJoCo, their observations, success signal, cameras and seeds."""

import warnings

import mujoco
import numpy as np
import pytest

pytest.importorskip("gymnasium_robotics")  # the optional extra; `make setup` installs it

import gymnasium as gym
from gymnasium.utils.env_checker import check_env

from robovision import make_env
from robovision.envs import robotics
from robovision.make import available_specs


def test_the_task_table_is_the_installed_packages():
    robotics.load()
    for task, steps in robotics.TASKS.items():
        spec = gym.spec(task)
        assert spec.max_episode_steps == steps, task
        assert "MujocoPy" not in str(spec.entry_point), task  # the MuJoCo-bindings version
    listed = [s for s in available_specs() if s.startswith(robotics.ROBOTICS_PREFIX)]
    assert sorted(listed) == sorted(robotics.ROBOTICS_PREFIX + t for t in robotics.TASKS)


@pytest.mark.parametrize("task", list(robotics.TASKS))
def test_every_task_loads_steps_renders_and_resets_by_seed(task):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # gymnasium's notes on infinite bounds
        state = make_env(f"robotics/{task}", obs="state")
        check_env(state.unwrapped, skip_render_check=True)  # the layer's own accessors
        first, _ = state.reset(seed=3)
        again, _ = state.reset(seed=3)
        other, _ = state.reset(seed=4)
        assert np.array_equal(first, again) and not np.array_equal(first, other)
        assert state.observation_space.contains(first)
        _, reward, _, truncated, info = state.step(state.action_space.sample())
        assert info["success"] in (0.0, 1.0) and np.isfinite(reward) and not truncated
        state.close()
        kinds = ("pixels", "state+pixels") if task == "FetchReach-v4" else ("pixels",)
        for kind in kinds:
            env = make_env(f"robotics/{task}", obs=kind, image_size=84, frame_stack=1)
            obs, _ = env.reset(seed=3)
            image = obs["pixels"] if kind == "state+pixels" else obs
            assert image.shape == (3, 84, 84) and image.dtype == np.uint8 and image.std() > 5
            if kind == "state+pixels":
                assert np.array_equal(obs["state"], first)
            env.close()


def test_episodes_end_at_the_tasks_time_limit_as_truncated():
    env = make_env("robotics/FetchPush-v4")
    env.reset(seed=0)
    zero = np.zeros(env.action_space.shape, np.float32)
    ends = [env.step(zero)[2:4] for _ in range(robotics.TASKS["FetchPush-v4"])]
    assert ends[-1] == (False, True) and all(end == (False, False) for end in ends[:-1])
    env.close()


def _model_with_every_joint_type() -> tuple[mujoco.MjModel, mujoco.MjData]:
    model = mujoco.MjModel.from_xml_string("""
    <mujoco><worldbody>
      <body><joint name="hinge" type="hinge"/><geom size=".1"/>
        <body><joint name="ball" type="ball"/><geom size=".1"/>
          <body><joint name="slide" type="slide"/><geom size=".1"/></body></body>
      </body>
      <body><joint name="free" type="free"/><geom size=".1"/></body>
    </worldbody></mujoco>""")
    return model, mujoco.MjData(model)


@pytest.mark.parametrize(("joint", "qpos_width", "qvel_width"),
                         [("hinge", 1, 1), ("free", 7, 6), ("ball", 4, 3), ("slide", 1, 1)])
def test_joint_accessors_write_and_read_where_mujoco_keeps_the_joint(joint, qpos_width,
                                                                     qvel_width):
    model, data = _model_with_every_joint_type()
    jid = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_JOINT, joint)
    qpos = np.arange(1, qpos_width + 1) / 10
    qvel = -np.arange(1, qvel_width + 1) / 10
    robotics.set_joint_qpos(model, data, joint, qpos if qpos_width > 1 else qpos[0])
    robotics.set_joint_qvel(model, data, joint, qvel if qvel_width > 1 else qvel[0])
    start, dof = model.jnt_qposadr[jid], model.jnt_dofadr[jid]
    assert np.array_equal(data.qpos[start:start + qpos_width], qpos)
    assert np.array_equal(data.qvel[dof:dof + qvel_width], qvel)
    untouched_qpos = np.delete(np.arange(model.nq), np.arange(start, start + qpos_width))
    untouched_qvel = np.delete(np.arange(model.nv), np.arange(dof, dof + qvel_width))
    assert np.array_equal(data.qpos[untouched_qpos], model.qpos0[untouched_qpos])
    assert not data.qvel[untouched_qvel].any()  # nothing written elsewhere
    read = robotics.get_joint_qpos(model, data, joint)
    assert np.array_equal(read, qpos) and np.array_equal(
        robotics.get_joint_qvel(model, data, joint), qvel)
    read[:] = 0  # a copy, not a view into the simulation
    assert np.array_equal(data.qpos[start:start + qpos_width], qpos)


def test_joint_accessors_name_a_bad_joint_or_value():
    model, data = _model_with_every_joint_type()
    with pytest.raises(ValueError, match="joint 'elbow' is not part of the model"):
        robotics.get_joint_qpos(model, data, "elbow")
    with pytest.raises(ValueError, match="joint 'free' takes 7 values, got shape"):
        robotics.set_joint_qpos(model, data, "free", [0.0, 0.0, 1.0])


def test_the_tasks_use_the_layers_accessors():
    from gymnasium_robotics.utils import mujoco_utils

    robotics.load()
    for name, accessor in robotics.JOINT_ACCESSORS.items():
        assert getattr(mujoco_utils, name) is accessor


def _towards(grip: np.ndarray, target: np.ndarray, gripper: float) -> np.ndarray:
    return np.append(np.clip(10 * (target - grip), -1, 1), gripper).astype(np.float32)


def _pick_and_place(obs: np.ndarray, phase: dict) -> np.ndarray:
    """Above the object, down, close the fingers, carry it to the goal."""
    grip, obj, goal = obs[0:3], obs[3:6], obs[-3:]  # observation starts grip, object
    above = obj + np.array([0.0, 0.0, 0.05])
    if phase["name"] == "above" and np.linalg.norm(above - grip) < 0.01:
        phase["name"] = "down"
    if phase["name"] == "down" and np.linalg.norm(obj - grip) < 0.01:
        phase.update(name="grasp", steps=0)
    if phase["name"] == "grasp":
        phase["steps"] += 1
        if phase["steps"] > 3:
            phase["name"] = "carry"
    target = {"above": above, "down": obj, "grasp": obj, "carry": goal}[phase["name"]]
    return _towards(grip, target, 1.0 if phase["name"] in ("above", "down") else -1.0)


def _straight_to_the_goal(obs: np.ndarray, phase: dict) -> np.ndarray:
    return _towards(obs[0:3], obs[-3:], -1.0)


def _final_success(policy, seed: int) -> float:
    env = make_env("robotics/FetchPickAndPlace-v4")
    obs, _ = env.reset(seed=seed)
    phase, done = {"name": "above"}, False
    while not done:
        obs, _, terminated, truncated, info = env.step(policy(obs, phase))
        done = terminated or truncated
    env.close()
    return info["success"]


def test_a_scripted_pick_and_place_succeeds_and_ignoring_the_object_fails():
    """The object must be where the observation says (set through the free-joint
    accessor at reset), the fingers must hold it, and success must come from the
    object at the goal: carrying nothing to the goal is not a success."""
    seeds = range(4)
    assert [_final_success(_pick_and_place, s) for s in seeds] == [1.0] * 4
    assert [_final_success(_straight_to_the_goal, s) for s in seeds] == [0.0] * 4


def test_a_camera_by_name_renders_its_view_and_a_bad_name_lists_the_cameras():
    free = make_env("robotics/FetchReach-v4", obs="pixels", frame_stack=1)
    side = make_env("robotics/FetchReach-v4", obs="pixels", frame_stack=1,
                    camera="external_camera_0")
    a, _ = free.reset(seed=0)
    b, _ = side.reset(seed=0)
    assert b.std() > 5 and np.abs(a.astype(int) - b.astype(int)).mean() > 10
    free.close()
    side.close()
    with pytest.raises(ValueError, match=r"camera 'wrist' does not exist.*external_camera_0"):
        make_env("robotics/FetchReach-v4", obs="pixels", camera="wrist")


def test_without_the_package_the_error_says_how_to_install(hide_package):
    hide_package("gymnasium_robotics")
    with pytest.raises(robotics.RoboticsNotInstalledError, match=r"robovision\[robotics\]"):
        make_env("robotics/FetchReach-v4")
