"""Peak signal-to-noise ratio per image, data range 1 (images in [0,1]).

PSNR = 10 log10(1 / MSE), MSE over every pixel and channel of one image; +inf when the
images are identical (MSE 0). Same definition as skimage.metrics.peak_signal_noise_ratio
with data_range=1, computed for a whole batch at once in float64.
"""
import torch


def psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(N,3,H,W) images in [0,1] -> (N,) float64 PSNR in dB."""
    diff = pred.to(torch.float64) - target.to(torch.float64)
    mse = diff.square().flatten(1).mean(dim=1)
    # -10 log10(0) = +inf, so identical images come out as inf without a special case.
    return -10.0 * torch.log10(mse)
