"""Paddle's CPU broadcasting against the same arithmetic on expanded operands (methods/ops_paddle.py).

    OMP_NUM_THREADS=1 python -m benchmarks.paddle_ops [--repeats 20]

Prints milliseconds per call, forward and forward + backward, of each pattern in the form paddle
is slow at ("before") and the form the paddle ports use ("after"), the ratio before / after, and
torch's figure in the same process; and whether both forms give the same values. The patterns:
a feature map times a one-channel mask, a convolution's bias, 'SAME' padding before a strided
convolution (methods/ops_paddle.py); DeepFill v1's diagonal sum as slices and pads against
masked rolls (model_paddle.diagonal_sum); PConv's total variation as slices of the image against
a roll (loss_paddle.total_variation). A script that prints figures, not a test.
"""
import argparse
import time

import numpy as np
import paddle
import paddle.nn.functional as F
import torch

from methods import ops_paddle
from methods.deepfill_v1 import model_paddle as deepfill_paddle
from methods.deepfill_v1 import model_torch as deepfill_torch
from methods.pconv import loss_paddle as pconv_paddle
from methods.pconv import loss_torch as pconv_torch


def per_call_ms(fn, repeats):
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1000


def backward(fn):
    return lambda: fn().sum().backward()


def sliced_diagonal_sum(scores):
    """DeepFill v1's 3x3 diagonal sum (fuse_k 3) as slices padded back to shape."""
    return (scores[:, None] + F.pad(scores[:, None, :-1, :-1], [1, 0, 1, 0])
            + F.pad(scores[:, None, 1:, 1:], [0, 1, 0, 1]))[:, 0]


def sliced_total_variation(comp, valid):
    """PConv's total variation with both images sliced, the formulation before the roll."""
    region = F.max_pool2d(1 - valid, kernel_size=3, stride=1, padding=1)
    pairs_h = region[:, :, :, 1:] * region[:, :, :, :-1]
    pairs_v = region[:, :, 1:, :] * region[:, :, :-1, :]
    diff_h = paddle.abs(comp[:, :, :, 1:] - comp[:, :, :, :-1])
    diff_v = paddle.abs(comp[:, :, 1:, :] - comp[:, :, :-1, :])
    return ((pairs_h * diff_h).sum() + (pairs_v * diff_v).sum()) / np.prod(comp.shape)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    paddle.set_device("cpu")
    rng = np.random.default_rng(0)
    x = rng.random((8, 32, 64, 64), np.float32)
    mask = rng.random((8, 1, 64, 64), np.float32)
    weight = rng.random((32, 32, 3, 3), np.float32)
    bias = rng.random(32, np.float32)
    px, pw, pb = (paddle.to_tensor(a, stop_gradient=False) for a in (x, weight, bias))
    pm = paddle.to_tensor(mask)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, weight, bias))
    tm = torch.tensor(mask)
    # the demo's attention scores: batch 4, 16 x 16 positions at 128 px, cnum 8
    scores = rng.random((4, 256, 256), np.float32)
    ps, ts = paddle.to_tensor(scores, stop_gradient=False), torch.tensor(scores, requires_grad=True)
    # the demo's PConv batch: 8 images of 128 px with a hole in their middle
    comp = rng.random((8, 3, 128, 128), np.float32)
    valid = np.ones_like(comp)
    valid[:, :, 32:96, 32:96] = 0
    pc, tc = paddle.to_tensor(comp, stop_gradient=False), torch.tensor(comp, requires_grad=True)
    pv, tv = paddle.to_tensor(valid), torch.tensor(valid)
    cases = {
        "map x mask (8,32,64,64)x(8,1,64,64)": (
            lambda: px * pm, lambda: px * ops_paddle.like(pm, px), lambda: tx * tm),
        "conv2d 3x3 with bias": (
            lambda: F.conv2d(px, pw, pb, 1, 1), lambda: ops_paddle.conv2d(px, pw, pb, 1, 1),
            lambda: torch.nn.functional.conv2d(tx, tw, tb, 1, 1)),
        "'SAME' pad + 3x3 stride-2 conv": (
            lambda: F.conv2d(F.pad(px, [0, 1, 0, 1]), pw, None, 2),
            lambda: ops_paddle.conv2d(px, pw, None, 2, [0, 1, 0, 1]),
            lambda: torch.nn.functional.conv2d(torch.nn.functional.pad(tx, (0, 1, 0, 1)), tw,
                                               None, 2)),
        "DeepFill v1 diagonal sum (4,256,256)": (
            lambda: sliced_diagonal_sum(ps), lambda: deepfill_paddle.diagonal_sum(ps, 3),
            lambda: deepfill_torch.diagonal_sum(ts, 3)),
        "PConv total variation (8,3,128,128)": (
            lambda: sliced_total_variation(pc, pv), lambda: pconv_paddle.total_variation(pc, pv),
            lambda: pconv_torch.total_variation(tc, tv)),
    }
    print(f"paddle {paddle.__version__}, torch {torch.__version__} on "
          f"{torch.get_num_threads()} threads; ms per call")
    for name, (slow, fast, reference) in cases.items():
        same = np.array_equal(slow().numpy(), fast().numpy())
        figures = [per_call_ms(f, args.repeats) for f in (slow, fast, reference)]
        figures += [per_call_ms(backward(f), args.repeats) for f in (slow, fast, reference)]
        print(f"{name}: identical values {same}\n"
              f"  forward   before {figures[0]:6.2f}  after {figures[1]:6.2f}  "
              f"ratio {figures[0] / figures[1]:4.1f}x  torch {figures[2]:6.2f}\n"
              f"  +backward before {figures[3]:6.2f}  after {figures[4]:6.2f}  "
              f"ratio {figures[3] / figures[4]:4.1f}x  torch {figures[5]:6.2f}")


if __name__ == "__main__":
    main()
