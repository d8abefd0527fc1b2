"""Structural similarity (Wang, Bovik, Sheikh & Simoncelli 2004, IEEE TIP 13(4):600-612).

Exact definition computed here, for each image and each of its 3 channels separately:

    w      11x11 Gaussian window, sigma 1.5, radius 5 (truncate 3.5: int(3.5*1.5 + 0.5) = 5),
           the outer product of the normalised 1-D kernel exp(-x^2 / (2 sigma^2)), x = -5..5
    mu_x   = w * x,  mu_y = w * y                      (weighted local means)
    s_x^2  = w * x^2 - mu_x^2,  s_y^2 = w * y^2 - mu_y^2,  s_xy = w * (x y) - mu_x mu_y
           (population moments, no N/(N-1) factor, as in the paper)
    C1 = (0.01 L)^2, C2 = (0.03 L)^2 with data range L = 1
    S      = (2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))

SSIM of a channel is the mean of S over the positions whose whole window lies inside the
image (the map minus a 5-pixel border), and SSIM of the image is the mean over its 3 channels.

This is what scikit-image 0.26 returns for structural_similarity(a, b, channel_axis=0,
gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1): it filters with
scipy.ndimage.gaussian_filter (mode 'reflect') and then crops the radius at every border, which
discards exactly the positions a border mode touches, so a 'valid' convolution here gives the
same numbers. Images must be at least 11x11, as in scikit-image. Arrays are numpy or torch
(metrics/arrays.py), computed in float64.
"""
import numpy as np
from scipy import ndimage

from metrics.arrays import float64, is_torch, namespace

SIGMA = 1.5
TRUNCATE = 3.5  # skimage's choice to give the 11-tap window of Wang et al.
RADIUS = int(TRUNCATE * SIGMA + 0.5)
K1, K2 = 0.01, 0.03  # Wang et al. 2004, Sec. III-C
DATA_RANGE = 1.0


# Pixels per filtering pass (whole images, at least one): 2^16 pixels x 3 channels x 5 float64
# moment maps is 8 MB, so a pass and its temporaries stay in cache and memory stays bounded;
# passes of 2^20 pixels ran about 3x slower on the 2-core CPU of benchmarks/score_speed.py.
PIXELS_PER_PASS = 2**16
# On a GPU a pass is a few dozen kernel launches whatever its size, so passes are 64 images of
# 256 px (2^22 pixels: 3 channels x 5 float64 maps is 0.5 GB of temporaries).
GPU_PIXELS_PER_PASS = 2**22


def gaussian_window() -> list:
    """The normalised 1-D Gaussian (2 RADIUS + 1 taps) whose outer product is the window."""
    x = np.arange(-RADIUS, RADIUS + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * np.square(x) / SIGMA**2)
    return (kernel / kernel.sum()).tolist()


def correlate_valid(maps, taps: list, dim: int):
    """Weighted sum of len(taps) shifted views along dim (negative): a 1-D 'valid' correlation.

    numpy: scipy.ndimage.correlate1d, cropped to the positions whose taps all lie inside (the
    border mode then touches nothing kept): one C pass instead of 11 array passes; SSIM of 16
    pairs at 128 px took 0.114 s against 0.179 s with shifted adds, equal to 2e-16
    (benchmarks/score_speed.py --pairs 16 --size 128, one thread).
    torch: shifted multiply-adds instead of conv2d: torch's CPU conv2d has no fast float64
    kernel and falls back to im2col, about 4x slower here and with an 11x larger temporary.
    """
    length = maps.shape[dim] - len(taps) + 1
    trailing = (slice(None),) * (-dim - 1)

    def shifted(array, offset):
        return array[(..., slice(offset, offset + length), *trailing)]

    if not is_torch(maps):
        full = ndimage.correlate1d(maps, taps, axis=dim, mode="constant")
        return shifted(full, len(taps) // 2)
    out = shifted(maps, 0) * taps[0]
    for offset, tap in enumerate(taps[1:], start=1):
        out.add_(shifted(maps, offset), alpha=tap)
    return out


def ssim_maps_mean(x, y):
    """(M,H,W) float64 channels -> (M,) mean of the valid part of each SSIM map."""
    taps = gaussian_window()
    moments = namespace(x).stack([x, y, x * x, y * y, x * y])
    moments = correlate_valid(correlate_valid(moments, taps, -2), taps, -1)
    mu_x, mu_y, xx, yy, xy = moments
    var_x = xx - mu_x * mu_x
    var_y = yy - mu_y * mu_y
    cov_xy = xy - mu_x * mu_y
    c1 = (K1 * DATA_RANGE) ** 2
    c2 = (K2 * DATA_RANGE) ** 2
    numerator = (2 * mu_x * mu_y + c1) * (2 * cov_xy + c2)
    denominator = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    return (numerator / denominator).reshape(len(numerator), -1).mean(1)


def ssim(pred, target):
    """(N,3,H,W) images in [0,1] -> (N,) float64 SSIM (see the module docstring)."""
    n, c, h, w = pred.shape
    if min(h, w) < 2 * RADIUS + 1:
        raise ValueError(f"SSIM needs images of at least {2 * RADIUS + 1} pixels a side, "
                         f"got {h}x{w}")
    x = float64(pred).reshape(n * c, h, w)
    y = float64(target).reshape(n * c, h, w)
    on_gpu = is_torch(pred) and pred.device.type != "cpu"
    step = c * max(1, (GPU_PIXELS_PER_PASS if on_gpu else PIXELS_PER_PASS) // (h * w))
    per_channel = namespace(x).concatenate([ssim_maps_mean(x[i:i + step], y[i:i + step])
                                            for i in range(0, n * c, step)])
    return per_channel.reshape(n, c).mean(1)
