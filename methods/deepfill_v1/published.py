"""DeepFill v1's own released TensorFlow weights, mapped exactly onto the harness's generator.

Source: JiahuiYu/generative_inpainting, branch v1, README "Pretrained models": one checkpoint per
dataset (Places2, CelebA, CelebA-HQ, ImageNet), each a folder holding `checkpoint`,
`snap-0.index` and `snap-0.data-00000-of-00001` (read by methods/tf_bundle.py). Only the
generator (`inpaint_net/...`, 84 variables: a kernel and a bias for each of the 42
convolutions of layers.py) is released; the critics are not, and are not needed to inpaint.

The mapping, every step exact:
- Names: layers.py's rows are upstream's variable scopes, so `inpaint_net/<row>/kernel|bias`
  is `<stack>.<row>.conv.weight|bias`; gen_deconv nests its convolution one scope deeper
  (`inpaint_net/conv13_upsample/conv13_upsample_conv/kernel`).
- Kernels: TensorFlow's (height, width, in, out) to torch's (out, in, height, width).
- Colour order: upstream reads its training and test images with cv2.imread (neuralgym
  data/data_from_fnames.py read_img; test.py), so the released networks take and give BGR;
  the harness's images are RGB. Reversing the three image input channels of the layers that
  read the image (conv1, xconv1, pmconv1: input channels 0-2; the ones and mask channels stay)
  and the three output channels of the layers that write one (conv17, allconv17: kernel and
  bias) makes the RGB network compute the BGR network's output on every input: each output
  value is the same sum of the same products (in another order, so equal to float32
  rounding: 1e-5 in the test).
"""
from pathlib import Path

import numpy as np

from methods import import_weights, tf_bundle
from methods.deepfill_v1 import layers

STACKS = {"coarse": layers.COARSE, "hallucination": layers.HALLUCINATION,
          "attention_in": layers.ATTENTION_IN, "attention_out": layers.ATTENTION_OUT,
          "merge": layers.MERGE}
READS_IMAGE = {"conv1", "xconv1", "pmconv1"}
WRITES_IMAGE = {"conv17", "allconv17"}
SCOPE = "inpaint_net"


def tf_names():
    """{upstream variable name: torch state name} for every generator parameter, in order."""
    names = {}
    for stack, table in STACKS.items():
        for row, _, stride, _, _ in table:
            scope = f"{SCOPE}/{row}/{row}_conv" if stride == "up" else f"{SCOPE}/{row}"
            names[f"{scope}/kernel"] = f"{stack}.{row}.conv.weight"
            names[f"{scope}/bias"] = f"{stack}.{row}.conv.bias"
    return names


def layer_of(torch_name):
    return torch_name.split(".")[1]


def check_names(released, where):
    """Refuse a checkpoint whose generator variables are not exactly this architecture's."""
    expected = set(tf_names())
    given = {name for name in released if name.startswith(f"{SCOPE}/")}
    missing, unexpected = sorted(expected - given), sorted(given - expected)
    if missing or unexpected:
        raise ValueError(f"{where}: not DeepFill v1's generator (layers.py): missing "
                         f"{missing[:5]}{' ...' if len(missing) > 5 else ''} ({len(missing)}), "
                         f"unexpected {unexpected[:5]}{' ...' if len(unexpected) > 5 else ''} "
                         f"({len(unexpected)})")


def expected_shapes(cnum):
    """{upstream variable name: TensorFlow shape} of the generator at `cnum` (layers.py)."""
    inputs = {"coarse": layers.INPUT_CHANNELS, "hallucination": layers.INPUT_CHANNELS,
              "attention_in": layers.INPUT_CHANNELS,
              "attention_out": layers.outputs(layers.ATTENTION_IN[-1][4], cnum),
              "merge": (layers.outputs(layers.HALLUCINATION[-1][4], cnum)
                        + layers.outputs(layers.ATTENTION_OUT[-1][4], cnum))}
    by_torch_name = {}
    for stack, table in STACKS.items():
        in_ch = inputs[stack]
        for row, kernel, _, _, ratio in table:
            out = layers.outputs(ratio, cnum)
            by_torch_name[f"{stack}.{row}.conv.weight"] = (kernel, kernel, in_ch, out)
            by_torch_name[f"{stack}.{row}.conv.bias"] = (out,)
            in_ch = out
    return {tf_name: by_torch_name[torch_name] for tf_name, torch_name in tf_names().items()}


def cnum_of(shapes, where):
    """The generator's cnum, from conv1's kernel (5, 5, 5, cnum), after checking that every
    variable has layers.py's shape at that cnum."""
    check_names(shapes, where)
    cnum = int(shapes[f"{SCOPE}/conv1/kernel"][-1])
    for tf_name, shape in expected_shapes(cnum).items():
        if tuple(shapes[tf_name]) != shape:
            raise ValueError(f"{where}: {tf_name} has shape {list(shapes[tf_name])}; DeepFill "
                             f"v1's generator at cnum {cnum} has {list(shape)}")
    return cnum


def to_neutral(released):
    """The harness's neutral generator state (torch names, float32) from the released
    variables {upstream name: array}, colour order reversed as the docstring says."""
    state = {}
    for tf_name, torch_name in tf_names().items():
        value = np.asarray(released[tf_name], np.float32)
        layer = layer_of(torch_name)
        if value.ndim == 4:
            value = value.transpose(3, 2, 0, 1)  # (h, w, in, out) -> (out, in, h, w)
            if layer in READS_IMAGE:
                value = np.concatenate([value[:, 2::-1], value[:, 3:]], axis=1)
        if layer in WRITES_IMAGE:
            value = value[::-1]
        state[torch_name] = np.ascontiguousarray(value)
    return state


def from_neutral(state):
    """The inverse of to_neutral: upstream's variables from a neutral state (tests build
    stand-in releases with it)."""
    released = {}
    for tf_name, torch_name in tf_names().items():
        value = np.asarray(state[torch_name], np.float32)
        layer = layer_of(torch_name)
        if layer in WRITES_IMAGE:
            value = value[::-1]
        if value.ndim == 4:
            if layer in READS_IMAGE:
                value = np.concatenate([value[:, 2::-1], value[:, 3:]], axis=1)
            value = value.transpose(2, 3, 1, 0)
        released[tf_name] = np.ascontiguousarray(value)
    return released


def load(source, paths):
    """(neutral state, model params) of a release's files (methods.import_weights); source
    "tf_release": [<prefix>.index, <prefix>.data-00000-of-00001] of a tensor bundle."""
    if source != "tf_release":
        raise ValueError(f"deepfill_v1: no importer for source '{source}' (known: tf_release)")
    index, data = (Path(p) for p in paths)
    prefix = Path(str(index)[:-len(".index")])
    if index.suffix != ".index" or data != tf_bundle.data_path(prefix):
        raise ValueError(f"deepfill_v1 tf_release: expected <prefix>.index and "
                         f"<prefix>.data-00000-of-00001, got {index} and {data}")
    _, entries = tf_bundle.read_index(index)
    cnum = cnum_of({name: entry.shape for name, entry in entries.items()}, index)
    return to_neutral(tf_bundle.read_tensors(prefix, list(tf_names()))), {"cnum": cnum}


def mmagic_names():
    """The generator's convolutions in mmagic's DeepFill v1 checkpoints (mmediting 0.x, mmagic
    history 3400fbb: backbones/encoder_decoders/two_stage_encoder_decoder.py stage1 and stage2,
    deepfill_encoder.py enc1..6, gl_dilation.py dilation_convs.0..3, deepfill_decoder.py
    dec1..7, deepfill_refiner.py encoder_attention, encoder_conv, contextual_attention_neck
    conv1..2): each a weight and a bias."""
    stage = ([f"encoder.enc{i}" for i in range(1, 7)]
             + [f"dilation_neck.dilation_convs.{i}" for i in range(4)]
             + [f"decoder.dec{i}" for i in range(1, 8)])
    refine = ([f"encoder_attention.enc{i}" for i in range(1, 7)]
              + [f"encoder_conv.enc{i}" for i in range(1, 7)]
              + ["contextual_attention_neck.conv1", "contextual_attention_neck.conv2"]
              + [f"dilation_neck.dilation_convs.{i}" for i in range(4)]
              + [f"decoder.dec{i}" for i in range(1, 8)])
    blocks = [f"stage1.{b}" for b in stage] + [f"stage2.{b}" for b in refine]
    return [f"generator.{b}.conv.{leaf}" for b in blocks for leaf in ("weight", "bias")]


def recognise(source, paths):
    """Check that a refused release's file is the layout published.yaml describes, so that its
    refusal names the right reason (methods.import_weights)."""
    if source != "mmagic":
        raise ValueError(f"deepfill_v1: no layout known for source '{source}'")
    path = Path(paths[0])
    state = import_weights.read_pth(path, "state_dict", "an mmagic checkpoint")
    import_weights.require_keys(state, mmagic_names(), path, "mmagic's DeepFill v1 generator "
                                "(two_stage_encoder_decoder.py)")
