"""Config: presets, typed overrides, and errors that name the key."""

from typing import Any, Literal

import pytest

from robovision.agents.ppo import PPOConfig
from robovision.agents.td3 import TD3Config
from robovision.config import ConfigError, list_presets, load_config


def test_every_preset_loads():
    presets = list_presets()
    assert {"pendulum_sac", "halfcheetah_sac", "halfcheetah_td3", "halfcheetah_ddpg",
            "halfcheetah_ppo", "cheetah_run_state_sac"} <= set(presets)
    for name in presets:
        cfg = load_config(name)
        assert cfg.name == name


def test_overrides_nested_types_and_lists():
    cfg = load_config("pendulum_sac", ["seed=3", "agent.actor_lr=1e-3", "train.total_steps=5_000",
                                       "agent.hidden=64,64", "seeds=0,1,2", "device=cpu",
                                       "agent.target_entropy=-2", "train.video=true"])
    assert cfg.seed == 3 and cfg.agent.actor_lr == pytest.approx(1e-3)
    assert cfg.train.total_steps == 5000 and cfg.agent.hidden == [64, 64]
    assert cfg.seeds == [0, 1, 2] and cfg.device == "cpu" and cfg.train.video is True
    assert cfg.agent.target_entropy == -2.0


def test_algo_override_switches_agent_dataclass():
    cfg = load_config("pendulum_sac", ["algo=td3", "agent.policy_delay=3"])
    assert isinstance(cfg.agent, TD3Config) and cfg.agent.policy_delay == 3
    assert isinstance(load_config({"algo": "ppo"}).agent, PPOConfig)


def test_ddpg_is_td3_with_one_critic_and_no_delay():
    cfg = load_config({"algo": "ddpg"})
    assert cfg.agent.n_critics == 1 and cfg.agent.policy_delay == 1
    assert cfg.agent.target_noise == 0.0


@pytest.mark.parametrize(("override", "message"), [
    ("agent.actor_lrr=1", "unknown config key 'agent.actor_lrr'.*actor_lr"),
    ("trian.total_steps=1", "unknown config key 'trian.total_steps'.*train"),
    ("train.total_steps=lots", "train.total_steps: expected int, got 'lots'"),
    ("train.total_steps=1.5", "train.total_steps: expected int"),
    ("device=tpu", "device: 'tpu' is not allowed; choose one of \\['auto', 'cpu', 'cuda'\\]"),
    ("algo=a2c", "algo: unknown algorithm 'a2c'.*Known: sac, td3, ddpg, ppo"),
    ("algo=sca", "Did you mean sac"),
    ("agent.hidden=a,b", "agent.hidden\\[0\\]: expected int"),
    ("train.video=maybe", "train.video: expected bool"),
    ("train.total_steps=0", "train.total_steps must be >= 1"),
    ("seed", "not of the form key=value"),
    ("agent.noise_type=pink", None),  # sac has no noise_type
])
def test_bad_overrides_name_the_key(override, message):
    with pytest.raises(ConfigError, match=message or "noise_type"):
        load_config("pendulum_sac", [override])


def test_unknown_preset_suggests_names():
    with pytest.raises(ConfigError, match="Did you mean pendulum_sac"):
        load_config("pendulum_sacc")


def test_yaml_is_loaded_safely(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("algo: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(Exception, match=r"could not determine a constructor|python/object"):
        load_config(str(evil))


def test_unknown_key_in_yaml_file(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("algo: sac\ntrain: {total_stepz: 10}\n")
    with pytest.raises(ConfigError, match=r"train.total_stepz.*total_steps"):
        load_config(str(path))


def test_nested_encoder_config_from_yaml_and_overrides():
    cfg = load_config("cheetah_run_pixels",
                      ["agent.encoder.amp=false", "agent.encoder.kind=nature"])
    assert cfg.agent.encoder.augment == "shift" and cfg.agent.encoder.amp is False
    assert cfg.agent.encoder.kind == "nature"
    with pytest.raises(ConfigError, match=r"agent.encoder.augment: 'flip' is not allowed"):
        load_config("cheetah_run_pixels", ["agent.encoder.augment=flip"])


def test_presets_load_from_a_checkout_that_is_not_installed(monkeypatch):
    """On the GPU machine the checkout runs from PYTHONPATH: robovision.configs does not
    exist there, and every preset lookup failed before configs/ was read directly."""
    from importlib import resources

    from robovision import config

    installed = list_presets()

    def not_installed(package):
        raise ModuleNotFoundError(f"No module named '{package}'")

    monkeypatch.setattr(resources, "files", not_installed)
    assert list_presets() == installed
    assert load_config("cheetah_run_pixels").env.spec == "dmc/cheetah-run"
    assert config._preset_folder().name == "configs"


def test_a_file_takes_what_it_does_not_set_from_its_base(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text("algo: sac\nenv: {spec: Pendulum-v1, obs: state}\n"
                    "agent: {hidden: [64, 64, 64], actor_lr: 1.0e-3}\n"
                    "train: {total_steps: 7000, batch_size: 64}\n")
    child = tmp_path / "sub" / "child.yaml"
    child.parent.mkdir()
    child.write_text("base: ../base.yaml\nagent: {hidden: [32]}\ntrain: {total_steps: 900}\n")
    cfg = load_config(str(child))
    assert cfg.name == "child" and cfg.algo == "sac"
    assert cfg.agent.hidden == [32] and cfg.agent.actor_lr == pytest.approx(1e-3)  # a list is
    assert cfg.train.total_steps == 900 and cfg.train.batch_size == 64  # replaced, maps merge
    preset_child = tmp_path / "walker.yaml"
    preset_child.write_text("base: cheetah_run_pixels\nenv: {spec: dmc/walker-walk}\n")
    cfg = load_config(str(preset_child), ["train.batch_size=128"])
    assert cfg.env.spec == "dmc/walker-walk" and cfg.env.frame_stack == 3
    assert cfg.train.batch_size == 128 and cfg.algo == "ddpg"


def test_a_base_that_comes_back_or_does_not_exist_is_named(tmp_path):
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match="comes back to a file already read"):
        load_config(str(tmp_path / "a.yaml"))
    (tmp_path / "c.yaml").write_text("base: cheetah_run_pixel\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: base: unknown preset 'cheetah_run_pixel'"
                                          r".*pixels"):
        load_config(str(tmp_path / "c.yaml"))
    # a user's file may carry its base preset's name
    (tmp_path / "cheetah_run_pixels.yaml").write_text("base: cheetah_run_pixels\nseed: 4\n")
    assert load_config(str(tmp_path / "cheetah_run_pixels.yaml")).seed == 4


@pytest.mark.parametrize("preset", ["walker_walk_pixels", "reacher_easy_pixels",
                                    "cartpole_swingup_pixels", "finger_spin_pixels",
                                    "reach_duplo_pixels", "place_cradle_pixels"])
def test_drq_v2_presets_differ_from_the_main_job_only_where_they_say(preset):
    """They name cheetah_run_pixels as their base: a setting added to the main job (as the
    evaluation envs were) reaches them all."""
    import dataclasses

    main, cfg = (dataclasses.asdict(load_config(name)) for name in ("cheetah_run_pixels", preset))
    differ = {f"{section}.{key}" for section in ("env", "agent", "train")
              for key in main[section] if main[section][key] != cfg[section][key]}
    assert differ <= {"env.spec", "agent.noise_schedule", "train.total_steps"}
    assert "env.spec" in differ


COERCED = [  # (value from YAML or the command line, field type, what the field gets)
    ("3", int, 3), ("5_000", int, 5000), ("1e3", int, 1000), (4.0, int, 4), (7, int, 7),
    ("1e-3", float, 1e-3), (2, float, 2.0), ("2_5.0", float, 25.0),
    ("yes", bool, True), ("Off", bool, False), (True, bool, True), ("0", bool, False),
    (5, str, "5"), ("pixels", str, "pixels"),
    ("auto", Literal["auto", True, False], "auto"), ("TRUE", Literal["auto", True, False], True),
    ("false", Literal["auto", True, False], False), ("shift", Literal["shift", "none"], "shift"),
    ("none", int | None, None), (None, int | None, None), ("12", int | None, 12),
    ("7", int | str, 7), ("seven", int | str, "seven"),
    ("64, 64", list[int], [64, 64]), ("[1,2,]", list[int], [1, 2]), (0, list[int], [0]),
    ((1, "2"), list[int], [1, 2]), ("", list[str], []), ("a, b", list[str], ["a", "b"]),
    ("{time_limit: 5}", dict, {"time_limit": 5}), ({"a": 1}, dict[str, Any], {"a": 1}),
    ("anything", Any, "anything"),
]

REFUSED = [  # (value, field type, the error's start: the key, then what was wrong)
    ("lots", int, "k: expected int, got 'lots'"), (1.5, int, "k: expected int"),
    (True, int, "k: expected int, got True"), ("2.5", int, "k: expected int"),
    (False, float, "k: expected float, got False"), ("x", float, "k: expected float"),
    ("maybe", bool, "k: expected bool"), (1, bool, "k: expected bool"),
    ([1], str, "k: expected str"), ("flip", Literal["shift", "none"], "k: 'flip' is not allowed"),
    ("x", int | None, r"k: expected int \| None"), ({"a": 1}, list[int], "k: expected list"),
    ("a,b", list[int], r"k\[0\]: expected int, got 'a'"), ("[1, 2]", dict, "k: expected dict"),
    (b"raw", bytes, "k: unsupported field type bytes"),
]


@pytest.mark.parametrize(("value", "tp", "expected"), COERCED)
def test_values_are_coerced_to_their_field_type(value, tp, expected):
    from robovision.config import _coerce

    result = _coerce(value, tp, "k")
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(("value", "tp", "message"), REFUSED)
def test_values_of_the_wrong_type_are_refused_naming_the_key(value, tp, message):
    from robovision.config import _coerce

    with pytest.raises(ConfigError, match=f"^{message}"):
        _coerce(value, tp, "k")


@pytest.mark.parametrize(("override", "message"), [
    ("sede=1", r"unknown config key 'sede'\. Did you mean seed, seeds\?"),  # a top-level key
    ("agent.encoder.feture_dim=8", r"'agent\.encoder\.feture_dim'\. Did you mean feature_dim"),
])
def test_an_unknown_key_is_matched_by_its_last_part(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config("cheetah_run_pixels", [override])


def test_a_yaml_path_is_a_file_even_when_missing_and_any_existing_path_is_one(tmp_path):
    with pytest.raises(ConfigError, match=r"config file not found: .*nowhere\.yaml"):
        load_config(str(tmp_path / "nowhere.yaml"))
    plain = tmp_path / "my_run"  # no suffix, but it exists: read as YAML, not as a preset
    plain.write_text("algo: td3\nseed: 9\n")
    cfg = load_config(str(plain))
    assert cfg.name == "my_run" and cfg.algo == "td3" and cfg.seed == 9


def test_a_child_may_add_sections_its_base_does_not_have(tmp_path):
    (tmp_path / "base.yaml").write_text("algo: sac\nseed: 2\n")
    (tmp_path / "child.yaml").write_text("base: base.yaml\nenv: {spec: Hopper-v5}\n"
                                         "train: {batch_size: 32}\n")
    cfg = load_config(str(tmp_path / "child.yaml"))
    assert cfg.seed == 2 and cfg.env.spec == "Hopper-v5" and cfg.train.batch_size == 32
    (tmp_path / "flat.yaml").write_text("base: base.yaml\nseed: {x: 1}\n")  # a map over a
    with pytest.raises(ConfigError, match="seed: expected int"):  # value replaces it
        load_config(str(tmp_path / "flat.yaml"))


@pytest.mark.parametrize("base", ["5", "''", "[a.yaml]"])
def test_a_base_that_is_not_a_name_is_refused_naming_it(tmp_path, base):
    path = tmp_path / "bad.yaml"
    path.write_text(f"base: {base}\nseed: 1\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: base must be a preset name or a YAML"):
        load_config(str(path))


def test_a_file_that_is_its_own_base_is_named_once_per_read(tmp_path):
    path = tmp_path / "self.yaml"
    path.write_text("base: self.yaml\n")
    with pytest.raises(ConfigError) as error:
        load_config(str(path))
    assert str(error.value).count("self.yaml") == 2  # read, then read again: stop there


def test_a_config_built_directly_gets_its_algorithms_defaults_or_keeps_its_own():
    from robovision.config import Config

    assert isinstance(Config(algo="td3").agent, TD3Config)
    own = PPOConfig(clip=0.1)
    assert Config(algo="ppo", agent=own).agent is own


def test_a_saved_config_keeps_the_field_order_and_loads_back(tmp_path):
    import yaml

    from robovision.config import save_config, to_dict

    cfg = load_config("cheetah_run_pixels", ["seed=5", "env.camera=0"])
    path = tmp_path / "config.yaml"
    save_config(cfg, path)
    text = path.read_text()
    assert list(yaml.safe_load(text)) == list(to_dict(cfg))  # algo, env, agent, train, ...
    assert text.startswith("algo: ")
    assert to_dict(load_config(str(path))) == {**to_dict(cfg), "name": cfg.name}
