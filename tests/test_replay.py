"""The replay on state and dict observations: terminated vs truncated, n-step returns
at sample time, the ring, exact checkpoint round trips. Pixel stacks: test_pixels.py."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from robovision.replay import ReplayBuffer, ReplayLanes

OBS = spaces.Box(-np.inf, np.inf, (2,), np.float32)
ACT = spaces.Box(-1, 1, (1,), np.float32)


def _obs(i):
    return np.array([i, -i], np.float32)


def _all(buffer):
    """Every stored transition in time order: (obs, return, next_obs, discount)."""
    batch = buffer.transitions(buffer.valid_starts())
    return (batch.obs[:, 0].tolist(), batch.reward.tolist(), batch.next_obs[:, 0].tolist(),
            batch.discount.tolist())


def test_terminated_zero_discount_truncated_bootstraps():
    buffer = ReplayBuffer(OBS, ACT, 10, gamma=0.9)
    buffer.add(_obs(0), [0.1], 1.0, _obs(1), terminated=False, truncated=False)
    buffer.add(_obs(1), [0.1], 1.0, _obs(2), terminated=True, truncated=False)
    buffer.add(_obs(5), [0.1], 1.0, _obs(6), terminated=False, truncated=True)
    _, _, next_obs, discount = _all(buffer)
    assert discount == pytest.approx([0.9, 0.0, 0.9])
    assert next_obs == [1, 2, 6]  # truncation keeps the true final observation


def test_n_step_worked_example():
    """gamma 0.5, n 3; an episode of 4 steps ending in a true terminal."""
    buffer = ReplayBuffer(OBS, ACT, 10, gamma=0.5, n_step=3)
    rewards = [1.0, 2.0, 4.0, 8.0]
    for t, r in enumerate(rewards):
        buffer.add(_obs(t), [0.0], r, _obs(t + 1), terminated=(t == 3), truncated=False)
    obs, ret, next_obs, discount = _all(buffer)
    assert obs == [0, 1, 2, 3]
    assert ret == pytest.approx([1 + 1 + 1, 2 + 2 + 2, 4 + 4, 8])
    assert next_obs == [3, 4, 4, 4]
    assert discount == pytest.approx([0.125, 0.0, 0.0, 0.0])


def test_n_step_truncation_bootstraps_with_shorter_horizon():
    buffer = ReplayBuffer(OBS, ACT, 10, gamma=0.5, n_step=3)
    buffer.add(_obs(0), [0.0], 1.0, _obs(1), False, False)
    buffer.add(_obs(1), [0.0], 1.0, _obs(2), False, truncated=True)
    obs, ret, next_obs, discount = _all(buffer)
    assert obs == [0, 1] and next_obs == [2, 2]
    assert ret == pytest.approx([1.5, 1.0])
    assert discount == pytest.approx([0.25, 0.5])
    # the next episode starts clean: no return reaches across the boundary
    buffer.add(_obs(10), [0.0], 1.0, _obs(11), False, False)
    obs, ret, next_obs, discount = _all(buffer)
    assert obs == [0, 1, 10] and ret == pytest.approx([1.5, 1.0, 1.0])


def test_n_step_of_an_open_episode_uses_the_steps_so_far():
    """Sample-time n-step: a transition whose n steps have not all happened yet is
    sampled with the horizon it has, and grows once they have."""
    buffer = ReplayBuffer(OBS, ACT, 10, gamma=0.5, n_step=3)
    buffer.add(_obs(0), [0.0], 1.0, _obs(1), False, False)
    assert _all(buffer)[1:] == ([1.0], [1], [0.5])
    buffer.add(_obs(1), [0.0], 2.0, _obs(2), False, False)
    buffer.add(_obs(2), [0.0], 4.0, _obs(3), False, False)
    assert _all(buffer)[1][0] == pytest.approx(3.0) and _all(buffer)[2][0] == 3


def test_ring_wraps_and_samples_only_live_transitions():
    buffer = ReplayBuffer(OBS, ACT, 4, gamma=0.9)
    for t in range(6):
        buffer.add(_obs(t), [t / 10], float(t), _obs(t + 1), False, False)
    assert len(buffer) == 3  # 4 slots: 3 transitions and the newest observation
    assert sorted(buffer.reward[buffer.has_action].tolist()) == [3.0, 4.0, 5.0]
    batch = buffer.sample(64)
    assert batch.obs.shape == (64, 2) and batch.action.shape == (64, 1)
    assert torch.all(batch.next_obs[:, 0] == batch.obs[:, 0] + 1)
    assert torch.allclose(batch.reward, batch.obs[:, 0])
    assert set(batch.obs[:, 0].tolist()) == {3.0, 4.0, 5.0}


def test_episode_final_observation_is_never_a_sampled_start():
    buffer = ReplayBuffer(OBS, ACT, 50, gamma=0.9)
    for episode in range(3):
        for t in range(4):
            buffer.add(_obs(10 * episode + t), [0.0], 1.0, _obs(10 * episode + t + 1),
                       False, t == 3)
    batch = buffer.sample(500)
    starts = set(batch.obs[:, 0].tolist())
    assert starts == {float(10 * e + t) for e in range(3) for t in range(4)}


def test_state_dict_round_trip_is_exact():
    a = ReplayBuffer(OBS, ACT, 8, gamma=0.9, n_step=2)
    for t in range(5):
        a.add(_obs(t), [0.5], float(t), _obs(t + 1), t == 4, False)
    a.add(_obs(20), [0.5], 1.0, _obs(21), False, False)  # an open episode
    b = ReplayBuffer(OBS, ACT, 8, gamma=0.9, n_step=2)
    b.load_state_dict(a.state_dict())
    assert len(b) == len(a) and b.t == a.t and b.current_start == a.current_start
    assert _all(a) == _all(b)
    # the open episode continues after the restore exactly as it would have
    for buffer in (a, b):
        buffer.add(_obs(21), [0.5], 2.0, _obs(22), False, False)
    assert _all(a) == _all(b)
    small = ReplayBuffer(OBS, ACT, 3, gamma=0.9)
    with pytest.raises(ValueError, match="buffer_size=8"):
        small.load_state_dict(a.state_dict())
    unwrapped = ReplayBuffer(OBS, ACT, 8, gamma=0.9)
    for t in range(5):
        unwrapped.add(_obs(t), [0.5], 1.0, _obs(t + 1), False, False)
    with pytest.raises(ValueError, match=r"has 6 slots, this buffer 3; set train\.buffer_size=6"):
        small.load_state_dict(unwrapped.state_dict())


def test_a_first_episode_still_open_is_restored_open():
    a = ReplayBuffer(OBS, ACT, 8, gamma=0.9, n_step=2)
    a.add(_obs(0), [0.5], 1.0, _obs(1), False, False)
    assert a.current_start == 0
    b = ReplayBuffer(OBS, ACT, 8, gamma=0.9, n_step=2)
    b.load_state_dict(a.state_dict())
    assert b.current_start == 0
    for buffer in (a, b):
        buffer.add(_obs(1), [0.5], 2.0, _obs(2), False, False)
    assert _all(a) == _all(b) == ([0.0, 1.0], pytest.approx([2.8, 2.0]), [2.0, 2.0],
                                  pytest.approx([0.81, 0.9]))


def test_channels_that_are_not_a_stack_are_named():
    with pytest.raises(ValueError, match="8 channels of 'pixels' are not a stack of 3 frames"):
        ReplayBuffer(spaces.Box(0, 255, (8, 4, 4), np.uint8), ACT, 5, gamma=0.9, frame_stack=3)


def test_dict_observations():
    space = spaces.Dict({"state": OBS, "pixels": spaces.Box(0, 255, (3, 8, 8), np.uint8)})
    buffer = ReplayBuffer(space, ACT, 5, gamma=0.9)
    obs = {"state": _obs(1), "pixels": np.full((3, 8, 8), 7, np.uint8)}
    buffer.add(obs, [0.0], 1.0, obs, False, False)
    batch = buffer.sample(4)
    assert batch.obs["pixels"].dtype == torch.uint8 and batch.obs["pixels"].shape == (4, 3, 8, 8)
    assert batch.obs["state"].shape == (4, 2) and torch.all(batch.obs["pixels"] == 7)


def test_checkpoint_of_another_observation_kind_is_refused():
    state_buffer = ReplayBuffer(OBS, ACT, 5, gamma=0.9)
    state_buffer.add(_obs(0), [0.0], 1.0, _obs(1), False, False)
    space = spaces.Dict({"state": OBS, "pixels": spaces.Box(0, 255, (3, 8, 8), np.uint8)})
    with pytest.raises(ValueError, match="another observation kind"):
        ReplayBuffer(space, ACT, 5, gamma=0.9).load_state_dict(state_buffer.state_dict())


def test_staged_writes_store_exactly_what_direct_writes_store():
    """The CUDA write path (a ring of staging rows copied asynchronously) run on the CPU:
    pixel stacks, dict leaves and actions land in the same slots as direct writes, across
    episode ends and the ring's wrap, with fewer staging rows than slots."""
    from robovision.replay.buffer import StagedWriter

    space = spaces.Dict({"pixels": spaces.Box(0, 255, (6, 4, 4), np.uint8),
                         "state": spaces.Box(-np.inf, np.inf, (3,), np.float32)})
    action_space = spaces.Box(-1, 1, (2,), np.float32)
    direct = ReplayBuffer(space, action_space, 23, gamma=0.9, n_step=2, frame_stack=2,
                          staged=False)
    staged = ReplayBuffer(space, action_space, 23, gamma=0.9, n_step=2, frame_stack=2,
                          staged=True)
    staged._staging = StagedWriter(staged._host_stores, depth=5)
    rng = np.random.default_rng(0)
    obs = space.sample()
    for t in range(60):
        action = rng.uniform(-1, 1, 2).astype(np.float32)
        next_obs = space.sample()
        ended = t % 9 == 8
        for buffer in (direct, staged):
            buffer.add(obs, action, float(t), next_obs, terminated=ended and t % 2 == 0,
                       truncated=ended and t % 2 == 1)
        obs = space.sample() if ended else next_obs
    ours, theirs = staged.state_dict(), direct.state_dict()
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert torch.equal(torch.as_tensor(ours[key]), torch.as_tensor(theirs[key])), key
    g = direct.valid_starts()
    a, b = staged.transitions(g), direct.transitions(g)
    assert torch.equal(a.obs["pixels"], b.obs["pixels"])
    assert torch.equal(a.action, b.action) and torch.equal(a.next_obs["state"], b.next_obs["state"])


@pytest.mark.parametrize("steps", [23, 75], ids=["filling", "wrapped"])
def test_sampling_from_the_device_counter_draws_the_valid_starts(steps):
    """The graph-safe path (bounds computed on the device from ``t_device``): every start
    it draws is one the host path can draw, it reaches all of them, and the transitions
    are the same."""
    buffer = ReplayBuffer(OBS, ACT, 30, gamma=0.9, n_step=3)
    for t in range(steps):
        buffer.add(_obs(t), [0.0], float(t), _obs(t + 1), False, t % 7 == 6)
    assert int(buffer.t_device) == buffer.t
    valid = set(buffer.valid_starts().tolist())
    torch.manual_seed(0)
    drawn = buffer.sample_starts(4000, buffer.t_device)
    assert set(drawn.tolist()) == valid
    host, device = buffer.transitions(drawn), buffer.transitions(drawn, buffer.t_device)
    for name in ("obs", "action", "reward", "next_obs", "discount"):
        assert torch.equal(getattr(host, name), getattr(device, name)), name


# --------------------------------------------------------------------------- lanes


def _lanes(n_lanes=2, capacity=20, n_step=3):
    return ReplayLanes([ReplayBuffer(OBS, ACT, capacity, gamma=0.5, n_step=n_step)
                        for _ in range(n_lanes)])


def _fill_lanes(replay, steps):
    """Lane ``i`` sees observations ``1000 * i + t``; episodes of 5 steps (truncated)."""
    for t in range(steps):
        for i, lane in enumerate(replay.lanes):
            lane.add(_obs(1000 * i + t), [float(i)], 1.0, _obs(1000 * i + t + 1), False,
                     t % 5 == 4)


@pytest.mark.parametrize("device_counter", [False, True], ids=["host", "device"])
def test_lanes_give_equal_shares_and_keep_each_env_in_time_order(device_counter):
    replay = _lanes(3)
    _fill_lanes(replay, 12)
    assert replay.can_sample and len(replay) == 36
    assert replay.t_device.tolist() == [lane.t for lane in replay.lanes]
    batch = replay.sample(301, replay.t_device if device_counter else None)
    lane_of = (batch.obs[:, 0] // 1000).long()
    assert lane_of.tolist() == [0] * 101 + [1] * 100 + [2] * 100  # shares, in lane order
    assert torch.equal(batch.action[:, 0].long(), lane_of)  # obs and action of one lane
    # n-step within one lane's episode: next_obs = obs + m with m <= 3, never across lanes
    steps = batch.next_obs[:, 0] - batch.obs[:, 0]
    assert torch.equal((batch.next_obs[:, 0] // 1000).long(), lane_of)
    assert steps.min() >= 1 and steps.max() <= 3
    assert torch.allclose(batch.reward, sum(0.5 ** j for j in range(3)) * (steps == 3)
                          + (steps == 2) * 1.5 + (steps == 1) * 1.0)


def test_lanes_sample_only_when_every_lane_holds_a_transition():
    replay = _lanes(2, n_step=1)
    replay.lanes[0].add(_obs(0), [0.0], 1.0, _obs(1), False, False)
    assert replay.lanes[0].can_sample and not replay.can_sample  # lane 1 would give nothing
    replay.lanes[1].add(_obs(1000), [1.0], 1.0, _obs(1001), False, False)
    assert replay.can_sample and len(replay) == 2
    with pytest.raises(ValueError, match="two lanes or more"):
        ReplayLanes(replay.lanes[:1])


def test_lanes_round_trip_and_refuse_another_number_of_envs():
    replay = _lanes(2)
    _fill_lanes(replay, 9)
    state = replay.state_dict()
    again = _lanes(2)
    again.load_state_dict(state)
    assert again.t_device.tolist() == replay.t_device.tolist() == [11, 11]
    g = replay.lanes[1].valid_starts()
    assert torch.equal(again.lanes[1].transitions(g).obs, replay.lanes[1].transitions(g).obs)
    with pytest.raises(ValueError, match=r"2 lane.*3 envs.*env\.num_envs=2"):
        _lanes(3).load_state_dict(state)
    with pytest.raises(ValueError, match=r"2 lanes.*one env.*env\.num_envs=2"):
        ReplayBuffer(OBS, ACT, 20, gamma=0.5).load_state_dict(state)
    with pytest.raises(ValueError, match=r"has 1 lane, one per env, and this run has 2 envs; "
                                         r"resume with env\.num_envs=1"):
        _lanes(2).load_state_dict(replay.lanes[0].state_dict())


def _allocated_bytes(buffer: ReplayBuffer) -> int:
    stores = [*buffer.obs.values(), buffer.action, buffer.reward, buffer.terminated,
              buffer.last, buffer.has_action, buffer.episode_start]
    return sum(store.nbytes for store in stores)


@pytest.mark.parametrize(("obs_space", "frame_stack"), [
    (OBS, 1),
    (spaces.Box(0, 255, (9, 12, 10), np.uint8), 3),  # one frame of a stack per slot
    (spaces.Box(0, 255, (4, 6, 6), np.uint8), 2),
    (spaces.Box(0, 255, (3, 6, 6), np.uint8), 1),
    (spaces.Dict({"pixels": spaces.Box(0, 255, (6, 8, 8), np.uint8), "state": OBS}), 2),
])
def test_the_memory_estimate_is_what_the_replay_allocates(obs_space, frame_stack):
    """The memory check and the factory's placement decide from ``bytes_needed``: it must
    be the bytes the stores really take, not a guess."""
    action_space = spaces.Box(-1, 1, (3,), np.float32)
    buffer = ReplayBuffer(obs_space, action_space, 17, gamma=0.9, frame_stack=frame_stack)
    assert _allocated_bytes(buffer) == ReplayBuffer.bytes_needed(obs_space, action_space, 17,
                                                                 frame_stack)
    assert buffer.bytes_per_slot * 17 == _allocated_bytes(buffer)


def test_the_largest_capacity_it_names_fits_and_one_more_slot_does_not(monkeypatch):
    from robovision.replay import buffer as module

    free = 20 * 2**30
    monkeypatch.setattr(module, "available_memory", lambda device: free)
    per_slot = 2**20
    fits = int(0.9 * free // per_slot)  # a 10 % margin of the free memory is kept
    assert fits == 18432
    ReplayBuffer.check_fits(fits, per_slot, torch.device("cpu"))
    with pytest.raises(MemoryError) as error:
        ReplayBuffer.check_fits(fits + 1, per_slot, torch.device("cpu"))
    assert str(error.value) == ("a replay of 18,433 transitions needs 18.0 GiB on cpu but "
                                "20.0 GiB are available; the largest capacity that fits is "
                                "18,432 (set train.buffer_size=18432)")


def test_a_replay_can_sample_from_its_first_transition_on():
    buffer = ReplayBuffer(OBS, ACT, 4, gamma=0.9)
    assert not buffer.can_sample
    with pytest.raises(RuntimeError, match="no complete transition"):
        buffer.sample(2)
    buffer.add(_obs(0), [0.5], 1.0, _obs(1), False, False)
    assert buffer.can_sample and len(buffer) == 1
    assert buffer.sample(8).obs[:, 0].tolist() == [0.0] * 8
    for t in range(1, 6):  # the ring wraps: still exactly what is live
        buffer.add(_obs(t), [0.5], 1.0, _obs(t + 1), False, False)
        assert buffer.can_sample


# --------------------------------------------------------------------------- against a reference


def _random_stream(buffer: ReplayBuffer, steps: int, seed: int) -> dict[int, tuple]:
    """Episodes of random lengths, ending by termination or truncation. Each observation
    is its own global slot number, so a transition is known by its start. Returns the
    steps by start: (action, reward, terminated, truncated)."""
    rng = np.random.default_rng(seed)
    steps_at: dict[int, tuple] = {}
    g = 0
    for _ in range(steps):
        action = rng.uniform(-1, 1, 1).astype(np.float32)
        reward = float(rng.normal())
        end = rng.random()
        terminated, truncated = end < 0.06, 0.06 <= end < 0.12
        buffer.add(_obs(g), action, reward, _obs(g + 1), terminated, truncated)
        steps_at[g] = (float(action[0]), reward, terminated, truncated)
        g += 2 if terminated or truncated else 1  # a new episode starts in a new slot
    return steps_at


def _reference(steps_at: dict[int, tuple], g: int, n: int, gamma: float):
    """The n-step transition from ``g`` by the textbook: (return, next obs, discount)."""
    ret, m = 0.0, 0
    while m < n and g + m in steps_at:
        _, reward, terminated, truncated = steps_at[g + m]
        ret += gamma**m * reward
        m += 1
        if terminated or truncated:
            break
    terminated = steps_at[g + m - 1][2]
    return ret, g + m, 0.0 if terminated else gamma**m


@pytest.mark.parametrize("n_step", [1, 2, 3, 5])
@pytest.mark.parametrize("capacity", [1000, 37], ids=["filling", "wrapped"])
def test_every_stored_transition_is_the_textbook_n_step_transition(n_step, capacity):
    gamma = 0.9
    buffer = ReplayBuffer(OBS, ACT, capacity, gamma=gamma, n_step=n_step)
    steps_at = _random_stream(buffer, 150, seed=n_step)
    live = sorted(g for g in steps_at if g >= buffer.t - capacity)
    assert buffer.valid_starts().tolist() == live
    g = torch.tensor(live)
    for batch in (buffer.transitions(g), buffer.transitions(g, buffer.t_device)):
        assert batch.obs[:, 0].tolist() == live
        assert batch.action[:, 0].tolist() == pytest.approx([steps_at[s][0] for s in live])
        expected = [_reference(steps_at, s, n_step, gamma) for s in live]
        assert batch.reward.tolist() == pytest.approx([e[0] for e in expected], abs=1e-5)
        assert batch.next_obs[:, 0].tolist() == [e[1] for e in expected]
        assert batch.discount.tolist() == pytest.approx([e[2] for e in expected])


def _expected_draws(buffer: ReplayBuffer, low: int, redraws: int) -> dict[int, float]:
    """Probability of each start, drawing from the slots low..t-2: a slot without an
    action (an episode's final observation) is drawn again ``redraws`` times, and if it
    is still one, gives its draw to the step before it (after it at the oldest edge)."""
    slots = range(low, buffer.t - 1)
    valid = [bool(buffer.has_action[u % buffer.capacity]) for u in slots]
    q = valid.count(False) / len(slots)
    kept = sum(q**i for i in range(redraws + 1)) / len(slots)  # a valid slot, any round
    handed = q**redraws / len(slots)  # an invalid slot after the last redraw
    counts: dict[int, float] = {}
    for u, ok in zip(slots, valid, strict=True):
        start = u if ok else (u - 1 if u - 1 >= low else u + 1)
        counts[start] = counts.get(start, 0) + (kept if ok else handed)
    return counts


@pytest.mark.parametrize("device_counter", [False, True], ids=["host", "device"])
@pytest.mark.parametrize(("capacity", "frame_stack"), [(1000, 1), (29, 1), (29, 3)])
def test_starts_are_drawn_uniformly_from_the_live_slots(capacity, frame_stack, device_counter):
    """Once the ring has wrapped, a stack of k frames reaches k - 1 slots back, so the
    oldest k - 1 live slots are not drawn as starts."""
    space = (OBS if frame_stack == 1 else
             spaces.Box(0, 255, (frame_stack, 2, 2), np.uint8))
    buffer = ReplayBuffer(space, ACT, capacity, gamma=0.9, frame_stack=frame_stack)
    rng = np.random.default_rng(1)
    for t in range(60):
        obs = space.sample() if frame_stack > 1 else _obs(t)
        buffer.add(obs, [0.0], 0.0, obs, False, bool(rng.random() < 0.15))
    wrapped = buffer.t > capacity
    low = buffer.t - capacity + frame_stack - 1 if wrapped else 0
    assert int(buffer._oldest_start(buffer.t_device)) == buffer._oldest_start() == low
    torch.manual_seed(0)
    draws = 40_000
    drawn = buffer.sample_starts(draws, buffer.t_device if device_counter else None)
    expected = _expected_draws(buffer, low, ReplayBuffer.REDRAWS)
    assert set(drawn.tolist()) == set(expected)
    found = torch.bincount(drawn - low, minlength=buffer.t - low).float() / draws
    for start, p in expected.items():
        assert abs(found[start - low].item() - p) < 0.01, (start, p)


@pytest.mark.parametrize("frame_stack", [1, 3])
def test_the_oldest_start_follows_the_ring_step_by_step(frame_stack):
    """Before the wrap every slot from 0 on; after it, the slots a stack of k frames can
    reach back from without meeting an overwritten one: on the host and on the device."""
    space = spaces.Box(0, 255, (frame_stack, 2, 2), np.uint8)
    capacity = 7
    buffer = ReplayBuffer(space, ACT, capacity, gamma=0.9, frame_stack=frame_stack)
    obs = space.sample()
    for _ in range(20):
        buffer.add(obs, [0.0], 0.0, obs, False, False)
        oldest = buffer.t - capacity
        expected = oldest + frame_stack - 1 if oldest > 0 else 0
        assert buffer._oldest_start() == expected, buffer.t
        assert int(buffer._oldest_start(buffer.t_device)) == expected, buffer.t


def _episodes_of_three_steps(capacity: int, episodes: int) -> ReplayBuffer:
    """Episodes of 3 steps take 4 slots (the last holds the final observation), and one
    step of the next episode is stored."""
    buffer = ReplayBuffer(OBS, ACT, capacity, gamma=0.9)
    g = 0
    for _ in range(episodes * 3 + 1):
        end = g % 4 == 2
        buffer.add(_obs(g), [0.0], 0.0, _obs(g + 1), False, end)
        g += 2 if end else 1
    return buffer


@pytest.mark.parametrize("device_counter", [False, True], ids=["host", "device"])
def test_every_step_is_drawn_equally_often_however_short_the_episodes(device_counter):
    """A quarter of the slots hold an episode's final observation; handing their draws
    to the step before would draw every episode's last step twice as often."""
    buffer = _episodes_of_three_steps(capacity=1000, episodes=12)
    valid = buffer.valid_starts()
    assert len(valid) == 37
    torch.manual_seed(0)
    drawn = buffer.sample_starts(60_000, buffer.t_device if device_counter else None)
    counts = torch.bincount(drawn, minlength=buffer.t)[valid]
    assert counts.sum().item() == 60_000  # every draw is a step
    found = counts.float() / 60_000
    assert (found - 1 / 37).abs().max().item() < 0.004  # 1/37 = 0.027; twice it: 0.054


@pytest.mark.parametrize(("capacity", "low", "starts", "doubled"), [
    (11, 11, {12, 13, 14, 16, 17, 18, 20}, 12),  # oldest live slot: a final observation
    (8, 14, {14, 16, 17, 18, 20}, 14),  # the slot after it is one
], ids=["final-oldest", "final-after-oldest"])
@pytest.mark.parametrize("device_counter", [False, True], ids=["host", "device"])
def test_a_final_observation_at_the_ring_edge_gives_its_draw_to_a_live_step(
        capacity, low, starts, doubled, device_counter, monkeypatch):
    """5 episodes of 3 steps and one step more in a ring of ``capacity`` slots. A draw of
    a final observation that stays one after the redraws (without redraws: every such
    draw) goes to the step before it, or after it when the step before is overwritten."""
    monkeypatch.setattr(ReplayBuffer, "REDRAWS", 0)
    buffer = _episodes_of_three_steps(capacity=capacity, episodes=5)
    assert (buffer._oldest_start(), buffer.t) == (low, 22)
    torch.manual_seed(0)
    drawn = buffer.sample_starts(20_000, buffer.t_device if device_counter else None)
    found = torch.bincount(drawn, minlength=buffer.t).float() / 20_000
    expected = _expected_draws(buffer, low, redraws=0)
    slots = buffer.t - 1 - low
    assert expected[doubled] == pytest.approx(2 / slots)  # its own draw and the final slot's
    assert set(drawn.tolist()) == set(expected) == starts
    for start, p in expected.items():
        assert abs(found[start].item() - p) < 0.015, (start, p)
