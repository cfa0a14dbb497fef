"""``agent.encoder.amp=auto``: bf16 autocast only where the device computes bf16 natively
(emulated bf16 convolutions are slower than float32, BENCHMARKS.md section 25)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from robovision import factory, runtime
from robovision.agents import common
from robovision.agents.configs import EncoderConfig
from robovision.agents.registry import algorithm
from robovision.config import load_config
from robovision.nets.heads import Projection

X86_WITH = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512_bf16 amx_tile amx_bf16\n"
X86_AVX512 = "processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512bw\n"
ARM_WITH = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"
ARM_WITHOUT = "processor\t: 0\nFeatures\t: fp asimd crc32\n"
IMAGE = spaces.Box(0, 255, (9, 40, 40), np.uint8)
ACTIONS = spaces.Box(-1.0, 1.0, (2,), np.float32)


@pytest.mark.parametrize("cpuinfo, flag", [(X86_WITH, "amx_bf16"), (X86_AVX512, None),
                                           (ARM_WITH, "bf16"), (ARM_WITHOUT, None), ("", None)])
def test_the_cpu_flag_that_says_bf16_is_native(cpuinfo, flag):
    assert runtime.cpu_bf16_flag(cpuinfo) == flag


def test_cuda_bf16_is_native_from_ampere_on(monkeypatch):
    asked = []
    for capability, native in (((7, 5), False), ((8, 0), True), ((9, 0), True)):
        monkeypatch.setattr(torch.cuda, "get_device_capability",
                            lambda device, c=capability: asked.append(device) or c)
        ok, why = runtime.native_bf16(torch.device("cuda", 1))
        assert ok is native and f"{capability[0]}.{capability[1]}" in why
    assert asked == [torch.device("cuda", 1)] * 3  # the training device, not the current one


def test_cpu_bf16_is_native_where_the_cpu_lists_a_bf16_flag(monkeypatch):
    monkeypatch.setattr(runtime, "_this_cpuinfo", lambda: X86_WITH)
    assert runtime.native_bf16("cpu") == (True, "this CPU has amx_bf16")
    monkeypatch.setattr(runtime, "_this_cpuinfo", lambda: X86_AVX512)
    ok, why = runtime.native_bf16(torch.device("cpu"))
    assert ok is False and "bf16 is emulated" in why


def _bf16_flags(agent) -> list[bool]:
    """The encoder's amp and each per-head projection's."""
    heads = [m.amp for m in (*agent.actor.modules(), *agent.critic.modules())
             if isinstance(m, Projection)]
    return [agent.encoder.amp, *heads]


@pytest.mark.parametrize("native", [True, False])
@pytest.mark.parametrize("algo", ["sac", "ddpg"])
def test_auto_follows_the_device_and_true_or_false_do_not(monkeypatch, algo, native):
    monkeypatch.setattr(common, "native_bf16", lambda device: (native, "stand-in"))
    entry = algorithm(algo)
    for amp, expected in (("auto", native), (True, True), (False, False)):
        cfg = entry.config(hidden=[16, 16], encoder=EncoderConfig(
            projection="per_head", feature_dim=8, amp=amp))
        agent = entry.agent_class()(cfg, IMAGE, ACTIONS, torch.device("cpu"))
        flags = _bf16_flags(agent)
        assert len(flags) == 3 and all(f is expected for f in flags), (amp, flags)
        obs = np.zeros((2, *IMAGE.shape), np.uint8)
        assert agent.act(obs).shape == (2, 2)  # it runs in the precision it chose


def test_ppo_encoder_follows_auto(monkeypatch):
    entry = algorithm("ppo")
    cfg = entry.config(encoder=EncoderConfig(amp="auto"))
    for native in (True, False):
        monkeypatch.setattr(common, "native_bf16", lambda device, n=native: (n, "x"))
        agent = entry.agent_class()(cfg, IMAGE, ACTIONS, torch.device("cpu"))
        assert agent.encoder.amp is native


def test_the_run_says_what_the_pixel_encoder_computes_in(monkeypatch):
    cpu = torch.device("cpu")
    pixels = load_config("cheetah_run_pixels")
    assert pixels.agent.encoder.amp == "auto"
    for native, what in ((True, "bf16 autocast"), (False, "float32")):
        monkeypatch.setattr(runtime, "native_bf16", lambda d, n=native: (n, "because"))
        said = factory.encoder_precision(pixels, IMAGE, cpu)
        assert said == f"pixel encoder in {what} on cpu: because (agent.encoder.amp: auto)"
    forced = load_config("cheetah_run_pixels", ["agent.encoder.amp=true"])
    assert "slower than float32" in factory.encoder_precision(forced, IMAGE, cpu)
    monkeypatch.setattr(runtime, "native_bf16", lambda d: (True, "because"))
    assert factory.encoder_precision(forced, IMAGE, cpu) is None
    off = load_config("cheetah_run_pixels", ["agent.encoder.amp=false"])
    assert factory.encoder_precision(off, IMAGE, cpu) is None
    state = spaces.Box(-1.0, 1.0, (5,), np.float32)
    assert factory.encoder_precision(pixels, state, cpu) is None
    both = spaces.Dict({"pixels": IMAGE, "state": state})
    assert factory.encoder_precision(pixels, both, cpu) is not None
