"""The predict and score CLIs wired together on a tiny prepared set."""
import numpy as np
import pandas as pd
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from datasets.io import read_mask, read_rgb
from datasets.masks.build import build
from methods import predict
from metrics import score
from tiny import png_split


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    rng = np.random.default_rng([3, 0])
    png_split(root / "data", [rng.random((3, 32, 32)).astype(np.float32) for _ in range(3)])
    build({"kind": "irregular", "resolution": 32, "per_bucket": 1, "seed": 0}, root / "masks")
    out = root / "pred"
    predict.main(["--method", "telea", "--framework", "numpy", "--weights", "none",
                  "--images", str(root / "data"), "--masks", str(root / "masks"),
                  "--out", str(out)])
    empty = root / "no_weights"
    empty.mkdir()
    score.main(["--predictions", str(out), "--images", str(root / "data"),
                "--masks", str(root / "masks"), "--out", str(root / "score.tsv"),
                "--backbone-weights-dir", str(empty), "--no-download"])
    return root, pd.read_csv(root / "score.tsv", sep="\t")


def test_scores_are_scikit_image_values_of_the_recorded_pairs(scored):
    root, table = scored
    pairs = pd.read_csv(root / "pred/predictions.tsv", sep="\t")
    assert len(pairs) == 6 * 3  # 6 buckets x max(1 mask, 3 images)
    for pair in pairs.itertuples():
        pred = read_rgb(root / "pred" / pair.file)
        real = read_rgb(root / "data" / f"{pair.image_id}.png")
        hole = read_mask(root / "masks" / f"{pair.mask_id}.png")
        # Compositing: the known pixels are the ground truth's, exactly.
        np.testing.assert_array_equal(pred * (1 - hole), real * (1 - hole))
        rows = table[table["item"] == pair.item].set_index("metric").value
        assert rows["psnr"] == pytest.approx(peak_signal_noise_ratio(real, pred, data_range=1),
                                             abs=1e-5)
        assert rows["ssim"] == pytest.approx(structural_similarity(
            real, pred, channel_axis=0, gaussian_weights=True, sigma=1.5,
            use_sample_covariance=False, data_range=1), abs=1e-5)
        assert rows["l1_hole"] == pytest.approx(
            np.abs(pred - real)[np.repeat(hole, 3, 0) > 0].mean(), abs=1e-6)


def test_missing_backbones_are_unavailable_with_the_reason(scored):
    _, table = scored
    lpips, fid = table[table.metric == "lpips"], table[table.metric == "fid"]
    assert len(lpips) == 18 and len(fid) == 7  # one FID row per bucket and one for the set
    assert list(fid.bucket)[-1] == "all"
    assert lpips.value.isna().all() and fid.value.isna().all()
    assert lpips.status.str.contains("alexnet-owt-7be5be79.pth").all()
    assert fid.status.str.contains("pt_inception-2015-12-05-6726825d.pth").all()
    assert (table[~table.metric.isin(["lpips", "fid"])].status == "ok").all()
