"""Pixel pipeline: wrappers, encoders, augmentation and the frame replay."""

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from robovision import make_env
from robovision.augment import random_shift
from robovision.nets.encoders import PixelEncoder, make_encoder
from robovision.replay import ReplayBuffer
from robovision.wrappers import FrameStack, RenderError
from robovision.wrappers.pixels import mujoco_model, pixel_wrapper


class CounterEnv(gym.Env):
    """Frames whose pixels hold (episode, step): stacks can be checked exactly.

    Episodes alternate between terminating after ``length`` steps and being cut
    by a time limit one step later.
    """

    def __init__(self, length: int = 5):
        self.observation_space = spaces.Box(0, 255, (3, 8, 8), np.uint8)
        self.action_space = spaces.Box(-1, 1, (1,), np.float32)
        self.length, self.episode, self.t = length, -1, 0

    def _frame(self):
        frame = np.zeros((3, 8, 8), np.uint8)
        frame[0], frame[1] = self.episode % 256, self.t
        return frame

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.episode, self.t = self.episode + 1, 0
        return self._frame(), {}

    def step(self, action):
        self.t += 1
        terminated = self.episode % 2 == 0 and self.t == self.length
        truncated = self.episode % 2 == 1 and self.t == self.length + 1
        return self._frame(), float(self.t), terminated, truncated, {}


def test_frame_stack_pads_with_first_frame_and_resets_cleanly():
    env = FrameStack(CounterEnv(), 3)
    obs, _ = env.reset()
    assert obs.shape == (9, 8, 8) and obs.dtype == np.uint8
    assert obs[1::3, 0, 0].tolist() == [0, 0, 0]
    obs, *_ = env.step(np.zeros(1))
    assert obs[1::3, 0, 0].tolist() == [0, 0, 1]
    for _ in range(4):
        obs, *_ = env.step(np.zeros(1))
    obs, _ = env.reset()  # no frame of the old episode survives a reset
    assert obs[0::3, 0, 0].tolist() == [1, 1, 1] and obs[1::3, 0, 0].tolist() == [0, 0, 0]


def test_a_stack_of_one_is_the_frame_and_a_stack_of_none_is_refused():
    env = FrameStack(CounterEnv(), 1)
    assert env.observation_space.shape == (3, 8, 8)
    obs, _ = env.reset()
    obs, *_ = env.step(np.zeros(1))
    assert np.array_equal(obs, env.env._frame())
    with pytest.raises(ValueError, match="frame_stack must be >= 1, got 0"):
        FrameStack(CounterEnv(), 0)


def test_action_repeat_sums_rewards_and_stops_at_episode_end():
    env = gym.wrappers.RepeatAction(CounterEnv(length=5), 3)
    env.reset()
    _, reward, terminated, _, _ = env.step(np.zeros(1))
    assert reward == 1 + 2 + 3 and not terminated
    _, reward, terminated, _, _ = env.step(np.zeros(1))
    assert reward == 4 + 5 and terminated  # stopped after 2 of 3 repeats


def test_dmc_pixels_shapes_dtypes_and_frames_per_step():
    env = make_env("dmc/cheetah-run", obs="pixels", seed=0, image_size=64, frame_stack=3,
                   action_repeat=2)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.shape == (9, 64, 64) and obs.shape == (9, 64, 64)
    assert obs.dtype == np.uint8 and obs.std() > 0
    before = env.unwrapped.physics.data.time
    obs2, *_ = env.step(env.action_space.sample())
    assert env.unwrapped.physics.data.time == pytest.approx(before + 2 * 0.01)
    assert np.array_equal(obs2[:6], obs[3:])  # the stack shifted by one frame
    env.close()


@pytest.mark.parametrize(("options", "views"), [
    ({"camera": 1}, None),
    ({"camera": ["side", "back"], "grayscale": True}, None),
    ({"camera": ["side", "back"], "camera_views": "dict"}, ["side", "back"]),
    ({"camera": "back", "camera_views": "dict"}, None),  # one camera: one image
])
def test_unstacked_pixel_spaces_hold_their_observations_in_0_to_255(options, views):
    env = make_env("dmc/cheetah-run", obs="pixels", image_size=24, frame_stack=1, **options)
    obs, _ = env.reset(seed=0)
    space = env.observation_space
    assert space.contains(obs)
    images = [space[v] for v in views] if views else [space]
    assert (list(obs) == views) if views else isinstance(obs, np.ndarray)
    for image in images:
        assert (int(image.low.min()), int(image.low.max()), int(image.high.min())) == (0, 0, 255)
    if options.get("grayscale"):
        assert space.shape == (2, 24, 24)
    if options.get("camera") == 1:  # a camera by index is that camera by name
        by_name = make_env("dmc/cheetah-run", obs="pixels", image_size=24, frame_stack=1,
                           camera="back")
        assert np.array_equal(by_name.reset(seed=0)[0], obs)
        by_name.close()
    env.close()


def test_dm_control_renders_camera_0_unless_told_otherwise():
    frames = {}
    for camera in (None, 0, 1):
        env = make_env("dmc/cheetah-run", obs="pixels", image_size=24, frame_stack=1,
                       camera=camera)
        frames[camera] = env.reset(seed=0)[0]
        env.close()
    assert np.array_equal(frames[None], frames[0]) and not np.array_equal(frames[0], frames[1])


def test_state_plus_pixels_dict_and_grayscale():
    env = make_env("dmc/reacher-easy", obs="state+pixels", seed=0, image_size=48,
                   frame_stack=2, grayscale=True)
    obs, _ = env.reset(seed=0)
    assert obs["pixels"].shape == (2, 48, 48) and obs["state"].dtype == np.float32
    assert obs["state"].shape == env.observation_space["state"].shape
    pixels = env.observation_space["pixels"]
    assert pixels.shape == (2, 48, 48) and pixels.contains(obs["pixels"])
    assert (int(pixels.low.min()), int(pixels.high.max())) == (0, 255)
    env.close()


def test_gymnasium_mujoco_pixels():
    env = make_env("InvertedPendulum-v5", obs="pixels", seed=0, image_size=32, frame_stack=1)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (3, 32, 32) and obs.dtype == np.uint8
    env.close()


RENDERER_KINDS = {
    "dm_control": "dmc/cheetah-run", "gymnasium": "HalfCheetah-v5", "manip": "manip/reach_site",
    "mjcf": f"mjcf:{Path(__file__).resolve().parents[1] / 'examples/mjcf_reach/reach.xml'}"}
"""One env of each kind of MuJoCo renderer robovision drives."""


@pytest.mark.parametrize("second", RENDERER_KINDS)
@pytest.mark.parametrize("first", RENDERER_KINDS)
def test_each_env_renders_its_own_frames_whatever_another_renders_or_closes(first, second):
    """Each renderer kind assumed its GL context stayed current, and freed its GL objects
    in whichever context was current: a second env made or closed in the same process
    gave the first one another model's textures, or black frames."""
    import gc

    def make(kind: str):
        return make_env(RENDERER_KINDS[kind], obs="pixels", image_size=32, frame_stack=1)

    env = make(first)
    reference, _ = env.reset(seed=0)
    other = make(second)
    other.reset(seed=0)  # made and rendered last: its context is current
    assert np.array_equal(env.reset(seed=0)[0], reference)
    other.close()  # freed while the first env's context is current
    del other
    gc.collect()
    frame, _ = env.reset(seed=0)
    assert frame.mean() > 20 and np.array_equal(frame, reference)
    env.close()


def test_unclosed_envs_of_every_renderer_kind_exit_without_gl_errors():
    """mujoco.egl and dm_control each terminate the EGL display at exit; a context freed
    after that (by the garbage collector, or by dm_control's own exit handler) printed an
    EGLError per env."""
    specs = list(RENDERER_KINDS.values())
    script = ("import sys, robovision\n"
              "envs = [robovision.make_env(s, obs='pixels', image_size=32) for s in sys.argv[1:]]\n"
              "for env in envs:\n"
              "    env.reset(seed=0)\n")
    done = subprocess.run([sys.executable, "-c", script, *specs], capture_output=True,
                          text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Exception ignored" not in done.stderr, done.stderr[-3000:]


def test_per_task_action_repeat_defaults():
    from robovision.make import action_repeat_of, default_action_repeat

    assert default_action_repeat("dmc/cartpole-swingup", "pixels") == 8
    assert default_action_repeat("dmc/walker-walk", "pixels") == 2
    assert default_action_repeat("dmc/cheetah-run", "pixels") == 4
    assert default_action_repeat("dmc/cheetah-run", "state") == 1
    assert default_action_repeat("dmc/reacher-easy", "pixels") == 4
    assert default_action_repeat("dmc/ball_in_cup-catch", "pixels") == 4  # "_" in a domain
    assert default_action_repeat("dmc/hopper-hop", "pixels") == 2  # not in PlaNet's table
    assert default_action_repeat("HalfCheetah-v5", "pixels") == 1  # gymnasium: its own dt
    env = make_env("dmc/finger-spin", obs="pixels", image_size=32)
    assert action_repeat_of(env) == 2
    env.close()


def test_pixels_default_to_three_stacked_84x84_rgb_frames():
    env = make_env("dmc/cartpole-balance", obs="pixels")
    assert env.observation_space.shape == (9, 84, 84)  # DrQ's input
    env.close()


def test_a_list_of_one_camera_is_that_camera():
    frames = []
    for camera in (["back"], "back"):
        env = make_env("dmc/cheetah-run", obs="pixels", camera=camera, image_size=32,
                       frame_stack=1, seed=0)
        frames.append(env.reset(seed=0)[0])
        env.close()
    assert frames[0].shape == (3, 32, 32) and np.array_equal(frames[0], frames[1])


def test_unknown_camera_lists_cameras():
    with pytest.raises(ValueError, match=r"cameras: \['side', 'back'\]"):
        make_env("dmc/cheetah-run", obs="pixels", camera="top")
    for index in (-2, 2, "-2"):  # -1 (the free camera) to 1 exist
        with pytest.raises(ValueError, match=r"camera -?2 out of range.*\['side', 'back'\]"):
            make_env("dmc/cheetah-run", obs="pixels", camera=index)
    for index in (-1, 1, "1", "back"):
        make_env("dmc/cheetah-run", obs="pixels", image_size=16, camera=index).close()


class StateOnlyEnv(gym.Env):
    """A state observation and no render_mode argument: nothing to make pixels from."""

    observation_space = spaces.Box(-1, 1, (2,), np.float32)
    action_space = spaces.Box(-1, 1, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 0.0, False, False, {}


def test_env_without_rgb_array_rendering_is_named():
    gym.register("test/NoRender-v0", entry_point=StateOnlyEnv)
    with pytest.raises(RenderError, match="test/NoRender-v0 cannot render rgb_array"):
        make_env("test/NoRender-v0", obs="pixels")


@pytest.mark.parametrize("size", [15, 32, 64, 84, 100])
def test_drq_encoder_any_image_size(size):
    enc = PixelEncoder(spaces.Box(0, 255, (9, size, size), np.uint8))
    out = enc(torch.randint(0, 255, (2, 9, size, size), dtype=torch.uint8))
    assert out.shape == (2, 50) and enc.out_dim == 50


def test_too_small_image_fails_with_minimum():
    with pytest.raises(ValueError, match="minimum size is 15x15"):
        PixelEncoder(spaces.Box(0, 255, (3, 14, 14), np.uint8))
    with pytest.raises(ValueError, match="minimum size is 36x36"):
        PixelEncoder(spaces.Box(0, 255, (3, 30, 30), np.uint8), kind="nature")


def test_encoder_divides_by_255_inside():
    enc = PixelEncoder(spaces.Box(0, 255, (3, 20, 20), np.uint8))
    white = torch.full((1, 3, 20, 20), 255, dtype=torch.uint8)
    assert torch.allclose(enc(white), enc(white.float()))


@pytest.mark.parametrize("kind", ["drq", "nature"])  # channels_last and NCHW bf16 input
def test_bf16_encoder_matches_fp32_closely(kind):
    space = spaces.Box(0, 255, (9, 84, 84), np.uint8)
    fp32, bf16 = PixelEncoder(space, kind), PixelEncoder(space, kind, amp=True)
    bf16.load_state_dict(fp32.state_dict())
    x = torch.randint(0, 255, (4, 9, 84, 84), dtype=torch.uint8)
    reference, mixed = fp32(x), bf16(x)
    assert mixed.dtype == torch.float32
    tolerance = 0.02 * reference.abs().max().item() + 1e-3
    assert torch.allclose(reference, mixed, atol=tolerance)


@pytest.mark.parametrize("kind", ["drq", "nature"])
@pytest.mark.parametrize("amp", [False, True])
def test_the_first_conv_gets_the_layout_chosen_for_it(kind, amp):
    """On the CPU the float32 trunk runs channels_last for every layout, the bf16 one as
    ``CHANNELS_LAST`` says; either way the features are those of NCHW input."""
    space = spaces.Box(0, 255, (9, 40, 40), np.uint8)
    enc = PixelEncoder(space, kind, amp=amp)
    seen = []
    enc.trunk[1].register_forward_hook(lambda module, args, out: seen.append(
        args[0].is_contiguous(memory_format=torch.channels_last)))
    x = torch.randint(0, 255, (4, 9, 40, 40), dtype=torch.uint8)
    features = enc(x)
    expected = PixelEncoder.CHANNELS_LAST[kind] if amp else PixelEncoder.CHANNELS_LAST_FP32
    assert seen == [expected] and enc.takes_channels_last(x.device) is expected
    on_cuda = PixelEncoder.CHANNELS_LAST_ON_CUDA if amp else PixelEncoder.CHANNELS_LAST_FP32_ON_CUDA
    assert enc.takes_channels_last(torch.device("cuda")) is on_cuda
    if not amp:
        reference = PixelEncoder(space, kind)
        reference.load_state_dict(enc.state_dict())
        reference.CHANNELS_LAST_FP32 = False
        assert torch.allclose(features, reference(x), atol=1e-5)


def test_dict_encoder():
    space = spaces.Dict({"pixels": spaces.Box(0, 255, (6, 32, 32), np.uint8),
                         "state": spaces.Box(-np.inf, np.inf, (5,), np.float32)})
    enc = make_encoder(space)
    out = enc({"pixels": torch.zeros(3, 6, 32, 32, dtype=torch.uint8), "state": torch.ones(3, 5)})
    assert out.shape == (3, 55) and enc.out_dim == 55


def test_random_shift_moves_content_and_replicates_border():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.float32).reshape(2, 1, 6, 6)
    shifts = torch.tensor([[2, 2], [0, 4]])  # identity; up 2 rows / left... see below
    y = random_shift(x, pad=2, shifts=shifts)
    assert torch.equal(y[0], x[0])  # offset (pad, pad) is the identity
    # offset rows 0 -> content moves down 2 with the top row replicated; cols 4 -> left 2
    assert torch.equal(y[1, 0, 2:, :4], x[1, 0, :4, 2:])
    assert torch.equal(y[1, 0, 0], y[1, 0, 2]) and torch.equal(y[1, 0, :, 4], y[1, 0, :, 5])
    z = random_shift(torch.randint(0, 255, (64, 3, 16, 16), dtype=torch.uint8), pad=4)
    assert z.dtype == torch.uint8 and z.shape == (64, 3, 16, 16)


def _offsets(shifted: torch.Tensor, size: int, pad: int) -> set[tuple[int, int]]:
    """The crop offsets of images made from ``arange`` (each pixel its own value), read
    from the centre pixel, which replicate padding never reaches at these sizes."""
    centre = shifted[:, 0, size // 2, size // 2].long()
    rows, cols = centre // size - size // 2 + pad, centre % size - size // 2 + pad
    return set(zip(rows.tolist(), cols.tolist(), strict=True))


def test_random_shift_draws_every_offset_and_drq_pads_by_4():
    from robovision.augment import augment_obs

    size = 20
    images = torch.arange(size * size, dtype=torch.float32).reshape(1, 1, size, size)
    torch.manual_seed(0)
    every = {(r, c) for r in range(5) for c in range(5)}
    assert _offsets(random_shift(images.repeat(2000, 1, 1, 1), pad=2), size, 2) == every
    drq = _offsets(augment_obs(images.repeat(4000, 1, 1, 1)), size, 4)  # DrQ's pad: 4
    assert drq == {(r, c) for r in range(9) for c in range(9)}


def test_each_camera_view_is_shifted_on_its_own_and_state_passes_unchanged():
    from robovision.augment import augment_obs

    size = 20
    front = (torch.arange(size * size) % 200).to(torch.uint8).reshape(1, 1, size, size)
    obs = {"front": front.repeat(64, 1, 1, 1), "wrist": front.repeat(64, 1, 1, 1),
           "state": torch.randn(64, 7)}
    torch.manual_seed(1)
    out = augment_obs(obs)
    assert torch.equal(out["state"], obs["state"])
    assert out["front"].shape == obs["front"].shape and out["front"].dtype == torch.uint8
    assert not torch.equal(out["front"], obs["front"])  # shifted
    assert not torch.equal(out["front"], out["wrist"])  # each view its own offsets


def _fill(buffer, env, steps, seen):
    obs, _ = env.reset()
    for _ in range(steps):
        g = buffer.t if buffer.current_start is None else buffer.t - 1
        seen[g] = obs
        action = env.action_space.sample()
        next_obs, reward, terminated, truncated, _ = env.step(action)
        buffer.add(obs, action, reward, next_obs, terminated, truncated)
        seen[buffer.t - 1] = next_obs
        obs = next_obs
        if terminated or truncated:
            obs, _ = env.reset()


@pytest.mark.parametrize("capacity", [1000, 23])  # 23: the ring wraps
def test_frame_replay_rebuilds_exactly_the_observations_seen(capacity):
    env = FrameStack(CounterEnv(length=4), 3)
    buffer = ReplayBuffer(env.observation_space, env.action_space, capacity, gamma=0.9,
                          frame_stack=3)
    seen: dict[int, np.ndarray] = {}
    _fill(buffer, env, 60, seen)
    oldest = max(0, buffer.t - capacity)
    for g in range(oldest + 2, buffer.t):
        stacked = buffer.observation(torch.tensor([g]))[0].numpy()
        assert np.array_equal(stacked, seen[g]), g
    batch = buffer.sample(256)
    # every sampled obs and next_obs is a stack of one episode, steps consecutive
    for o, n in zip(batch.obs, batch.next_obs, strict=True):
        assert len(set(o[0::3, 0, 0].tolist())) == 1 and len(set(n[0::3, 0, 0].tolist())) == 1
        assert n[-2, 0, 0] == o[-2, 0, 0] + 1  # newest step index advanced by one


def test_frame_replay_n_step_worked_example():
    """gamma 0.5, n 3; episode 0 terminates after 4 steps (rewards 1, 2, 3, 4)."""
    env = FrameStack(CounterEnv(length=4), 2)
    buffer = ReplayBuffer(env.observation_space, env.action_space, 100, gamma=0.5,
                          n_step=3, frame_stack=2)
    _fill(buffer, env, 4 + 5, {})  # episode 0 (terminated), episode 1 (truncated after 5)
    torch.manual_seed(0)
    batch = buffer.sample(2000)
    by_step = {}
    for o, r, n, d in zip(batch.obs, batch.reward, batch.next_obs, batch.discount, strict=True):
        by_step[(int(o[0, 0, 0]), int(o[-2, 0, 0]))] = (float(r), int(n[-2, 0, 0]), float(d))
    assert by_step[(0, 0)] == (1 + 0.5 * 2 + 0.25 * 3, 3, 0.125)
    assert by_step[(0, 1)] == (2 + 0.5 * 3 + 0.25 * 4, 4, 0.0)  # reaches the terminal
    assert by_step[(0, 3)] == (4.0, 4, 0.0)
    assert by_step[(1, 3)] == (4 + 0.5 * 5, 5, 0.25)  # truncation bootstraps
    assert by_step[(1, 4)] == (5.0, 5, 0.5)
    assert len(buffer) == 9


def test_frame_replay_memory_is_one_frame_per_transition():
    space = spaces.Box(0, 255, (9, 84, 84), np.uint8)
    buffer = ReplayBuffer(space, spaces.Box(-1, 1, (6,), np.float32), 1000, 0.99,
                          frame_stack=3)
    assert 84 * 84 * 3 <= buffer.bytes_per_slot < 84 * 84 * 3 + 100


def test_frame_replay_refuses_what_does_not_fit():
    space = spaces.Box(0, 255, (9, 84, 84), np.uint8)
    with pytest.raises(MemoryError, match=r"largest capacity that fits is [\d,]+ \(set train"):
        ReplayBuffer(space, spaces.Box(-1, 1, (6,), np.float32), 10**9, 0.99, frame_stack=3)


def test_frame_replay_state_dict_restores_exactly():
    env = FrameStack(CounterEnv(length=4), 3)
    a = ReplayBuffer(env.observation_space, env.action_space, 23, gamma=0.9, n_step=2,
                     frame_stack=3)
    _fill(a, env, 40, {})
    b = ReplayBuffer(env.observation_space, env.action_space, 23, gamma=0.9, n_step=2,
                     frame_stack=3)
    b.load_state_dict(a.state_dict())
    torch.manual_seed(3)
    x = a.sample(64)
    torch.manual_seed(3)
    y = b.sample(64)
    for field in ("obs", "action", "reward", "next_obs", "discount"):
        assert torch.equal(getattr(x, field), getattr(y, field)), field
    assert b.t == a.t and b.current_start == a.current_start


def test_missing_gl_backend_names_packages_and_mujoco_gl(monkeypatch):
    from dm_control.mujoco import engine

    env = make_env("dmc/cartpole-balance", obs="pixels", image_size=32, frame_stack=1)

    def broken(*args, **kwargs):
        raise RuntimeError("Failed to initialize EGL display")

    monkeypatch.setattr(engine.Camera, "render", broken)  # the env's persistent camera
    with pytest.raises(RenderError, match=r"libegl1 libgl1-mesa-dri.*libosmesa6.*MUJOCO_GL"):
        env.reset(seed=0)
    env.close()


@pytest.mark.parametrize("fast_render", [True, False])
def test_persistent_dm_control_camera_renders_the_frames_physics_render_does(fast_render):
    env = make_env("dmc/cheetah-run", obs="pixels", image_size=64, frame_stack=1,
                   action_repeat=1, camera=0, fast_render=fast_render)
    pixels = pixel_wrapper(env)
    physics = env.unwrapped.physics
    obs, _ = env.reset(seed=3)
    camera = pixels._dmc_cameras[0]
    assert camera is not None
    for _ in range(5):
        expected = physics.render(64, 64, camera_id=0).transpose(2, 0, 1)
        assert np.array_equal(obs, expected)
        obs, *_ = env.step(env.action_space.sample())
    assert pixels._dmc_cameras[0] is camera  # one camera for the env's life
    env.reset(seed=4)  # a reset keeps the physics, so the camera too
    assert pixels._dmc_cameras[0] is camera
    env.close()
    assert not pixels._dmc_cameras


@pytest.mark.parametrize("spec", ["dmc/cheetah-run", "HalfCheetah-v5"])
def test_fast_render_turns_shadows_and_multisampling_off_and_changes_the_frame(spec):
    frames = {}
    for fast in (False, True):
        env = make_env(spec, obs="pixels", image_size=48, frame_stack=1, action_repeat=1,
                       fast_render=fast)
        model = mujoco_model(env)
        assert bool(model.light_castshadow.any()) is not fast
        assert (model.vis.quality.offsamples == 0) is fast
        frames[fast] = env.reset(seed=3)[0]
        env.close()
    assert frames[True].shape == frames[False].shape
    assert not np.array_equal(frames[True], frames[False])  # no shadow, no anti-aliasing


def test_a_task_that_rebuilds_its_physics_renders_the_new_one_with_fast_settings():
    """reach_duplo (a preset's task) builds a new physics at each seeded reset: the
    persistent camera must follow it, and the new model must get the fast settings."""
    env = make_env("manip/reach_duplo", obs="pixels", image_size=32, frame_stack=1,
                   fast_render=True)
    env.reset(seed=0)
    before = env.unwrapped.physics
    env.step(env.action_space.sample())
    obs, _ = env.reset(seed=1)
    physics = env.unwrapped.physics
    assert physics is not before
    assert physics.model.vis.quality.offsamples == 0 and not physics.model.light_castshadow.any()
    for _ in range(2):
        assert np.array_equal(obs, physics.render(32, 32, camera_id=0).transpose(2, 0, 1))
        obs = env.step(env.action_space.sample())[0]
    env.close()


def test_several_dm_control_cameras_stack_along_channels():
    both = make_env("dmc/cheetah-run", obs="pixels", image_size=32, frame_stack=2,
                    action_repeat=1, camera=["side", "back"])
    side = make_env("dmc/cheetah-run", obs="pixels", image_size=32, frame_stack=2,
                    action_repeat=1, camera="side")
    back = make_env("dmc/cheetah-run", obs="pixels", image_size=32, frame_stack=2,
                    action_repeat=1, camera="back")
    assert both.observation_space.shape == (12, 32, 32)  # 2 frames x 2 cameras x RGB
    views = [env.reset(seed=5)[0] for env in (both, side, back)]
    newest = views[0][6:]  # the newest frame: side RGB then back RGB
    assert np.array_equal(newest[:3], views[1][3:]) and np.array_equal(newest[3:], views[2][3:])
    assert not np.array_equal(newest[:3], newest[3:])
    for env in (both, side, back):
        env.close()
