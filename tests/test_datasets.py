"""Dataset recipes on fabricated folders in each layout, and CelebA-HQ on real faces."""
import hashlib
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from datasets import store
from datasets.io import ChangedFile, decode_source, sha256_bytes
from datasets.prepare import DatasetError, DatasetMissing, main, prepare, require, settings

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "celebahq_sample"


def jpeg(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="JPEG", quality=95)


def noise(seed, height, width):
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def celeba(root, ids=(1, 2, 3, 182638), partition=True):
    """img_align_celeba/ with 178x218 images and list_eval_partition.txt (id 182638 is the
    first official test image)."""
    for i in ids:
        jpeg(root / "img_align_celeba" / f"{i:06d}.jpg", noise(i, 218, 178))
    if partition:
        lines = [f"{i:06d}.jpg {0 if i < 162771 else 1 if i < 182638 else 2}"
                 for i in range(1, 202600)]
        (root / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return root


def options(name, **given):
    return settings(name, {"datasets": {name: given}})


def run(name, root, out, **given):
    return prepare(name, root, out, options(name, root=str(root), **given))


def test_celeba_subset_prepares_the_official_split_with_the_centre_crop(tmp_path):
    root = celeba(tmp_path / "celeba")
    # A source whose top and bottom 20 rows are white and the rest black: the centred 178x178
    # square of a 178x218 image starts at row (218 - 178) // 2 = 20, so it is all black, and
    # resizing a constant image gives the constant: the prepared image must be exactly 0.
    stripes = np.zeros((218, 178, 3), np.uint8)
    stripes[:20], stripes[-20:] = 255, 255
    Image.fromarray(stripes).save(root / "img_align_celeba" / "000002.jpg", format="PNG")
    record = run("celeba", root, tmp_path / "out", allow_subset=True)
    assert record["counts"] == {"train": 3, "test": 1}
    assert record["subset"] == "subset: 4 of 202,599 images"
    train = pd.read_csv(tmp_path / "out" / "train" / "manifest.tsv", sep="\t", dtype={"id": str})
    test = pd.read_csv(tmp_path / "out" / "test" / "manifest.tsv", sep="\t", dtype={"id": str})
    assert list(train.id) == ["000001", "000002", "000003"] and list(test.id) == ["182638"]
    images = store.open_train(tmp_path / "out" / "train")
    assert images.shape == (3, 3, 256, 256)
    assert images[1].max() == 0 and images[0].max() > 0.5
    source = (root / "img_align_celeba" / "000003.jpg").read_bytes()
    # CelebA trains from its JPEGs in place (TRAIN_FILES "source"): the row names the file
    assert train.file[2] == "img_align_celeba/000003.jpg"
    assert train.sha256[2] == hashlib.sha256(source).hexdigest()
    png = (tmp_path / "out" / "test" / test.file[0]).read_bytes()
    assert test.sha256[0] == hashlib.sha256(png).hexdigest()


def test_a_subset_is_refused_unless_the_config_allows_it(tmp_path):
    root = celeba(tmp_path / "celeba")
    with pytest.raises(DatasetError) as err:
        run("celeba", root, tmp_path / "out")
    message = str(err.value)
    assert "found 4 of the 202,599 images" in message and "allow_subset: true" in message
    assert not (tmp_path / "out").exists()


def test_a_missing_partition_file_is_named_with_where_to_get_it(tmp_path):
    root = celeba(tmp_path / "celeba", partition=False)
    with pytest.raises(DatasetError, match=r"list_eval_partition\.txt is missing.*"
                                           r"mmlab\.ie\.cuhk\.edu\.hk"):
        run("celeba", root, tmp_path / "out", allow_subset=True)


def test_a_truncated_jpeg_is_named_and_the_earlier_preparation_survives(tmp_path):
    root = celeba(tmp_path / "celeba")
    run("celeba", root, tmp_path / "out", allow_subset=True)
    before = (tmp_path / "out" / "train" / "manifest.tsv").read_bytes()
    bad = root / "img_align_celeba" / "000003.jpg"
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    with pytest.raises(DatasetError) as err:
        run("celeba", root, tmp_path / "out", allow_subset=True)
    assert f"{bad}: image file is truncated" in str(err.value)
    assert "1 image(s)" in str(err.value) and "nothing was written" in str(err.value)
    assert (tmp_path / "out" / "train" / "manifest.tsv").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["celeba", "out"]  # no staging left


def test_a_missing_dataset_names_the_folder_the_source_and_the_layout(tmp_path):
    config = {"data_root": str(tmp_path / "nowhere"), "datasets": {}}
    with pytest.raises(DatasetMissing) as err:
        require("places2", config)
    message = str(err.value)
    assert str(tmp_path / "nowhere" / "places2") in message
    assert "places2.csail.mit.edu" in message and "val_256/Places365_val_00000001.jpg" in message
    assert "datasets.places2.root" in message


def test_the_cli_turns_errors_into_one_message(tmp_path):
    with pytest.raises(SystemExit, match="dataset 'celeba' not found"):
        main(["--dataset", "celeba", "--root", str(tmp_path / "x"), "--out", str(tmp_path)])


def test_official_split_that_leaves_no_test_image_points_to_interleaved(tmp_path):
    root = celeba(tmp_path / "celeba", ids=(1, 2, 3))
    with pytest.raises(DatasetError, match="no test image.*split: interleaved"):
        run("celeba", root, tmp_path / "out", allow_subset=True)


def test_interleaved_split_needs_allow_subset():
    with pytest.raises(ValueError, match="interleaved' is for subsets only"):
        options("celeba", split="interleaved")


def test_places2_lists_give_the_train_and_validation_splits(tmp_path):
    root = tmp_path / "places2"
    train = ["/a/airfield/00000001.jpg", "/b/bar/00000002.jpg", "/a/apartment_building/outdoor/"
             "00000003.jpg"]
    for k, name in enumerate(train):
        jpeg(root / "data_256" / name.lstrip("/"), noise(k, 256, 256))
    jpeg(root / "val_256" / "Places365_val_00000001.jpg", noise(9, 256, 256))
    (root / "places365_train_standard.txt").write_text(
        "".join(f"{name} {k}\n" for k, name in enumerate(train)))
    (root / "places365_val.txt").write_text("Places365_val_00000001.jpg 165\n")
    record = run("places2", root, tmp_path / "out", allow_subset=True)
    assert record["counts"] == {"train": 3, "test": 1}
    ids = pd.read_csv(tmp_path / "out" / "train" / "manifest.tsv", sep="\t").id
    assert list(ids) == ["a_airfield_00000001", "b_bar_00000002",
                         "a_apartment_building_outdoor_00000003"]
    # 256x256 sources are kept as decoded: the store holds Pillow's decoding, pixel for pixel.
    decoded = np.asarray(Image.open(root / "val_256" / "Places365_val_00000001.jpg"))
    test = pd.read_csv(tmp_path / "out" / "test" / "manifest.tsv", sep="\t")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "out" / "test" /
                                                        test.file[0])), decoded)


def test_places2_malformed_list_line_is_named(tmp_path):
    root = tmp_path / "places2"
    (root / "data_256").mkdir(parents=True)
    (root / "val_256").mkdir()
    (root / "places365_train_standard.txt").write_text("/a/airfield/00000001.jpg\n")
    with pytest.raises(DatasetError, match=r"places365_train_standard\.txt, line 1"):
        run("places2", root, tmp_path / "out", allow_subset=True)


def test_celebahq_refuses_a_file_not_named_by_its_celeba_id(tmp_path):
    jpeg(tmp_path / "celebahq" / "000004.jpg", noise(4, 64, 64))
    jpeg(tmp_path / "celebahq" / "12.jpg", noise(5, 64, 64))
    with pytest.raises(DatasetError, match=r"12\.jpg: not a CelebA-HQ face.*mapping"):
        run("celebahq", tmp_path / "celebahq", tmp_path / "out", allow_subset=True)


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    if not SAMPLE.is_dir():
        pytest.skip(f"{SAMPLE} is absent (real data exists on development machines and in CI "
                    "only)")
    out = tmp_path_factory.mktemp("celebahq") / "celebahq"
    return out, run("celebahq", SAMPLE, out, allow_subset=True, split="interleaved")


def test_real_celebahq_faces_prepare_as_a_stated_subset(sample):
    out, record = sample
    assert record["counts"] == {"train": 135, "test": 15} and record["found"] == 150
    assert record["subset"] == "subset: 150 of 30,000 images"
    assert record["split"].startswith("NOT the official split")
    ids = sorted(p.stem for p in SAMPLE.glob("*.jpg"))
    test = pd.read_csv(out / "test" / "manifest.tsv", sep="\t", dtype={"id": str})
    assert list(test.id) == ids[9::10]


def test_real_celebahq_faces_match_an_area_downscale(sample):
    """An independent reference: OpenCV's INTER_AREA 4x box average of the 1024x1024 face.
    Bicubic with antialiasing and a box filter differ at edges, by a few levels on average."""
    out, _ = sample
    train = pd.read_csv(out / "train" / "manifest.tsv", sep="\t", dtype={"id": str})
    images = store.open_train(out / "train")
    for k in (0, 67, 134):
        face = np.asarray(Image.open(SAMPLE / train.source[k]).convert("RGB"))
        assert face.shape == (1024, 1024, 3)
        expected = cv2.resize(face, (256, 256), interpolation=cv2.INTER_AREA).astype(float)
        got = images[k].transpose(1, 2, 0) * 255
        assert np.abs(got - expected).mean() < 2.0
        assert np.corrcoef(got.ravel(), expected.ravel())[0, 1] > 0.99


def test_the_store_reads_back_as_the_harness_image_convention(tmp_path):
    """Indexing the store gives what reading the same pixels from PNG gives (datasets/io.py
    read_rgb), as contiguous (n, 3, H, W) float32: a strided view would reach torch as a
    channels-last tensor and change its kernels. The mean pixel comes from the manifest's
    integer sums: exactly the mean of the uint8 values, over 255."""
    images = np.random.default_rng(3).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    split = store.open_train(store.write_png_split(tmp_path, images))
    batch = split[np.array([2, 0, 2])]
    assert batch.shape == (3, 3, 8, 8) and batch.flags["C_CONTIGUOUS"]
    for got, k in zip(batch, (2, 0, 2)):
        np.testing.assert_array_equal(got, images[k].transpose(2, 0, 1) / np.float32(255))
    exact = images.reshape(-1, 3).astype(np.int64).sum(axis=0) / (4 * 8 * 8 * 255)
    assert split.channel_mean().tolist() == exact.tolist()


def test_a_training_image_changed_after_preparation_is_not_trained_on(tmp_path):
    images = np.random.default_rng(4).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    split = store.open_train(store.write_png_split(tmp_path, images))
    store.write_test_image(tmp_path, "t1", images[0])  # t1.png now holds image 0
    split[0]
    with pytest.raises(ChangedFile, match=r"t1\.png is not the file .*manifest\.tsv records"):
        split[1]


def test_a_source_store_reads_the_dataset_files_by_the_crop_rule(tmp_path):
    """TRAIN_FILES "source": the manifest names the source files, decoded at every read."""
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    face = np.random.default_rng(5).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    Image.fromarray(face).save(root / "a" / "x.png")
    data = (root / "a" / "x.png").read_bytes()
    folder = tmp_path / "train"
    folder.mkdir()
    store.write_manifest(folder, [dict(id="x", file="a/x.png", sha256=sha256_bytes(data),
                                       **store.pixel_sums(decode_source(data, 16)))])
    store.write_train_layout(folder, "source", 16, root)
    split = store.open_train(folder)
    assert split.shape == (1, 3, 16, 16)
    np.testing.assert_array_equal(split[0], decode_source(data, 16).transpose(2, 0, 1)
                                  / np.float32(255))
    assert not (folder / "x.png").exists()


def test_a_store_layout_names_its_files_kind_and_a_root_exactly_for_sources(tmp_path):
    for files, root in (("jpeg", None), ("source", None), ("png", tmp_path)):
        with pytest.raises(ValueError, match="files must be 'png', or 'source' with a root"):
            store.write_train_layout(tmp_path, files, 8, root)


def test_a_training_split_from_before_the_file_store_is_refused_with_the_fix(tmp_path):
    (tmp_path / "manifest.tsv").write_text("id\tsha256\nt0\tab\n")
    with pytest.raises(ValueError, match="no store.json.*prepare the dataset again"):
        store.open_train(tmp_path)


def test_counts_above_the_recipe_are_refused_and_a_complete_set_with_other_splits_is_kept(
        tmp_path, monkeypatch, caplog):
    from datasets.celeba import prepare as recipe
    root = celeba(tmp_path / "celeba")  # 3 train ids and 1 test id
    monkeypatch.setattr(recipe, "EXPECTED", {"train": 2, "val": 0, "test": 1})
    with pytest.raises(DatasetError, match="4 images, more than the 3 the recipe expects"):
        run("celeba", root, tmp_path / "out")
    monkeypatch.setattr(recipe, "EXPECTED", {"train": 2, "val": 0, "test": 2})
    record = run("celeba", root, tmp_path / "out")
    assert record["counts"] == {"train": 3, "test": 1} and record["subset"] is None
    assert "split sizes" in caplog.text
