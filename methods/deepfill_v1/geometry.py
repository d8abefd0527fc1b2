"""TensorFlow's index arithmetic, framework-neutral (numpy), shared by both DeepFill v1 ports.

The upstream model (JiahuiYu/generative_inpainting v1.0.0, TensorFlow 1) depends on two
conventions that neither PyTorch nor Paddle has built in; reproducing them exactly is what lets
published weights be loaded later.

- "SAME" padding (tf.nn.conv2d, tf.layers.conv2d, tf.extract_image_patches): the output has
  ceil(input / stride) pixels; the padding that needs is split with the odd pixel AFTER, so a
  3x3 stride-2 convolution of an even input pads (0, 1) and a 5x5 one (1, 2).
- Nearest-neighbour resizing with align_corners=True (neuralgym.ops.layers.resize's default,
  used by gen_deconv, resize_mask_like and contextual attention): output pixel y reads input
  round(y * (in - 1) / (out - 1)), in float32 as TensorFlow's resize_nearest_neighbor_op.cc
  computes it. Doubling a size is exactly pixel repetition (index y // 2, for any size);
  halving is not every other pixel: 64 -> 32 reads 0, 2, ..., 30, 33, 35, ..., 63.
"""
import numpy as np

# Two stride-2 convolutions, then contextual attention halves the 1/4-resolution map again and
# extracts 4x4 patches at stride 2 from it: the image side must be a multiple of 8.
SIZE_MULTIPLE = 8


def same_padding(size, kernel, stride=1, dilation=1):
    """(before, after) padding of TensorFlow's 'SAME' along one axis (tf.nn.convolution docs:
    out = ceil(in / stride); total = max((out - 1) * stride + effective kernel - in, 0))."""
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def selection(size_in, size_out):
    """(size_out, size_in) float32 one-hot rows: row i picks input pixel nearest_indices[i].
    A resize as products with these is exact (one nonzero term per output) and its gradient is
    a product too, where an index_select's gradient scatters (slow on the CPU: 0.23 s of
    paddle's 2.5 s demo generator step at 128 px, 2 x 26 ms forward in torch)."""
    return np.eye(size_in, dtype=np.float32)[nearest_indices(size_in, size_out)]


def nearest_indices(size_in, size_out):
    """Input index of each output pixel of resize_nearest_neighbor(align_corners=True)."""
    if size_out == 1:
        return np.zeros(1, np.int64)
    scale = np.float32(size_in - 1) / np.float32(size_out - 1)
    # roundf (half away from zero) of the float32 product, clamped to the last input pixel; the
    # + 0.5 in float64, since in float32 0.49999997 + 0.5 would round up to 1
    position = (np.arange(size_out, dtype=np.float32) * scale).astype(np.float64)
    return np.minimum(np.floor(position + 0.5), size_in - 1).astype(np.int64)


def discount_mask(height, width, gamma):
    """Spatial discounting weights over the local patch (upstream inpaint_ops.py
    spatial_discounting_mask): gamma ** (distance to the nearest patch edge), distances measured
    as min(i, height - i), so the first row is 0 away and the last 1."""
    rows = np.minimum(np.arange(height), height - np.arange(height))
    cols = np.minimum(np.arange(width), width - np.arange(width))
    weights = np.maximum(gamma ** rows[:, None].astype(np.float64),
                         gamma ** cols[None, :].astype(np.float64))
    return weights.astype(np.float32).reshape(1, 1, height, width)


def diagonal_keep(rows, cols, shift):
    """(forward, backward) float32 (rows, cols) 0/1 masks for a diagonal shift by `shift` done
    as a cyclic roll: roll by (+shift, +shift) then keep only entries at [shift:, shift:] (the
    ones whose source did not wrap around); roll by (-shift, -shift) then keep [:-shift, :-shift].
    Rolled and masked, each entry is either a copy or 0, the same values as slicing and padding."""
    forward = np.zeros((rows, cols), np.float32)
    forward[shift:, shift:] = 1
    return forward, np.ascontiguousarray(forward[::-1, ::-1])
