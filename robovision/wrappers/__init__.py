"""Observation wrappers; their order is fixed in ``robovision.make``. Action repeat,
action rescaling, episode statistics and reward normalisation are gymnasium's own
wrappers (``RepeatAction``, ``RescaleAction``, ``RecordEpisodeStatistics``,
``NormalizeReward``)."""

from robovision.wrappers.frame_stack import FrameStack
from robovision.wrappers.pixels import PixelObservation, RenderError

__all__ = ["FrameStack", "PixelObservation", "RenderError"]
