"""Partial Convolutions (Liu et al., ECCV 2018), PaddlePaddle port.

The same structure, names and order as model_torch.py: `diff model_torch.py model_paddle.py`
shows only the framework calls.

Layer: NVIDIA/partialconv models/partialconv2d.py (multi_channel=True, return_mask=True), which
is the paper's Eq. 1-2 (Sec. 3.1): out = W^T (X . M) * sum(1)/sum(M) + b where sum(M) > 0, else
0; the updated mask is 1 where sum(M) > 0. Zero padding counts as hole, which is the paper's
"partial convolution as padding" (Sec. 3.2). Network: the U-Net of the paper's Sec. 3.2 as
written in naoto0804/pytorch-inpainting-with-partial-conv net.py (PConvUNet, PCBActiv).
Inside the network the mask is 1 = valid (known) pixel, with as many channels as the features.

Choices, listed as deviations in the method README:
- Input is the [0,1] image with the hole zeroed, not normalised; naoto0804 normalises by
  ImageNet mean/std. The output is raw (no final activation, as in the paper and naoto0804);
  inpaint() clips it to [0,1].
- The renormalisation is NVIDIA's sum(1)/sum(M) (the paper's); naoto0804 divides by sum(M).
- Convolutions followed by BatchNorm have no bias (BN's shift replaces it); naoto0804 keeps one.
- width and layers generalise the paper's fixed plan (width 64, 7 stages at 256 px).
"""
import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn

from methods import ops_paddle, training
from methods.batchnorm_paddle import BatchNorm2D

# naoto0804 net.py PCBActiv: 'down-7' (7, 2, 3) for enc_1, 'down-5' (5, 2, 2) for enc_2 and
# enc_3, 'down-3' (3, 2, 1) for the rest; decoder 'none-3' (3, 1, 1). Padding is kernel // 2.
ENCODER_KERNELS = {1: 7, 2: 5, 3: 5}
DEFAULT_KERNEL = 3
# naoto0804 net.py PConvUNet: channels double from enc_1 up to 8x at enc_4, then stay.
MAX_WIDTH_DOUBLINGS = 3
IMAGE_CHANNELS = 3
# Paper Sec. 3.2 / naoto0804 net.py PCBActiv activ='leaky': LeakyReLU slope 0.2 in the decoder.
LEAKY_SLOPE = 0.2
# input_norm: what the network reads and writes, as (mean, std) per RGB channel of [0,1] pixels:
# the image itself ("unit"), ImageNet's normalisation (naoto0804 opt.py MEAN/STD, inverted on
# the output by util/image.py unnormalize) or [-1,1] (mmagic's pconv configs: mean = std =
# 127.5 of 255). Released weights need theirs (published.py); partial convolutions multiply
# by the mask first, so no relabelling of weights turns one into another.
INPUT_NORMS = {"unit": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
               "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
               "symmetric": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))}
# torch.nn.BatchNorm2d defaults (naoto0804 uses them). Paddle's momentum weighs the old running
# value, torch's the batch statistic: torch 0.1 is paddle 0.9. The running variance still differs:
# torch folds in the unbiased batch variance, paddle the biased one (test_pconv.py measures it).
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
# NVIDIA partialconv2d.py: mask_ratio = slide_winsize / (update_mask + 1e-8).
RATIO_EPSILON = 1e-8


class PartialConv2d(nn.Layer):
    """Partial convolution (NVIDIA partialconv2d.py, multi-channel): forward(x, valid) ->
    (out, new_valid), valid with x's channels, new_valid with out's."""

    def __init__(self, in_ch, out_ch, kernel, stride, padding, bias):
        super().__init__()
        self.stride, self.padding = stride, padding
        # naoto0804 net.py PConv2d: weights_init('kaiming'), He normal (fan_in, a=0), bias 0.
        self.weight = self.create_parameter(
            [out_ch, in_ch, kernel, kernel], default_initializer=nn.initializer.KaimingNormal())
        self.bias = self.create_parameter([out_ch], is_bias=True) if bias else None
        # NVIDIA's all-ones mask kernel is (out, in, kh, kw), but every output channel gets the
        # same window sum: one output channel, broadcast after, gives the same exact integers.
        self.register_buffer("window", paddle.ones([1, in_ch, kernel, kernel]), persistable=False)
        self.window_size = in_ch * kernel * kernel  # NVIDIA slide_winsize

    def forward(self, x, valid):
        # The window counts are integers up to in_ch*k*k (9216 in dec_8): exact in float32,
        # not in bfloat16, so the mask path stays float32 under GPU autocast.
        with paddle.no_grad(), paddle.amp.auto_cast(enable=False):
            count = F.conv2d(valid.astype("float32"), self.window, None, self.stride, self.padding)
            new_valid = paddle.clip(count, 0, 1)
            ratio = self.window_size / (count + RATIO_EPSILON) * new_valid
        # NVIDIA computes (conv(x*M) + b - b) * ratio + b; conv without bias is the same.
        out = F.conv2d(x * valid, self.weight, None, self.stride, self.padding)
        new_valid = ops_paddle.like(new_valid, out)
        out = out * ops_paddle.like(ratio, out)
        if self.bias is not None:
            out = out + ops_paddle.like(self.bias.reshape([1, -1, 1, 1]), out)
        return out * new_valid, new_valid


class PCBActiv(nn.Layer):
    """Partial conv, optional BatchNorm, optional activation (naoto0804 net.py PCBActiv)."""

    def __init__(self, in_ch, out_ch, kernel, stride, bn, activ):
        super().__init__()
        self.conv = PartialConv2d(in_ch, out_ch, kernel, stride, kernel // 2, bias=not bn)
        self.bn = BatchNorm2D(out_ch, momentum=BN_MOMENTUM, epsilon=BN_EPSILON) if bn else None
        self.activ = activ

    def forward(self, x, valid):
        h, h_valid = self.conv(x, valid)
        if self.bn is not None:
            h = self.bn(h)
        if self.activ == "relu":
            h = F.relu(h)
        elif self.activ == "leaky":
            h = F.leaky_relu(h, LEAKY_SLOPE)
        return h, h_valid


def channels(stage, width):
    """Channels after encoder stage `stage` (0 = the input image)."""
    return IMAGE_CHANNELS if stage == 0 else width * 2 ** min(stage - 1, MAX_WIDTH_DOUBLINGS)


class PConvUNet(nn.Layer):
    """The paper's Sec. 3.2 U-Net: enc_1..enc_L halve the size (ReLU, BN but on enc_1);
    dec_L..dec_1 upsample x2 (nearest), concatenate the skip features and masks, and apply a
    3x3 partial conv (BN + LeakyReLU but on dec_1, which outputs the image)."""

    def __init__(self, layers=7, width=64, input_norm="unit"):
        super().__init__()
        self.layers = layers
        self.input_norm = input_norm
        self.norm = [np.array(v, np.float32).reshape(1, IMAGE_CHANNELS, 1, 1)
                     for v in INPUT_NORMS[input_norm]]
        for i in range(1, layers + 1):
            setattr(self, f"enc_{i}", PCBActiv(
                channels(i - 1, width), channels(i, width), ENCODER_KERNELS.get(i, DEFAULT_KERNEL),
                2, bn=i > 1, activ="relu"))
        for i in range(1, layers + 1):
            setattr(self, f"dec_{i}", PCBActiv(
                channels(i, width) + channels(i - 1, width), channels(i - 1, width),
                DEFAULT_KERNEL, 1, bn=i > 1, activ="leaky" if i > 1 else None))

    def forward(self, image, valid):
        size = 2 ** self.layers
        if image.shape[2] % size or image.shape[3] % size:
            raise ValueError(f"PConvUNet(layers={self.layers}) needs height and width divisible "
                             f"by {size}, got {tuple(image.shape[2:])}")
        normalised = self.input_norm != "unit"
        if normalised:
            mean, std = (paddle.to_tensor(v, dtype=image.dtype) for v in self.norm)
            image = (image - mean) / std
        hs, valids = [image], [valid]
        for i in range(1, self.layers + 1):
            h, h_valid = getattr(self, f"enc_{i}")(hs[-1], valids[-1])
            hs.append(h)
            valids.append(h_valid)
        h, h_valid = hs[-1], valids[-1]
        for i in range(self.layers, 0, -1):
            h = upsample2(h)
            h_valid = upsample2(h_valid)
            h = paddle.concat([h, hs[i - 1]], 1)
            h_valid = paddle.concat([h_valid, valids[i - 1]], 1)
            h, h_valid = getattr(self, f"dec_{i}")(h, h_valid)
        if normalised:
            h = h * std + mean
        return h, h_valid


def upsample2(x):
    """Nearest-neighbour x2 upsampling (torch's F.interpolate(scale_factor=2, mode="nearest")),
    written as reshape + expand: paddle's nearest_interp kernel takes 2.7x as long on the CPU,
    forward and backward (measured at 8x32x64x64)."""
    n, c, h, w = x.shape
    return x.reshape([n, c, h, 1, w, 1]).expand([n, c, h, 2, w, 2]).reshape([n, c, 2 * h, 2 * w])


def set_train_mode(model, training, freeze_encoder_bn):
    """model.train(training); with freeze_encoder_bn (the paper's fine-tuning stage, Sec. 4.2)
    the encoder's BatchNorm layers stay in eval mode, so their running statistics are frozen
    while their affine parameters still learn (naoto0804 net.py PConvUNet.train)."""
    model.train(training)
    if training and freeze_encoder_bn:
        for i in range(1, model.layers + 1):
            bn = getattr(model, f"enc_{i}").bn
            if bn is not None:
                bn.eval()


def parameter_count(model):
    return sum(int(np.prod(p.shape)) for p in model.parameters() if not p.stop_gradient)


def build(spec, seed=0, **overrides):
    """The network holding the harness's neutral initial weights (methods/training.py) of
    `seed`, in eval mode; predict loads trained weights over them."""
    params = {**spec.get("params", {}), **overrides}
    model = training.initialised("paddle", lambda: PConvUNet(params["layers"], params["width"],
                                                                params["input_norm"]), seed)
    model.eval()
    return model


def inpaint(model, image, mask):
    """Contract of methods/__init__.py: mask 1 = hole; the network's mask is 1 = valid, one
    channel per image channel."""
    place = model.enc_1.conv.weight.place
    valid = np.repeat(1.0 - mask, IMAGE_CHANNELS, axis=1).astype(np.float32)
    with paddle.no_grad():
        out, _ = model(paddle.to_tensor(np.asarray(image, np.float32), place=place),
                       paddle.to_tensor(valid, place=place))
    return np.clip(out.numpy(), 0.0, 1.0).astype(np.float32)
