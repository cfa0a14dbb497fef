"""Networks on their own: the fused critic ensemble, MLPs, heads, running statistics."""

import numpy as np
import pytest
import torch
from gymnasium import spaces
from torch import nn

from robovision.nets.encoders import (
    DictEncoder,
    FlattenEncoder,
    MultiViewEncoder,
    PixelEncoder,
    make_encoder,
)
from robovision.nets.heads import DeterministicActor, Projection, QEnsemble, TanhGaussianActor
from robovision.nets.mlp import EnsembleLinear, EnsembleMLP, activation, mlp
from robovision.nets.normalize import RunningMeanStd


def test_ensemble_linear_equals_independent_linears():
    layer = EnsembleLinear(3, 5, 4)
    x_shared, x_each = torch.randn(7, 5), torch.randn(3, 7, 5)
    for i in range(3):
        expected_shared = x_shared @ layer.weight[i] + layer.bias[i]
        expected_each = x_each[i] @ layer.weight[i] + layer.bias[i]
        assert torch.allclose(layer(x_shared)[i], expected_shared, atol=1e-6)
        assert torch.allclose(layer(x_each)[i], expected_each, atol=1e-6)
    assert layer(x_shared, members=2).shape == (2, 7, 4)


def test_ensemble_members_are_initialised_independently():
    torch.manual_seed(0)
    net = EnsembleMLP(2, 6, [16], 1)
    weights = net.layers[0].weight
    assert not torch.equal(weights[0], weights[1])
    bound = 1 / np.sqrt(6)  # nn.Linear's default init range, uniform over it
    for values in (weights, net.layers[0].bias):
        assert values.abs().max() <= bound
        assert values.min() < -bound / 2 and values.max() > bound / 2
    assert abs(weights.mean()) < 0.1 * bound


def test_mlp_shape_and_activation():
    net = mlp(4, [8, 6], 2, "tanh")
    assert [type(m) for m in net] == [nn.Linear, nn.Tanh, nn.Linear, nn.Tanh, nn.Linear]
    assert [(m.in_features, m.out_features) for m in net[::2]] == [(4, 8), (8, 6), (6, 2)]
    assert net(torch.randn(3, 4)).shape == (3, 2)
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        activation("gelu")


def test_actor_heads_keep_actions_bounded_and_log_std_in_range():
    actor = TanhGaussianActor(6, 2, [16], log_std_min=-3, log_std_max=1)
    features = torch.randn(64, 6) * 100  # extreme inputs
    _, log_std = actor(features)
    assert (log_std >= -3).all() and (log_std <= 1).all()
    action, log_prob = actor.sample(features)
    assert (action.abs() <= 1).all() and torch.isfinite(log_prob).all()
    assert (DeterministicActor(6, 2, [16])(features).abs() <= 1).all()


def test_sac_actor_spans_its_log_std_range_and_its_mode_is_the_squashed_mean():
    torch.manual_seed(0)
    actor = TanhGaussianActor(6, 3, [16], log_std_min=-3, log_std_max=1)
    features = torch.randn(256, 6) * 100  # saturates the squash at both ends
    mean, log_std = actor(features)
    assert mean.shape == log_std.shape == (256, 3)  # 6 outputs: 3 means, 3 log-stds
    assert log_std.min() < -2.9 and log_std.max() > 0.9
    raw_mean, raw_log_std = actor.net(features).chunk(2, dim=-1)
    assert torch.allclose(mean, raw_mean)
    assert torch.allclose(log_std, -3 + 2 * (torch.tanh(raw_log_std) + 1))
    assert torch.equal(actor.mode(features), torch.tanh(mean))


def test_heads_with_a_projection_trunk():
    critic = QEnsemble(100, 2, [16], n=2, trunk=Projection(100, 8))
    q = critic(torch.randn(5, 100), torch.zeros(5, 2))
    assert q.shape == (2, 5)
    assert critic.net.layers[0].in_dim == 8 + 2  # members read the 8-dim trunk output
    h = Projection(100, 8)(torch.randn(5, 100))
    assert (h.abs() <= 1).all()  # tanh after LayerNorm


def test_bf16_projection_is_close_to_fp32():
    trunk = Projection(300, 16)
    amp = Projection(300, 16, amp=True)
    amp.load_state_dict(trunk.state_dict())
    x = torch.randn(32, 300)
    assert amp(x).dtype == torch.float32
    assert torch.allclose(amp(x), trunk(x), atol=0.05)


def test_running_mean_std_matches_numpy_over_chunks():
    rng = np.random.default_rng(0)
    data = rng.normal(3.0, 2.0, size=(1000, 4))
    rms = RunningMeanStd((4,), epsilon=1e-12)
    for chunk in np.array_split(data, 7):
        rms.update(torch.as_tensor(chunk))
    assert np.allclose(rms.mean.numpy(), data.mean(0), atol=1e-8)
    assert np.allclose(rms.var.numpy(), data.var(0), atol=1e-8)
    normalized = rms.normalize(torch.as_tensor(data, dtype=torch.float32))
    assert torch.allclose(normalized.mean(0), torch.zeros(4), atol=1e-4)
    assert torch.allclose(normalized.std(0, unbiased=False), torch.ones(4), atol=1e-4)
    assert rms.normalize(torch.full((1, 4), 1e6)).max() == 10.0  # clipped


def test_running_mean_std_takes_the_first_batch_as_it_is_and_normalises_a_constant():
    rms = RunningMeanStd((2,))  # the default epsilon: a prior count of 1e-4
    rms.update(torch.tensor([[1.0, 5.0], [3.0, 5.0], [5.0, 5.0]]))
    assert rms.mean.tolist() == pytest.approx([3.0, 5.0], rel=1e-4)
    assert rms.var.tolist() == pytest.approx([8 / 3, 0.0], abs=1e-3)
    constant = RunningMeanStd((1,), epsilon=1e-12)
    constant.update(torch.full((4, 1), 5.0))
    assert constant.var.item() < 1e-8  # below the normaliser's eps
    assert constant.normalize(torch.full((2, 1), 5.0)).tolist() == [[0.0], [0.0]]  # not nan


@pytest.mark.parametrize(("kind", "conv_out", "conv_params"), [
    # DrQ / DrQ-v2: 35x35x32 = 39200 conv features from 84x84; 3x3 convs, strides 2,1,1,1
    ("drq", 32 * 35 * 35, (9 * 9 * 32 + 32) + 3 * (32 * 9 * 32 + 32)),
    # NatureCNN: 7x7x64 = 3136; 32x8x8 s4, 64x4x4 s2, 64x3x3 s1
    ("nature", 64 * 7 * 7, (9 * 64 * 32 + 32) + (32 * 16 * 64 + 64) + (64 * 9 * 64 + 64)),
])
def test_pixel_encoders_have_their_published_geometry(kind, conv_out, conv_params):
    encoder = PixelEncoder(spaces.Box(0, 255, (9, 84, 84), np.uint8), kind, project=False)
    assert encoder.conv_out_dim == encoder.out_dim == conv_out
    assert sum(p.numel() for p in encoder.trunk.parameters()) == conv_params
    obs = torch.randint(0, 255, (2, 9, 84, 84), dtype=torch.uint8)
    assert encoder(obs).shape == (2, conv_out)


@pytest.mark.parametrize(("kind", "smallest"), [("drq", 15), ("nature", 36)])
def test_the_smallest_image_an_encoder_takes_is_named_exactly(kind, smallest):
    """DrQ: (s - 3) // 2 + 1 >= 7 leaves three 3x3 convs a pixel; Nature: 8 s4, 4 s2, 3 s1."""
    def image(size):
        return spaces.Box(0, 255, (3, size, size), np.uint8)

    fits = PixelEncoder(image(smallest), kind, project=False)
    assert fits.conv_out_dim == fits.trunk[-3].out_channels  # one pixel per filter
    with pytest.raises(ValueError, match=rf"image {smallest - 1}x{smallest - 1} is too small "
                                         rf"for the '{kind}' encoder: the minimum size is "
                                         rf"{smallest}x{smallest} \(set image_size\)"):
        PixelEncoder(image(smallest - 1), kind)
    wide = spaces.Box(0, 255, (3, smallest - 1, 84), np.uint8)  # the short side decides
    with pytest.raises(ValueError, match=rf"image {smallest - 1}x84 is too small"):
        PixelEncoder(wide, kind)


def test_projected_features_are_drqs_feature_dim_or_natures_512():
    image = spaces.Box(0, 255, (3, 64, 64), np.uint8)
    drq, nature = PixelEncoder(image, "drq", 24), PixelEncoder(image, "nature", 24)
    obs = torch.randint(0, 255, (2, 3, 64, 64), dtype=torch.uint8)
    assert drq.out_dim == 24 and drq(obs).shape == (2, 24)
    assert nature.out_dim == 512 and nature(obs).shape == (2, 512)


@pytest.mark.parametrize("kind", ["drq", "nature"])
def test_pixel_encoders_see_pixels_scaled_to_minus_half_to_half(kind):
    """The first conv folds ``x / 255 - 0.5`` into its weights: the same features as the
    plain trunk on the scaled image."""
    torch.manual_seed(0)
    encoder = PixelEncoder(spaces.Box(0, 255, (6, 40, 40), np.uint8), kind, 16)
    obs = torch.randint(0, 256, (3, 6, 40, 40), dtype=torch.uint8)
    with torch.no_grad():
        expected = encoder.head(encoder.trunk(obs.float() / 255 - 0.5))
        assert torch.allclose(encoder(obs), expected, atol=1e-5)
        assert not torch.allclose(encoder(obs), encoder.head(encoder.trunk(obs.float() / 255)),
                                  atol=1e-3)


def test_bf16_encoder_computes_what_the_float32_one_does_within_bf16_precision():
    torch.manual_seed(0)
    encoder = PixelEncoder(spaces.Box(0, 255, (6, 40, 40), np.uint8), "drq", 16)
    obs = torch.randint(0, 256, (3, 6, 40, 40), dtype=torch.uint8)
    with torch.no_grad():
        reference = encoder(obs)
        encoder.amp = True
        bf16 = encoder(obs)
    assert bf16.dtype == torch.float32
    assert torch.allclose(bf16, reference, atol=0.05) and not torch.equal(bf16, reference)


def test_pixels_and_state_reach_the_heads_side_by_side():
    space = spaces.Dict({"pixels": spaces.Box(0, 255, (3, 32, 32), np.uint8),
                         "state": spaces.Box(-np.inf, np.inf, (2, 3), np.float32)})
    encoder = make_encoder(space, feature_dim=10)
    assert isinstance(encoder, DictEncoder) and encoder.out_dim == 10 + 6
    obs = {"pixels": torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8),
           "state": torch.randn(4, 2, 3)}
    features = encoder(obs)
    assert features.shape == (4, 16)
    assert torch.equal(features[:, :10], encoder.pixels(obs["pixels"]))
    assert torch.equal(features[:, 10:], obs["state"].flatten(1))  # the raw state, flattened


@pytest.mark.parametrize("shared", [False, True])
def test_camera_views_get_a_trunk_each_or_share_one_and_vectors_ride_along(shared):
    image = spaces.Box(0, 255, (3, 32, 32), np.uint8)
    space = spaces.Dict({"front": image, "wrist": image,
                         "joints": spaces.Box(-1, 1, (4,), np.float32)})
    encoder = make_encoder(space, feature_dim=8, shared_views=shared)
    assert isinstance(encoder, MultiViewEncoder)
    assert encoder.image_keys == ["front", "wrist"] and encoder.vector_keys == ["joints"]
    assert set(encoder.views) == ({"shared"} if shared else {"front", "wrist"})
    assert encoder.out_dim == 2 * 8 + 4
    obs = {"front": torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8),
           "wrist": torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8),
           "joints": torch.rand(5, 4)}
    with torch.no_grad():
        features = encoder(obs)
        trunk = (lambda key: encoder.views["shared"]) if shared else encoder.views.__getitem__
        expected = torch.cat([trunk("front")(obs["front"]), trunk("wrist")(obs["wrist"]),
                              obs["joints"]], dim=-1)
    assert torch.allclose(features, expected, atol=1e-6)
    if shared:
        other = spaces.Dict({"front": image, "wrist": spaces.Box(0, 255, (3, 40, 40), np.uint8)})
        with pytest.raises(ValueError, match="a shared conv trunk needs views of one shape"):
            make_encoder(other, shared_views=True)


def test_make_encoder_picks_by_space_and_kind_and_names_what_it_cannot_build():
    image = spaces.Box(0, 255, (3, 40, 40), np.uint8)
    vector = spaces.Box(-1, 1, (4,), np.float32)
    nature_out = 64  # NatureCNN's last conv has 64 filters, DrQ's 32
    assert make_encoder(image, project=False).trunk[-3].out_channels == 32  # auto: DrQ
    assert make_encoder(image, "nature", project=False).trunk[-3].out_channels == nature_out
    assert type(make_encoder(vector)) is FlattenEncoder
    assert type(make_encoder(vector, "flat")) is FlattenEncoder
    fused = make_encoder(spaces.Dict({"pixels": image, "state": vector}), "nature")
    assert type(fused) is DictEncoder and type(fused.pixels) is PixelEncoder
    assert fused.pixels.trunk[-3].out_channels == nature_out
    views = make_encoder(spaces.Dict({"front": image, "wrist": image}), "nature")
    assert type(views) is MultiViewEncoder
    assert views.views["front"].trunk[-3].out_channels == nature_out
    with pytest.raises(ValueError, match=r"no encoder 'drq' for observation space Box"):
        make_encoder(vector, "drq")
    with pytest.raises(ValueError, match=r"unknown pixel encoder 'impala'"):
        make_encoder(image, "impala")
    with pytest.raises(ValueError, match=r"needs at least one image entry, got \['a', 'b'\]"):
        make_encoder(spaces.Dict({"a": vector, "b": vector}))
