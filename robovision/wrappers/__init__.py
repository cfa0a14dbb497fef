"""Observation and action wrappers; their order is fixed in ``robovision.make``."""

from robovision.wrappers.action_repeat import ActionRepeat
from robovision.wrappers.frame_stack import FrameStack
from robovision.wrappers.pixels import PixelObservation, RenderError

__all__ = ["ActionRepeat", "FrameStack", "PixelObservation", "RenderError"]
