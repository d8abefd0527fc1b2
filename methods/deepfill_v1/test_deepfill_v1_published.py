"""DeepFill v1's released TensorFlow weights: the real Places2 index, a data file synthesised to
it, the exact mapping onto both ports, and the refusals (tf_bundle.py, published.py)."""
import json
import struct
from pathlib import Path

import crc32c
import numpy as np
import paddle
import pytest
import torch
import yaml

import methods
from datasets.io import file_digests, sha256_file
from methods import checkpoint, import_weights, predict, tf_bundle
from methods.deepfill_v1 import model_paddle, model_torch, published

RELEASE = Path(__file__).resolve().parents[3] / "shared" / "data" / "deepfill_v1_release"
INDEX = RELEASE / "snap-0.index"
SPEC = yaml.safe_load((Path(__file__).parent / "spec.yaml").read_text())
needs_release = pytest.mark.skipif(not INDEX.is_file(), reason=f"{INDEX} is not on this machine "
                                   "(../shared/data exists beside the checkout and in CI only)")


def varint(value):
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def field(number, wire, payload):
    key = varint(number << 3 | wire)
    if wire == 0:
        return key + varint(payload)
    if wire == 5:
        return key + struct.pack("<I", payload)
    return key + varint(len(payload)) + payload


def table_block(entries):
    """A table block of (key, value) pairs, no prefix sharing, one restart point, and its
    trailer (no compression, masked CRC32C): table_format.txt."""
    body = b"".join(varint(0) + varint(len(k)) + varint(len(v)) + k + v for k, v in entries)
    body += struct.pack("<II", 0, 1)
    return body + b"\0" + struct.pack("<I", tf_bundle.masked(crc32c.crc32c(body + b"\0")))


def write_bundle(prefix, tensors, offsets=None):
    """A one-shard bundle of float32 tensors, each at offsets[name] (else one after another),
    with its CRC32C, as TensorFlow's BundleWriter lays one out."""
    data, entries = bytearray(), []
    for name in sorted(tensors):
        raw = np.ascontiguousarray(tensors[name], "<f4").tobytes()
        offset = len(data) if offsets is None else offsets[name]
        data.extend(b"\0" * max(0, offset + len(raw) - len(data)))
        data[offset:offset + len(raw)] = raw
        shape = b"".join(field(2, 2, field(1, 0, d)) for d in np.shape(tensors[name]))
        entries.append((name.encode(), field(1, 0, 1) + field(2, 2, shape) + field(4, 0, offset)
                        + field(5, 0, len(raw))
                        + field(6, 5, tf_bundle.masked(crc32c.crc32c(raw)))))
    header = (b"", field(1, 0, 1) + field(3, 2, field(1, 0, 1)))
    data_block = table_block([header, *entries])
    meta_block = table_block([])
    index_block = table_block([(entries[-1][0], varint(0) + varint(len(data_block) - 5))])
    meta_at, index_at = len(data_block), len(data_block) + len(meta_block)
    handles = (varint(meta_at) + varint(len(meta_block) - 5) + varint(index_at)
               + varint(len(index_block) - 5))
    footer = handles.ljust(40, b"\0") + struct.pack("<Q", tf_bundle.MAGIC)
    Path(f"{prefix}.index").write_bytes(data_block + meta_block + index_block + footer)
    tf_bundle.data_path(prefix).write_bytes(bytes(data))


def synthesised_release(folder, seed=0):
    """The real index's variables, at its offsets, filled with seeded values (He-like scale,
    so that a 42-layer forward stays finite), in a bundle with their checksums computed."""
    _, entries = tf_bundle.read_index(INDEX)
    rng = np.random.default_rng(seed)
    tensors = {}
    for name, entry in entries.items():
        fan_in = int(np.prod(entry.shape[:-1])) if len(entry.shape) == 4 else 1
        tensors[name] = (rng.standard_normal(entry.shape) / np.sqrt(fan_in)).astype(np.float32)
    folder.mkdir(parents=True, exist_ok=True)
    write_bundle(folder / "snap-0", tensors, {n: e.offset for n, e in entries.items()})
    return tensors, entries


@needs_release
def test_the_real_places2_index_maps_every_variable_onto_the_generator_once():
    header, entries = tf_bundle.read_index(INDEX)
    values = sum(int(np.prod(e.shape)) for e in entries.values())
    print(f"{INDEX}: {len(entries)} variables, {values:,} float32 values")
    assert header == {"num_shards": 1, "endianness": 0}
    assert len(entries) == 84 and values == 3_601_542
    assert max(e.offset + e.size for e in entries.values()) == 14_406_168  # the README's size
    assert published.cnum_of({n: e.shape for n, e in entries.items()}, INDEX) == 32
    names = published.tf_names()
    assert set(names) == set(entries)  # every released variable, nothing else
    assert len(set(names.values())) == len(names)  # none twice
    model = model_torch.build(SPEC)  # cnum 32, the release's
    state = model.state_dict()
    assert set(state) == set(names.values())  # every parameter covered
    for tf_name, torch_name in names.items():
        shape = entries[tf_name].shape
        expected = (shape[3], shape[2], shape[0], shape[1]) if len(shape) == 4 else shape
        assert tuple(state[torch_name].shape) == expected, tf_name


@needs_release
def test_synthesised_release_imports_and_both_ports_agree(tmp_path):
    tensors, _ = synthesised_release(tmp_path / "places2")
    read = tf_bundle.read_tensors(tmp_path / "places2" / "snap-0")
    for name, value in tensors.items():
        np.testing.assert_array_equal(read[name], value, err_msg=name)
    state = published.to_neutral(read)
    torch_model = model_torch.build(SPEC)
    checkpoint.load_torch(torch_model, state)
    paddle.set_device("cpu")
    paddle_model = model_paddle.build(SPEC)
    checkpoint.load_paddle(paddle_model, state)
    rng = np.random.default_rng(1)
    image = rng.random((2, 3, 64, 64), np.float32)
    mask = np.zeros((2, 1, 64, 64), np.float32)
    mask[:, :, 16:48, 20:44] = 1
    out_torch = model_torch.inpaint(torch_model, image, mask)
    out_paddle = model_paddle.inpaint(paddle_model, image, mask)
    assert np.isfinite(out_torch).all() and out_torch.std() > 1e-3  # not a constant
    np.testing.assert_allclose(out_paddle, out_torch, atol=1e-4)


@needs_release
def test_the_colour_order_is_reversed_exactly(tmp_path):
    """The released network reads and writes BGR: run it as released (kernels transposed, no
    channel reversal) on the BGR image and reverse its output; the imported network on the RGB
    image must give the same values."""
    tensors, _ = synthesised_release(tmp_path / "places2", seed=3)
    as_released = {torch_name: (tensors[tf_name].transpose(3, 2, 0, 1)
                                if tensors[tf_name].ndim == 4 else tensors[tf_name])
                   for tf_name, torch_name in published.tf_names().items()}
    bgr_model, rgb_model = model_torch.build(SPEC), model_torch.build(SPEC)
    checkpoint.load_torch(bgr_model, as_released)
    checkpoint.load_torch(rgb_model, published.to_neutral(tensors))
    rng = np.random.default_rng(4)
    image = rng.random((1, 3, 32, 32), np.float32)
    mask = np.zeros((1, 1, 32, 32), np.float32)
    mask[:, :, 8:24, 8:24] = 1
    bgr_out = model_torch.inpaint(bgr_model, np.ascontiguousarray(image[:, ::-1]), mask)
    rgb_out = model_torch.inpaint(rgb_model, image, mask)
    # the same sums of the same products, in another order: float32 rounding apart
    np.testing.assert_allclose(rgb_out, bgr_out[:, ::-1], atol=1e-5)
    assert np.abs(rgb_out - bgr_out).max() > 1e-2  # the colour order matters to this network
    # and the mapping has an exact inverse
    back = published.from_neutral(published.to_neutral(tensors))
    for name, value in tensors.items():
        np.testing.assert_array_equal(back[name], value, err_msg=name)


@needs_release
def test_a_corrupted_tensor_is_refused_by_its_checksum(tmp_path):
    _, entries = synthesised_release(tmp_path / "places2")
    target = entries["inpaint_net/pmconv9/kernel"]
    data = tf_bundle.data_path(tmp_path / "places2" / "snap-0")
    raw = bytearray(data.read_bytes())
    raw[target.offset + 100] ^= 0x01  # one bit of one float
    data.write_bytes(bytes(raw))
    with pytest.raises(tf_bundle.BundleError) as refused:
        tf_bundle.read_tensors(tmp_path / "places2" / "snap-0")
    print(refused.value)
    assert "inpaint_net/pmconv9/kernel fails its CRC32C" in str(refused.value)


def test_a_damaged_index_or_another_architecture_is_refused(tmp_path):
    tensors = {"inpaint_net/conv1/kernel": np.zeros((5, 5, 5, 32), np.float32),
               "inpaint_net/conv1/bias": np.zeros(32, np.float32)}
    write_bundle(tmp_path / "other", tensors)
    with pytest.raises(ValueError, match=r"not DeepFill v1's generator .*missing .*\(82\)"):
        published.cnum_of({n: v.shape for n, v in tensors.items()}, "other")
    index = Path(f"{tmp_path / 'other'}.index")
    raw = bytearray(index.read_bytes())
    raw[10] ^= 0xFF
    index.write_bytes(bytes(raw))
    with pytest.raises(tf_bundle.BundleError, match="fails its CRC32C: the file is damaged"):
        tf_bundle.read_index(index)
    index.write_bytes(b"not a checkpoint" * 4)
    with pytest.raises(tf_bundle.BundleError, match="not a TensorFlow checkpoint index"):
        tf_bundle.read_index(index)


def standin_release(folder, monkeypatch):
    """A synthesised Places2 release laid out as published.yaml names it, with published.yaml's
    pinned sha256 replaced by the stand-in index's own (it cannot have the real one)."""
    release = import_weights.release_for("deepfill_v1", "places2", "tf_release")
    index_name = release["files"][0]
    synthesised_release(folder / Path(index_name).parent)
    stand_in = {**release, "pins": {index_name: f"sha256:{sha256_file(folder / index_name)}"}}
    monkeypatch.setattr(import_weights, "load_releases", lambda method_id, folder: [stand_in])
    return stand_in


@needs_release
def test_the_import_command_writes_a_checkpoint_that_both_ports_predict_with(tmp_path,
                                                                             monkeypatch):
    release = standin_release(tmp_path / "released", monkeypatch)
    assert import_weights.importable("deepfill_v1", "places2", tmp_path / "released") == [release]
    spec = methods.load_spec("deepfill_v1")
    assert methods.weights_variants(spec, "places2", tmp_path / "released") == [
        "retrained", "published-tf_release"]
    assert methods.weights_variants(spec, "places2", None) == ["retrained"]
    assert methods.weights_variants(spec, "celebahq", tmp_path / "released") == ["retrained"]
    assert methods.weights_variants(methods.load_spec("telea"), "places2",
                                    tmp_path / "released") == ["none"]
    out = tmp_path / "weights.safetensors"
    import_weights.main(["--method", "deepfill_v1", "--dataset", "places2",
                         "--source", "tf_release", "--dir", str(tmp_path / "released"),
                         "--out", str(out)])
    state, metadata = checkpoint.load(out)
    record = json.loads(metadata["harness"])
    assert record["weights"] == "published-tf_release" and record["params"] == {"cnum": 32}
    assert f"sha256:{record['origin']['files'][release['files'][0]]}" == release["pins"][
        release["files"][0]]
    image = np.random.default_rng(5).random((1, 3, 32, 32), np.float32)
    mask = np.zeros((1, 1, 32, 32), np.float32)
    mask[:, :, 8:24, 8:24] = 1
    outputs = [module.inpaint(model, image, mask) for module, model in
               (predict.load_model(spec, framework, out, {}) for framework in ("torch", "paddle"))]
    np.testing.assert_allclose(outputs[1], outputs[0], atol=1e-4)


@needs_release
def test_a_release_file_with_another_sha256_is_refused(tmp_path):
    release = import_weights.release_for("deepfill_v1", "places2", "tf_release")
    # the synthesised index is not the real one
    synthesised_release(tmp_path / Path(release["files"][0]).parent)
    with pytest.raises(ValueError) as refused:
        import_weights.import_release("deepfill_v1", "places2", "tf_release", tmp_path)
    print(refused.value)
    assert "not the released file" in str(refused.value)
    assert release["pins"][release["files"][0]].split(":")[1] in str(refused.value)


def test_without_the_files_the_release_is_not_provided(tmp_path):
    assert not import_weights.importable("deepfill_v1", "places2", tmp_path)
    assert not import_weights.importable("deepfill_v1", "places2", None)
    with pytest.raises(FileNotFoundError, match="snap-0.index: missing; DeepFill v1 Places2"):
        import_weights.import_release("deepfill_v1", "places2", "tf_release", tmp_path)


def mmagic_stand_in(path, drop=None):
    """mmcv's {'meta', 'state_dict'} with mmagic's DeepFill v1 generator names
    (two_stage_encoder_decoder.py stage1: encoder enc1..6, dilation_neck dilation_convs.0..3,
    decoder dec1..7; stage2: encoder_attention and encoder_conv enc1..6,
    contextual_attention_neck conv1..2, dilation_neck, decoder), each conv a weight and bias."""
    state = {}
    body = ([f"encoder.enc{i}" for i in range(1, 7)]
            + [f"dilation_neck.dilation_convs.{i}" for i in range(4)]
            + [f"decoder.dec{i}" for i in range(1, 8)])
    refine = ([f"encoder_attention.enc{i}" for i in range(1, 7)]
              + [f"encoder_conv.enc{i}" for i in range(1, 7)]
              + ["contextual_attention_neck.conv1", "contextual_attention_neck.conv2"]
              + body[6:])
    for block in [f"stage1.{b}" for b in body] + [f"stage2.{b}" for b in refine]:
        state[f"generator.{block}.conv.weight"] = torch.randn(4, 4, 3, 3)
        state[f"generator.{block}.conv.bias"] = torch.randn(4)
    state["disc.global_disc.conv1.conv.weight"] = torch.randn(4, 3, 5, 5)
    state.pop(drop, None)
    torch.save({"meta": {"iter": 1500000}, "state_dict": state}, path)


@pytest.mark.parametrize("dataset", ["places2", "celebahq"])
def test_mmagic_releases_are_recognised_and_refused_with_the_reason(dataset, tmp_path,
                                                                    monkeypatch):
    listed = import_weights.release_for("deepfill_v1", dataset, "mmagic")
    main = tmp_path / listed["files"][0]
    main.parent.mkdir(parents=True)
    mmagic_stand_in(main)
    with pytest.raises(ValueError, match="not the released file"):
        import_weights.import_release("deepfill_v1", dataset, "mmagic", tmp_path)
    digest = file_digests(main, {"sha256"})["sha256"]
    stand_in = {**listed, "pins": {listed["files"][0]: f"sha256:{digest[:8]}"}}
    monkeypatch.setattr(import_weights, "load_releases", lambda method_id, where: [stand_in])
    assert methods.weights_variants(methods.load_spec("deepfill_v1"), dataset, tmp_path) == [
        "retrained"]
    with pytest.raises(ValueError) as refused:
        import_weights.import_release("deepfill_v1", dataset, "mmagic", tmp_path)
    print(refused.value)
    assert str(refused.value) == (f"{main}: {listed['name']} is {listed['architecture']}; "
                                  f"refused: {listed['refused']}")
    mmagic_stand_in(main, drop="generator.stage2.contextual_attention_neck.conv2.conv.bias")
    with pytest.raises(ValueError, match=r"not mmagic's DeepFill v1 generator .*missing "
                       r"\['generator.stage2.contextual_attention_neck.conv2.conv.bias'\]"):
        published.recognise("mmagic", [main])
