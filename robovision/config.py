"""Typed run configuration: dataclasses are the truth, YAML files are presets.

A run is described by :class:`Config`. Presets in ``configs/*.yaml`` and
``key=value`` overrides from the command line are both validated against the
dataclass fields before anything is built: an unknown key or a value of the
wrong type fails with a message naming the key and what is allowed.

YAML is read with ``yaml.safe_load``; strings are converted with ``int()``,
``float()`` and friends, never evaluated. Presets ship inside the package
(``robovision/configs``, read with :mod:`importlib.resources`); a YAML file given
by path works too. This module imports no torch: the algorithms' hyper-parameter
dataclasses come from the torch-free :mod:`robovision.agents.registry`.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml

from robovision.agents import registry
from robovision.agents.configs import AgentConfig

PRESETS = "robovision.configs"
"""The package that holds the YAML presets (the repository's ``configs/`` folder)."""


class ConfigError(ValueError):
    """A configuration key or value is invalid; the message says how to fix it."""


@dataclass
class EnvConfig:
    """Which environment to train on and how to observe it."""

    spec: str = "Pendulum-v1"
    """A gymnasium ID (``HalfCheetah-v5``) or ``dmc/<domain>-<task>``."""
    obs: Literal["state", "pixels", "state+pixels"] = "state"
    """Observation kind."""
    num_envs: int = 1
    """Environments stepped together for collection, with one batched act for all.
    Off-policy: each env fills a replay lane of its own and batches take an equal share
    from each; budgets and ``update_every`` count agent steps summed over the envs, so
    updates per frame stay as with one (``update_every: 2`` and 2 envs: one update round
    per lockstep step). On a GPU the update then runs while all the envs step."""
    action_repeat: int = 0
    """Env steps per agent step (0: 1 for state, the PlaNet per-task value for pixels)."""
    image_size: int = 84
    frame_stack: int = 3
    camera: list[str] = field(default_factory=list)
    """Camera name or index (empty: the task's default), or several (``[front, wrist]`` or
    ``front,wrist``) whose frames are stacked along channels."""
    camera_views: Literal["channels", "dict"] = "channels"
    """Several cameras: stacked along ``channels`` into one image, or a ``dict`` of one
    image per camera name (the encoder gives each view a conv trunk, or shares one:
    ``agent.encoder.views``)."""
    frames: str = ""
    """Pixels from a frame source instead of the env's camera: ``folder:PATH``,
    ``video:PATH`` or ``module:function`` / ``path/to/file.py:function``."""
    grayscale: bool = False
    render_backend: Literal["auto", "egl", "osmesa"] = "auto"
    fast_render: bool = True
    """Shadows and multisampling off: about 6x faster frames on a CPU."""
    options: dict[str, Any] = field(default_factory=dict)
    """Extra keyword arguments passed to ``make_env`` / the env constructor."""
    eval_options: dict[str, Any] = field(default_factory=dict)
    """Options that override ``options`` for the evaluation env (e.g. ``{split: val}``
    to evaluate on held-out validation images)."""


@dataclass
class TrainConfig:
    """The training loop: budgets, evaluation, checkpoints, logging."""

    unit: Literal["steps", "frames"] = "steps"
    """Unit of total_steps, learning_starts, eval_every, checkpoint_every and log_every:
    agent steps, or environment frames (agent steps x action repeat, as in the
    published pixel tables)."""
    total_steps: int = 100_000
    """Budget: agent steps summed over parallel envs (or frames, see ``unit``)."""
    learning_starts: int = 1_000
    """Off-policy: random actions and no updates before this many steps."""
    batch_size: int = 256
    """Off-policy: transitions per update."""
    updates_per_step: int = 1
    """Off-policy: gradient updates per update round."""
    update_every: int = 1
    """Off-policy: agent steps between update rounds (DrQ-v2: 2)."""
    buffer_size: int = 1_000_000
    """Off-policy replay capacity in transitions."""
    n_step: int = 1
    """Off-policy: n-step returns (stop at episode ends, bootstrap on truncation)."""
    replay_on_device: Literal["auto", True, False] = "auto"
    """Keep the replay on the training device (GPU) so sampling never crosses the bus.
    ``auto``: on the GPU when it fits in half of the GPU's free memory (the run says what
    it chose); otherwise in host memory, batches copied through pinned memory."""
    env_worker: bool = False
    """Step the training env(s) in worker processes. Off-policy: one worker simulates and
    renders the next step while the agent updates (updates per step unchanged; an update
    sees the replay up to the previous step, as in DrQ-v2's loop). On-policy: the
    ``num_envs`` envs step in parallel, one process each. Pays on a GPU, where the update
    leaves the CPU idle; each worker costs a process of its own (about 2-3 s to start)."""
    cuda_graph: Literal["auto", True, False] = "auto"
    """Off-policy on CUDA: after 3 eager warm-up updates of each update phase (does the
    actor update, do the targets), capture the update as a CUDA graph and replay it: one
    launch instead of several hundred kernels issued from Python; acts likewise. Same
    updates. ``auto``: on CUDA for every agent that can be graphed (SAC, TD3, DDPG; on an
    H200 the main job ran 434 against 214 frames/s, state SAC 576 against 117 steps/s),
    eagerly elsewhere; ``true``: an error where it cannot apply (on-policy, or an agent
    without ``use_runner``), a note on the CPU; ``false``: always eager."""
    cudnn_benchmark: bool = False
    """CUDA: cuDNN times its convolution algorithms for each new input shape and keeps the
    fastest (DrQ-v2's code sets it). The first updates pay for the timing, and a seed may
    no longer repeat bit for bit across processes, since the chosen algorithms can differ.
    A process-wide torch setting; the CPU ignores it (the run says so)."""
    tf32: bool = False
    """CUDA: float32 matrix products (the actor's and critics' MLPs) on TF32 tensor cores,
    whose products keep 10 mantissa bits. A process-wide torch setting; the CPU ignores it
    (the run says so)."""
    rollout_steps: int = 2048
    """On-policy: steps per env between updates."""
    eval_every: int = 10_000
    """Evaluate every this many agent steps (0: only the final evaluation)."""
    eval_episodes: int = 10
    """Episodes per evaluation, deterministic actions."""
    eval_envs: int = 1
    """Evaluation envs in this process: the episodes run this many at a time, their actions
    computed in one batched ``act`` per step instead of one call per env step. Episode
    ``i`` is seeded as with one env, so only the batched numerics differ."""
    eval_workers: bool = False
    """Step the evaluation envs after the first (``eval_envs - 1`` of them) in worker
    processes, in parallel with each other and with the first, which stays in this
    process (it records the videos). Nothing changes with one evaluation env. Each worker
    holds about 140 MB; they idle between evaluations."""
    eval_async: Literal["auto", True, False] = "auto"
    """Evaluate in a process of its own while training goes on: at each evaluation the run
    sends a copy of the agent's weights to the evaluator, which plays the same episodes
    with its own copy of the agent on the CPU; the result is logged at the step it was
    taken at, when it arrives. One evaluation at a time (a run waits for the previous one
    before it starts the next, and before it stops). ``auto``: when the run trains on
    CUDA, whose updates leave the CPU cores idle; in the training process on the CPU,
    where the evaluator would take cores from the updates."""
    checkpoint_every: int = 10_000
    """Write ``checkpoints/latest.pt`` every this many agent steps."""
    save_replay: bool = True
    """Store the replay buffer in checkpoints so resume is exact."""
    log_every: int = 1_000
    """Write training metrics every this many agent steps."""
    video: bool = False
    """Record an mp4 of one evaluation episode at every evaluation."""
    progress: bool = True
    """Show a progress bar."""

    def evaluates_in_background(self, device_type: str) -> bool:
        """Whether a run on ``device_type`` (``"cuda"``, ``"cpu"``) evaluates in a process
        of its own (``eval_async``; ``auto``: on CUDA)."""
        if self.eval_async == "auto":
            return device_type == "cuda"
        return bool(self.eval_async)


@dataclass
class Config:
    """One training run (or one per seed when ``seeds`` is given)."""

    algo: str = "sac"
    """An algorithm of :data:`robovision.agents.registry.ALGORITHMS`."""
    env: EnvConfig = field(default_factory=EnvConfig)
    agent: AgentConfig | None = None
    """Algorithm hyper-parameters; the dataclass is the registry entry's for ``algo``."""
    train: TrainConfig = field(default_factory=TrainConfig)
    seed: int = 0
    seeds: list[int] = field(default_factory=list)
    """Several seeds: one run per seed in ``RUN_DIR/seed_<n>``, side by side as Ray Tune
    trials (``robovision sweep``'s path); empty: just ``seed``."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int = 0
    """torch intra-op threads on the CPU (0: leave torch's default)."""
    name: str = ""
    """Run name; defaults to the preset name."""
    run_dir: str = ""
    """Where the run is written; defaults to ``runs/<name>/<timestamp>``."""

    def __post_init__(self) -> None:
        if self.agent is None:
            self.agent = algorithm(self.algo).config()


def algorithm(name: str) -> registry.Algorithm:
    """The registry entry for ``name``, or a ConfigError listing the algorithms."""
    try:
        return registry.algorithm(name)
    except KeyError as exc:
        raise ConfigError(f"algo: {exc.args[0]}") from None


# --------------------------------------------------------------------------- values


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in get_args(tp))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in get_args(tp))
        return f"{origin.__name__}[{args}]"
    if tp is type(None):
        return "None"
    return getattr(tp, "__name__", str(tp))


_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _number(text: str) -> float:
    """A number written on the command line or in YAML: ``1e-3``, ``5_000``."""
    return float(text.replace("_", ""))


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    raise TypeError


def _to_int(value: Any) -> int:
    number = _number(value) if isinstance(value, str) else value
    if isinstance(number, bool) or not isinstance(number, int | float):
        raise TypeError
    if isinstance(number, float) and not number.is_integer():
        raise ValueError
    return int(number)


def _to_float(value: Any) -> float:
    if isinstance(value, str):
        return _number(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError
    return float(value)


def _to_str(value: Any) -> str:
    if not isinstance(value, str | int | float):
        raise TypeError
    return str(value)


_SCALARS = {bool: _to_bool, int: _to_int, float: _to_float, str: _to_str}


def _to_literal(value: Any, tp: Any, key: str) -> Any:
    allowed = get_args(tp)
    if isinstance(value, str) and value.lower() in ("true", "false") and True in allowed:
        value = value.lower() == "true"  # a CLI string for a boolean choice
    if value in allowed:
        return value
    raise ConfigError(f"{key}: {value!r} is not allowed; choose one of {list(allowed)}")


def _to_union(value: Any, tp: Any, key: str) -> Any:
    options = get_args(tp)
    is_none = value is None or (isinstance(value, str) and value.lower() in ("none", "null"))
    if is_none and type(None) in options:
        return None
    for option in options:
        if option is not type(None):
            try:
                return _coerce(value, option, key)
            except ConfigError:
                continue
    raise _expected(tp, value, key)


def _to_list(value: Any, tp: Any, key: str) -> list:
    (item_tp,) = get_args(tp) or (Any,)
    if isinstance(value, str):
        value = [v for v in value.strip("[]").split(",") if v.strip() != ""]
    elif isinstance(value, int | float):  # one item given as a scalar (camera: 0)
        value = [value]
    if not isinstance(value, list | tuple):
        raise _expected(tp, value, key)
    return [_coerce(v.strip() if isinstance(v, str) else v, item_tp, f"{key}[{i}]")
            for i, v in enumerate(value)]


def _to_dict(value: Any, tp: Any, key: str) -> dict:
    if isinstance(value, str):
        value = yaml.safe_load(value)
    if not isinstance(value, dict):
        raise _expected(tp, value, key)
    return dict(value)


def _expected(tp: Any, value: Any, key: str) -> ConfigError:
    return ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert ``value`` (from YAML or a CLI string) to type ``tp`` or fail naming ``key``."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is Literal:
        return _to_literal(value, tp, key)
    if origin in (typing.Union, types.UnionType):
        return _to_union(value, tp, key)
    if origin is list:
        return _to_list(value, tp, key)
    if origin is dict or tp is dict:
        return _to_dict(value, tp, key)
    if tp not in _SCALARS:
        raise ConfigError(f"{key}: unsupported field type {_type_name(tp)}")
    try:
        return _SCALARS[tp](value)
    except (TypeError, ValueError):
        raise _expected(tp, value, key) from None


def _fields(obj: Any) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(obj)}


def _hints(obj: Any) -> dict[str, Any]:
    return typing.get_type_hints(type(obj))


def _unknown_key(key: str, allowed: list[str]) -> ConfigError:
    close = difflib.get_close_matches(key.split(".")[-1], allowed, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    allowed_text = ", ".join(sorted(allowed))
    return ConfigError(f"unknown config key '{key}'.{hint} Allowed here: {allowed_text}")


def _set(obj: Any, path: list[str], value: Any, full_key: str) -> None:
    name, rest = path[0], path[1:]
    fields = _fields(obj)
    if name not in fields:
        raise _unknown_key(full_key, list(fields))
    current = getattr(obj, name)
    if rest:
        if dataclasses.is_dataclass(current):
            _set(current, rest, value, full_key)
            return
        if isinstance(current, dict):  # free-form options: nested keys are allowed
            current[".".join(rest)] = yaml.safe_load(value) if isinstance(value, str) else value
            return
        raise ConfigError(f"{full_key}: '{name}' has no sub-keys")
    if dataclasses.is_dataclass(current):
        if not isinstance(value, dict):
            raise ConfigError(f"{full_key}: expected a mapping of {sorted(_fields(current))}")
        for sub_key, sub_value in value.items():
            _set(current, [str(sub_key)], sub_value, f"{full_key}.{sub_key}")
        return
    setattr(obj, name, _coerce(value, _hints(obj)[name], full_key))


def _apply_mapping(cfg: Config, data: dict[str, Any]) -> None:
    # ``algo`` first: it decides which dataclass holds the agent keys.
    if "algo" in data:
        _set_algo(cfg, data["algo"])
    for key, value in data.items():
        if key != "algo":
            _set(cfg, [str(key)], value, str(key))


def _set_algo(cfg: Config, algo: Any) -> None:
    entry = algorithm(_coerce(algo, str, "algo"))
    cfg.algo = entry.name
    if type(cfg.agent) is not entry.config:
        cfg.agent = entry.config()


# --------------------------------------------------------------------------- API


def _preset_folder() -> resources.abc.Traversable:
    """The installed presets, or ``configs/`` beside the package in a checkout that is on
    ``PYTHONPATH`` without being installed (setup.py installs it as robovision.configs)."""
    try:
        return resources.files(PRESETS)
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "configs"


def _preset_files() -> dict[str, resources.abc.Traversable]:
    folder = _preset_folder()
    return {f.name[:-5]: f for f in folder.iterdir() if f.name.endswith(".yaml")}


def _is_path(name_or_path: str) -> bool:
    """Whether a config source names a YAML file rather than a preset."""
    path = Path(name_or_path)
    return path.suffix in (".yaml", ".yml") or path.exists()


def read_preset(name_or_path: str) -> tuple[str, str]:
    """``(name, YAML text)`` of a preset name (``pendulum_sac``) or a YAML path."""
    path = Path(name_or_path)
    if _is_path(name_or_path):
        if not path.exists():
            raise ConfigError(f"config file not found: {path}")
        return path.stem, path.read_text()
    presets = _preset_files()
    if name_or_path in presets:
        return name_or_path, presets[name_or_path].read_text()
    names = sorted(presets)
    close = difflib.get_close_matches(name_or_path, names, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(f"unknown preset '{name_or_path}'.{hint} Presets: {', '.join(names)}")


def read_mapping(name_or_path: str, chain: tuple[str, ...] = ()) -> tuple[str, dict[str, Any]]:
    """``(name, mapping)`` of a preset or YAML file, with its ``base`` merged in: ``base:
    cheetah_run_pixels`` (a preset name, or a YAML path relative to the file that names it)
    supplies every key the file does not set; mappings merge key by key, other values
    (lists included) are replaced. The base's own ``name`` is not inherited."""
    name, text = read_preset(name_or_path)
    here, is_file = Path(name_or_path), _is_path(name_or_path)
    chain = (*chain, str(here.resolve()) if is_file else f"preset {name}")
    if chain[-1] in chain[:-1]:
        raise _BaseCycle(f"base: {' -> '.join(chain)} comes back to a file already read")
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{name_or_path}: expected a YAML mapping at the top level")
    base = data.pop("base", None)
    if base is None:
        return name, data
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{name_or_path}: base must be a preset name or a YAML path, "
                          f"got {base!r}")
    if is_file and Path(base).suffix in (".yaml", ".yml"):
        base = str(here.parent / base)  # relative to the file that names it
    try:
        _, inherited = read_mapping(base, chain)
    except _BaseCycle:
        raise
    except ConfigError as exc:
        raise ConfigError(f"{name_or_path}: base: {exc}") from None
    inherited.pop("name", None)
    return name, _merged(inherited, data)


class _BaseCycle(ConfigError):
    """Bases that lead back to a file already read (the message names the whole chain)."""


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merged(merged[key], value)
        else:
            merged[key] = value
    return merged


def list_presets() -> list[str]:
    return sorted(_preset_files())


def parse_overrides(items: list[str]) -> list[tuple[str, str]]:
    pairs = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override '{item}' is not of the form key=value (e.g. seed=1)")
        pairs.append((key.strip(), value.strip()))
    return pairs


def load_config(source: str | dict[str, Any] | None = None,
                overrides: list[str] | dict[str, Any] = ()) -> Config:
    """Build a validated :class:`Config` from a preset name, a YAML path or a mapping.
    ``overrides`` are ``key=value`` strings (the command line) or a mapping of dotted
    keys to values (a sweep's trial), applied the same way."""
    cfg = Config()
    if isinstance(source, str):
        name, data = read_mapping(source)
        if not data.get("name"):
            data["name"] = name
    else:
        data = dict(source or {})
    _apply_mapping(cfg, data)
    pairs = (list(overrides.items()) if isinstance(overrides, dict)
             else parse_overrides(list(overrides)))
    for key, value in pairs:  # algo first, as in files
        if key == "algo":
            _set_algo(cfg, value)
    for key, value in pairs:
        if key != "algo":
            _set(cfg, key.split("."), value, key)
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    """Cross-field checks that types alone cannot express."""
    t = cfg.train
    positive = {"train.total_steps": t.total_steps, "train.batch_size": t.batch_size,
                "train.buffer_size": t.buffer_size, "train.n_step": t.n_step,
                "train.rollout_steps": t.rollout_steps, "train.eval_episodes": t.eval_episodes,
                "train.eval_envs": t.eval_envs,
                "train.updates_per_step": t.updates_per_step, "env.num_envs": cfg.env.num_envs,
                "train.update_every": t.update_every, "env.image_size": cfg.env.image_size,
                "env.frame_stack": cfg.env.frame_stack}
    for key, value in positive.items():
        if value < 1:
            raise ConfigError(f"{key} must be >= 1, got {value}")
    for key in ("learning_starts", "eval_every", "checkpoint_every", "log_every"):
        if getattr(t, key) < 0:
            raise ConfigError(f"train.{key} must be >= 0, got {getattr(t, key)}")
    if t.cuda_graph is True and algorithm(cfg.algo).kind != "off_policy":
        raise ConfigError(f"train.cuda_graph=true: {cfg.algo} is on-policy; CUDA graphs replay "
                          "off-policy updates only (set train.cuda_graph=false)")


def to_dict(cfg: Config) -> dict[str, Any]:
    return dataclasses.asdict(cfg)


def save_config(cfg: Config, path: Path) -> None:
    path.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
