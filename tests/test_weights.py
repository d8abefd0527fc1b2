"""Backbone weights: where `resolve` looks, what it accepts and rejects, how it downloads, and
the loaders built on it. The published files are not on this offline machine, so small or
random files stand in for them, registered in KNOWN under their real sha256."""
import hashlib
import math
import time

import numpy as np
import pytest
import torch
import torchvision
from pytorch_fid import inception as fid_inception

from metrics import fid, weights
from metrics.lpips import load_lpips

UNREACHABLE = "http://127.0.0.1:9/unreachable.pth"  # discard port: the connection is refused


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub cache for this test; the process-wide setting returns afterwards."""
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints"


def stand_in(folder, name, content=b"stand-in weights"):
    """Write a file under the real file name of backbone `name`."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / weights.KNOWN[name].file
    path.write_bytes(content)
    return path


def register(monkeypatch, name, path, url=UNREACHABLE, sha256=None):
    """Point KNOWN[name] at url and at path's real sha256 (or the sha256 given)."""
    entry = weights.Backbone(weights.KNOWN[name].file, url, sha256 or weights.sha256_file(path))
    monkeypatch.setitem(weights.KNOWN, name, entry)
    return entry


def test_known_digests_are_full_and_carry_the_file_name_prefix():
    for entry in weights.KNOWN.values():
        assert len(entry.sha256) == 64 and set(entry.sha256) <= set("0123456789abcdef")
        # torch.hub's own rule (check_hash): the file name embeds the digest's first hex digits.
        prefix = torch.hub.HASH_REGEX.search(entry.file).group(1)
        assert len(prefix) == 8 and entry.sha256.startswith(prefix)
        assert entry.url.endswith("/" + entry.file)


def test_known_urls_are_the_ones_the_packages_use():
    assert weights.KNOWN["alexnet"].url == torchvision.models.AlexNet_Weights.IMAGENET1K_V1.url
    assert weights.KNOWN["vgg16"].url == torchvision.models.VGG16_Weights.IMAGENET1K_V1.url
    assert weights.KNOWN["inception"].url == fid_inception.FID_WEIGHTS_URL


def test_missing_file_with_downloads_disabled(hub):
    with pytest.raises(weights.WeightsUnavailable) as info:
        weights.resolve("alexnet", allow_download=False)
    reason = str(info.value)
    assert reason.startswith("weights missing: alexnet-owt-7be5be79.pth is not in ")
    assert str(hub) in reason and "backbone_weights_dir (not set)" in reason
    assert reason.endswith("downloads are disabled")


def test_missing_file_reason_names_the_weights_dir(hub, tmp_path):
    with pytest.raises(weights.WeightsUnavailable, match="pt_inception-2015-12-05-6726825d.pth"
                       ) as info:
        weights.resolve("inception", weights_dir=tmp_path / "offline", allow_download=False)
    assert f"backbone_weights_dir ({tmp_path / 'offline'})" in str(info.value)


def test_failed_download_fails_fast_and_leaves_nothing(hub, tmp_path, monkeypatch):
    register(monkeypatch, "alexnet", stand_in(tmp_path / "elsewhere", "alexnet"))
    start = time.perf_counter()
    with pytest.raises(weights.WeightsUnavailable) as info:
        weights.resolve("alexnet")
    assert time.perf_counter() - start < weights.DOWNLOAD_TIMEOUT_S
    assert f"and the download from {UNREACHABLE} failed: " in str(info.value)
    assert list(hub.iterdir()) == []  # no partial file left behind


def test_download_lands_verified_in_the_hub_cache(hub, tmp_path, monkeypatch):
    source = stand_in(tmp_path / "mirror", "vgg16", content=bytes(range(256)) * 1000)
    register(monkeypatch, "vgg16", source, url=source.as_uri())  # urllib serves file:// too
    path = weights.resolve("vgg16")
    assert path == hub / "vgg16-397923af.pth"
    assert path.read_bytes() == source.read_bytes()
    assert list(hub.iterdir()) == [path]


def test_downloaded_file_with_wrong_hash_is_rejected_and_not_kept(hub, tmp_path, monkeypatch):
    source = stand_in(tmp_path / "mirror", "vgg16")
    actual = hashlib.sha256(source.read_bytes()).hexdigest()
    register(monkeypatch, "vgg16", source, url=source.as_uri(), sha256="0" * 64)
    with pytest.raises(weights.WeightsUnavailable) as info:
        weights.resolve("vgg16")
    reason = str(info.value)
    assert source.as_uri() in reason and actual in reason and "0" * 64 in reason
    assert list(hub.iterdir()) == []


def test_wrong_hash_in_weights_dir_names_the_file_and_both_hashes(hub, tmp_path):
    bad = stand_in(tmp_path / "offline", "alexnet", content=b"not alexnet")
    with pytest.raises(weights.WeightsUnavailable) as info:
        weights.resolve("alexnet", weights_dir=bad.parent, allow_download=False)
    reason = str(info.value)
    assert str(bad) in reason
    assert hashlib.sha256(b"not alexnet").hexdigest() in reason
    assert weights.KNOWN["alexnet"].sha256 in reason


def test_weights_dir_is_searched_before_the_hub_cache(hub, tmp_path, monkeypatch):
    good = stand_in(tmp_path / "offline", "alexnet")
    register(monkeypatch, "alexnet", good)
    stand_in(hub, "alexnet", content=b"corrupt copy")  # would be rejected if looked at first
    assert weights.resolve("alexnet", weights_dir=good.parent, allow_download=False) == good


def test_hub_cache_is_used_without_a_weights_dir(hub, monkeypatch):
    cached = stand_in(hub, "inception")
    register(monkeypatch, "inception", cached)
    assert weights.resolve("inception", allow_download=False) == cached


def test_loaders_never_fall_back_to_random_weights(hub):
    with pytest.raises(weights.WeightsUnavailable, match="alexnet-owt-7be5be79.pth"):
        load_lpips(allow_download=False)
    with pytest.raises(weights.WeightsUnavailable, match="pt_inception-2015-12-05-6726825d"):
        fid.load_inception(allow_download=False)


def random_fid_inception_state(seed):
    """The network of pytorch_fid.inception.fid_inception_v3 (which cannot be built without its
    weights file) with seeded He-normal weights, BatchNorm at identity, other biases 0."""
    net = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None,
                                          init_weights=False)
    net.Mixed_5b = fid_inception.FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = fid_inception.FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = fid_inception.FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = fid_inception.FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = fid_inception.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = fid_inception.FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = fid_inception.FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = fid_inception.FIDInceptionE_1(1280)
    net.Mixed_7c = fid_inception.FIDInceptionE_2(2048)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in net.named_parameters():
            if param.dim() > 1:
                std = math.sqrt(2 / param[0].numel())
                param.copy_(torch.randn(param.shape, generator=generator) * std)
            else:
                param.fill_(1.0 if name.endswith("bn.weight") else 0.0)
    return net.state_dict()


def test_inception_is_built_from_the_verified_file_offline(hub, tmp_path, monkeypatch):
    state = random_fid_inception_state(seed=12)
    path = tmp_path / "offline" / weights.KNOWN["inception"].file
    path.parent.mkdir()
    torch.save(state, path)
    register(monkeypatch, "inception", path)
    before = torch.hub.get_dir()
    model = fid.load_inception(weights_dir=path.parent, allow_download=False)
    assert torch.hub.get_dir() == before and not hub.exists()  # nothing fetched or cached
    conv = model.blocks[0][0].conv.weight
    assert torch.equal(conv, state["Conv2d_1a_3x3.conv.weight"])
    images = np.random.default_rng([6]).random((3, 3, 40, 56), dtype=np.float32)
    acts = fid.activations(model, images, batch_size=2)
    assert acts.shape == (3, 2048) and acts.dtype == np.float64
    # pool3 is a global average of ReLU outputs: finite, non-negative, not all equal.
    assert np.isfinite(acts).all() and (acts >= 0).all() and acts.std() > 0
    np.testing.assert_array_equal(fid.activations(model, torch.from_numpy(images)), acts)
    path.unlink()  # 95 MB; pytest keeps the temporary folders of the last 3 runs


def test_a_download_joins_a_hub_cache_that_already_holds_other_files(hub, tmp_path,
                                                                     monkeypatch):
    """The usual case after the first backbone: hub/checkpoints/ exists already."""
    other = stand_in(hub, "alexnet")
    source = stand_in(tmp_path / "mirror", "vgg16", content=bytes(range(256)) * 1000)
    register(monkeypatch, "vgg16", source, url=source.as_uri())
    path = weights.resolve("vgg16")
    assert path.read_bytes() == source.read_bytes()
    assert sorted(hub.iterdir()) == sorted([path, other])
