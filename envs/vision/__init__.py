"""Vision environments: box localization with an IoU reward and landmark detection
with a distance reward, on procedural or loaded annotated images."""

from robovision.envs.vision.geometry import box_iou, pairwise_iou, point_distance

__all__ = ["box_iou", "pairwise_iou", "point_distance"]
