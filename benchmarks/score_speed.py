"""Batched torch PSNR/SSIM against a scikit-image loop on the same seeded image pairs.

    python -m benchmarks.score_speed [--pairs 64] [--size 256] [--repeats 3]

Prints each implementation's best wall time over the repeats, the speed ratio, and the largest
absolute difference between the two per metric; then metrics/ssim.py on numpy arrays (the CPU
scoring path, scipy's correlate1d) against the same 'valid' correlation as numpy shifted adds.
A benchmark, not a test: nothing is asserted.
"""
import argparse
import time

import numpy as np
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from metrics.psnr import psnr
from metrics import ssim as ssim_module
from metrics.ssim import ssim


def seeded_pairs(pairs: int, size: int, seed: int = 0):
    """Uniform-noise targets and predictions 0.1-Gaussian-noise away, clipped to [0,1]."""
    rng = np.random.default_rng([seed, pairs, size])
    target = rng.random((pairs, 3, size, size), dtype=np.float32)
    noise = 0.1 * rng.standard_normal(target.shape, dtype=np.float32)
    return np.clip(target + noise, 0, 1), target


def skimage_scores(pred, target):
    # float64 copies: skimage would otherwise filter float32 input in float32.
    pred, target = pred.astype(np.float64), target.astype(np.float64)
    psnrs = [peak_signal_noise_ratio(t, p, data_range=1) for p, t in zip(pred, target)]
    ssims = [structural_similarity(p, t, channel_axis=0, gaussian_weights=True, sigma=1.5,
                                   use_sample_covariance=False, data_range=1)
             for p, t in zip(pred, target)]
    return np.array(psnrs), np.array(ssims)


def torch_scores(pred, target):
    pred, target = torch.from_numpy(pred), torch.from_numpy(target)
    return psnr(pred, target).numpy(), ssim(pred, target).numpy()


def shifted_adds(maps, taps, dim):
    """The 'valid' correlation of metrics/ssim.py as len(taps) shifted multiply-adds."""
    length = maps.shape[dim] - len(taps) + 1
    trailing = (slice(None),) * (-dim - 1)
    out = 0
    for offset, tap in enumerate(taps):
        out = out + tap * maps[(..., slice(offset, offset + length), *trailing)]
    return out


def numpy_ssim(pred, target, correlate):
    """metrics.ssim.ssim on numpy arrays with its 'valid' correlation replaced by `correlate`."""
    kept = ssim_module.correlate_valid
    ssim_module.correlate_valid = correlate
    try:
        return ssim(pred, target)
    finally:
        ssim_module.correlate_valid = kept


def best_time(fn, repeats, *args):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
    return min(times), result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=64)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    pred, target = seeded_pairs(args.pairs, args.size)
    t_torch, (psnr_t, ssim_t) = best_time(torch_scores, args.repeats, pred, target)
    t_sk, (psnr_s, ssim_s) = best_time(skimage_scores, args.repeats, pred, target)
    print(f"{args.pairs} pairs of 3x{args.size}x{args.size}, best of {args.repeats}, "
          f"torch {torch.__version__} on {torch.get_num_threads()} threads")
    print(f"torch batched PSNR+SSIM : {t_torch:8.3f} s")
    print(f"scikit-image loop       : {t_sk:8.3f} s")
    print(f"speed ratio (skimage / torch): {t_sk / t_torch:.1f}x")
    print(f"max |diff| PSNR: {np.abs(psnr_t - psnr_s).max():.3e} dB")
    print(f"max |diff| SSIM: {np.abs(ssim_t - ssim_s).max():.3e}")
    t_np, ssim_n = best_time(numpy_ssim, args.repeats, pred, target, ssim_module.correlate_valid)
    t_adds, ssim_a = best_time(numpy_ssim, args.repeats, pred, target, shifted_adds)
    print(f"numpy SSIM, scipy correlate1d : {t_np:8.3f} s")
    print(f"numpy SSIM, shifted adds      : {t_adds:8.3f} s  ratio {t_adds / t_np:.1f}x")
    print(f"max |diff| SSIM numpy - skimage: {np.abs(ssim_n - ssim_s).max():.3e}, "
          f"correlate1d - shifted adds: {np.abs(ssim_n - ssim_a).max():.3e}")


if __name__ == "__main__":
    main()
