"""Sweep specifications: which runs an experiment is made of, checked before Ray starts.

A spec (YAML, read with ``yaml.safe_load``) names one or more presets, fixed
overrides, seeds and a search space over any config key::

    name: sac_lr                      # default: the file's stem
    preset: pendulum_sac              # or a list: one grid axis over presets
    overrides: {train.total_steps: 20000}
    seeds: [0, 1, 2]
    search:
      env.spec: {grid: [Pendulum-v1, dmc/cartpole-swingup]}
      agent.actor_lr: {loguniform: [1.0e-4, 1.0e-3]}
      agent.tau: {choice: [0.005, 0.01]}
    samples: 4                        # draws of the random keys per grid point
    scheduler: {asha: {grace_period: 5000}}
    resources: {cpu: 1, gpu: 0.25}    # per trial; fractional GPUs share one device

The spec is expanded here, once, into a fixed list of :class:`Trial` (grid points x
samples x seeds; random keys drawn from ``sampler_seed``) which the sweep directory
keeps in ``trials.yaml``. Ray Tune then schedules exactly those trials, and a resumed
sweep reads the list back instead of drawing again, so a trial is the same run
before and after an interruption. Every trial's config goes through
:func:`robovision.config.load_config`, so a bad key or value stops the sweep before
anything starts, named. This module imports neither torch nor Ray.
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from robovision.config import Config, ConfigError, load_config
from robovision.logging import EVAL_KEY, SUCCESS_KEY

SPACES = {
    "grid": "every value, one trial each: {grid: [a, b, c]}",
    "choice": "one value drawn per sample: {choice: [a, b, c]}",
    "uniform": "a float drawn uniformly: {uniform: [low, high]}",
    "loguniform": "a float drawn log-uniformly: {loguniform: [low, high]} with 0 < low",
    "randint": "an integer in [low, high): {randint: [low, high]}",
}
"""The search-space forms a spec may use, and how each is written."""

SCHEDULERS = ("fifo", "asha")
RESERVED_KEYS = {"seed", "seeds", "run_dir", "name"}
"""Config keys a sweep sets itself: seeds go in ``seeds:``, run directories are the trials'."""
METRICS = (EVAL_KEY, SUCCESS_KEY)
"""What a trial reports at each evaluation that a spec may rank and schedule by."""


@dataclass
class Scheduler:
    """Trial scheduling: ``fifo`` runs every trial to its budget; ``asha`` stops the
    worse trials early at evaluations (Ray Tune's ASHAScheduler)."""

    kind: str = "fifo"
    time_attr: str = "steps"
    """What ASHA counts: ``steps``, ``frames`` or ``evaluations``."""
    grace_period: int = 1
    """ASHA: no trial stops before this much ``time_attr``."""
    reduction_factor: float = 2.0
    max_t: int = 0
    """ASHA's largest ``time_attr`` (0: the trials' budget)."""


@dataclass
class SweepSpec:
    name: str = "sweep"
    presets: list[str] = field(default_factory=list)
    overrides: dict[str, Any] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: [0])
    search: dict[str, dict[str, Any]] = field(default_factory=dict)
    samples: int = 1
    sampler_seed: int = 0
    metric: str = EVAL_KEY
    mode: str = "max"
    scheduler: Scheduler = field(default_factory=Scheduler)
    resources: dict[str, float] = field(default_factory=lambda: {"cpu": 1.0, "gpu": 0.0})
    """Per trial. ``gpu`` may be a fraction: 0.25 puts four trials on one GPU."""
    max_concurrent: int = 0
    """Trials at once (0: as many as the cluster's resources allow)."""
    ray: dict[str, Any] = field(default_factory=dict)
    """``ray.init`` settings for a local cluster: ``num_cpus``, ``num_gpus`` (default: the
    machine's); ``address`` joins a running cluster instead."""


@dataclass
class Trial:
    """One run of a sweep: a preset, the overrides that make it this trial, a seed."""

    name: str
    preset: str
    overrides: dict[str, Any]
    seed: int
    group: str
    """The trial's name without its seed: the runs aggregated over seeds."""
    task: str = ""
    """Its ``env.spec``: aggregates are per task, and over tasks per ``variant``."""
    variant: str = ""
    """What it tries apart from the task and seed (preset, searched keys but env.spec)."""

    def config(self, run_dir: Path | None = None) -> Config:
        values = self.overrides | {"seed": self.seed}
        if run_dir is not None:
            values["run_dir"] = str(run_dir)
        return load_config(self.preset, values)


# --------------------------------------------------------------------------- reading


def _close(key: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(key, allowed, n=3)
    return f" Did you mean {', '.join(close)}?" if close else ""


def load_spec(source: str | Path | dict[str, Any]) -> SweepSpec:
    """A validated :class:`SweepSpec` from a YAML path or a mapping. Every trial it
    expands to is checked with the config loader, so a bad spec fails here, naming the
    key, before Ray starts."""
    if isinstance(source, dict):
        data, stem = dict(source), "sweep"
    else:
        path = Path(source)
        if not path.exists():
            raise ConfigError(f"sweep spec not found: {path}")
        data, stem = yaml.safe_load(path.read_text()) or {}, path.stem
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: expected a YAML mapping at the top level")
    spec = _from_mapping(data, stem)
    expand(spec)  # every trial's config must load
    return spec


def _from_mapping(data: dict[str, Any], stem: str) -> SweepSpec:
    allowed = [f.name for f in dataclasses.fields(SweepSpec) if f.name != "presets"] + ["preset"]
    for key in data:
        if key not in allowed:
            raise ConfigError(f"unknown sweep key '{key}'.{_close(str(key), allowed)} "
                              f"Allowed: {', '.join(sorted(allowed))}")
    presets = _presets(data.get("preset"))
    spec = SweepSpec(name=str(data.get("name") or stem), presets=presets)
    spec.overrides = _mapping(data.get("overrides"), "overrides")
    spec.search = {str(k): v for k, v in _mapping(data.get("search"), "search").items()}
    for key in [*spec.overrides, *spec.search]:
        if key in RESERVED_KEYS:
            raise ConfigError(f"{key}: a sweep sets it per trial; list seeds under 'seeds:'")
    for key, space in spec.search.items():
        _check_space(key, space)
    spec.seeds = _int_list(data.get("seeds", [0]), "seeds")
    spec.samples = _positive_int(data.get("samples", 1), "samples")
    spec.sampler_seed = _int(data.get("sampler_seed", 0), "sampler_seed")
    spec.metric = _choice(data.get("metric", spec.metric), METRICS, "metric",
                          "is not reported to Tune")
    spec.mode = _choice(data.get("mode", spec.mode), ("max", "min"), "mode", "is not allowed")
    spec.scheduler = _scheduler(data.get("scheduler"))
    spec.resources = _resources(data.get("resources"))
    spec.max_concurrent = _int(data.get("max_concurrent", 0), "max_concurrent")
    spec.ray = _mapping(data.get("ray"), "ray")
    unknown_ray = set(spec.ray) - {"num_cpus", "num_gpus", "address"}
    if unknown_ray:
        raise ConfigError(f"ray: unknown key(s) {sorted(unknown_ray)}; allowed: num_cpus, "
                          "num_gpus, address")
    if spec.samples > 1 and not _random_keys(spec):
        raise ConfigError(f"samples: {spec.samples} draws need a random key in search "
                          "(choice, uniform, loguniform or randint); grid keys are exhaustive")
    return spec


def _presets(value: Any) -> list[str]:
    """The sweep's presets: names or YAML files (made absolute: trials may run in another
    working directory)."""
    if value is None:
        raise ConfigError("preset: missing; name a preset (robovision train's names) or a "
                          "YAML config, or a list of them")
    presets = [value] if isinstance(value, str) else value
    if not isinstance(presets, list) or not presets or not all(isinstance(p, str)
                                                               for p in presets):
        raise ConfigError(f"preset: expected a preset name or a non-empty list, got {presets!r}")
    return [str(Path(p).resolve()) if Path(p).suffix in (".yaml", ".yml") else p
            for p in presets]


def _choice(value: Any, allowed: tuple[str, ...], key: str, refusal: str) -> str:
    value = str(value)
    if value not in allowed:
        raise ConfigError(f"{key}: {value!r} {refusal}; choose {' or '.join(allowed)}")
    return value


def _mapping(value: Any, key: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a mapping of config keys, got {value!r}")
    return dict(value)


def _int(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    return value


def _positive_int(value: Any, key: str) -> int:
    if _int(value, key) < 1:
        raise ConfigError(f"{key}: must be >= 1, got {value}")
    return value


def _int_list(value: Any, key: str) -> list[int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{key}: expected a non-empty list of integers, got {value!r}")
    return [_int(v, f"{key}[{i}]") for i, v in enumerate(value)]


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    return float(value)


def _check_space(key: str, space: Any) -> None:
    forms = "; ".join(f"{k}: {v}" for k, v in SPACES.items())
    if not isinstance(space, dict) or len(space) != 1:
        raise ConfigError(f"search.{key}: expected one of the forms {forms}; got {space!r}")
    (kind, args), = space.items()
    where = f"search.{key}.{kind}"
    if kind not in SPACES:
        raise ConfigError(f"search.{key}: unknown space '{kind}'.{_close(str(kind), list(SPACES))}"
                          f" Forms: {forms}")
    if not isinstance(args, list):
        raise ConfigError(f"{where}: expected a list ({SPACES[kind]}), got {args!r}")
    if kind in ("grid", "choice"):
        if not args:
            raise ConfigError(f"{where}: the search space is empty; give at least one value")
        return
    if len(args) != 2:
        raise ConfigError(f"{where}: expected [low, high], got {args!r} ({SPACES[kind]})")
    low, high = (_number(a, where) for a in args)
    if not low < high:
        raise ConfigError(f"{where}: low must be below high, got {args!r}")
    if kind == "loguniform" and low <= 0:
        raise ConfigError(f"{where}: low must be > 0 for a log-uniform draw, got {low}")
    if kind == "randint" and not all(isinstance(a, int) for a in args):
        raise ConfigError(f"{where}: expected integer bounds, got {args!r}")


def _scheduler(value: Any) -> Scheduler:
    if value is None or value == "fifo":
        return Scheduler()
    if value == "asha":
        value = {"asha": {}}
    if not isinstance(value, dict) or len(value) != 1:
        raise ConfigError(f"scheduler: expected fifo, asha or {{asha: {{grace_period: ...}}}}, "
                          f"got {value!r}")
    (kind, options), = value.items()
    if kind not in SCHEDULERS:
        raise ConfigError(f"scheduler: unknown scheduler '{kind}'; choose one of {SCHEDULERS}")
    sched = Scheduler(kind=kind)
    allowed = [f.name for f in dataclasses.fields(Scheduler) if f.name != "kind"]
    for key, option in _mapping(options, f"scheduler.{kind}").items():
        if key not in allowed:
            raise ConfigError(f"scheduler.{kind}: unknown key '{key}'."
                              f"{_close(str(key), allowed)} Allowed: {', '.join(allowed)}")
        setattr(sched, key, option)
    if sched.time_attr not in ("steps", "frames", "evaluations"):
        raise ConfigError(f"scheduler.{kind}.time_attr: {sched.time_attr!r}; choose steps, "
                          "frames or evaluations")
    _positive_int(sched.grace_period, f"scheduler.{kind}.grace_period")
    if _number(sched.reduction_factor, f"scheduler.{kind}.reduction_factor") <= 1:
        raise ConfigError(f"scheduler.{kind}.reduction_factor must be > 1")
    _int(sched.max_t, f"scheduler.{kind}.max_t")
    return sched


def _resources(value: Any) -> dict[str, float]:
    resources = {"cpu": 1.0, "gpu": 0.0}
    for key, amount in _mapping(value, "resources").items():
        if key not in resources:
            raise ConfigError(f"resources: unknown key '{key}'; per-trial cpu and gpu")
        if _number(amount, f"resources.{key}") < 0:
            raise ConfigError(f"resources.{key} must be >= 0, got {amount}")
        resources[key] = float(amount)
    if resources["gpu"] > 1 and not resources["gpu"].is_integer():
        raise ConfigError(f"resources.gpu: {resources['gpu']}; above 1 it must be a whole number")
    return resources


# --------------------------------------------------------------------------- trials


def _random_keys(spec: SweepSpec) -> list[str]:
    return [k for k, s in spec.search.items() if next(iter(s)) != "grid"]


def _draw(space: dict[str, Any], rng: np.random.Generator) -> Any:
    (kind, args), = space.items()
    if kind == "choice":
        return args[int(rng.integers(len(args)))]
    if kind == "uniform":
        return float(rng.uniform(args[0], args[1]))
    if kind == "loguniform":
        return float(math.exp(rng.uniform(math.log(args[0]), math.log(args[1]))))
    return int(rng.integers(args[0], args[1]))  # randint


def _label(key: str, value: Any) -> str:
    short = key.rsplit(".", 1)[-1]
    text = f"{value:.3g}" if isinstance(value, float) else str(value)
    return re.sub(r"[^A-Za-z0-9_.+=-]+", "_", f"{short}={text}")


def expand(spec: SweepSpec) -> list[Trial]:
    """The spec's trials: every grid point (presets x grid keys), ``samples`` draws of the
    random keys at each, every seed. Each trial's config is loaded once here, so the
    first bad key or value raises a ConfigError naming it."""
    grid_keys = [k for k, s in spec.search.items() if next(iter(s)) == "grid"]
    rng = np.random.default_rng(spec.sampler_seed)
    several = len(spec.presets) > 1
    trials, names = [], set()
    for preset in spec.presets:
        for point in itertools.product(*(spec.search[k]["grid"] for k in grid_keys)):
            for _ in range(spec.samples):
                drawn = {k: _draw(spec.search[k], rng) for k in _random_keys(spec)}
                chosen = dict(zip(grid_keys, point, strict=True)) | drawn
                labels = [_label("preset", Path(preset).stem)] if several else []
                labels += [_label(k, v) for k, v in chosen.items()]
                group = _unique(",".join(labels) or Path(preset).stem, names)
                variant = ",".join(_label(k, v) for k, v in chosen.items() if k != "env.spec")
                variant = ",".join(([_label("preset", Path(preset).stem)] if several else [])
                                   + ([variant] if variant else [])) or Path(preset).stem
                for seed in spec.seeds:
                    trial = Trial(name=f"{group},seed_{seed}" if labels else f"seed_{seed}",
                                  preset=preset, overrides=spec.overrides | chosen, seed=seed,
                                  group=group, variant=variant)
                    try:
                        trial.task = trial.config().env.spec
                    except ConfigError as exc:
                        raise ConfigError(f"trial {trial.name} (preset {preset}): {exc}") from None
                    trials.append(trial)
    return trials


def _unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name-2``, ``name-3`` ... when random draws print alike."""
    candidate, n = name, 1
    while candidate in taken:
        n += 1
        candidate = f"{name}-{n}"
    taken.add(candidate)
    return candidate


def spec_to_dict(spec: SweepSpec) -> dict[str, Any]:
    data = dataclasses.asdict(spec)
    data["preset"] = data.pop("presets")
    sched = data.pop("scheduler")
    data["scheduler"] = ("fifo" if sched["kind"] == "fifo"
                         else {sched["kind"]: {k: v for k, v in sched.items() if k != "kind"}})
    return data


def save_trials(trials: list[Trial], path: Path) -> None:
    path.write_text(yaml.safe_dump([dataclasses.asdict(t) for t in trials], sort_keys=False))


def load_trials(path: Path) -> list[Trial]:
    return [Trial(**t) for t in yaml.safe_load(path.read_text())]
