"""Peak signal-to-noise ratio per image, data range 1 (images in [0,1]).

PSNR = 10 log10(1 / MSE), MSE over every pixel and channel of one image; +inf when the
images are identical (MSE 0). Same definition as skimage.metrics.peak_signal_noise_ratio
with data_range=1, computed for a whole batch at once in float64 (numpy or torch, as given).
"""
import numpy as np

from metrics.arrays import float64, namespace, per_image_mean


def psnr(pred, target):
    """(N,3,H,W) images in [0,1] -> (N,) float64 PSNR in dB."""
    diff = float64(pred) - float64(target)
    mse = per_image_mean(diff * diff)
    # -10 log10(0) = +inf, so identical images come out as inf without a special case.
    with np.errstate(divide="ignore"):
        return -10.0 * namespace(mse).log10(mse)
