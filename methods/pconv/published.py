"""Released Partial Convolutions weights, mapped exactly onto the harness's PConvUNet.

Two sources, both the paper's U-Net (7 stages at 256 px, the layer plan of model_torch.py):
- naoto0804 (naoto0804/pytorch-inpainting-with-partial-conv, README "Results": release v0.0.0,
  1000000.pth). util/io.py save_ckpt stores {'n_iter', 'model', 'optimizer'}; net.py names the
  layers enc_1..enc_7 and dec_1..dec_7, each PCBActiv holding conv (PartialConv: input_conv,
  and mask_conv, a frozen all-ones kernel saved with the weights) and bn. Its convolutions
  have no bias but dec_1's (conv_bias=False in PCBActiv, bias=True for dec_1).
- mmagic (open-mmlab/mmediting 0.x, the code its 2020-06-19 checkpoints were trained with,
  mmagic history 3400fbb: mmedit/models/backbones/encoder_decoders/encoders/pconv_encoder.py,
  decoders/pconv_decoder.py, common/partial_conv.py, mask_conv_module.py). mmcv
  save_checkpoint stores {'meta', 'state_dict', ...}; the generator is generator.encoder.enc1..7
  and generator.decoder.dec7..1, each a MaskConvModule: conv (PartialConv2d, multi-channel, its
  all-ones kernel the buffer weight_mask_updater) and bn; ConvModule's bias='auto' gives a bias
  exactly where there is no BatchNorm (enc1, dec1), as in the harness.

The mapping, every step exact up to float32 rounding:
- Names: enc_<i>/dec_<i> (mmagic enc<i>/dec<i>); the partial convolution's weight and bias;
  BatchNorm's four tensors. The all-ones mask kernels must be all ones of the layer's shape
  (else it is not a partial convolution) and are dropped: the harness builds its own.
- Renormalisation: the harness (and mmagic, and NVIDIA's layer) multiplies W^T(X.M) by
  sum(1)/sum(M) with sum(1) = in*k*k; naoto0804 divides by sum(M) alone. Dividing each of
  naoto0804's kernels by its in*k*k makes the two equal (net.py PartialConv.forward).
- naoto0804's enc_1 has no bias: the harness's gets zeros.
- Input and output: naoto0804 normalises the RGB image by ImageNet's mean and std and
  unnormalises the output; mmagic maps it to [-1,1] (mean = std = 127.5) and back. The
  network reads the image multiplied by its mask, so no weight relabelling turns one into the
  other: the harness's network runs with input_norm imagenet / symmetric.
- Colour order: mmagic reads images with mmcv's default channel order, BGR, and never converts
  (to_rgb=False); reversing the image channels where the network reads the image (enc_1's
  inputs, the last 3 inputs of dec_1, which the skip connection brings the input image) and
  where it writes it (dec_1's outputs) makes the RGB network compute the BGR one.
"""
from pathlib import Path

import numpy as np

from methods import import_weights
from methods.pconv.model_torch import (DEFAULT_KERNEL, ENCODER_KERNELS, IMAGE_CHANNELS,
                                       channels)

BN_TENSORS = ("weight", "bias", "running_mean", "running_var")
IGNORED_BN = ("num_batches_tracked",)
# per source: the container's key, the prefix of the generator's keys, the layer names, the
# partial convolution's weight / bias / mask-kernel names, and the network's input_norm
SOURCES = {
    "naoto0804": {"container": "model", "prefix": "", "enc": "enc_{}", "dec": "dec_{}",
                  "weight": "conv.input_conv.weight", "bias": "conv.input_conv.bias",
                  "mask": "conv.mask_conv.weight", "input_norm": "imagenet"},
    "mmagic": {"container": "state_dict", "prefix": "generator.", "enc": "encoder.enc{}",
               "dec": "decoder.dec{}", "weight": "conv.weight", "bias": "conv.bias",
               "mask": "conv.weight_mask_updater", "input_norm": "symmetric"},
}


def layer_plan(layers, width):
    """{harness layer: (in, out, kernel, has BatchNorm)} of PConvUNet(layers, width)."""
    plan = {}
    for i in range(1, layers + 1):
        plan[f"enc_{i}"] = (channels(i - 1, width), channels(i, width),
                            ENCODER_KERNELS.get(i, DEFAULT_KERNEL), i > 1)
        plan[f"dec_{i}"] = (channels(i, width) + channels(i - 1, width), channels(i - 1, width),
                            DEFAULT_KERNEL, i > 1)
    return plan


def released_names(source, plan):
    """{harness name: released name} of every tensor the mapping reads."""
    s, names = SOURCES[source], {}
    for layer, (_, _, _, bn) in plan.items():
        part, index = layer.split("_")
        released = s["prefix"] + s[part].format(index)
        names[f"{layer}.conv.weight"] = f"{released}.{s['weight']}"
        names[f"{layer}.conv.mask"] = f"{released}.{s['mask']}"
        if bn:
            names.update({f"{layer}.bn.{t}": f"{released}.bn.{t}" for t in BN_TENSORS})
        elif not (source == "naoto0804" and layer == "enc_1"):
            names[f"{layer}.conv.bias"] = f"{released}.{s['bias']}"
    return names


def check_layout(source, released, path):
    """(layers, width) of a released generator whose tensors are exactly the U-Net's."""
    s = SOURCES[source]
    first = released.get(f"{s['prefix']}{s['enc'].format(1)}.{s['weight']}")
    if not isinstance(first, np.ndarray) or first.ndim != 4:
        raise ValueError(f"{path}: not {source}'s Partial Convolutions U-Net: no "
                         f"{s['prefix']}{s['enc'].format(1)}.{s['weight']} kernel")
    layers = sum(f"{s['prefix']}{s['enc'].format(i)}.{s['weight']}" in released
                 for i in range(1, 20))
    width = int(first.shape[0])
    plan = layer_plan(layers, width)
    names = released_names(source, plan)
    generator = {k for k in released if k.startswith(s["prefix"])
                 and not k.endswith(IGNORED_BN)}
    missing, unexpected = sorted(set(names.values()) - generator), sorted(generator - set(
        names.values()))
    if missing or unexpected:
        raise ValueError(f"{path}: not {source}'s Partial Convolutions U-Net with {layers} "
                         f"stages of width {width}: missing {missing[:4]} ({len(missing)}), "
                         f"unexpected {unexpected[:4]} ({len(unexpected)})")
    for layer, (in_ch, out_ch, kernel, _) in plan.items():
        shapes = {"conv.weight": (out_ch, in_ch, kernel, kernel),
                  "conv.mask": (out_ch, in_ch, kernel, kernel), "conv.bias": (out_ch,),
                  **{f"bn.{t}": (out_ch,) for t in BN_TENSORS}}
        for leaf, shape in shapes.items():
            name = f"{layer}.{leaf}"
            if name in names and np.shape(released[names[name]]) != shape:
                raise ValueError(f"{path}: {names[name]} has shape "
                                 f"{list(np.shape(released[names[name]]))}; the U-Net has "
                                 f"{list(shape)} there")
        if not np.all(released[names[f"{layer}.conv.mask"]] == 1):
            raise ValueError(f"{path}: {names[f'{layer}.conv.mask']} is not all ones: not a "
                             "partial convolution's window counter")
    return layers, width, plan, names


def scale_kernels(state, plan, power):
    """Multiply each layer's kernel by its sum(1) = in*k*k to the given power, in place: -1
    turns naoto0804's 1/sum(M) renormalisation into the harness's sum(1)/sum(M), 1 undoes it."""
    for layer, (in_ch, _, kernel, _) in plan.items():
        state[f"{layer}.conv.weight"] = state[f"{layer}.conv.weight"] * np.float32(
            in_ch * kernel * kernel) ** power


def reverse_colours(state):
    """Reverse the image channels where the network reads the image (enc_1's inputs, the last
    3 inputs of dec_1, which the skip connection brings the input image) and where it writes
    it (dec_1's outputs), in place: RGB <-> BGR, its own inverse."""
    state["enc_1.conv.weight"] = state["enc_1.conv.weight"][:, ::-1]
    weight = state["dec_1.conv.weight"]
    state["dec_1.conv.weight"] = np.concatenate(
        [weight[:, :-IMAGE_CHANNELS], weight[:, :-IMAGE_CHANNELS - 1:-1]], axis=1)[::-1]
    state["dec_1.conv.bias"] = state["dec_1.conv.bias"][::-1]


def to_neutral(source, released, path):
    """(neutral state, params) of a released generator."""
    layers, width, plan, names = check_layout(source, released, path)
    state = {}
    for name, released_name in names.items():
        if not name.endswith(".mask"):
            state[name] = np.asarray(released[released_name], np.float32)
    if source == "naoto0804":
        state["enc_1.conv.bias"] = np.zeros(plan["enc_1"][1], np.float32)
        scale_kernels(state, plan, -1)
    if source == "mmagic":
        reverse_colours(state)
    state = {k: np.ascontiguousarray(v) for k, v in state.items()}
    return state, {"layers": layers, "width": width, "input_norm": SOURCES[source]["input_norm"]}


def from_neutral(source, state, layers, width):
    """The inverse of to_neutral: a source's generator tensors from a neutral state (tests
    build stand-in releases with it; naoto0804's enc_1 bias must be zero)."""
    plan = layer_plan(layers, width)
    state = {k: np.asarray(v, np.float32) for k, v in state.items()}
    if source == "mmagic":
        reverse_colours(state)
    if source == "naoto0804":
        scale_kernels(state, plan, 1)
    released = {}
    for name, released_name in released_names(source, plan).items():
        if name.endswith(".mask"):
            in_ch, out_ch, kernel, _ = plan[name.split(".")[0]]
            released[released_name] = np.ones((out_ch, in_ch, kernel, kernel), np.float32)
        else:
            released[released_name] = np.ascontiguousarray(state[name])
    return released


def load(source, paths):
    """(neutral state, model params) of a release's files (methods.import_weights)."""
    if source not in SOURCES:
        raise ValueError(f"pconv: no importer for source '{source}' (known: {sorted(SOURCES)})")
    (path,) = (Path(p) for p in paths)
    released = import_weights.read_pth(path, SOURCES[source]["container"],
                                       f"{source}'s checkpoint")
    return to_neutral(source, released, path)
