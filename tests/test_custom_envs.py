"""Bring your own environment: an MJCF scene with named cameras, a factory, any gymnasium
env from pixels; `robovision check-env` passing on the examples and failing, with the
right message, on broken envs; bad input named at construction or at the first step."""

import math
import sys
import textwrap
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

from robovision import make_env
from robovision.checkenv import check
from robovision.checkpoint import load_checkpoint
from robovision.cli import main
from robovision.envs import MJCFError
from robovision.wrappers import RenderError
from robovision.wrappers.pixels import pixel_wrapper

ROOT = Path(__file__).resolve().parents[1]
REACH = ROOT / "examples" / "mjcf_reach"
REWARD = f"{REACH / 'reach.py'}:reward"
TINY = ["train.total_steps=200", "train.learning_starts=100", "train.batch_size=16",
        "agent.hidden=32,32", "train.eval_every=0", "train.eval_episodes=1",
        "train.progress=false", "train.checkpoint_every=0"]


def _reach(**kwargs):
    options = {"reward": REWARD, "max_episode_steps": 20, **kwargs}
    return make_env(f"mjcf:{REACH / 'reach.xml'}", obs="pixels", image_size=48,
                    frame_stack=1, action_repeat=1, **options)


def test_mjcf_cameras_stack_along_channels():
    both = _reach(camera=["front", "wrist"])
    obs, _ = both.reset(seed=0)
    front, wrist = _reach(camera="front"), _reach(camera="wrist")
    assert obs.shape == (6, 48, 48)
    assert np.array_equal(obs[:3], front.reset(seed=0)[0])
    assert np.array_equal(obs[3:], wrist.reset(seed=0)[0])
    for env in (both, front, wrist):
        env.close()
    with pytest.raises(RenderError, match="several cameras"):
        make_env("InvertedPendulum-v5", obs="pixels", camera=["a", "b"])
    with pytest.raises(RenderError, match=r"distinct names.*\['front', 'front'\]"):
        _reach(camera=["front", "front"], camera_views="dict")
    with pytest.raises(ValueError, match="camera views 'grid' is not 'channels' or 'dict'"):
        _reach(camera=["front", "wrist"], camera_views="grid")


def test_mjcf_scene_with_named_cameras(tmp_path):
    front, wrist = _reach(camera="front"), _reach(camera="wrist")
    a, b = front.reset(seed=0)[0], wrist.reset(seed=0)[0]
    assert a.shape == b.shape == (3, 48, 48) and not np.array_equal(a, b)
    assert front.unwrapped.observation_space.shape == (2 + 2 + 3,)  # qpos, qvel, sensor
    rewards = []
    for _ in range(20):
        _, reward, terminated, truncated, _ = front.step(front.action_space.sample())
        rewards.append(reward)
    assert truncated and not terminated  # the time limit is a truncation
    assert all(-0.5 < r < 0 for r in rewards)  # minus the fingertip-target distance
    for env in (front, wrist):
        env.close()


def test_mjcf_bad_input_is_named(tmp_path):
    broken = tmp_path / "broken.xml"
    broken.write_text("<mujoco><worldbody><geom type='sphere'/></worldbody></mujoco>")
    with pytest.raises(MJCFError, match=r"broken\.xml does not compile"):
        make_env(f"mjcf:{broken}")
    with pytest.raises(MJCFError, match=r"camera 'top' does not exist.*\['front', 'wrist'\]"):
        _reach(camera="top")
    with pytest.raises(MJCFError, match=r"cannot import 'no_such_module'.*tried from"):
        _reach(reward="no_such_module:reward")
    funcs = tmp_path / "funcs.py"
    funcs.write_text(textwrap.dedent("""
        def raises(model, data):
            raise KeyError("target")
        def nan(model, data):
            return float("nan")
    """))
    env = _reach(reward=f"{funcs}:raises")
    env.reset(seed=0)
    with pytest.raises(MJCFError, match=r"reward function raises raised at step 1.*KeyError"):
        env.step(env.action_space.sample())
    env = _reach(reward=f"{funcs}:nan")
    env.reset(seed=0)
    with pytest.raises(MJCFError, match=r"reward function nan returned nan at step 1"):
        env.step(env.action_space.sample())


@pytest.mark.parametrize("cameras", ["front", "front,wrist"])
def test_the_mjcf_example_trains_through_the_cli(tmp_path, monkeypatch, cameras):
    monkeypatch.chdir(ROOT)  # the preset's paths are relative to the repository root
    run = tmp_path / "run"
    assert main(["train", str(REACH / "reach_sac.yaml"), f"run_dir={run}", *TINY,
                 f"env.camera={cameras}"]) == 0
    channels = 3 * len(cameras.split(",")) * 2  # cameras x RGB x frame stack 2
    assert load_checkpoint(run / "checkpoints" / "latest.pt")["agent"]["encoder"][
        "trunk.0.weight"].shape[1] == channels
    state = load_checkpoint(run / "checkpoints" / "latest.pt")
    assert state["counters"]["step"] == 200 and int(state["replay"]["has_action"].sum()) == 200
    assert math.isfinite(state["counters"]["last_eval"])


CARTPOLE_PIXELS = [str(ROOT / "examples" / "gym_pixels" / "cartpole_pixels_ppo.yaml"),
                   "train.total_steps=128", "train.rollout_steps=32", "env.num_envs=2",
                   "agent.num_minibatches=2", "agent.epochs=1", "train.eval_every=0",
                   "train.eval_episodes=1", "train.progress=false"]


def test_a_non_mujoco_gymnasium_env_from_pixels_trains_through_the_cli(tmp_path):
    pytest.importorskip("pygame", reason="CartPole renders with pygame "
                        "(gymnasium[classic-control], which make setup installs)")
    run = tmp_path / "run"
    assert main(["train", *CARTPOLE_PIXELS, f"run_dir={run}"]) == 0
    assert load_checkpoint(run / "checkpoints" / "latest.pt")["counters"]["step"] == 128


def test_an_env_whose_renderer_is_not_installed_stops_with_the_install_line(
        tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pygame", None)  # as if it were not installed
    assert main(["train", *CARTPOLE_PIXELS, f"run_dir={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err
    assert "CartPole-v1 cannot render" in err and "gymnasium[classic-control]" in err
    assert "Traceback" not in err


BROKEN = '''
import numpy as np
import gymnasium as gym
from gymnasium import spaces


class Base(gym.Env):
    metadata = {"render_modes": ["rgb_array"]}

    def __init__(self, render_mode=None):
        self.render_mode = render_mode
        self.observation_space = spaces.Box(-1, 1, (2,), np.float32)
        self.action_space = spaces.Box(-1, 1, (2,), np.float32)
        self.position = np.zeros(2, np.float32)
        self.t = 0
        self.resets = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.position = self.np_random.uniform(-0.5, 0.5, 2).astype(np.float32)
        self.t = 0
        self.resets += 1
        return self.position.copy(), {}

    def step(self, action):
        self.position = np.clip(self.position + 0.1 * np.asarray(action), -1, 1)
        self.t += 1
        return self.position.copy(), 0.0, False, self.t >= 30, {}

    def render(self):
        frame = np.full((32, 32, 3), 40, np.uint8)
        x, y = ((self.position + 1) * 14).astype(int)
        frame[y:y + 4, x:x + 4] = 255
        return frame


class Good(Base):
    pass


class Black(Base):
    def render(self):
        return np.zeros((32, 32, 3), np.uint8)


class Frozen(Base):
    def render(self):
        return np.full((32, 32, 3), 90, np.uint8) + np.eye(32, dtype=np.uint8)[..., None]


class Floats(Base):
    def render(self):
        return super().render().astype(np.float32) / 255


class Leaky(Base):
    def reset(self, *, seed=None, options=None):
        obs, info = super().reset(seed=seed)
        leak = 0.1 * (self.resets % 4)  # state leaks across resets
        self.position = np.clip(self.position + leak, -0.9, 0.9).astype(np.float32)
        return self.position.copy(), info


class ChannelsFirst(Base):
    def render(self):
        return np.ascontiguousarray(super().render().transpose(2, 0, 1))


class NoFrame(Base):
    def render(self):
        return None


class FlatFrame(Base):
    def render(self):
        return super().render()[..., 0]


class TwoChannels(Base):
    def render(self):
        return super().render()[..., :2]


class RenderBug(Base):
    def render(self):
        raise IndexError("frame index 40 is out of bounds")
'''


@pytest.fixture
def broken(tmp_path):
    path = tmp_path / "broken_envs.py"
    path.write_text(BROKEN)
    return lambda name: f"{path}:{name}"


def _failed(findings):
    return {f.check: f.message for f in findings if f.level == "fail"}


def test_check_env_passes_a_good_factory_env_and_the_examples(broken, monkeypatch, capsys):
    assert _failed(check(broken("Good"), image_size=32)) == {}
    monkeypatch.chdir(ROOT)
    assert main(["check-env", "mjcf:examples/mjcf_reach/reach.xml",
                 "reward=examples/mjcf_reach/reach.py:reward", "max_episode_steps=30",
                 "--camera", "front", "--image-size", "48"]) == 0
    out = capsys.readouterr().out
    assert "ready to train" in out and "ms per frame" in out and "truncated" in out


@pytest.mark.parametrize(("name", "check_name", "message"), [
    ("Black", "blank frame", "missing GL backend"),
    ("Frozen", "frames change", "camera does not see what moves"),
    ("Floats", "construction", "float32 frames, expected uint8"),
    ("Leaky", "reset with a seed", "keeps state across resets"),
])
def test_check_env_fails_broken_envs_with_the_fix(broken, name, check_name, message, capsys):
    findings = check(broken(name), image_size=32)
    failed = _failed(findings)
    assert check_name in failed and message in failed[check_name], failed
    assert main(["check-env", broken(name), "--image-size", "32"]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_channels_first_frames_are_transposed_and_said(broken):
    with pytest.warns(RuntimeWarning, match="channels-first frames"):
        env = make_env(broken("ChannelsFirst"), obs="pixels", image_size=32, frame_stack=1)
        obs, _ = env.reset(seed=0)
    good = make_env(broken("Good"), obs="pixels", image_size=32, frame_stack=1)
    assert np.array_equal(obs, good.reset(seed=0)[0])


@pytest.mark.parametrize(("name", "error", "message"), [
    ("NoFrame", RenderError, r"NoneType of shape None, expected an HxWx3 uint8 array"),
    ("FlatFrame", RenderError, r"ndarray of shape \(32, 32\), expected an HxWx3"),
    ("TwoChannels", RenderError, r"frames of shape \(32, 32, 2\); expected HxWx3"),
    ("RenderBug", IndexError, r"^frame index 40 is out of bounds$"),  # not a GL problem
])
def test_frames_that_are_not_camera_images_are_named_and_other_bugs_pass_through(
        broken, name, error, message):
    env = make_env(broken(name), obs="pixels", image_size=32, frame_stack=1)
    with pytest.raises(error, match=message):
        env.reset(seed=0)


def test_a_factory_that_cannot_be_imported_names_the_path(capsys):
    assert main(["train", "pendulum_sac", "env.spec=not_a_module:make_env",
                 "train.progress=false"]) == 2
    err = capsys.readouterr().err
    assert "cannot import 'not_a_module'" in err and "tried from" in err


# --------------------------------------------------------------------------- frame sources


class ImageObsEnv(gym.Env):
    """A non-MuJoCo env whose observation already is an image (HxWxC or CxHxW, C = 1 grey,
    3 RGB or 4 RGBA, any size)."""

    def __init__(self, channels_first: bool = False, channels: int = 3):
        shape = (channels, 40, 60) if channels_first else (40, 60, channels)
        self.observation_space = spaces.Box(0, 255, shape, np.uint8)
        self.action_space = spaces.Box(-1, 1, (1,), np.float32)
        self.channels_first, self.channels, self.level = channels_first, channels, 0

    def _obs(self):
        image = np.full((40, 60, 4), self.level, np.uint8)
        image[:, :30, 0] = 200  # the left half is red (or light, in grey)
        image[..., 3] = 255  # opaque
        image = image[..., :self.channels]
        return image.transpose(2, 0, 1).copy() if self.channels_first else image

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.level = 10
        return self._obs(), {}

    def step(self, action):
        self.level = (self.level + 20) % 250
        return self._obs(), 0.0, False, self.level > 200, {}


@pytest.mark.parametrize("channels", [3, 1, 4])
@pytest.mark.parametrize("channels_first", [False, True])
def test_an_env_whose_observation_is_an_image(channels_first, channels):
    import warnings

    import gymnasium as gym_

    name = f"test/ImageObs{int(channels_first)}{channels}-v0"
    gym_.register(name, entry_point=ImageObsEnv,
                  kwargs={"channels_first": channels_first, "channels": channels})
    env = make_env(name, obs="pixels", image_size=32, frame_stack=1)
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always")
        obs, _ = env.reset(seed=0)
    said = " ".join(str(w.message) for w in said)
    assert obs.shape == (3, 32, 32) and obs.dtype == np.uint8
    assert obs[0, :, :14].min() == 200 and obs[0, :, 18:].max() == 10  # red on the left
    if channels == 1:  # grey is repeated to RGB, and the user is told
        assert np.array_equal(obs[1], obs[0]) and np.array_equal(obs[2], obs[0])
        assert "grey frames" in said
    else:
        assert obs[1:].max() == 10  # no alpha leaks into green or blue
        assert ("alpha channel is dropped" in said) == (channels == 4 and not channels_first)
    stepped = env.step(env.action_space.sample())[0]
    assert not np.array_equal(stepped, obs)
    assert np.array_equal(pixel_wrapper(env).render_frame(), stepped)  # the last obs' frame
    with pytest.raises(RenderError, match="no state to keep: use obs=pixels"):
        make_env(name, obs="state+pixels", image_size=32)


def test_a_folder_of_images_as_frame_source(tmp_path):
    import cv2

    from robovision.envs.frames import ImageFolder

    for i in range(3):
        bgr = np.full((20, 30, 3), 50 * (i + 1), np.uint8)
        bgr[..., 0] = 7  # OpenCV files are BGR: blue is the first channel on disk
        cv2.imwrite(str(tmp_path / f"{i}.png"), bgr)
    (tmp_path / "notes.txt").write_text("not an image")
    folder = ImageFolder(tmp_path)
    assert len(folder) == 3
    assert int(folder()[..., 1].mean()) == 50  # the first image before any reset
    folder.reset(seed=5)  # a seed picks the image it starts at, modulo the count
    assert int(folder()[..., 1].mean()) == 150 and int(folder()[..., 1].mean()) == 50
    folder.reset()
    assert int(folder()[..., 1].mean()) == 50
    env = make_env("robovision/PointReach-v0", obs="pixels", image_size=16, frame_stack=1,
                   frames=f"folder:{tmp_path}")
    first, _ = env.reset(seed=0)
    seen = [first] + [env.step(env.action_space.sample())[0] for _ in range(3)]
    assert [int(o[0].mean()) for o in seen] == [50, 100, 150, 50]  # in order, looping
    assert {int(o[2].mean()) for o in seen} == {7}  # RGB: blue is the last channel
    assert np.array_equal(env.reset(seed=0)[0], first)  # a reset restarts the source
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no images"):
        ImageFolder(tmp_path / "empty")


def test_a_python_callable_as_frame_source_follows_the_env():
    def frame(env):  # the point's x position as the red level
        image = np.zeros((24, 24, 3), np.uint8)
        image[..., 0] = int(127 * (env.position[0] + 1))
        return image

    env = make_env("robovision/PointReach-v0", obs="pixels", image_size=12, frame_stack=1,
                   frames=frame)
    obs, _ = env.reset(seed=3)
    for _ in range(3):
        x = env.unwrapped.position[0]
        assert obs.shape == (3, 12, 12) and int(obs[0, 0, 0]) == int(127 * (x + 1))
        assert obs[1:].max() == 0
        obs = env.step(np.array([0.5, 0.0], np.float32))[0]


def test_a_video_file_as_frame_source(tmp_path):
    import cv2

    from robovision.envs.frames import VideoFrames

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (32, 24))
    for level in (40, 120, 200):
        writer.write(np.full((24, 32, 3), level, np.uint8))
    writer.release()
    video = VideoFrames(str(path))
    levels = [int(video().mean()) for _ in range(4)]
    assert [abs(a - b) < 8 for a, b in zip(levels, [40, 120, 200, 40], strict=True)] == [True] * 4
    video.reset()  # back to the first frame
    assert abs(int(video().mean()) - 40) < 8
    with pytest.raises(FileNotFoundError, match="cannot open video source"):
        VideoFrames(str(tmp_path / "none.avi"))


def test_the_image_folder_example_trains_through_the_cli(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    run = tmp_path / "run"
    preset = ROOT / "examples" / "image_folder" / "brightness_sac.yaml"
    assert main(["train", str(preset), f"run_dir={run}", *TINY]) == 0
    state = load_checkpoint(run / "checkpoints" / "latest.pt")
    assert state["counters"]["step"] == 200
    assert state["replay"]["obs"].shape[1:] == (3, 32, 32)


@pytest.mark.parametrize("views", ["separate", "shared"])
def test_camera_views_as_a_dict_train_with_a_trunk_per_view_or_shared(tmp_path, monkeypatch,
                                                                      views):
    monkeypatch.chdir(ROOT)
    env = _reach(camera=["front", "wrist"], camera_views="dict")
    obs, _ = env.reset(seed=0)
    assert set(obs) == {"front", "wrist"} and obs["front"].shape == (3, 48, 48)
    assert np.array_equal(obs["front"], _reach(camera="front").reset(seed=0)[0])
    env.close()
    run = tmp_path / "run"
    assert main(["train", str(REACH / "reach_sac.yaml"), f"run_dir={run}", *TINY,
                 "env.camera=front,wrist", "env.camera_views=dict", "env.obs=state+pixels",
                 f"agent.encoder.views={views}", "agent.encoder.augment=shift"]) == 0
    state = load_checkpoint(run / "checkpoints" / "latest.pt")
    encoder = state["agent"]["encoder"]
    trunks = {k.split(".")[1] for k in encoder if k.startswith("views.")}
    assert trunks == ({"front", "wrist"} if views == "separate" else {"shared"})
    assert set(k for k in state["replay"] if k.startswith("obs.")) == {
        "obs.front", "obs.wrist", "obs.state"}
    assert state["replay"]["obs.front"].shape[1:] == (3, 48, 48)  # one frame per step
