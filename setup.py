"""Package discovery (metadata lives in pyproject.toml).

The design keeps ``envs/`` and ``configs/`` at the top of the repository; they are
installed as ``robovision.envs`` (the generic import name ``envs`` stays free) and
``robovision.configs`` (the YAML presets, read with ``importlib.resources``).
Every package under the three folders is found here, so a new sub-package is never
left out of a wheel by a hand-kept list.
"""

from setuptools import find_packages, setup

MOUNTED = {"robovision.envs": "envs", "robovision.configs": "configs"}


def packages() -> list[str]:
    found = find_packages(include=["robovision", "robovision.*"])
    for name, folder in MOUNTED.items():
        found += [name] + [f"{name}.{sub}" for sub in find_packages(folder)]
    return found


setup(packages=packages(), package_dir=MOUNTED,
      package_data={"robovision.configs": ["*.yaml"]})
