"""Losses and targets against values computed by hand."""

import math

import numpy as np
import pytest
import torch

from robovision.agents import losses
from robovision.nets.distributions import (
    categorical_entropy,
    categorical_log_prob,
    categorical_sample,
    gaussian_entropy,
    gaussian_log_prob,
    tanh_gaussian_sample,
    tanh_log_det_jacobian,
)
from robovision.replay.rollout import compute_gae


def test_soft_q_target_by_hand():
    reward = torch.tensor([1.0, 2.0])
    discount = torch.tensor([0.99, 0.0])  # second transition is a true terminal
    next_q = torch.tensor([[5.0, 3.0], [4.0, 7.0]])  # (n_critics, batch)
    next_log_prob = torch.tensor([-2.0, 0.5])
    target = losses.soft_q_target(reward, discount, next_q, next_log_prob, alpha=0.2)
    # min Q = [4, 3]; soft value = [4 + 0.2 * 2, ...]; terminal ignores it
    assert target.tolist() == pytest.approx([1.0 + 0.99 * (4.0 + 0.4), 2.0])


def test_clipped_double_q_target_by_hand():
    target = losses.clipped_double_q_target(
        torch.tensor([0.5]), torch.tensor([0.9]), torch.tensor([[2.0], [1.5]]))
    assert target.item() == pytest.approx(0.5 + 0.9 * 1.5)


def test_target_smoothing_is_clipped_and_bounded():
    torch.manual_seed(1)
    action = torch.full((10_000, 2), 0.9)
    smoothed = losses.smoothed_target_action(action, noise_std=10.0, noise_clip=0.5)
    noise = smoothed - action
    assert smoothed.max() <= 1.0 and smoothed.min() >= 0.4 - 1e-6
    assert noise.min() == pytest.approx(-0.5)
    torch.manual_seed(2)
    as_float = losses.smoothed_target_action(action, 0.3, 0.5)
    torch.manual_seed(2)  # a 0-d tensor std (what a CUDA graph reads) gives the same noise
    assert torch.equal(losses.smoothed_target_action(action, torch.tensor(0.3), 0.5), as_float)


def test_target_smoothing_adds_the_clipped_noise_by_hand():
    action = torch.tensor([[-0.95, 0.0, 0.2, 0.95]])
    torch.manual_seed(3)
    noise = torch.randn_like(action) * 0.4
    torch.manual_seed(3)
    smoothed = losses.smoothed_target_action(action, 0.4, 0.3)
    expected = (action + noise.clamp(-0.3, 0.3)).clamp(-1.0, 1.0)
    assert torch.equal(smoothed, expected)
    low = losses.smoothed_target_action(torch.full((1000, 1), -0.9), 5.0, 0.5)
    assert low.min() == -1.0 and low.max() == pytest.approx(-0.4)  # bounded below too


def test_critic_loss_sums_members():
    q = torch.tensor([[1.0, 2.0, 4.0], [0.0, 0.0, 1.0]])  # (n_critics, batch)
    target = torch.tensor([1.0, 0.0, 2.0])
    # member 0: (0 + 4 + 4) / 3, member 1: (1 + 0 + 1) / 3; summed over members
    assert losses.critic_loss(q, target).item() == pytest.approx(8 / 3 + 2 / 3)


def test_sac_actor_and_alpha_losses():
    q = torch.tensor([[1.0, 3.0, 2.0], [2.0, 0.5, 2.0]])  # (n_critics, batch)
    log_prob = torch.tensor([-1.0, -2.0, 0.0])
    # min over critics = [1, 0.5, 2]; alpha*logp - q = [-1.5, -1.5, -2] -> mean -5/3
    assert losses.sac_actor_loss(q, log_prob, 0.5).item() == pytest.approx(-5 / 3)
    log_prob = torch.tensor([-1.0, -2.0])
    log_alpha = torch.tensor(math.log(0.5), requires_grad=True)
    loss = losses.sac_alpha_loss(log_alpha, log_prob, target_entropy=-1.0)
    # -(log a * mean(logp + H)) = -(log 0.5 * mean([-2, -3]))
    assert loss.item() == pytest.approx(-(math.log(0.5) * -2.5))
    loss.backward()  # entropy 1.5 is above the target -1: gradient descent lowers alpha
    assert log_alpha.grad.item() > 0


def test_ppo_clip_by_hand():
    old = torch.tensor([0.3, -1.0, 2.0])
    new = old + torch.log(torch.tensor([1.5, 0.5, 1.1]))  # ratios 1.5, 0.5, 1.1
    adv = torch.tensor([1.0, -1.0, 2.0])
    loss, clip_fraction = losses.ppo_policy_loss(new, old, adv, clip=0.2)
    # min(r*A, clip(r)*A): [min(1.5, 1.2), min(-0.5, -0.8), min(2.2, 2.2)] = [1.2, -0.8, 2.2]
    assert loss.item() == pytest.approx(-(1.2 - 0.8 + 2.2) / 3)
    assert clip_fraction.item() == pytest.approx(2 / 3)


def test_ppo_value_loss_clipped_takes_pessimistic_branch():
    value, old, ret = torch.tensor([2.0]), torch.tensor([0.0]), torch.tensor([0.0])
    assert losses.ppo_value_loss(value, old, ret, None).item() == pytest.approx(2.0)
    # clipped value 0.2 is closer to the return: max keeps the unclipped 4.0 -> 0.5*4
    assert losses.ppo_value_loss(value, old, ret, 0.2).item() == pytest.approx(2.0)
    ret = torch.tensor([3.0])  # now the clipped branch is worse: (0.2-3)^2 = 7.84
    assert losses.ppo_value_loss(value, old, ret, 0.2).item() == pytest.approx(0.5 * 7.84)
    # a value that fell below old - clip: clipped to 1.0 - 0.2 = 0.8, which is further
    # from the return -1 than the value 0 is: max((0 + 1)^2, (0.8 + 1)^2) = 1.8^2
    value, old, ret = torch.tensor([0.0]), torch.tensor([1.0]), torch.tensor([-1.0])
    assert losses.ppo_value_loss(value, old, ret, 0.2).item() == pytest.approx(0.5 * 1.8 ** 2)


def test_advantages_are_normalised_to_zero_mean_and_unit_std():
    advantage = torch.tensor([1.0, 2.0, 3.0, 6.0])
    normalised = losses.normalize_advantage(advantage)
    expected = (advantage - 3.0) / advantage.std()
    assert torch.allclose(normalised, expected)
    assert losses.normalize_advantage(torch.full((3,), 2.0)).abs().max() == 0.0  # eps: no nan


def test_gae_worked_example():
    """T=3, one env, gamma=0.5, lambda=0.5; an episode ends (terminated) after step 1."""
    rewards = torch.tensor([[1.0], [2.0], [3.0]])
    values = torch.tensor([[0.5], [1.0], [1.5]])
    next_values = torch.tensor([[1.0], [9.0], [2.0]])  # 9.0 must be masked (terminal)
    terminated = torch.tensor([[0.0], [1.0], [0.0]])
    ended = terminated.clone()
    adv, ret = compute_gae(rewards, values, next_values, terminated, ended, 0.5, 0.5)
    d0 = 1.0 + 0.5 * 1.0 - 0.5   # 1.0
    d1 = 2.0 - 1.0               # 1.0 (no bootstrap)
    d2 = 3.0 + 0.5 * 2.0 - 1.5   # 2.5
    a2 = d2
    a1 = d1                      # recursion stops at the episode end
    a0 = d0 + 0.25 * a1
    assert adv.squeeze(1).tolist() == pytest.approx([a0, a1, a2])
    assert ret.squeeze(1).tolist() == pytest.approx([a0 + 0.5, a1 + 1.0, a2 + 1.5])


def test_gae_truncation_bootstraps_but_stops_recursion():
    rewards = torch.tensor([[1.0], [1.0]])
    values = torch.zeros(2, 1)
    next_values = torch.tensor([[4.0], [0.0]])
    truncated_end = torch.tensor([[1.0], [0.0]])
    adv, _ = compute_gae(rewards, values, next_values, torch.zeros(2, 1), truncated_end, 0.5, 1.0)
    assert adv.squeeze(1).tolist() == pytest.approx([1.0 + 0.5 * 4.0, 1.0])


def test_tanh_gaussian_log_prob_matches_change_of_variables():
    torch.manual_seed(0)
    mean, log_std = torch.randn(512, 3), torch.randn(512, 3) * 0.3
    action, log_prob = tanh_gaussian_sample(mean, log_std)
    u = torch.atanh(action.clamp(-1 + 1e-6, 1 - 1e-6))
    base = torch.distributions.Normal(mean, log_std.exp()).log_prob(u).sum(-1)
    reference = base - torch.log(1 - action.pow(2) + 1e-12).sum(-1)
    close = action.abs().max(-1).values < 0.999  # atanh is ill-conditioned at the edges
    assert torch.allclose(log_prob[close], reference[close], atol=1e-3)


def test_gaussian_log_prob_matches_torch():
    mean, log_std, x = torch.randn(4, 2), torch.randn(4, 2), torch.randn(4, 2)
    ref = torch.distributions.Normal(mean, log_std.exp()).log_prob(x).sum(-1)
    assert torch.allclose(gaussian_log_prob(x, mean, log_std), ref, atol=1e-5)


def test_gaussian_entropy_matches_torch():
    log_std = torch.randn(5, 3)
    reference = torch.distributions.Normal(torch.zeros(5, 3), log_std.exp()).entropy().sum(-1)
    assert torch.allclose(gaussian_entropy(log_std), reference, atol=1e-5)


def test_the_tanh_correction_is_log_of_one_minus_tanh_squared_and_stays_finite():
    u = torch.linspace(-4, 4, 41).reshape(-1, 1).repeat(1, 2)
    reference = torch.log(1 - torch.tanh(u).pow(2)).sum(-1)
    assert torch.allclose(tanh_log_det_jacobian(u), reference, atol=1e-4)
    far = tanh_log_det_jacobian(torch.tensor([[30.0], [-30.0]]))  # tanh rounds to +-1 there
    assert torch.isfinite(far).all() and far == pytest.approx([2 * (np.log(2) - 30)] * 2)


def test_categorical_log_prob_and_entropy_match_torch_over_batch_dims():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4)  # batch (2, 3), 4 actions
    action = torch.randint(0, 4, (2, 3, 1)).float()  # the rollout's layout
    reference = torch.distributions.Categorical(logits=logits)
    assert torch.allclose(categorical_log_prob(logits, action),
                          reference.log_prob(action.squeeze(-1).long()), atol=1e-6)
    assert torch.allclose(categorical_entropy(logits), reference.entropy(), atol=1e-6)


def test_categorical_sample_draws_each_action_with_its_probability():
    probs = torch.tensor([0.1, 0.2, 0.7])
    torch.manual_seed(0)
    sample = categorical_sample(probs.log().expand(2, 10_000, 3))
    assert sample.shape == (2, 10_000, 1) and sample.dtype == torch.float32
    found = torch.bincount(sample.flatten().long(), minlength=3) / sample.numel()
    assert torch.allclose(found, probs, atol=0.01)


def test_soft_update_is_polyak():
    target, source = [torch.zeros(3)], [torch.ones(3)]
    losses.soft_update_(target, source, 0.1)
    assert target[0].tolist() == pytest.approx([0.1] * 3)


def test_a_rollout_bootstraps_truncations_from_the_final_observation():
    """Env 0 is truncated after step 1 (V(final obs) = 10 bootstraps it), env 1 terminates
    after step 0 (nothing bootstraps); elsewhere the next stored value does, and the last
    step takes the value of the observation after the rollout."""
    from gymnasium import spaces

    from robovision.replay import RolloutBuffer

    space = spaces.Box(-1, 1, (1,), np.float32)
    rollout = RolloutBuffer(3, 2, space, space, torch.device("cpu"))
    values = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
    ended = [[False, True], [True, False], [False, False]]
    terminated = [[False, True], [False, False], [False, False]]
    bootstrap = [[0.0, 0.0], [10.0, 0.0], [0.0, 0.0]]
    for t in range(3):
        rollout.store(t, torch.full((2, 1), float(t)), torch.full((2, 1), 0.5 * t),
                      torch.tensor([-0.1 * t, -0.2 * t]), torch.tensor(values[t]),
                      np.array([1.0, 2.0]), np.array(terminated[t]), np.array(ended[t]),
                      torch.tensor(bootstrap[t]))
    data = rollout.finish(torch.tensor([7.0, 8.0]), gamma=0.5, lam=1.0)
    next_values = torch.tensor([[3.0, 0.0], [10.0, 6.0], [7.0, 8.0]])
    advantage, returns = compute_gae(rollout.reward, rollout.value, next_values,
                                     rollout.terminated, rollout.episode_end, 0.5, 1.0)
    assert torch.equal(data["advantage"], advantage.flatten())
    assert torch.equal(data["return"], returns.flatten())
    # by hand for env 0: deltas 1 + 0.5*3 - 1 = 1.5, 1 + 0.5*10 - 3 = 3, 1 + 0.5*7 - 5 = -0.5
    assert data["advantage"][0::2].tolist() == pytest.approx([1.5 + 0.5 * 3, 3.0, -0.5])
    assert data["obs"][:, 0].tolist() == [0, 0, 1, 1, 2, 2]  # (T, N) flattened time-major
    assert data["log_prob"].tolist() == pytest.approx([0, 0, -0.1, -0.2, -0.2, -0.4])
    discrete = RolloutBuffer(3, 2, space, spaces.Discrete(4), torch.device("cpu"))
    assert discrete.action.shape == (3, 2, 1)  # one index per step
