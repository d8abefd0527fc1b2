"""Mean absolute error per image, over the whole image or over the hole only ([0,1] scale).

Raw values: the report builder alone multiplies by 100 and labels the unit (DESIGN.md).
Arrays are numpy or torch, computed in float64.
"""
import numpy as np

from metrics.arrays import float64, namespace, per_image_mean


def l1(pred, target):
    """(N,3,H,W) -> (N,) float64 mean |pred - target| over all pixels and channels."""
    return per_image_mean(namespace(pred).abs(float64(pred) - float64(target)))


def l1_hole(pred, target, mask):
    """(N,3,H,W), (N,1,H,W) mask with 1 = hole -> (N,) mean |diff| over hole pixels x 3 channels.

    NaN where an image's mask has no hole: the mean over zero pixels is undefined, and a 0
    would pass for a perfect fill.
    """
    xp = namespace(pred)
    diff = xp.abs(float64(pred) - float64(target))
    # Masks are read from 0/255 PNGs, so 0.5 splits them exactly like mask == 1 would.
    hole = float64(mask > 0.5)
    total = (diff * hole).reshape(len(diff), -1).sum(1)
    count = hole.reshape(len(hole), -1).sum(1) * diff.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return xp.where(count > 0, total / xp.maximum(count, xp.ones_like(count)), xp.nan)
