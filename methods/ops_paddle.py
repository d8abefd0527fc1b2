"""Paddle arithmetic on the CPU without its slow broadcasting kernels, for every paddle port.

Paddle 3.3's CPU elementwise ops are several times slower when one operand is broadcast than
when both have the same shape, and so are their gradients; torch's are not. One run of
benchmarks/paddle_ops.py on one thread: an (8, 32, 64, 64) map times an (8, 1, 64, 64) mask,
forward and backward, 22.8 ms broadcast against 5.9 ms expanded first (torch 1.4 ms); a 3x3
convolution with its (1, C, 1, 1) bias broadcast inside paddle's conv2d 61 ms against 46 ms;
'SAME' padding by F.pad before a stride-2 convolution 33 ms against 13 ms when conv2d takes the
four paddings itself. In the demo's training steps this took DeepFill v1 paddle from 1.7 to
1.3 s a step and PConv paddle from 0.65 to 0.47 s. Expanding first computes the same values
(each element is the same operation on the same two floats); gradients differ only in float32
summation order.
"""
import paddle.nn.functional as F


def like(small, big):
    """`small` broadcast to `big`'s shape as a tensor of its own (paddle's expand)."""
    return small if small.shape == big.shape else small.expand(big.shape)


def conv2d(x, weight, bias, stride, padding, dilation=1):
    """F.conv2d with the bias added by a same-shape add. padding: as F.conv2d's, including
    [top, bottom, left, right] for asymmetric ('SAME') padding."""
    out = F.conv2d(x, weight, None, stride, padding, dilation)
    return out if bias is None else out + like(bias.reshape([1, -1, 1, 1]), out)
