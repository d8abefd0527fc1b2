"""Globally and Locally Consistent Image Completion (Iizuka et al., SIGGRAPH 2017), PaddlePaddle
port. The same structure, names and order as model_torch.py: `diff model_torch.py
model_paddle.py` shows only the framework calls.

Completion network: the paper's Table 1. Context discriminators: the paper's Table 2 (global
and local, each ending in a 1024-d vector, concatenated and mapped to one logit). Every conv
but the completion network's last is followed by BatchNorm and ReLU (paper, "Training": batch
normalisation after all convolutional layers except the last layers of both networks).

Choices, listed as deviations in the method README:
- Convolutions followed by BatchNorm have no bias (BN's shift replaces it).
- width scales every channel count (64 in the paper's tables); the discriminators have
  log2(input / 4) strided convolutions, which is the paper's 6 (global, 256 px) and 5 (local,
  128 px) and keeps the 4x4 map before the 1024-d layer at other resolutions.
- The discriminator returns the logit; the paper's sigmoid is folded into the loss
  (binary cross-entropy with logits), which is the same function, computed stably.
"""
import math

import numpy as np
import paddle
import paddle.nn.functional as F
from paddle import nn

from methods.batchnorm_paddle import BatchNorm2D
from methods import ops_paddle, training
from methods.glcic import postprocess

IMAGE_CHANNELS = 3
# Table 1 of the paper, one row per layer: (type, kernel, dilation, stride, outputs / width).
# "deconv" is the table's 4x4 deconvolution with stride 1/2 (padding 1 doubles the size).
COMPLETION_LAYERS = [
    ("conv", 5, 1, 1, 1), ("conv", 3, 1, 2, 2), ("conv", 3, 1, 1, 2), ("conv", 3, 1, 2, 4),
    ("conv", 3, 1, 1, 4), ("conv", 3, 1, 1, 4), ("conv", 3, 2, 1, 4), ("conv", 3, 4, 1, 4),
    ("conv", 3, 8, 1, 4), ("conv", 3, 16, 1, 4), ("conv", 3, 1, 1, 4), ("conv", 3, 1, 1, 4),
    ("deconv", 4, 1, 2, 2), ("conv", 3, 1, 1, 2), ("deconv", 4, 1, 2, 1), ("conv", 3, 1, 1, 0.5),
]
SIZE_MULTIPLE = 4  # two stride-2 convolutions, two stride-1/2 deconvolutions
# Table 2: 5x5 convolutions with stride 2, outputs 64, 128, 256, 512, 512, ... (x width / 64).
DISCRIMINATOR_KERNEL = 5
MAX_DOUBLINGS = 3
FINAL_MAP = 4  # Table 2: both discriminators reach 4x4 before the fully-connected layer
FEATURES = 1024  # Table 2: each discriminator ends in a 1024-d vector
# torch.nn.BatchNorm2d defaults; the paper names no momentum or epsilon. Paddle's momentum
# weighs the old running value, torch's the batch statistic: torch 0.1 is paddle 0.9.
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


class ConvBNReLU(nn.Layer):
    """Convolution (or 4x4 stride-2 deconvolution), BatchNorm, ReLU."""

    def __init__(self, kind, in_ch, out_ch, kernel, dilation, stride):
        super().__init__()
        if kind == "deconv":
            self.conv = nn.Conv2DTranspose(in_ch, out_ch, kernel, stride, padding=1,
                                           bias_attr=False)
        else:
            self.conv = nn.Conv2D(in_ch, out_ch, kernel, stride, padding=dilation * (kernel // 2),
                                  dilation=dilation, bias_attr=False)
        self.bn = BatchNorm2D(out_ch, momentum=BN_MOMENTUM, epsilon=BN_EPSILON)

    def forward(self, x):
        return F.relu(self.bn(self.conv(x)))


class CompletionNetwork(nn.Layer):
    """forward(image, hole) -> completion in [0,1] (sigmoid), hole 1 = pixel to complete.

    The input is the image with its hole filled by the training set's mean pixel value plus the
    mask as a fourth channel (paper, "Completion network" and "Training"); the mean travels
    with the weights as the buffer mean_pixel. centred_input subtracts the mean from the whole
    input first, so the hole reads 0: the authors' released Torch7 model was trained that way
    (satoshiiizuka/siggraph2017_inpainting inpaint.lua), which is not the same network at the
    zero-padded borders, so it is a model parameter (methods/glcic/published.py)."""

    def __init__(self, width=64, centred_input=False):
        super().__init__()
        self.centred_input = centred_input
        self.register_buffer("mean_pixel", paddle.zeros([1, IMAGE_CHANNELS, 1, 1]))
        in_ch = IMAGE_CHANNELS + 1
        for i, (kind, kernel, dilation, stride, ratio) in enumerate(COMPLETION_LAYERS, 1):
            out_ch = int(width * ratio)
            setattr(self, f"conv{i}", ConvBNReLU(kind, in_ch, out_ch, kernel, dilation, stride))
            in_ch = out_ch
        # Table 1's last row: 3x3 convolution to the three output channels, then a sigmoid.
        self.output = nn.Conv2D(in_ch, IMAGE_CHANNELS, 3, 1, padding=1)

    def forward(self, image, hole):
        if image.shape[2] % SIZE_MULTIPLE or image.shape[3] % SIZE_MULTIPLE:
            raise ValueError(f"the GLCIC completion network halves the image twice and doubles "
                             f"it back: height and width must be multiples of {SIZE_MULTIPLE}, "
                             f"got {tuple(image.shape[2:])}")
        hole3 = ops_paddle.like(hole, image)
        mean = ops_paddle.like(self.mean_pixel, image)
        if self.centred_input:
            x = (image - mean) * (1 - hole3)
        else:
            x = image * (1 - hole3) + mean * hole3
        x = paddle.concat([x, hole], 1)
        for i in range(1, len(COMPLETION_LAYERS) + 1):
            x = getattr(self, f"conv{i}")(x)
        return F.sigmoid(ops_paddle.conv2d(x, self.output.weight, self.output.bias, 1, 1))


def discriminator_channels(layer, width):
    """Outputs of strided convolution `layer` (0-based) of a context discriminator."""
    return width * 2 ** min(layer, MAX_DOUBLINGS)


class ContextEncoder(nn.Layer):
    """One context discriminator of Table 2 without its output layer: strided 5x5 convolutions
    down to 4x4, then a fully-connected layer to a 1024-d vector (ReLU)."""

    def __init__(self, size, width):
        super().__init__()
        self.layers = int(math.log2(size // FINAL_MAP))
        if FINAL_MAP * 2 ** self.layers != size:
            raise ValueError(f"a context discriminator needs 4 x a power of 2 pixels, got {size}")
        in_ch = IMAGE_CHANNELS
        for i in range(self.layers):
            out_ch = discriminator_channels(i, width)
            setattr(self, f"conv{i + 1}", ConvBNReLU("conv", in_ch, out_ch, DISCRIMINATOR_KERNEL,
                                                     1, 2))
            in_ch = out_ch
        self.fc = nn.Linear(in_ch * FINAL_MAP * FINAL_MAP, FEATURES)

    def forward(self, x):
        for i in range(1, self.layers + 1):
            x = getattr(self, f"conv{i}")(x)
        return F.relu(self.fc(x.flatten(1)))


class ContextDiscriminator(nn.Layer):
    """forward(image, corners) -> one logit per image: the global discriminator sees the whole
    image, the local one the square patch (half the image side: 128 of 256 px in the paper) whose
    top-left corners (row, column) are given."""

    def __init__(self, size, width=64):
        super().__init__()
        self.local_size = size // 2
        self.global_d = ContextEncoder(size, width)
        self.local_d = ContextEncoder(self.local_size, width)
        self.fc = nn.Linear(2 * FEATURES, 1)  # the concatenation layer of Table 2

    def forward(self, image, corners):
        patches = crop(image, corners, self.local_size)
        return self.fc(paddle.concat([self.global_d(image), self.local_d(patches)], 1))


def crop(image, corners, size):
    """The size x size patch of each image at its (row, column) corner."""
    return paddle.stack([image[i, :, top:top + size, left:left + size]
                        for i, (top, left) in enumerate(np.asarray(corners).tolist())])


def parameter_count(model):
    return sum(int(np.prod(p.shape)) for p in model.parameters() if not p.stop_gradient)


def build(spec, seed=0, **overrides):
    """The completion network holding the harness's neutral initial weights of `seed`, in eval
    mode; postprocess (an inference option) blends its output into the image as the paper does
    (methods/glcic/postprocess.py)."""
    params = {**spec.get("params", {}), **spec.get("inference", {}), **overrides}
    model = training.initialised("paddle", lambda: CompletionNetwork(params["width"],
                                                                 params["centred_input"]), seed)
    model.postprocess = params["postprocess"]
    model.eval()
    return model


def inpaint(model, image, mask):
    """Contract of methods/__init__.py: mask 1 = hole, the network's own convention."""
    place = model.output.weight.place
    with paddle.no_grad():
        out = model(paddle.to_tensor(np.asarray(image, np.float32), place=place),
                    paddle.to_tensor(np.asarray(mask, np.float32), place=place))
    pred = out.astype("float32").numpy()
    if model.postprocess:
        pred = postprocess.blend(pred, image, mask)
    return pred.astype(np.float32)
