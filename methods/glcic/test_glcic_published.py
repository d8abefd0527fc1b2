"""GLCIC's released Torch7 model: a stand-in file of its exact format and module list, read by
methods/t7.py (checked against PyPI's torchfile), mapped onto both ports, which must compute
what inpaint.lua computes with the file's own tensors (an independent functional forward
here); and the refusals (published.py, t7.py, import_weights.py)."""
import json
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchfile

import methods
from datasets.io import file_digests
from methods import checkpoint, import_weights, predict, t7
from methods.glcic import model_torch, published

WIDTH = 8  # the release is width 64; the mapping reads the width from the file
T7_EPS = 1e-3  # not the harness's 1e-5, so that the epsilon fold is exercised


class Module:
    """An nn module to write: its class name and field table."""

    def __init__(self, name, **fields):
        self.name, self.fields = name, fields


class Writer:
    """Torch7's binary format as torch/torch7 File.lua writeObject writes it (the layout
    methods/t7.py's docstring gives); every tensor is written one element into a longer
    storage (offset 2), so the reader's offset handling is exercised."""

    def __init__(self):
        self.out, self.index = bytearray(), 0

    def pack(self, fmt, *values):
        self.out += struct.pack(fmt, *values)

    def raw_string(self, text):
        data = text.encode()
        self.pack("<i", len(data))
        self.out += data

    def reference(self, kind):
        self.index += 1
        self.pack("<ii", kind, self.index)

    def value(self, value):
        if value is None:
            self.pack("<i", 0)
        elif isinstance(value, bool):
            self.pack("<ii", 5, int(value))
        elif isinstance(value, (int, float)):
            self.pack("<id", 1, float(value))
        elif isinstance(value, str):
            self.pack("<i", 2)
            self.raw_string(value)
        elif isinstance(value, dict):
            self.reference(3)
            self.pack("<i", len(value))
            for key, item in value.items():
                self.value(key)
                self.value(item)
        elif isinstance(value, np.ndarray):
            array = np.ascontiguousarray(value, np.float32)
            self.reference(4)
            self.raw_string("V 1")
            self.raw_string("torch.FloatTensor")
            strides = [s // 4 for s in array.strides]
            self.pack(f"<i{array.ndim}q{array.ndim}qq", array.ndim, *array.shape, *strides, 2)
            self.reference(4)
            self.raw_string("V 1")
            self.raw_string("torch.FloatStorage")
            self.pack("<q", array.size + 1)
            self.out += np.float32(7.0).tobytes() + array.astype("<f4").tobytes()
        else:
            self.reference(4)
            self.raw_string("V 1")
            self.raw_string(value.name)
            self.value(value.fields)


def t7_bytes(value):
    writer = Writer()
    writer.value(value)
    return bytes(writer.out)


def harness_state(seed):
    """A width-8 harness network with random weights and BatchNorm statistics (neutral)."""
    torch.manual_seed(seed)
    net = model_torch.CompletionNetwork(WIDTH, centred_input=True)
    for module in net.modules():
        # He-normal weights keep the signal alive through the 17 layers (torch's default
        # initialisation shrinks it each layer until the output ignores the input)
        if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    state = {k: v.numpy().copy() for k, v in net.state_dict().items()
             if not k.endswith("num_batches_tracked")}
    state["mean_pixel"] = np.array([0.456, 0.447, 0.416], np.float32).reshape(1, 3, 1, 1)
    return state


def release_table(state, seed):
    """The authors' table {model, mean} holding `state`'s network, each convolution with a
    random bias that its BatchNorm's running mean absorbs (the inverse of published.py)."""
    rng = np.random.default_rng(seed)
    modules, index = {}, 1
    for i, (kind, kernel, dilation, stride, _) in enumerate(model_torch.COMPLETION_LAYERS, 1):
        weight = state[f"conv{i}.conv.weight"]
        out_ch = weight.shape[1] if kind == "deconv" else weight.shape[0]
        bias = rng.uniform(-0.1, 0.1, out_ch).astype(np.float32)
        geometry = {"kW": kernel, "kH": kernel, "dW": stride, "dH": stride}
        if kind == "deconv":
            name = "nn.SpatialFullConvolution"
            geometry.update(padW=1, padH=1, adjW=0, adjH=0)
        else:
            # the converted copy of the release shows layers 5, 6, 11 and 12 as dilated
            # convolutions of dilation 1 (tanimutomo/ganonymizer completionnet_places2.py)
            dilated = dilation > 1 or i in (5, 6, 11, 12)
            name = "nn.SpatialDilatedConvolution" if dilated else "nn.SpatialConvolution"
            geometry.update(padW=dilation * (kernel // 2), padH=dilation * (kernel // 2))
            if dilated:
                geometry.update(dilationW=dilation, dilationH=dilation)
        modules[index] = Module(name, weight=weight, bias=bias, nInputPlane=weight.shape[1],
                                nOutputPlane=out_ch, train=False, **geometry)
        modules[index + 1] = Module(
            "nn.SpatialBatchNormalization", weight=state[f"conv{i}.bn.weight"],
            bias=state[f"conv{i}.bn.bias"],
            running_mean=state[f"conv{i}.bn.running_mean"] + bias,
            running_var=state[f"conv{i}.bn.running_var"] - np.float32(T7_EPS - 1e-5),
            eps=T7_EPS, momentum=0.1, affine=True)
        modules[index + 2] = Module("nn.ReLU", threshold=0, val=0, inplace=True)
        index += 3
    modules[index] = Module("nn.SpatialConvolution", weight=state["output.weight"],
                            bias=state["output.bias"], nInputPlane=state["output.weight"].shape[1],
                            nOutputPlane=3, kW=3, kH=3, dW=1, dH=1, padW=1, padH=1)
    modules[index + 1] = Module("nn.Sigmoid")
    return {"model": Module("nn.Sequential", modules=modules, train=False),
            "mean": state["mean_pixel"].ravel()}


def reference_forward(table, image, hole):
    """inpaint.lua's computation, written from the file's own modules with torch.nn.functional:
    the image minus the mean, holes 0, the mask as a fourth channel; each module as torch/nn
    defines it (BatchNorm with the file's epsilon, the convolutions with their biases)."""
    mean = torch.tensor(table["mean"]).reshape(1, 3, 1, 1)
    x = torch.cat([(image - mean) * (1 - hole), hole], 1)
    for i in range(1, len(table["model"].fields["modules"]) + 1):
        module = table["model"].fields["modules"][i]
        f = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v
             for k, v in module.fields.items()}
        if module.name == "nn.SpatialFullConvolution":
            x = F.conv_transpose2d(x, f["weight"], f["bias"], f["dW"], f["padW"])
        elif module.name in ("nn.SpatialConvolution", "nn.SpatialDilatedConvolution"):
            x = F.conv2d(x, f["weight"], f["bias"], f["dW"], f["padW"], f.get("dilationW", 1))
        elif module.name == "nn.SpatialBatchNormalization":
            x = F.batch_norm(x, f["running_mean"], f["running_var"], f["weight"], f["bias"],
                             False, 0.0, f["eps"])
        elif module.name == "nn.ReLU":
            x = F.relu(x)
        else:
            x = torch.sigmoid(x)
    return x.numpy()


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    state = harness_state(3)
    table = release_table(state, 4)
    path = tmp_path_factory.mktemp("t7") / "completionnet_places2.t7"
    path.write_bytes(t7_bytes(table))
    return {"state": state, "table": table, "path": path}


def test_the_reader_agrees_with_torchfile_on_the_stand_in(release):
    mine = t7.load(release["path"])
    theirs = torchfile.load(str(release["path"]))
    modules = mine["model"].fields["modules"]
    assert len(modules) == 3 * 16 + 2 == len(theirs[b"model"][b"modules"])
    for i, module in modules.items():
        other = theirs[b"model"][b"modules"][i - 1]
        assert module.class_name == other.torch_typename().decode()
        for key, value in module.fields.items():
            if isinstance(value, np.ndarray):
                np.testing.assert_array_equal(value, other[key.encode()])
                np.testing.assert_array_equal(value, release["table"]["model"].fields[
                    "modules"][i].fields[key])
            else:
                assert value == other[key.encode()]
    np.testing.assert_array_equal(mine["mean"], theirs[b"mean"])


def test_the_mapping_is_exact_both_ways(release):
    state, params = published.load("torch7", [release["path"]])
    assert params == {"width": WIDTH, "centred_input": True}
    assert sorted(state) == sorted(release["state"])
    for name, value in release["state"].items():
        np.testing.assert_allclose(state[name], value, rtol=1e-6, atol=1e-7, err_msg=name)


def test_a_mean_saved_as_a_lua_table_reads_the_same(release, tmp_path):
    table = release_table(release["state"], 4)
    table["mean"] = {i + 1: float(v) for i, v in enumerate(table["mean"])}
    path = tmp_path / "table_mean.t7"
    path.write_bytes(t7_bytes(table))
    np.testing.assert_array_equal(published.load("torch7", [path])[0]["mean_pixel"],
                                  release["state"]["mean_pixel"])
    table["mean"] = {1: 0.4, 2: 0.4, 3: 127.0}  # a 0-255 mean is another convention
    path.write_bytes(t7_bytes(table))
    with pytest.raises(ValueError, match=r"mean \[0.4.*127.0\] is not a pixel in \[0,1\]"):
        published.load("torch7", [path])


def test_both_ports_compute_what_inpaint_lua_computes_with_the_file(release, tmp_path):
    state, params = published.load("torch7", [release["path"]])
    out = tmp_path / "weights.safetensors"
    checkpoint.save(out, state, {"harness": json.dumps({"params": params})})
    spec = methods.load_spec("glcic")
    rng = np.random.default_rng(6)
    image = rng.random((2, 3, 32, 32), np.float32)
    hole = np.zeros((2, 1, 32, 32), np.float32)
    hole[:, :, 6:20, 10:30] = 1
    expected = reference_forward(release["table"], torch.from_numpy(image),
                                 torch.from_numpy(hole))
    for framework in ("torch", "paddle"):
        module, model = predict.load_model(spec, framework, out, {"postprocess": False})
        got = module.inpaint(model, image * (1 - hole), hole)
        np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=framework)
        print(framework, "max |port - inpaint.lua reference|", float(np.abs(got - expected).max()))


def test_a_file_that_is_not_the_release_is_refused(release, tmp_path):
    table = release_table(release["state"], 4)
    modules = table["model"].fields["modules"]
    modules[len(modules)] = Module("nn.Tanh")
    path = tmp_path / "tanh.t7"
    path.write_bytes(t7_bytes(table))
    with pytest.raises(ValueError, match=r"not GLCIC's completion network .*its 50 modules"):
        published.load("torch7", [path])
    table = release_table(release["state"], 4)
    table["model"].fields["modules"][19].fields["dilationW"] = 3  # layer 7 has dilation 2
    path.write_bytes(t7_bytes(table))
    with pytest.raises(ValueError, match="layer 7 .* GLCIC's Table 1 has"):
        published.load("torch7", [path])
    table = release_table(release["state"], 4)
    table["model"].fields["modules"][2].fields["eps"] = 0
    path.write_bytes(t7_bytes(table))
    with pytest.raises(ValueError, match="layer 1 .* eps must be a positive number"):
        published.load("torch7", [path])
    table = release_table(release["state"], 4)
    table["model"].fields["modules"][5].fields["running_var"][0] = -1.0
    path.write_bytes(t7_bytes(table))
    with pytest.raises(ValueError, match="layer 2 .* running_var \\+ eps is not positive"):
        published.load("torch7", [path])
    table = release_table(release["state"], 4)
    del table["model"].fields["modules"][7]
    path.write_bytes(t7_bytes(table))
    with pytest.raises(ValueError, match="not GLCIC's completion network"):
        published.load("torch7", [path])
    # a table {[{}] = 1}: Lua allows a table as a key, Python's dict does not
    path.write_bytes(struct.pack("<iii", 3, 1, 1) + struct.pack("<iii", 3, 2, 0)
                     + struct.pack("<id", 1, 1.0))
    with pytest.raises(t7.T7Error, match="TypeError"):
        t7.load(path)
    path.write_bytes(t7_bytes(release["table"])[:-40])
    with pytest.raises(t7.T7Error, match="bytes needed"):
        published.load("torch7", [path])
    path.write_bytes(struct.pack("<i", 6) + b"\0" * 8)
    with pytest.raises(t7.T7Error, match="a serialised Lua function"):
        t7.load(path)


# where t7_bytes(array) writes the tensor's first size: after its type code, reference index,
# "V 1", class name and dimension count
FIRST_SIZE = 4 + 4 + (4 + 3) + (4 + len("torch.FloatTensor")) + 4


def test_an_empty_tensor_reads_as_empty_and_a_negative_size_is_refused(tmp_path):
    data = bytearray(t7_bytes(np.zeros((2, 3), np.float32)))
    path = tmp_path / "sizes.t7"
    data[FIRST_SIZE:FIRST_SIZE + 8] = struct.pack("<q", 0)
    path.write_bytes(bytes(data))
    assert t7.load(path).shape == (0, 3)
    data[FIRST_SIZE:FIRST_SIZE + 8] = struct.pack("<q", -1)
    path.write_bytes(bytes(data))
    with pytest.raises(t7.T7Error, match=r"a torch.FloatTensor of size \[-1, 3\]"):
        t7.load(path)


def test_a_tensor_that_does_not_fit_its_storage_is_refused(tmp_path):
    data = bytearray(t7_bytes(np.zeros((2, 3), np.float32)))
    data[FIRST_SIZE:FIRST_SIZE + 8] = struct.pack("<q", 5)
    path = tmp_path / "big.t7"
    path.write_bytes(bytes(data))
    with pytest.raises(t7.T7Error, match=r"size \[5, 3\].* does not fit its storage of 7"):
        t7.load(path)


def test_the_listed_release_refuses_another_file_and_imports_a_matching_one(release, tmp_path,
                                                                            monkeypatch):
    listed = import_weights.release_for("glcic", "places2", "torch7")
    folder = tmp_path / "released"
    (folder / Path(listed["files"][0]).parent).mkdir(parents=True)
    (folder / listed["files"][0]).write_bytes(release["path"].read_bytes())
    with pytest.raises(ValueError) as refused:
        import_weights.import_release("glcic", "places2", "torch7", folder)
    print(refused.value)
    assert "md5" in str(refused.value) and "not the released file" in str(refused.value)
    md5 = file_digests(folder / listed["files"][0], {"md5"})["md5"]
    stand_in = {**listed, "pins": {listed["files"][0]: f"md5:{md5}"}}
    monkeypatch.setattr(import_weights, "load_releases", lambda method_id, where: [stand_in])
    assert methods.weights_variants(methods.load_spec("glcic"), "places2", folder) == [
        "retrained", "published-torch7"]
    state, metadata = import_weights.import_release("glcic", "places2", "torch7", folder)
    record = json.loads(metadata["harness"])
    assert record["weights"] == "published-torch7"
    assert record["params"] == {"width": WIDTH, "centred_input": True}


def otenim_stand_in(path):
    """A bare torch.save(state_dict) with otenim/GLCIC-PyTorch models.py CompletionNetwork's
    names, in its order: conv1..conv12, deconv13, conv14, deconv15, conv16, conv17, each
    followed by its bn (but conv17), random values."""
    state = {}
    for i in range(1, 18):
        layer = f"deconv{i}" if i in (13, 15) else f"conv{i}"
        state[f"{layer}.weight"] = torch.randn(4, 4, 3, 3)
        state[f"{layer}.bias"] = torch.randn(4)
        if i < 17:
            for leaf in ("weight", "bias", "running_mean", "running_var"):
                state[f"bn{i}.{leaf}"] = torch.rand(4)
            state[f"bn{i}.num_batches_tracked"] = torch.tensor(0)
    torch.save(state, path)


def mmagic_stand_in(path, drop=None):
    """mmcv's {'meta', 'state_dict'} with mmagic's Global&Local names (gl_encoder.py enc1..6,
    gl_dilation.py dilation_convs.0..3, gl_decoder.py dec1..7) and its discriminator's."""
    state = {}
    blocks = ([f"generator.encoder.enc{i}" for i in range(1, 7)]
              + [f"generator.dilation_neck.dilation_convs.{i}" for i in range(4)]
              + [f"generator.decoder.dec{i}" for i in range(1, 7)])
    for block in blocks:
        state[f"{block}.conv.weight"] = torch.randn(4, 4, 3, 3)
        for leaf in ("weight", "bias", "running_mean", "running_var"):
            state[f"{block}.bn.{leaf}"] = torch.rand(4)
    state["generator.decoder.dec7.conv.weight"] = torch.randn(3, 4, 3, 3)
    state["generator.decoder.dec7.conv.bias"] = torch.randn(3)
    state["disc.global_disc.conv1.conv.weight"] = torch.randn(4, 3, 5, 5)
    state.pop(drop, None)
    torch.save({"meta": {"iter": 500000}, "state_dict": state}, path)


@pytest.mark.parametrize("dataset,source", [("places2", "mmagic"), ("celebahq", "mmagic"),
                                            ("celeba", "otenim")])
def test_the_other_releases_are_recognised_and_refused_with_the_reason(dataset, source, tmp_path,
                                                                       monkeypatch):
    listed = import_weights.release_for("glcic", dataset, source)
    folder = tmp_path / "released"
    for name in listed["files"]:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
    main = folder / listed["files"][0]
    (otenim_stand_in if source == "otenim" else mmagic_stand_in)(main)
    if source == "otenim":
        (folder / listed["files"][1]).write_text('{"mpv": [0.5, 0.4, 0.38]}')
    else:
        with pytest.raises(ValueError, match="not the released file"):
            import_weights.import_release("glcic", dataset, source, folder)
    digest = file_digests(main, {"sha256"})["sha256"]
    stand_in = {**listed, "pins": {listed["files"][0]: f"sha256:{digest[:8]}"}}
    stand_in.pop("unpinned", None)
    monkeypatch.setattr(import_weights, "load_releases", lambda method_id, where: [stand_in])
    assert methods.weights_variants(methods.load_spec("glcic"), dataset, folder) == ["retrained"]
    with pytest.raises(ValueError) as refused:
        import_weights.import_release("glcic", dataset, source, folder)
    print(refused.value)
    assert str(refused.value) == (f"{main}: {listed['name']} is {listed['architecture']}; "
                                  f"refused: {listed['refused']}")
    if source == "mmagic":
        mmagic_stand_in(main, drop="generator.decoder.dec7.conv.bias")
        with pytest.raises(ValueError, match=r"not mmagic's Global&Local generator .*missing "
                           r"\['generator.decoder.dec7.conv.bias'\] \(1 of"):
            published.recognise(source, [main])
    else:
        torch.save({"conv1.weight": torch.zeros(64, 4, 5, 5)}, main)
        with pytest.raises(ValueError, match="not otenim/GLCIC-PyTorch's CompletionNetwork"):
            published.recognise(source, [main])
