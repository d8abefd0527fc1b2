"""DeepFill v1 (Yu et al., "Generative Image Inpainting with Contextual Attention", CVPR 2018),
PaddlePaddle port. The same structure, names and order as model_torch.py: `diff model_torch.py
model_paddle.py` shows only the framework calls.

Generator: the coarse network and the two-branch refinement network of methods/deepfill_v1/
layers.py, with TensorFlow's 'SAME' padding and align-corners nearest resizing reproduced
exactly (geometry.py). It works in [-1, 1]: the input is the image with its hole set to 0 there,
a channel of ones and the mask (upstream build_graph_with_losses: batch_pos * (1 - mask)); both
stages end in clip_by_value(-1, 1). Critics: the local and global WGAN critics.
"""
import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn

from methods import ops_paddle, training
from methods.deepfill_v1 import geometry, layers


def resize_nearest(x, height, width):
    """neuralgym resize(func=resize_nearest_neighbor, align_corners=True) of an NCHW tensor, as
    products with one-hot selection matrices (geometry.selection: exact)."""
    rows = paddle.to_tensor(geometry.selection(x.shape[2], height), place=x.place)
    cols = paddle.to_tensor(geometry.selection(x.shape[3], width), place=x.place)
    return rows.astype(x.dtype) @ x @ cols.astype(x.dtype).T


def same_paddings(x, kernel, stride=1, dilation=1):
    """[top, bottom, left, right]: TensorFlow's 'SAME' zero padding for a convolution over x's
    last two axes, in the order paddle's conv2d takes it."""
    return [*geometry.same_padding(x.shape[2], kernel, stride, dilation),
            *geometry.same_padding(x.shape[3], kernel, stride, dilation)]


class GenConv(nn.Layer):
    """upstream gen_conv (and gen_deconv when stride is "up"): 'SAME' convolution with bias,
    then ELU, ReLU or nothing."""

    def __init__(self, in_ch, out_ch, kernel, stride, dilation, activation):
        super().__init__()
        self.upsample = stride == "up"
        self.kernel, self.stride, self.dilation = kernel, 1 if self.upsample else stride, dilation
        self.activation = activation
        self.conv = nn.Conv2D(in_ch, out_ch, kernel, self.stride, dilation=dilation)

    def forward(self, x):
        if self.upsample:
            x = resize_nearest(x, 2 * x.shape[2], 2 * x.shape[3])
        x = ops_paddle.conv2d(x, self.conv.weight, self.conv.bias, self.stride,
                              same_paddings(x, self.kernel, self.stride, self.dilation),
                              self.dilation)
        if self.activation == "elu":
            return F.elu(x)
        return F.relu(x) if self.activation == "relu" else x


class Stack(nn.Layer):
    """GenConv layers of one table of layers.py, applied in order."""

    def __init__(self, table, in_ch, cnum):
        super().__init__()
        self.names = [row[0] for row in table]
        for name, kernel, stride, dilation, ratio in table:
            out_ch = layers.outputs(ratio, cnum)
            setattr(self, name, GenConv(in_ch, out_ch, kernel, stride, dilation,
                                        layers.activation(name)))
            in_ch = out_ch
        self.out_channels = in_ch

    def forward(self, x):
        for name in self.names:
            x = getattr(self, name)(x)
        return x


def unfold_same(x, kernel, stride):
    """(N, C*kernel*kernel, L): the kernel x kernel patches of tf.extract_image_patches(SAME)."""
    top, bottom, left, right = same_paddings(x, kernel, stride)
    return F.unfold(x, kernel, strides=stride, paddings=[top, left, bottom, right])


def diagonal_sum(scores, k):
    """scores (N, P, Q) convolved 'SAME' with the k x k identity kernel (upstream's fuse
    weight, tf.eye(fuse_k)): each entry plus its k // 2 neighbours either way along the
    diagonal, as rolls masked where they wrap (geometry.diagonal_keep). A one-channel
    convolution's backward is slow on the CPU (194 ms of a 1.3 s demo step at 128 px), and so
    are paddle's slice and pad gradients (benchmarks/paddle_ops.py: the slice-and-pad form took
    39 ms forward + backward at the demo's (4, 256, 256), this one 5 ms)."""
    total = scores
    for shift in range(1, k // 2 + 1):
        forward, backward = (ops_paddle.like(paddle.to_tensor(keep, place=scores.place)
                                             .astype(scores.dtype), scores)
                             for keep in geometry.diagonal_keep(*scores.shape[1:], shift))
        total = (total + paddle.roll(scores, [shift, shift], [1, 2]) * forward
                 + paddle.roll(scores, [-shift, -shift], [1, 2]) * backward)
    return total


def fuse(scores, fg_shape, bg_shape):
    """Attention propagation (upstream's fuse): add the scores of diagonal neighbours in the
    (foreground, background) plane, once over row-major flattened positions and once over
    column-major ones. scores: (N, P, Q)."""
    (fh, fw), (bh, bw) = fg_shape, bg_shape
    n, k = scores.shape[0], layers.ATTENTION["fuse_k"]
    y = diagonal_sum(scores, k)
    y = y.reshape([n, fh, fw, bh, bw]).transpose([0, 2, 1, 4, 3]).reshape([n, fw * fh, bw * bh])
    y = diagonal_sum(y, k)
    return y.reshape([n, fw, fh, bw, bh]).transpose([0, 2, 1, 4, 3]).reshape([n, fh * fw, bh * bw])


def contextual_attention(f, b, mask, softmax_scale=layers.ATTENTION["softmax_scale"]):
    """Upstream inpaint_ops.py contextual_attention with ksize 3, stride 1, rate 2, fuse_k 3.

    f, b: (N, C, H, W) foreground and background features (the same map in the model); mask:
    (N, 1, H, W), 1 = hole. Scores are cosine similarities between the 3x3 patches of f and of
    b, both downsampled by the rate; background patches touching the hole are masked out (their
    scores set to 0 before and after the softmax, as upstream, not to -inf); the output pastes
    the matching 4x4 patches of the full-resolution b with a transposed convolution and
    averages the 4 overlapping pastes. Always float32 (see train_paddle.py)."""
    with paddle.amp.auto_cast(enable=False):  # astype alone stays under auto_cast
        return attend(f.astype("float32"), b.astype("float32"), mask.astype("float32"),
                      softmax_scale)


def attend(f, b, mask, softmax_scale):
    """contextual_attention's arithmetic, in the dtype of its inputs."""
    if f.shape != b.shape:  # upstream resizes f by its own size; here both share b's
        raise ValueError(f"contextual attention: f {list(f.shape)} and b {list(b.shape)} "
                         f"must match")
    rate, ksize = layers.ATTENTION["rate"], layers.ATTENTION["ksize"]
    kernel = 2 * rate
    n, channels, height, width = b.shape
    raw = unfold_same(b, kernel, rate)  # (N, C*16, Q) background patches to paste
    small = (height // rate, width // rate)
    f_small = resize_nearest(f, *small)
    b_small = resize_nearest(b, *small)
    m_small = resize_nearest(mask, *small)
    patches = unfold_same(b_small, ksize, 1)  # (N, C*9, Q)
    norm = (patches * patches).sum(1, keepdim=True).sqrt().clip(min=1e-4)
    valid = (unfold_same(m_small, ksize, 1).mean(1) == 0).astype(f.dtype)[:, None]  # (N, 1, Q)
    scores = paddle.bmm(unfold_same(f_small, ksize, 1).transpose([0, 2, 1]),
                        patches / ops_paddle.like(norm, patches))
    valid = ops_paddle.like(valid, scores)
    scores = fuse(scores, small, small) * valid  # (N, P, Q)
    attention = F.softmax(scores * softmax_scale, axis=2) * valid
    pasted = paddle.bmm(raw, attention.transpose([0, 2, 1]))  # (N, C*16, P)
    top, bottom = geometry.same_padding(height, kernel, rate)
    if top != bottom or geometry.same_padding(width, kernel, rate) != (top, bottom):
        raise ValueError(f"contextual attention needs an even feature map, got {height}x{width}")
    return F.fold(pasted, (height, width), kernel, strides=rate, paddings=top) / 4.0


class Generator(nn.Layer):
    """forward(x, mask) -> (coarse, refined), both (N, 3, H, W) in [-1, 1]; x is the image in
    [-1, 1] with its hole set to 0, mask (N, 1, H, W) with 1 = hole."""

    def __init__(self, cnum=layers.CNUM):
        super().__init__()
        self.coarse = Stack(layers.COARSE, layers.INPUT_CHANNELS, cnum)
        self.hallucination = Stack(layers.HALLUCINATION, layers.INPUT_CHANNELS, cnum)
        self.attention_in = Stack(layers.ATTENTION_IN, layers.INPUT_CHANNELS, cnum)
        self.attention_out = Stack(layers.ATTENTION_OUT, self.attention_in.out_channels, cnum)
        self.merge = Stack(layers.MERGE, self.hallucination.out_channels +
                           self.attention_out.out_channels, cnum)

    def forward(self, x, mask):
        if x.shape[2] % geometry.SIZE_MULTIPLE or x.shape[3] % geometry.SIZE_MULTIPLE:
            raise ValueError(f"DeepFill v1 needs height and width that are multiples of "
                             f"{geometry.SIZE_MULTIPLE}, got {tuple(x.shape[2:])}")
        ones = paddle.ones_like(mask)
        coarse = self.coarse(paddle.concat([x, ones, ones * mask], 1)).clip(-1, 1)
        mask3 = ops_paddle.like(mask, coarse)
        x = coarse * mask3 + x * (1 - mask3)
        x_now = paddle.concat([x, ones, ones * mask], 1)
        hallucinated = self.hallucination(x_now)
        features = self.attention_in(x_now)
        mask_small = resize_nearest(mask, features.shape[2], features.shape[3])
        attended = contextual_attention(features, features, mask_small).astype(features.dtype)
        attended = self.attention_out(attended)
        refined = self.merge(paddle.concat([hallucinated, attended], 1)).clip(-1, 1)
        return coarse, refined


class Critic(nn.Layer):
    """One WGAN critic: 'SAME' 5x5 stride-2 convolutions with leaky ReLU, flattened in
    TensorFlow's (height, width, channel) order, then a dense layer to one value."""

    def __init__(self, size, ratios, cnum):
        super().__init__()
        self.count = len(ratios)
        in_ch = layers.IMAGE_CHANNELS
        for i, ratio in enumerate(ratios, 1):
            setattr(self, f"conv{i}", nn.Conv2D(in_ch, ratio * cnum, layers.CRITIC_KERNEL,
                                                layers.CRITIC_STRIDE))
            in_ch = ratio * cnum
        side = -(-size // layers.CRITIC_STRIDE ** self.count)
        self.fc = nn.Linear(in_ch * side * side, 1)

    def forward(self, x):
        for i in range(1, self.count + 1):
            conv = getattr(self, f"conv{i}")
            x = F.leaky_relu(ops_paddle.conv2d(x, conv.weight, conv.bias, layers.CRITIC_STRIDE,
                                               same_paddings(x, layers.CRITIC_KERNEL,
                                                             layers.CRITIC_STRIDE)),
                             layers.LEAK)
        # reshape, not flatten: paddle's flatten has no double-grad kernel (the gradient penalty)
        return self.fc(x.transpose([0, 2, 3, 1]).reshape([x.shape[0], -1]))


class Critics(nn.Layer):
    """forward(local_patches, images) -> (local scores, global scores), each (N, 1)."""

    def __init__(self, size, cnum=layers.CRITIC_CNUM):
        super().__init__()
        self.local_critic = Critic(size // 2, layers.LOCAL_CRITIC, cnum)
        self.global_critic = Critic(size, layers.GLOBAL_CRITIC, cnum)

    def forward(self, local_patches, images):
        return self.local_critic(local_patches), self.global_critic(images)


def parameter_count(model):
    return sum(int(np.prod(p.shape)) for p in model.parameters() if not p.stop_gradient)


def build(spec, seed=0, **overrides):
    """The generator holding the harness's neutral initial weights of `seed`, in eval mode."""
    params = {**spec.get("params", {}), **overrides}
    model = training.initialised("paddle", lambda: Generator(params["cnum"]), seed,
                                   layers.INIT)
    model.eval()
    return model


def inpaint(model, image, mask):
    """Contract of methods/__init__.py: [0, 1] images become upstream's [-1, 1] with the hole
    at 0; the refined output comes back to [0, 1]."""
    place = model.coarse.conv1.conv.weight.place
    image = paddle.to_tensor(np.asarray(image, np.float32), place=place)
    mask = paddle.to_tensor(np.asarray(mask, np.float32), place=place)
    with paddle.no_grad():
        _, refined = model((image * 2 - 1) * (1 - mask), mask)
    return ((refined.astype("float32") + 1) / 2).numpy().astype(np.float32)
