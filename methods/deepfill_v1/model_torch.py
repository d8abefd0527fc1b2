"""DeepFill v1 (Yu et al., "Generative Image Inpainting with Contextual Attention", CVPR 2018),
PyTorch port. The same structure, names and order as model_paddle.py.

Generator: the coarse network and the two-branch refinement network of methods/deepfill_v1/
layers.py, with TensorFlow's 'SAME' padding and align-corners nearest resizing reproduced
exactly (geometry.py). It works in [-1, 1]: the input is the image with its hole set to 0 there,
a channel of ones and the mask (upstream build_graph_with_losses: batch_pos * (1 - mask)); both
stages end in clip_by_value(-1, 1). Critics: the local and global WGAN critics.
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from methods import training
from methods.deepfill_v1 import geometry, layers


def resize_nearest(x, height, width):
    """neuralgym resize(func=resize_nearest_neighbor, align_corners=True) of an NCHW tensor, as
    products with one-hot selection matrices (geometry.selection: exact)."""
    rows = torch.from_numpy(geometry.selection(x.shape[2], height)).to(x.device, x.dtype)
    cols = torch.from_numpy(geometry.selection(x.shape[3], width)).to(x.device, x.dtype)
    return rows @ x @ cols.T


def pad_same(x, kernel, stride=1, dilation=1):
    """Zero padding of TensorFlow's 'SAME' for a convolution over x's last two axes."""
    top, bottom = geometry.same_padding(x.shape[2], kernel, stride, dilation)
    left, right = geometry.same_padding(x.shape[3], kernel, stride, dilation)
    return F.pad(x, (left, right, top, bottom))


class GenConv(nn.Module):
    """upstream gen_conv (and gen_deconv when stride is "up"): 'SAME' convolution with bias,
    then ELU, ReLU or nothing."""

    def __init__(self, in_ch, out_ch, kernel, stride, dilation, activation):
        super().__init__()
        self.upsample = stride == "up"
        self.kernel, self.stride, self.dilation = kernel, 1 if self.upsample else stride, dilation
        self.activation = activation
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, self.stride, dilation=dilation)

    def forward(self, x):
        if self.upsample:
            x = resize_nearest(x, 2 * x.shape[2], 2 * x.shape[3])
        top, bottom = geometry.same_padding(x.shape[2], self.kernel, self.stride, self.dilation)
        left, right = geometry.same_padding(x.shape[3], self.kernel, self.stride, self.dilation)
        if (top, left) == (bottom, right):  # symmetric: the convolution pads, faster than F.pad
            x = F.conv2d(x, self.conv.weight, self.conv.bias, self.stride, (top, left),
                         self.dilation)
        else:
            x = self.conv(F.pad(x, (left, right, top, bottom)))
        if self.activation == "elu":
            return F.elu(x)
        return F.relu(x) if self.activation == "relu" else x


class Stack(nn.Module):
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
    return F.unfold(pad_same(x, kernel, stride), kernel, stride=stride)


def diagonal_sum(scores, k):
    """scores (N, P, Q) convolved 'SAME' with the k x k identity kernel (upstream's fuse
    weight, tf.eye(fuse_k)): each entry plus its k // 2 neighbours either way along the
    diagonal, as rolls masked where they wrap (geometry.diagonal_keep). A one-channel
    convolution's backward is slow on the CPU (194 ms of a 1.3 s demo step at 128 px), and so
    are paddle's slice and pad gradients (benchmarks/paddle_ops.py: the slice-and-pad form took
    39 ms forward + backward at the demo's (4, 256, 256), this one 5 ms)."""
    total = scores
    for shift in range(1, k // 2 + 1):
        forward, backward = (torch.from_numpy(keep).to(scores.device, scores.dtype)
                             for keep in geometry.diagonal_keep(*scores.shape[1:], shift))
        total = (total + torch.roll(scores, (shift, shift), (1, 2)) * forward
                 + torch.roll(scores, (-shift, -shift), (1, 2)) * backward)
    return total


def fuse(scores, fg_shape, bg_shape):
    """Attention propagation (upstream's fuse): add the scores of diagonal neighbours in the
    (foreground, background) plane, once over row-major flattened positions and once over
    column-major ones. scores: (N, P, Q)."""
    (fh, fw), (bh, bw) = fg_shape, bg_shape
    n, k = scores.shape[0], layers.ATTENTION["fuse_k"]
    y = diagonal_sum(scores, k)
    y = y.reshape(n, fh, fw, bh, bw).permute(0, 2, 1, 4, 3).reshape(n, fw * fh, bw * bh)
    y = diagonal_sum(y, k)
    return y.reshape(n, fw, fh, bw, bh).permute(0, 2, 1, 4, 3).reshape(n, fh * fw, bh * bw)


def contextual_attention(f, b, mask, softmax_scale=layers.ATTENTION["softmax_scale"]):
    """Upstream inpaint_ops.py contextual_attention with ksize 3, stride 1, rate 2, fuse_k 3.

    f, b: (N, C, H, W) foreground and background features (the same map in the model); mask:
    (N, 1, H, W), 1 = hole. Scores are cosine similarities between the 3x3 patches of f and of
    b, both downsampled by the rate; background patches touching the hole are masked out (their
    scores set to 0 before and after the softmax, as upstream, not to -inf); the output pastes
    the matching 4x4 patches of the full-resolution b with a transposed convolution and
    averages the 4 overlapping pastes. Always float32 (see train_torch.py)."""
    with torch.autocast(f.device.type, enabled=False):  # .float() alone stays under autocast
        return attend(f.float(), b.float(), mask.float(), softmax_scale)


def attend(f, b, mask, softmax_scale):
    """contextual_attention's arithmetic, in the dtype of its inputs."""
    if f.shape != b.shape:  # upstream resizes f by its own size; here both share b's
        raise ValueError(f"contextual attention: f {f.shape} and b {b.shape} must match")
    rate, ksize = layers.ATTENTION["rate"], layers.ATTENTION["ksize"]
    kernel = 2 * rate
    n, channels, height, width = b.shape
    raw = unfold_same(b, kernel, rate)  # (N, C*16, Q) background patches to paste
    small = (height // rate, width // rate)
    f_small = resize_nearest(f, *small)
    b_small = resize_nearest(b, *small)
    m_small = resize_nearest(mask, *small)
    patches = unfold_same(b_small, ksize, 1)  # (N, C*9, Q)
    norm = (patches * patches).sum(1, keepdim=True).sqrt().clamp_min(1e-4)
    valid = (unfold_same(m_small, ksize, 1).mean(1) == 0).to(f.dtype)[:, None]  # (N, 1, Q)
    scores = torch.bmm(unfold_same(f_small, ksize, 1).transpose(1, 2), patches / norm)
    scores = fuse(scores, small, small) * valid  # (N, P, Q)
    attention = torch.softmax(scores * softmax_scale, dim=2) * valid
    pasted = torch.bmm(raw, attention.transpose(1, 2))  # (N, C*16, P)
    top, bottom = geometry.same_padding(height, kernel, rate)
    if top != bottom or geometry.same_padding(width, kernel, rate) != (top, bottom):
        raise ValueError(f"contextual attention needs an even feature map, got {height}x{width}")
    return F.fold(pasted, (height, width), kernel, stride=rate, padding=top) / 4.0


class Generator(nn.Module):
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
        ones = torch.ones_like(mask)
        coarse = self.coarse(torch.cat([x, ones, ones * mask], 1)).clamp(-1, 1)
        x = coarse * mask + x * (1 - mask)
        x_now = torch.cat([x, ones, ones * mask], 1)
        hallucinated = self.hallucination(x_now)
        features = self.attention_in(x_now)
        mask_small = resize_nearest(mask, features.shape[2], features.shape[3])
        attended = contextual_attention(features, features, mask_small).to(features.dtype)
        attended = self.attention_out(attended)
        refined = self.merge(torch.cat([hallucinated, attended], 1)).clamp(-1, 1)
        return coarse, refined


class Critic(nn.Module):
    """One WGAN critic: 'SAME' 5x5 stride-2 convolutions with leaky ReLU, flattened in
    TensorFlow's (height, width, channel) order, then a dense layer to one value."""

    def __init__(self, size, ratios, cnum):
        super().__init__()
        self.count = len(ratios)
        in_ch = layers.IMAGE_CHANNELS
        for i, ratio in enumerate(ratios, 1):
            setattr(self, f"conv{i}", nn.Conv2d(in_ch, ratio * cnum, layers.CRITIC_KERNEL,
                                                layers.CRITIC_STRIDE))
            in_ch = ratio * cnum
        side = -(-size // layers.CRITIC_STRIDE ** self.count)
        self.fc = nn.Linear(in_ch * side * side, 1)

    def forward(self, x):
        for i in range(1, self.count + 1):
            conv = getattr(self, f"conv{i}")
            x = F.leaky_relu(conv(pad_same(x, layers.CRITIC_KERNEL, layers.CRITIC_STRIDE)),
                             layers.LEAK)
        return self.fc(x.permute(0, 2, 3, 1).flatten(1))


class Critics(nn.Module):
    """forward(local_patches, images) -> (local scores, global scores), each (N, 1)."""

    def __init__(self, size, cnum=layers.CRITIC_CNUM):
        super().__init__()
        self.local_critic = Critic(size // 2, layers.LOCAL_CRITIC, cnum)
        self.global_critic = Critic(size, layers.GLOBAL_CRITIC, cnum)

    def forward(self, local_patches, images):
        return self.local_critic(local_patches), self.global_critic(images)


def parameter_count(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def build(spec, seed=0, **overrides):
    """The generator holding the harness's neutral initial weights of `seed`, in eval mode."""
    params = {**spec.get("params", {}), **overrides}
    model = training.initialised("torch", lambda: Generator(params["cnum"]), seed,
                                   layers.INIT)
    model.eval()
    return model


def inpaint(model, image, mask):
    """Contract of methods/__init__.py: [0, 1] images become upstream's [-1, 1] with the hole
    at 0; the refined output comes back to [0, 1]."""
    device = model.coarse.conv1.conv.weight.device
    image = torch.from_numpy(np.asarray(image, np.float32)).to(device)
    mask = torch.from_numpy(np.asarray(mask, np.float32)).to(device)
    with torch.no_grad():
        _, refined = model((image * 2 - 1) * (1 - mask), mask)
    return ((refined.float() + 1) / 2).cpu().numpy().astype(np.float32)
