"""The evaluation side at work: pairs, predict and score through their device and thread code,
the FID reference, and stand-in LPIPS / FID backbones registered under their real file names.

No GPU here: the device is given explicitly as 'cpu', which runs the same placement code a GPU
run does (model.to(device), paddle.set_device, tensors moved to the model's device).
"""
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from datasets import pairing
from datasets.io import read_rgb
from datasets.masks.build import build
from methods import predict, train
from metrics import fid, fid_reference, score, weights
from metrics.lpips import load_lpips, lpips_distance
from test_metrics import random_alexnet_state
from test_weights import random_fid_inception_state
from tiny import shared_split

SIZE = 32


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """4 test images (also a training split), 2 irregular masks per bucket, a sized pairs file
    (3 items per bucket: 18 items over 4 images) and a trained 2-step pconv checkpoint."""
    root = tmp_path_factory.mktemp("eval")
    rng = np.random.default_rng([21, 0])
    shared_split(root / "data", rng.integers(0, 256, (4, SIZE, SIZE, 3), dtype=np.uint8))
    build({"kind": "irregular", "resolution": SIZE, "per_bucket": 2, "seed": 3}, root / "masks")
    pairing.main(["--images", str(root / "data"), "--masks", str(root / "masks"),
                  "--items-per-bucket", "3", "--out", str(root / "pairs.tsv")])
    train.main(["--method", "pconv", "--framework", "torch", "--data", str(root / "data"),
                "--out", str(root / "train"), "--device", "cpu", "--no-download",
                "--overrides", '{"layers": 4, "width": 4, "steps": 2, "batch_size": 2, '
                '"vgg_terms": false, "checkpoint_every": 1}'])
    return root


def run_predict(root, out, method="telea", framework="numpy", *extra):
    weights_args = (["--weights", "retrained", "--checkpoint",
                     str(root / "train/weights.safetensors")] if method == "pconv"
                    else ["--weights", "none"])
    predict.main(["--method", method, "--framework", framework, *weights_args,
                  "--images", str(root / "data"), "--masks", str(root / "masks"),
                  "--pairs", str(root / "pairs.tsv"), "--out", str(out), *extra])
    table = pd.read_csv(out / "predictions.tsv", sep="\t")
    return table, {f: (out / f).read_bytes() for f in table.file}


def test_the_sized_pairs_spread_over_masks_and_images(data):
    pairs = pd.read_csv(data / "pairs.tsv", sep="\t")
    assert (pairs.groupby("bucket").size() == 3).all() and pairs.item.is_unique
    # T = 3 x 6 = 18 slots over n = 4 images: image floor(s 4 / 18), s = 6 j + b; every image
    # is used, 4 or 5 times; masks floor(j 2 / 3) = 0, 0, 1: both masks of every bucket.
    assert sorted(pairs.image_id.value_counts()) == [4, 4, 5, 5]
    assert (pairs.groupby("bucket").mask_id.nunique() == 2).all()


def test_predictions_do_not_depend_on_threads_or_batch_size(data):
    """Framework-free: byte-identical PNGs and tables whatever the loader threads and batch."""
    table, files = run_predict(data, data / "p1", "telea", "numpy", "--threads", "1")
    other, other_files = run_predict(data, data / "p8", "telea", "numpy", "--threads", "2",
                                     "--batch-size", "1")
    assert len(table) == 18 and table.equals(other) and files == other_files


def test_learned_ports_predict_on_an_explicit_device(data):
    """Both ports through the device path; threads change nothing; the ports agree."""
    outputs = {}
    for framework in ("torch", "paddle"):
        for threads in ("1", "2"):
            out = data / f"pconv_{framework}_{threads}"
            outputs[framework, threads] = run_predict(data, out, "pconv", framework,
                                                      "--device", "cpu", "--threads", threads)
            record = json.loads((out / "provenance.json").read_text())
            assert record["device"] == "cpu" and record["threads"] == int(threads)
        assert outputs[framework, "1"][1] == outputs[framework, "2"][1]
    torch_files = outputs["torch", "1"][1]
    assert set(torch_files) == set(outputs["paddle", "1"][1])
    for name in torch_files:  # parity to 1e-4 moves an 8-bit value by at most one level
        a = read_rgb(data / "pconv_torch_1" / name)
        b = read_rgb(data / "pconv_paddle_1" / name)
        assert np.abs(a - b).max() <= 1 / 255 + 1e-7


@pytest.fixture(scope="module")
def backbones(data, tmp_path_factory):
    """Seeded random AlexNet and FID Inception files, registered in KNOWN under their sha256,
    as tests/test_metrics.py and tests/test_weights.py do. Tests only: production refuses any
    file whose sha256 is not the published one."""
    folder = tmp_path_factory.mktemp("backbones")
    torch.save(random_alexnet_state(seed=4), folder / weights.KNOWN["alexnet"].file)
    torch.save(random_fid_inception_state(seed=5), folder / weights.KNOWN["inception"].file)
    known = dict(weights.KNOWN)
    for name in ("alexnet", "inception"):
        path = folder / known[name].file
        weights.KNOWN[name] = known[name]._replace(sha256=weights.sha256_file(path))
    yield folder
    weights.KNOWN.update(known)
    for name in ("alexnet", "inception"):
        (folder / known[name].file).unlink()


def run_score(data, folder, out, *extra):
    score.main(["--predictions", str(data / "p1"), "--images", str(data / "data"),
                "--masks", str(data / "masks"), "--pairs", str(data / "pairs.tsv"),
                "--backbone-weights-dir", str(folder), "--no-download", "--device", "cpu",
                "--out", str(out), *extra])
    return pd.read_csv(out, sep="\t")


def proxy_distance(mu1, sigma1, mu2, sigma2):
    """Stands in for the Frechet distance in these tests: scipy's sqrtm of a 2048x2048 matrix
    takes about 10 s here, and which statistics reach the distance is what the pipeline
    decides (the distance itself is tested against closed forms in tests/test_metrics.py).
    Any change of either side's mean or covariance changes this value."""
    return float(np.square(mu1 - mu2).sum() + np.trace(sigma1) + 0.5 * np.trace(sigma2)
                 + 0.25 * np.abs(sigma1 - sigma2).sum())


@pytest.fixture(scope="module")
def scored(data, backbones):
    reference = data / "fid"
    fid_reference.main(["--pairs", str(data / "pairs.tsv"), "--images", str(data / "data"),
                        "--backbone-weights-dir", str(backbones), "--no-download",
                        "--device", "cpu", "--threads", "2", "--out", str(reference),
                        "--batch-size", "3"])  # 4 images: batches of 3 and 1
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fid, "frechet_distance", proxy_distance)
        with_reference = run_score(data, backbones, data / "s_ref.tsv", "--fid-reference",
                                   str(reference), "--threads", "2")
        alone = run_score(data, backbones, data / "s_alone.tsv", "--threads", "1")
    return reference, with_reference, alone


def test_lpips_and_fid_on_the_device_path_match_independent_computations(data, backbones,
                                                                         scored):
    _, table, _ = scored
    pairs = pd.read_csv(data / "pairs.tsv", sep="\t", dtype=str)
    pred = np.stack([read_rgb(data / "p1" / f"{i}.png") for i in pairs.item])
    real = np.stack([read_rgb(data / "data" / f"{i}.png") for i in pairs.image_id])
    model = load_lpips(weights_dir=backbones, allow_download=False)
    expected = lpips_distance(model, torch.from_numpy(pred), torch.from_numpy(real)).numpy()
    got = table[table.metric == "lpips"].set_index("item").value[pairs.item].to_numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    inception = fid.load_inception(weights_dir=backbones, allow_download=False)
    act_pred, act_real = fid.activations(inception, pred), fid.activations(inception, real)
    fids = table[table.metric == "fid"].set_index("bucket").value
    assert (table[table.metric == "fid"].status == "ok").all() and len(fids) == 7
    for bucket in [*sorted(set(pairs.bucket)), "all"]:
        rows = np.arange(len(pairs)) if bucket == "all" else np.flatnonzero(
            pairs.bucket == bucket)
        a, b = act_pred[rows], act_real[rows]
        expected = proxy_distance(a.mean(0), np.cov(a.T), b.mean(0), np.cov(b.T))
        assert fids[bucket] == pytest.approx(expected, rel=1e-9), bucket


def test_the_reference_gives_the_fid_of_the_ground_truth_read_in_place(scored):
    reference, with_reference, alone = scored
    stats = pd.read_csv(reference / "stats.tsv", sep="\t")
    assert list(stats.bucket)[-1] == "all" and (stats.status == "ok").all()
    assert list(stats.n) == [3] * 6 + [18]
    with np.load(reference / stats.file.iloc[-1]) as npz:  # pytorch-fid's layout
        assert set(npz.files) == {"mu", "sigma"} and npz["sigma"].shape == (2048, 2048)
    a = with_reference.set_index(["item", "bucket", "metric"]).value
    b = alone.set_index(["item", "bucket", "metric"]).value
    np.testing.assert_allclose(a.to_numpy(), b[a.index].to_numpy(), rtol=1e-9)


def test_a_changed_or_foreign_reference_is_refused(data, backbones, scored, tmp_path):
    reference = scored[0]
    pairs = pd.read_csv(data / "pairs.tsv", sep="\t", dtype=str)
    foreign = tmp_path / "pairs.tsv"
    pairs.iloc[::-1].to_csv(foreign, sep="\t", index=False)
    with pytest.raises(ValueError, match="computed for other pairs"):
        fid_reference.load(reference, pairs, foreign)
    npz = reference / "bucket2.npz"
    original = npz.read_bytes()
    np.savez(npz, mu=np.zeros(2048), sigma=np.eye(2048))
    try:
        with pytest.raises(ValueError, match="bucket2.npz has changed"):
            fid_reference.load(reference, pairs, data / "pairs.tsv")
    finally:
        npz.write_bytes(original)


def test_predictions_of_other_pairs_are_refused(data, tmp_path):
    pairs = pd.read_csv(data / "pairs.tsv", sep="\t", dtype=str)
    other = tmp_path / "pairs.tsv"
    pairs.assign(mask_id=pairs.mask_id[::-1].to_numpy()).to_csv(other, sep="\t", index=False)
    with pytest.raises(ValueError, match="does not hold the pairs of"):
        score.read_pairs(data / "p1", other)


def test_without_the_backbone_the_reference_says_why(data, tmp_path):
    fid_reference.main(["--pairs", str(data / "pairs.tsv"), "--images", str(data / "data"),
                        "--backbone-weights-dir", str(tmp_path), "--no-download",
                        "--out", str(tmp_path / "ref")])
    stats = pd.read_csv(tmp_path / "ref" / "stats.tsv", sep="\t", keep_default_na=False)
    assert stats.status.str.contains("pt_inception-2015-12-05-6726825d.pth").all()
    assert not list((tmp_path / "ref").glob("*.npz"))
    reference, reason = fid_reference.load(tmp_path / "ref", pd.read_csv(
        data / "pairs.tsv", sep="\t", dtype=str), data / "pairs.tsv")
    assert reference is None and "weights missing" in reason


def test_the_whole_set_fid_pools_every_bucket_and_is_the_bucket_for_one(monkeypatch):
    monkeypatch.setattr(fid, "frechet_distance", proxy_distance)
    rng = np.random.default_rng([8])
    acts = {"pred": rng.random((6, 2048)), "real": rng.random((6, 2048))}
    two = pd.DataFrame({"bucket": ["a", "a", "a", "b", "b", "b"]})
    rows = {r["bucket"]: r["value"] for r in score.fid_rows(two, acts, None, "ok")}
    pooled = [fid.statistics(acts[side]) for side in ("pred", "real")]
    assert rows["all"] == pytest.approx(proxy_distance(*pooled[0], *pooled[1]), rel=1e-12)
    assert rows["all"] not in (rows["a"], rows["b"])
    one = score.fid_rows(pd.DataFrame({"bucket": ["a"] * 6}), acts, None, "ok")
    assert [r["bucket"] for r in one] == ["a", "all"] and one[0]["value"] == one[1]["value"]


def test_the_png_level_changes_the_bytes_not_the_pixels(data):
    default, files = run_predict(data, data / "p1", "telea", "numpy")
    fast, fast_files = run_predict(data, data / "p_level1", "telea", "numpy",
                                   "--png-compress-level", "1")
    assert all(files[f] != fast_files[f] for f in files)  # zlib level 1, not Pillow's 6
    for name in files:
        np.testing.assert_array_equal(read_rgb(data / "p1" / name),
                                      read_rgb(data / "p_level1" / name))
    assert default.sha256.tolist() != fast.sha256.tolist()


def run_without(modules, module, argv, env=None):
    """Run `python -m module argv` in a fresh process; return the listed modules it imported."""
    import os
    import subprocess
    import sys
    code = ("import runpy, sys; sys.argv = ['x', *sys.argv[1:]]; "
            f"runpy.run_module('{module}', run_name='__main__'); "
            f"print(sorted(m for m in {modules!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, *map(str, argv)], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, check=True)
    return done.stdout.strip().splitlines()[-1]


def test_cpu_jobs_import_only_what_they_use(data, tmp_path):
    heavy = ["torch", "torchvision", "paddle", "lpips", "pytorch_fid"]
    no_gpu = {"CUDA_VISIBLE_DEVICES": ""}
    assert run_without(heavy, "metrics.score", [
        "--predictions", data / "p1", "--images", data / "data", "--masks", data / "masks",
        "--no-download", "--backbone-weights-dir", tmp_path, "--out", tmp_path / "s.tsv"],
        no_gpu) == "[]"
    assert run_without(heavy, "methods.predict", [
        "--method", "telea", "--framework", "numpy", "--weights", "none", "--images",
        data / "data", "--masks", data / "masks", "--out", tmp_path / "p"], no_gpu) == "[]"
    assert run_without(heavy, "methods.predict", [
        "--method", "pconv", "--framework", "torch", "--weights", "retrained", "--checkpoint",
        data / "train/weights.safetensors", "--images", data / "data", "--masks",
        data / "masks", "--out", tmp_path / "q"], no_gpu) == "['torch']"


def test_visible_gpus_are_counted_without_a_framework(monkeypatch):
    from methods import devices
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,3")
    assert devices.gpu_count() == 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert devices.gpu_count() == 0 and devices.default("paddle") == "cpu"
    assert devices.resolve("paddle", "cuda:1") == "gpu:1"
    assert devices.resolve("torch", "gpu") == "cuda"
    with pytest.raises(ValueError, match="framework-free methods run on the CPU"):
        devices.resolve("numpy", "cuda")


@pytest.mark.parametrize("env", [{"TORCH_HOME": "/t/home", "XDG_CACHE_HOME": "/x"},
                                 {"XDG_CACHE_HOME": "/x"}, {}])
def test_a_job_without_torch_finds_torchs_hub_cache(env, monkeypatch):
    """weights.hub_checkpoints() without torch loaded: the folder torch.hub.get_dir() itself
    gives for the same environment (no set_dir), + checkpoints/."""
    import sys
    for name in ("TORCH_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    expected = Path(torch.hub.get_dir()) / "checkpoints"
    monkeypatch.delitem(sys.modules, "torch")  # as in a CPU job that never imported it
    assert weights.hub_checkpoints() == expected


def test_a_one_bucket_set_computes_its_fid_once(monkeypatch):
    """The 'all' row of a one-bucket set is that bucket's value, copied: one Frechet
    distance (a 2048x2048 sqrtm, ~10 s here) per set, not two."""
    calls = []
    monkeypatch.setattr(fid, "frechet_distance",
                        lambda *stats: calls.append(1) or proxy_distance(*stats))
    rng = np.random.default_rng([9])
    acts = {"pred": rng.random((4, 2048)), "real": rng.random((4, 2048))}
    rows = score.fid_rows(pd.DataFrame({"bucket": ["a"] * 4}), acts, None, "ok")
    assert [r["bucket"] for r in rows] == ["a", "all"] and len(calls) == 1
    assert rows[1]["value"] == rows[0]["value"] and rows[1]["status"] == "ok"


def test_a_bucket_of_two_items_gets_reference_statistics(tmp_path):
    """Two items are enough for a mean and an unbiased covariance (n - 1 = 1); one is not."""
    acts = np.random.default_rng([10]).random((3, 2048))
    pairs = pd.DataFrame({"bucket": ["a", "a", "b"]})
    table = fid_reference.write_reference(pairs, acts, tmp_path, "ok")
    assert list(table.bucket) == ["a", "b", "all"] and list(table.n) == [2, 1, 3]
    assert list(table.status) == ["ok", "unavailable: FID needs at least 2 images, the bucket "
                                  "has 1", "ok"]
    with np.load(tmp_path / table.file[0]) as npz:
        np.testing.assert_allclose(npz["mu"], (acts[0] + acts[1]) / 2, rtol=1e-12)
        deviation = (acts[0] - acts[1]) / 2  # each row's deviation from the mean is +-this
        np.testing.assert_allclose(npz["sigma"], 2 * np.outer(deviation, deviation),
                                   rtol=1e-9, atol=1e-15)


def test_a_reference_of_the_wrong_width_is_refused(tmp_path):
    """Statistics of 3-d activations, with a stats.tsv that matches their files: consistent
    on disk, but not pool3's 2048-d, so no FID may use them."""
    pairs = pd.DataFrame({"bucket": ["a", "a", "a"]})
    acts = np.random.default_rng([11]).random((3, 3))
    table = fid_reference.write_reference(pairs, acts, tmp_path, "ok")
    table.to_csv(tmp_path / "stats.tsv", sep="\t", index=False)
    (tmp_path / "reference.json").write_text("{}")
    with pytest.raises(ValueError, match=r"expected finite mu \(2048,\) and sigma"):
        fid_reference.load(tmp_path, pairs)


def test_a_gpu_predict_uses_the_gpu_batch_size_else_the_cpu_one():
    assert predict.used_batch_size("cpu", 8, 64) == 8
    assert predict.used_batch_size("cuda", 8, 64) == 64
    assert predict.used_batch_size("gpu:0", 8, None) == 8


def test_a_bucket_of_two_items_gets_an_fid_and_one_of_one_says_why(monkeypatch):
    monkeypatch.setattr(fid, "frechet_distance", proxy_distance)
    rng = np.random.default_rng([12])
    acts = {"pred": rng.random((3, 2048)), "real": rng.random((3, 2048))}
    rows = score.fid_rows(pd.DataFrame({"bucket": ["a", "a", "b"]}), acts, None, "ok")
    assert [(r["bucket"], r["status"]) for r in rows] == [
        ("a", "ok"), ("b", "unavailable: FID needs at least 2 images, the bucket has 1"),
        ("all", "ok")]
    assert np.isfinite(rows[0]["value"]) and np.isnan(rows[1]["value"])
