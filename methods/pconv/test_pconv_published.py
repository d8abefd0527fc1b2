"""Released Partial Convolutions weights (naoto0804, mmagic): stand-in checkpoints with each
source's container and key names, the mapping both ways, both ports against a forward pass
written here from each source's own layer definition, and the refusals (published.py)."""
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import methods
from datasets.io import file_digests
from methods import checkpoint, import_weights, predict
from methods.pconv import model_torch, published

LAYERS, WIDTH, SIZE = 4, 8, 32  # the releases are 7 stages of width 64 at 256 px
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))  # naoto0804 opt.py MEAN, STD


def harness_state(seed):
    """A small harness PConvUNet with He-normal weights, random biases and BatchNorm
    statistics (neutral state); enc_1's bias is zero, as naoto0804's enc_1 has none."""
    torch.manual_seed(seed)
    net = model_torch.PConvUNet(LAYERS, WIDTH)
    for name, module in net.named_modules():
        if isinstance(module, model_torch.PartialConv2d):
            torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            if module.bias is not None and name != "enc_1.conv":
                module.bias.data.uniform_(-0.1, 0.1)
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return {k: v.numpy().copy() for k, v in net.state_dict().items()
            if not k.endswith("num_batches_tracked")}


def save_release(source, state, path):
    """A stand-in file of the source's container: naoto0804 util/io.py save_ckpt
    {'n_iter', 'model', 'optimizer'}; mmcv save_checkpoint {'meta', 'state_dict'} with the
    generator under generator. and, as in mmagic's, other modules' tensors beside it."""
    released = {k: torch.from_numpy(v) for k, v in
                published.from_neutral(source, state, LAYERS, WIDTH).items()}
    for key in [k for k in released if k.endswith("bn.weight")]:
        released[key.replace("bn.weight", "bn.num_batches_tracked")] = torch.tensor(1000)
    if source == "naoto0804":
        saved = {"n_iter": 1000000, "model": released, "optimizer": {}}
    else:
        released["disc.conv1.weight"] = torch.zeros(2, 3, 3, 3)  # not the generator: ignored
        saved = {"meta": {"mmedit_version": "0.1.0", "iter": 500000}, "state_dict": released}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(saved, path)
    return path


def partial_conv(source, x, mask, weight, bias, stride, padding):
    """One partial convolution as each source writes it: naoto0804 net.py PartialConv.forward
    ((conv(X*M) - b) / sum(M) + b, 0 where sum(M) = 0), mmagic common/partial_conv.py
    PartialConv2d.forward (conv(X*M) * (in*k*k) / (sum(M) + 1e-8), clamped mask)."""
    ones = torch.ones_like(weight)
    with torch.no_grad():
        count = F.conv2d(mask, ones, None, stride, padding)
    raw = F.conv2d(x * mask, weight, None, stride, padding)
    if source == "naoto0804":
        holes = count == 0
        out = raw / count.masked_fill(holes, 1.0)
        out = out + (bias.reshape(1, -1, 1, 1) if bias is not None else 0)
        return out.masked_fill(holes, 0.0), (~holes).float()
    updated = torch.clamp(count, 0, 1)
    out = raw * (weight.shape[1] * weight.shape[2] * weight.shape[3] / (count + 1e-8)) * updated
    if bias is not None:
        out = (out + bias.reshape(1, -1, 1, 1)) * updated
    return out, updated


def reference_forward(source, released, image, valid):
    """The source's U-Net (naoto0804 net.py PConvUNet / mmagic PConvEncoderDecoder), from the
    released tensors: its input normalisation and channel order, 7x7/5x5/3x3 stride-2
    encoder with ReLU, nearest x2 decoder with skip concatenation and LeakyReLU(0.2)."""
    s = published.SOURCES[source]
    t = {k: torch.from_numpy(np.asarray(v, np.float32)) for k, v in released.items()}
    if source == "naoto0804":
        mean, std = (torch.tensor(v).reshape(1, 3, 1, 1) for v in IMAGENET)
        x = (image - mean) / std
    else:
        x = (image * 2 - 1).flip(1)  # [-1,1], BGR
        valid = valid.flip(1)

    def layer(name, x, mask, stride, kernel, bn, act):
        prefix = s["prefix"] + (s["enc"] if name[0] == "e" else s["dec"]).format(name[1:])
        h, mask = partial_conv(source, x, mask, t[f"{prefix}.{s['weight']}"],
                               t.get(f"{prefix}.{s['bias']}"), stride, kernel // 2)
        if bn:
            h = F.batch_norm(h, t[f"{prefix}.bn.running_mean"], t[f"{prefix}.bn.running_var"],
                             t[f"{prefix}.bn.weight"], t[f"{prefix}.bn.bias"], False, 0.0, 1e-5)
        return (F.relu(h) if act == "relu" else F.leaky_relu(h, 0.2) if act else h), mask

    hs, masks = [x], [valid]
    for i in range(1, LAYERS + 1):
        h, m = layer(f"e{i}", hs[-1], masks[-1], 2, {1: 7, 2: 5, 3: 5}.get(i, 3), i > 1, "relu")
        hs.append(h)
        masks.append(m)
    h, m = hs[-1], masks[-1]
    for i in range(LAYERS, 0, -1):
        h = torch.cat([F.interpolate(h, scale_factor=2, mode="nearest"), hs[i - 1]], 1)
        m = torch.cat([F.interpolate(m, scale_factor=2, mode="nearest"), masks[i - 1]], 1)
        h, m = layer(f"d{i}", h, m, 1, 3, i > 1, "leaky" if i > 1 else None)
    if source == "naoto0804":
        return h * std + mean
    return h.flip(1) * 0.5 + 0.5


@pytest.fixture(scope="module", params=["naoto0804", "mmagic"])
def release(request, tmp_path_factory):
    state = harness_state(7)
    path = save_release(request.param, state,
                        tmp_path_factory.mktemp(request.param) / "release.pth")
    return {"source": request.param, "state": state, "path": path}


def test_the_mapping_is_exact_both_ways(release):
    state, params = published.load(release["source"], [release["path"]])
    assert params == {"layers": LAYERS, "width": WIDTH,
                      "input_norm": published.SOURCES[release["source"]]["input_norm"]}
    assert sorted(state) == sorted(release["state"])
    for name, value in release["state"].items():
        np.testing.assert_allclose(state[name], value, rtol=1e-6, atol=1e-8, err_msg=name)


def test_both_ports_compute_what_the_source_computes(release, tmp_path):
    state, params = published.load(release["source"], [release["path"]])
    out = tmp_path / "weights.safetensors"
    checkpoint.save(out, state, {"harness": json.dumps({"params": params})})
    rng = np.random.default_rng(8)
    image = rng.random((2, 3, SIZE, SIZE), np.float32)
    mask = np.zeros((2, 1, SIZE, SIZE), np.float32)
    mask[0, :, 4:20, 6:26] = 1
    mask[1, :, 0:9, :] = 1
    valid = np.repeat(1 - mask, 3, axis=1)
    released = published.from_neutral(release["source"], release["state"], LAYERS, WIDTH)
    expected = reference_forward(release["source"], released, torch.from_numpy(image * valid),
                                 torch.from_numpy(valid)).numpy()
    spec = methods.load_spec("pconv")
    for framework in ("torch", "paddle"):
        module, model = predict.load_model(spec, framework, out, {})
        got = module.inpaint(model, image * valid, mask)
        difference = float(np.abs(got - np.clip(expected, 0, 1)).max())
        print(release["source"], framework, "max |port - source's forward|", difference)
        assert difference < 1e-4, framework  # the ports' parity tolerance (DESIGN.md)


def test_a_file_of_another_layout_is_refused(release, tmp_path):
    other = "mmagic" if release["source"] == "naoto0804" else "naoto0804"
    with pytest.raises(ValueError, match=r"expected .*'s checkpoint \(a dict holding"):
        published.load(other, [release["path"]])
    saved = torch.load(release["path"], weights_only=True)
    key = published.SOURCES[release["source"]]["container"]
    first = next(k for k in saved[key] if k.endswith("mask_conv.weight")
                 or k.endswith("weight_mask_updater"))
    saved[key][first] = saved[key][first] * 0.5
    torch.save(saved, tmp_path / "halved.pth")
    with pytest.raises(ValueError, match="is not all ones: not a partial convolution"):
        published.load(release["source"], [tmp_path / "halved.pth"])
    del saved[key][next(k for k in saved[key] if "bn.running_var" in k)]
    torch.save(saved, tmp_path / "short.pth")
    with pytest.raises(ValueError, match=r"not .* Partial Convolutions U-Net with 4 stages of "
                       r"width 8: missing \[.*running_var"):
        published.load(release["source"], [tmp_path / "short.pth"])
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a checkpoint torch.load can read safely"):
        published.load(release["source"], [tmp_path / "junk.pth"])


def test_places2_gets_both_releases_and_each_file_is_checked(tmp_path, monkeypatch):
    state = harness_state(7)
    listed = {r["source"]: r for r in import_weights.releases_for("pconv", "places2")}
    folder = tmp_path / "released"
    for source, release in listed.items():
        save_release(source, state, folder / release["files"][0])
    mmagic = listed["mmagic"]
    with pytest.raises(ValueError) as refused:
        import_weights.import_release("pconv", "places2", "mmagic", folder)
    print(refused.value)
    assert "but mmagic PConv Places2" in str(refused.value)
    assert "has 1ffed0e8...: not the released file" in str(refused.value)
    digest = file_digests(folder / mmagic["files"][0], {"sha256"})["sha256"]
    stand_ins = [{**mmagic, "pins": {mmagic["files"][0]: f"sha256:{digest[:8]}"}},
                 listed["naoto0804"]]
    monkeypatch.setattr(import_weights, "load_releases", lambda method_id, where: stand_ins)
    assert methods.weights_variants(methods.load_spec("pconv"), "places2", folder) == [
        "retrained", "published-mmagic", "published-naoto0804"]
    for source in listed:
        _, metadata = import_weights.import_release("pconv", "places2", source, folder)
        origin = json.loads(metadata["harness"])["origin"]
        assert list(origin["files"]) == listed[source]["files"]
    assert "unpinned" in origin and origin["pins"] == {}
