"""robovision: robot control and vision by reinforcement learning."""

from robovision.make import available_specs, make_env

__version__ = "0.1.0"
__all__ = ["__version__", "available_specs", "make_env"]
