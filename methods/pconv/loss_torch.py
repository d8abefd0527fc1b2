"""Partial Convolutions training loss (Liu et al., ECCV 2018, Sec. 3.4), PyTorch port.

loss_paddle.py is the same file for PaddlePaddle: `diff loss_torch.py loss_paddle.py` is the
review. Images are float32 (N,3,H,W) in [0,1]; `valid` has the images' shape with 1 = known
pixel (the paper's M), the inverse of the harness's hole mask. Every term is a mean over the
batch of the paper's per-image value (the paper normalises one image; naoto0804 loss.py's
nn.L1Loss averages over the batch too).

Upstream read for the normalisations (never copied):
  naoto0804/pytorch-inpainting-with-partial-conv loss.py @a71ddd7 (gram_matrix,
    total_variation_loss, InpaintingLoss), net.py (VGG16FeatureExtractor), opt.py (weights);
  NVIDIA/partialconv models/loss.py @0e302d3 (gram_matrix, VGG16Partial, normalize_batch).
"""
import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from methods import training

# torchvision models/vgg.py cfgs["D"] (VGG16) up to pool3: ints are 3x3 conv widths, "M" a 2x2
# max-pool. Built in order, the layers carry torchvision's `features` indices, so the convs sit
# at 0, 2, 5, 7, 10, 12, 14 and the pools at 4, 9, 16.
VGG16_TO_POOL3 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M")
# Slice ends after pool1, pool2, pool3: features[0:5], [5:10], [10:17], the split of
# naoto0804 net.py VGG16FeatureExtractor and NVIDIA models/loss.py VGG16Partial (layer_num=3).
SLICE_ENDS = (5, 10, 17)
# The ImageNet statistics torchvision's VGG16_Weights.IMAGENET1K_V1 expects on [0,1] input
# (also naoto0804 opt.py MEAN/STD and NVIDIA models/loss.py normalize_batch).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# Paper Sec. 3.4, L_total (and naoto0804 opt.py LAMBDA_DICT, whose 'style' weight multiplies
# the sum of the out and comp style terms, i.e. 120 on each).
WEIGHTS = {"valid": 1.0, "hole": 6.0, "perceptual": 0.05, "style_out": 120.0,
           "style_comp": 120.0, "tv": 0.1}


class Vgg16Features(nn.Module):
    """Frozen VGG16 `features` to pool3; forward returns [pool1, pool2, pool3] (paper Sec. 3.4).

    Input is an image in [0,1]; it is normalised here by the ImageNet mean/std. The weights are
    random until vgg16_from_state / load_vgg16 copies real ones in.
    """

    def __init__(self):
        super().__init__()
        layers, channels = [], 3
        for width in VGG16_TO_POOL3:
            if width == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, width, kernel_size=3, padding=1), nn.ReLU()]
                channels = width
        starts = (0,) + SLICE_ENDS[:-1]
        self.slices = nn.ModuleList(
            nn.Sequential(*layers[start:end]) for start, end in zip(starts, SLICE_ENDS))
        self.register_buffer(
            "mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer(
            "std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1), persistent=False)
        for param in self.parameters():
            param.requires_grad = False
        self.eval()

    def convs(self):
        """(torchvision `features` index, Conv2d) for every conv, in order."""
        layers = [layer for block in self.slices for layer in block]
        return [(index, layer) for index, layer in enumerate(layers)
                if isinstance(layer, nn.Conv2d)]

    def forward(self, images):
        h = (images - self.mean) / self.std
        feats = []
        for block in self.slices:
            h = block(h)
            feats.append(h)
        return feats


def vgg16_from_state(state):
    """Vgg16Features holding the arrays of a torchvision-layout state dict (features.{i}.*)."""
    with training.untouched_global_rng("torch"):
        vgg = Vgg16Features()
    for index, conv in vgg.convs():
        for name in ("weight", "bias"):
            key = f"features.{index}.{name}"
            if key not in state:
                raise KeyError(f"VGG16 state dict lacks '{key}'")
            param = getattr(conv, name)
            value = np.asarray(state[key], dtype=np.float32)
            if tuple(value.shape) != tuple(param.shape):
                raise ValueError(f"'{key}' has shape {value.shape}, expected {tuple(param.shape)}")
            with torch.no_grad():
                param.copy_(torch.from_numpy(value))
    return vgg


def load_vgg16(path):
    """Vgg16Features from torchvision's vgg16-397923af.pth (see metrics/weights.py resolve)."""
    # The file is a torch pickle; torch is installed with every framework (requirements.txt).
    # weights_only refuses any pickled object that is not a tensor container.
    state = torch.load(path, map_location="cpu", weights_only=True)
    return vgg16_from_state({key: value.numpy() for key, value in state.items()})


def gram_matrix(feat):
    """Paper Sec. 3.4, L_style: K_p * Psi^T Psi with K_p = 1/(C_p H_p W_p); (N,C,H,W) -> (N,C,C).

    Same normalisation as naoto0804 loss.py gram_matrix and NVIDIA models/loss.py gram_matrix.
    """
    n, c, h, w = feat.shape
    flat = feat.reshape(n, c, h * w)
    return torch.bmm(flat, flat.transpose(1, 2)) / (c * h * w)


def total_variation(comp, valid):
    """Paper Sec. 3.4, L_tv: |right step| + |down step| of comp inside P, divided by N_Icomp.

    P is the 1-pixel dilation of the hole region; the paper names no structuring element, so a
    3x3 square (8-neighbourhood) is used, per channel. A pair ((i,j),(i,j+1)) or ((i,j),(i+1,j))
    counts only when both its pixels are in P, as the paper's sums are indexed. The sum is
    divided by N_Icomp = C*H*W per image, i.e. by N*C*H*W for the batch. naoto0804 loss.py
    instead takes the mean TV over the whole comp image; the paper's P is followed here.
    """
    region = F.max_pool2d(1 - valid, kernel_size=3, stride=1, padding=1)
    # comp's steps as comp minus comp rolled by one pixel, with the pairs that wrap around
    # (column 0 with the last, row 0 with the last) given weight 0: the same products as
    # slicing comp, whose gradient is slow in paddle (benchmarks/paddle_ops.py, the demo's
    # (8, 3, 128, 128): 76 ms forward + backward sliced, 19 ms rolled). Only the region, which
    # has no gradient, is sliced.
    pairs_h = torch.cat([torch.zeros_like(region[:, :, :, :1]),
                         region[:, :, :, 1:] * region[:, :, :, :-1]], dim=3)
    pairs_v = torch.cat([torch.zeros_like(region[:, :, :1, :]),
                         region[:, :, 1:, :] * region[:, :, :-1, :]], dim=2)
    diff_h = torch.abs(comp - torch.roll(comp, 1, 3))
    diff_v = torch.abs(comp - torch.roll(comp, 1, 2))
    return ((pairs_h * diff_h).sum() + (pairs_v * diff_v).sum()) / math.prod(comp.shape)


def feature_terms(output, comp, target, vgg):
    """Paper Sec. 3.4, L_perceptual and L_style_out, L_style_comp over pool1, pool2, pool3.

    Perceptual: sum over pools of mean |psi(out)-psi(gt)| + mean |psi(comp)-psi(gt)|, the paper's
    1/N_{psi_p(Igt)} = 1/(C_p H_p W_p) per image (naoto0804 loss.py: nn.L1Loss on features).
    Style: sum over pools of the mean over the C_p x C_p Gram entries of |G(x)-G(gt)|. That mean
    is the paper's 1/(C_p C_p) factor in front of the L1 norm, applied once (naoto0804 loss.py
    and NVIDIA models/loss.py: nn.L1Loss on Gram matrices); no further 1/C_p^2 is applied.
    """
    feats = vgg(torch.cat([output, comp, target], dim=0))
    perceptual, style_out, style_comp = 0.0, 0.0, 0.0
    for feat in feats:
        feat_out, feat_comp, feat_gt = torch.chunk(feat, 3, dim=0)
        gram_gt = gram_matrix(feat_gt)
        perceptual = perceptual + torch.abs(feat_out - feat_gt).mean() \
            + torch.abs(feat_comp - feat_gt).mean()
        style_out = style_out + torch.abs(gram_matrix(feat_out) - gram_gt).mean()
        style_comp = style_comp + torch.abs(gram_matrix(feat_comp) - gram_gt).mean()
    return {"perceptual": perceptual, "style_out": style_out, "style_comp": style_comp}


def loss_terms(output, target, valid, vgg=None):
    """The unweighted terms of L_total (paper Sec. 3.4); the VGG terms only when a vgg is given.

    L_valid, L_hole: ||M*(out-gt)||_1 and ||(1-M)*(out-gt)||_1 over N_Igt = C*H*W, i.e.
    the mean over all N*C*H*W elements (naoto0804 loss.py: nn.L1Loss of the masked images).
    I_comp = M*I_gt + (1-M)*I_out (Sec. 3.4).
    """
    comp = valid * target + (1 - valid) * output
    terms = {"valid": torch.abs(valid * (output - target)).mean(),
             "hole": torch.abs((1 - valid) * (output - target)).mean()}
    if vgg is not None:
        terms.update(feature_terms(output, comp, target, vgg))
    terms["tv"] = total_variation(comp, valid)
    return terms


def total_loss(terms):
    """Paper Sec. 3.4, L_total: the WEIGHTS-weighted sum of the terms present."""
    return sum(WEIGHTS[name] * value for name, value in terms.items())
