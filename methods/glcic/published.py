"""GLCIC's released weights: the authors' Torch7 model, mapped exactly onto the harness's
completion network; mmagic's and otenim's releases, recognised by their tensor names and
refused (published.yaml says why: their networks compute other functions).

Torch7 (satoshiiizuka/siggraph2017_inpainting, inpaint.lua and README): torch.load of
completionnet_places2.t7 gives a table {model = nn.Sequential, mean = the training set's mean
RGB pixel in [0,1]}. The Sequential is Table 1 of the paper as 16 x (SpatialConvolution or
SpatialDilatedConvolution or SpatialFullConvolution, SpatialBatchNormalization, ReLU), then
SpatialConvolution and Sigmoid (the layer list of the converted copies, e.g.
tanimutomo/ganonymizer src/inpaint/glcic/completionnet_places2.py). inpaint.lua feeds it the
RGB image in [0,1] minus the mean, the hole set to 0, and the mask (1 = hole) as a fourth
channel: the harness's network with centred_input (model_torch.py). The mapping, every step
exact up to float32 rounding:
- Torch7 convolution weights are (out, in, kh, kw), deconvolution weights (in, out, kh, kw):
  torch's layouts; each module's kernel, stride, padding and dilation are checked against
  COMPLETION_LAYERS (and adj = 0: the 4x4 stride-2 deconvolution that exactly doubles).
- Every Torch7 convolution has a bias; the harness's convolutions before BatchNorm have none
  (BN's shift replaces it): BN(z + b) with running mean m is BN(z) with running mean m - b.
- BatchNorm's epsilon is read from each module; the harness's is 1e-5, and a variance v at
  epsilon e is the variance v + e - 1e-5 at 1e-5.
"""
from pathlib import Path

import numpy as np

from methods import import_weights, t7
from methods.glcic.model_torch import BN_EPSILON, COMPLETION_LAYERS, IMAGE_CHANNELS

CONV_CLASSES = {"conv": ("nn.SpatialConvolution", "nn.SpatialDilatedConvolution"),
                "deconv": ("nn.SpatialFullConvolution",)}


def t7_fields(module, position, where):
    if not isinstance(module, t7.T7Object) or not isinstance(module.fields, dict):
        raise ValueError(f"{where}: module {position} is not a torch nn module")
    return module.fields


def t7_array(fields, key, shape, where):
    value = fields.get(key)
    if not isinstance(value, np.ndarray) or value.size != int(np.prod(shape)):
        found = list(value.shape) if isinstance(value, np.ndarray) else type(value).__name__
        raise ValueError(f"{where}: {key} must hold {list(shape)} values, found {found}")
    return value.astype(np.float32).reshape(shape)


def t7_modules(released, where):
    """The Sequential's modules, after checking the file is GLCIC's layer list."""
    model = released.get("model") if isinstance(released, dict) else None
    if not isinstance(model, t7.T7Object) or model.class_name != "nn.Sequential":
        raise ValueError(f"{where}: expected a table {{model = nn.Sequential, mean = ...}} "
                         "(the authors' completionnet_*.t7), found "
                         f"{type(released).__name__}")
    table = model.fields.get("modules") if isinstance(model.fields, dict) else None
    modules = ([table.get(i) for i in range(1, len(table) + 1)] if isinstance(table, dict)
               else [])
    names = [m.class_name if isinstance(m, t7.T7Object) else type(m).__name__ for m in modules]
    expected = len(COMPLETION_LAYERS) * 3 + 2
    shape_ok = len(names) == expected and names[-2:] == ["nn.SpatialConvolution", "nn.Sigmoid"]
    for i, (kind, *_) in enumerate(COMPLETION_LAYERS):
        shape_ok = shape_ok and (names[3 * i] in CONV_CLASSES[kind] and names[3 * i + 1:3 * i + 3]
                                 == ["nn.SpatialBatchNormalization", "nn.ReLU"])
    if not shape_ok:
        raise ValueError(f"{where}: not GLCIC's completion network (paper Table 1: 16 x "
                         f"(convolution, SpatialBatchNormalization, ReLU), SpatialConvolution, "
                         f"Sigmoid); its {len(names)} modules are {names[:7]} ...")
    return modules


def check_geometry(fields, kind, kernel, dilation, stride, where):
    padding = 1 if kind == "deconv" else dilation * (kernel // 2)
    expected = {"kW": kernel, "kH": kernel, "dW": stride, "dH": stride, "padW": padding,
                "padH": padding}
    expected.update({"adjW": 0, "adjH": 0} if kind == "deconv" else
                    {"dilationW": dilation, "dilationH": dilation})
    found = {k: fields.get(k, 1 if k.startswith("dilation") else None) for k in expected}
    if found != expected:
        raise ValueError(f"{where}: has {found}; GLCIC's Table 1 has {expected} here")


def from_torch7(released, where):
    """(neutral state, params) of the authors' released table."""
    modules = t7_modules(released, where)
    width = t7_fields(modules[0], 1, where).get("nOutputPlane")
    if not isinstance(width, int) or width < 1:
        raise ValueError(f"{where}: the first convolution has no nOutputPlane")
    state, in_ch = {}, IMAGE_CHANNELS + 1
    for i, (kind, kernel, dilation, stride, ratio) in enumerate(COMPLETION_LAYERS, 1):
        out_ch = int(width * ratio)
        conv = t7_fields(modules[3 * i - 3], 3 * i - 2, where)
        bn = t7_fields(modules[3 * i - 2], 3 * i - 1, where)
        layer = f"{where}: layer {i} ({modules[3 * i - 3].class_name})"
        check_geometry(conv, kind, kernel, dilation, stride, layer)
        shape = (in_ch, out_ch) if kind == "deconv" else (out_ch, in_ch)
        state[f"conv{i}.conv.weight"] = t7_array(conv, "weight", (*shape, kernel, kernel), layer)
        bias = t7_array(conv, "bias", (out_ch,), layer)
        if "running_var" not in bn:
            raise ValueError(f"{layer}: its BatchNormalization has no running_var (a torch/nn "
                             "older than 2016 stored running_std): load and save it once with a "
                             "current torch/nn")
        eps = bn.get("eps")
        if not isinstance(eps, (int, float)) or eps <= 0:
            raise ValueError(f"{layer}: BatchNormalization eps must be a positive number")
        state[f"conv{i}.bn.weight"] = t7_array(bn, "weight", (out_ch,), layer)
        state[f"conv{i}.bn.bias"] = t7_array(bn, "bias", (out_ch,), layer)
        state[f"conv{i}.bn.running_mean"] = t7_array(bn, "running_mean", (out_ch,), layer) - bias
        state[f"conv{i}.bn.running_var"] = (t7_array(bn, "running_var", (out_ch,), layer)
                                            + np.float32(eps - BN_EPSILON))
        if not np.all(state[f"conv{i}.bn.running_var"] > 0):
            raise ValueError(f"{layer}: BatchNormalization running_var + eps is not positive "
                             f"at epsilon {BN_EPSILON} (eps {eps}): a damaged file")
        in_ch = out_ch
    last = t7_fields(modules[-2], len(modules) - 1, where)
    check_geometry(last, "conv", 3, 1, 1, f"{where}: the output layer")
    state["output.weight"] = t7_array(last, "weight", (IMAGE_CHANNELS, in_ch, 3, 3), where)
    state["output.bias"] = t7_array(last, "bias", (IMAGE_CHANNELS,), where)
    mean = released.get("mean")
    if isinstance(mean, dict):
        mean = np.array([mean.get(i) for i in (1, 2, 3)], dtype=object)
    try:
        state["mean_pixel"] = np.asarray(mean, np.float32).reshape(1, IMAGE_CHANNELS, 1, 1)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: mean must be the 3 values of the mean RGB pixel") from err
    if not np.all((state["mean_pixel"] >= 0) & (state["mean_pixel"] <= 1)):
        raise ValueError(f"{where}: mean {state['mean_pixel'].ravel().tolist()} is not a pixel "
                         "in [0,1], the range inpaint.lua subtracts it in")
    return state, {"width": width, "centred_input": True}


def load(source, paths):
    """(neutral state, model params) of a release's files (methods.import_weights)."""
    if source != "torch7":
        raise ValueError(f"glcic: no importer for source '{source}' (known: torch7)")
    (path,) = (Path(p) for p in paths)
    return from_torch7(t7.load(path), path)


def mmagic_names():
    """The generator's tensors in mmagic's Global&Local checkpoints (mmediting 0.x, mmagic
    history 3400fbb: encoders/gl_encoder.py enc1..6, necks/gl_dilation.py dilation_convs.0..3,
    decoders/gl_decoder.py dec1..7; ConvModule conv + bn, a bias on dec7 alone)."""
    blocks = ([f"encoder.enc{i}" for i in range(1, 7)]
              + [f"dilation_neck.dilation_convs.{i}" for i in range(4)]
              + [f"decoder.dec{i}" for i in range(1, 7)])
    names = [f"generator.{b}.{leaf}" for b in blocks for leaf in (
        "conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var")]
    return names + ["generator.decoder.dec7.conv.weight", "generator.decoder.dec7.conv.bias"]


def otenim_names():
    """otenim/GLCIC-PyTorch models.py CompletionNetwork's state_dict: conv1..conv12,
    deconv13, conv14, deconv15, conv16, conv17 (weight and bias) and bn1..bn16."""
    convs = [f"deconv{i}" if i in (13, 15) else f"conv{i}" for i in range(1, 18)]
    return ([f"{c}.{leaf}" for c in convs for leaf in ("weight", "bias")]
            + [f"bn{i}.{leaf}" for i in range(1, 17)
               for leaf in ("weight", "bias", "running_mean", "running_var")])


def recognise(source, paths):
    """Check that a refused release's file is the layout published.yaml describes, so that its
    refusal names the right reason (methods.import_weights)."""
    path = Path(paths[0])
    if source == "mmagic":
        state = import_weights.read_pth(path, "state_dict", "an mmagic checkpoint")
        import_weights.require_keys(state, mmagic_names(), path, "mmagic's Global&Local "
                                    "generator (gl_encoder_decoder.py)")
    elif source == "otenim":
        state = import_weights.read_pth(path, None, "otenim's model_cn")
        import_weights.require_keys(state, otenim_names(), path, "otenim/GLCIC-PyTorch's "
                                    "CompletionNetwork (models.py)")
    else:
        raise ValueError(f"glcic: no layout known for source '{source}'")
