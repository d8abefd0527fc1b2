"""One definition of each pixel metric for numpy arrays and torch tensors alike.

The score stage computes on torch tensors where torch is loaded anyway (on a GPU, or with the
LPIPS / FID backbones) and on numpy arrays on a CPU without them, where importing torch (about
1.5 s) would cost more than scoring a small set (benchmarks/eval_speed.py --demo). Both paths
run the same float64 formulas; tests/test_metrics.py checks each against scikit-image.
"""
import numpy as np


def is_torch(array) -> bool:
    return type(array).__module__.startswith("torch")


def namespace(array):
    """The module whose functions apply to `array`: torch or numpy."""
    if is_torch(array):
        import torch
        return torch
    return np


def float64(array):
    if is_torch(array):
        import torch
        return array.to(torch.float64)
    return np.asarray(array, dtype=np.float64)


def per_image_mean(array):
    """(N, ...) -> (N,) mean over everything but the first axis."""
    return array.reshape(len(array), -1).mean(1)
