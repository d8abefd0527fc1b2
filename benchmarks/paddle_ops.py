"""Paddle's CPU broadcasting against the same arithmetic on expanded operands (methods/ops_paddle.py).

    OMP_NUM_THREADS=1 python -m benchmarks.paddle_ops [--repeats 20]

Prints milliseconds per call, forward and forward + backward, for the three patterns the paddle
ports use: a feature map times a one-channel mask, a convolution's bias, and 'SAME' padding
before a strided convolution; then the ratio broadcast / expanded, and torch's figure for the
broadcast form in the same process. It also checks that both forms give the same values.
A script that prints figures, not a test.
"""
import argparse
import time

import numpy as np
import paddle
import paddle.nn.functional as F
import torch

from methods import ops_paddle


def per_call_ms(fn, repeats):
    fn()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1000


def backward(fn):
    return lambda: fn().sum().backward()


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
    }
    print(f"paddle {paddle.__version__}, torch {torch.__version__} on "
          f"{torch.get_num_threads()} threads; ms per call")
    for name, (slow, fast, reference) in cases.items():
        same = np.array_equal(slow().numpy(), fast().numpy())
        figures = [per_call_ms(f, args.repeats) for f in (slow, fast, reference)]
        figures += [per_call_ms(backward(f), args.repeats) for f in (slow, fast, reference)]
        print(f"{name}: identical values {same}\n"
              f"  forward   broadcast {figures[0]:6.2f}  expanded {figures[1]:6.2f}  "
              f"ratio {figures[0] / figures[1]:4.1f}x  torch {figures[2]:6.2f}\n"
              f"  +backward broadcast {figures[3]:6.2f}  expanded {figures[4]:6.2f}  "
              f"ratio {figures[3] / figures[4]:4.1f}x  torch {figures[5]:6.2f}")


if __name__ == "__main__":
    main()
