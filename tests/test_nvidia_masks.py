"""The NVIDIA irregular-mask importer: folder checks, the resize rule, both bucketing rules and
the subsample on fabricated folders; the published set itself when ../shared/data has it."""
import hashlib
import json
from collections import Counter
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from datasets.io import png_bytes, read_mask
from datasets.masks import build as build_cli
from datasets.masks import nvidia
from datasets.masks.buckets import LABELS, bucket_index
from reports.page import mask_set_section

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared/data/nvidia_irregular_masks"
PUBLISHED = {"kind": "nvidia", "resolution": 256, "bucketing": "published"}
MEASURED = {**PUBLISHED, "bucketing": "measured"}


def strip(rows):
    """A 512x512 mask whose top `rows` rows are hole (255)."""
    mask = np.zeros((512, 512), np.uint8)
    mask[:rows] = 255
    return mask


def fabricate(root, masks):
    """Write masks as root/testing_mask_dataset/00000.png ...; return root."""
    folder = root / "testing_mask_dataset"
    folder.mkdir(parents=True)
    for i, mask in enumerate(masks):
        (folder / f"{i:05d}.png").write_bytes(png_bytes(mask))
    return root


def empty_files(root, names):
    folder = root / "testing_mask_dataset"
    folder.mkdir(parents=True)
    for name in names:
        (folder / name).touch()
    return root


# Twelve masks, two per published block (COUNT shrunk to 12: block 2, the second of each
# block is "border"). Top-row strips of r rows have hole ratio r/512 at 512; at 256 an even r
# gives r/2 rows (same ratio) and an odd r gives (r+1)/2 rows, since the block holding rows r-1
# and r averages to exactly 0.5, which the rule counts as hole.
#   index:          0    1   2   3   4    5    6    7    8    9    10   11
ROWS = [128, 51, 78, 78, 128, 128, 180, 180, 230, 230, 282, 0]
# Measured at 256: 0: 64/256 = 0.25 -> bucket 2 (published 0); 1: 26/256 = 0.1016 -> bucket 1
# (at 512, 51/512 = 0.0996 -> bucket 0); 2,3: 39/256 = 0.152 -> 1; 4,5: 0.25 -> 2;
# 6,7: 90/256 = 0.352 -> 3; 8,9: 115/256 = 0.449 -> 4; 10: 141/256 = 0.551 -> 5; 11: 0 -> none.
MEASURED_256 = [LABELS[b] for b in (2, 1, 1, 1, 2, 2, 3, 3, 4, 4, 5)] + ["none"]


@pytest.fixture
def twelve(tmp_path, monkeypatch):
    monkeypatch.setattr(nvidia, "COUNT", 12)
    return fabricate(tmp_path / "nv", [strip(r) for r in ROWS])


def read_manifest(folder):
    return pd.read_csv(folder / "manifest.tsv", sep="\t", dtype={"id": str})


def test_missing_folder_names_it_and_says_where_to_get_the_set(tmp_path):
    with pytest.raises(nvidia.NvidiaMasksError) as err:
        nvidia.build(PUBLISHED, tmp_path / "absent", tmp_path / "out")
    message = str(err.value)
    assert f"{tmp_path / 'absent' / 'testing_mask_dataset'}: folder not found" in message
    assert nvidia.URL in message and "nvidia_masks_dir" in message and "12,000" in message
    assert "\n" not in message


def test_wrong_count_names_the_folder_and_the_expected_count(tmp_path):
    root = empty_files(tmp_path, [f"{i:05d}.png" for i in range(11_999)])
    with pytest.raises(nvidia.NvidiaMasksError) as err:
        nvidia.check_folder(root)
    message = str(err.value)
    assert f"{root / 'testing_mask_dataset'} holds 11,999 files" in message
    assert "exactly 12,000 files named 00000.png ... 11999.png (missing: 11999.png)" in message


def test_a_misnamed_file_is_named_as_missing_and_unexpected(tmp_path):
    names = [f"{i:05d}.png" for i in range(12_000) if i != 5000] + ["5000.png"]
    with pytest.raises(nvidia.NvidiaMasksError) as err:
        nvidia.check_folder(empty_files(tmp_path, names))
    assert "holds 12,000 files" in str(err.value)
    assert "(missing: 05000.png; unexpected: 5000.png)" in str(err.value)


@pytest.mark.parametrize("bad, found", [
    (np.full((512, 512), 128, np.uint8), "mode L, 512x512, 262,144 pixels neither 0 nor 255"),
    (np.zeros((256, 256), np.uint8), "mode L, 256x256"),
    (np.zeros((512, 512, 3), np.uint8), "mode RGB, 512x512"),
])
def test_a_bad_mask_is_named_with_what_was_expected(twelve, tmp_path, bad, found):
    path = twelve / "testing_mask_dataset/00007.png"
    path.write_bytes(png_bytes(bad))
    with pytest.raises(nvidia.NvidiaMasksError) as err:
        nvidia.build(PUBLISHED, twelve, tmp_path / "out")
    assert str(err.value).startswith(f"{path}: expected a 512x512 binary 8-bit greyscale mask "
                                     f"(mode L, values 0 and 255 only), found {found}.")


def test_the_resize_rule_on_a_hand_derived_mask():
    hole = np.zeros((512, 512), bool)
    hole[:, 100] = True          # 1-px stroke: half of each 2x2 block of column 50 -> 256 holes
    hole[300, 300] = True        # lone pixel: a quarter of its block -> no hole
    hole[401, 200:300] = True    # 1-px row: half of blocks (200, 100..149) -> 50 holes
    hole[450, 450] = hole[450, 451] = hole[451, 450] = True  # 3/4 of block (225, 225) -> 1 hole
    small = nvidia.resize(hole, 256)
    expected = np.zeros((256, 256), bool)
    expected[:, 50] = True
    expected[200, 100:150] = True
    expected[225, 225] = True
    assert small.shape == (256, 256) and (small == expected).all()
    assert small.sum() == 256 + 50 + 1  # 307/65536; at 512 it was 512 + 1 + 100 + 3 = 616
    # A non-integer scale: the left half as hole at 200 px. Output column 99 covers source
    # columns [253.44, 256), all hole; column 100 covers [256, 258.56), none; so 100 columns.
    half = np.zeros((512, 512), bool)
    half[:, :256] = True
    assert (nvidia.resize(half, 200) == (np.arange(200) < 100)[None, :]).all()
    assert nvidia.resize(hole, 512) is hole


def test_published_and_measured_bucketing(twelve, tmp_path):
    nvidia.build(PUBLISHED, twelve, tmp_path / "p")
    nvidia.build(MEASURED, twelve, tmp_path / "m")
    published, measured = read_manifest(tmp_path / "p"), read_manifest(tmp_path / "m")
    assert list(published.id) == [f"nv{i:05d}" for i in range(12)]
    assert list(published.source) == [f"{i:05d}.png" for i in range(12)]
    assert list(published.bucket) == [LABELS[i // 2] for i in range(12)]
    assert list(published.border) == [0, 1] * 6
    assert list(published.measured_bucket) == MEASURED_256
    assert list(measured.bucket) == MEASURED_256
    assert list(published.hole_ratio * 256) == [r - r // 2 for r in ROWS]  # ceil(r/2) rows
    record = json.loads((tmp_path / "m/import.json").read_text())
    assert record["changed_bucket"] == 3  # masks 0, 1 and 11
    assert record["published_to_measured"][LABELS[0]] == {LABELS[1]: 1, LABELS[2]: 1}
    assert record["published_to_measured"][LABELS[5]] == {LABELS[5]: 1, "none": 1}
    assert record["published_buckets"][LABELS[3]] == {"masks": 2, "no_border": 1, "border": 1}
    for row in published.itertuples():  # the written PNG is the one the manifest describes
        data = (tmp_path / "p" / row.file).read_bytes()
        assert row.sha256 == hashlib.sha256(data).hexdigest()
        assert read_mask(tmp_path / "p" / row.file).mean() == pytest.approx(row.hole_ratio)


def test_at_512_the_masks_are_copied_and_only_the_odd_strip_stays_in_its_block(twelve, tmp_path):
    nvidia.build({**MEASURED, "resolution": 512}, twelve, tmp_path)
    manifest = read_manifest(tmp_path)
    assert list(manifest.hole_ratio * 512) == ROWS
    assert manifest.measured_bucket[1] == LABELS[0]  # 51/512 = 0.0996
    with Image.open(tmp_path / "nv00010.png") as im:
        assert (np.asarray(im) == strip(282)).all()


def test_evenly_spaced_positions():
    assert nvidia.evenly_spaced(2000, 20) == list(range(0, 2000, 100))  # 10 + 10 per half
    assert nvidia.evenly_spaced(7, 3) == [0, 2, 4]  # 7*1//3 = 2, 7*2//3 = 4
    assert nvidia.evenly_spaced(3, 5) == [0, 1, 2]
    assert nvidia.evenly_spaced(4, None) == [0, 1, 2, 3]


def test_per_bucket_takes_evenly_from_both_halves_and_reruns_byte_identically(tmp_path,
                                                                              monkeypatch):
    monkeypatch.setattr(nvidia, "COUNT", 24)  # blocks of 4: two no-border, then two border
    root = fabricate(tmp_path / "nv", [strip(2 * i) for i in range(24)])
    definition = {**PUBLISHED, "per_bucket": 2}
    nvidia.build(definition, root, tmp_path / "a")
    nvidia.build(definition, root, tmp_path / "b")
    manifest = read_manifest(tmp_path / "a")
    # Positions 0 and 4//2 = 2 of each block: indices 0, 2, 4, 6, ..., 22.
    assert list(manifest.id) == [f"nv{i:05d}" for i in range(0, 24, 2)]
    assert list(manifest.border) == [0, 1] * 6
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == sorted(["manifest.tsv", "import.json", *manifest.file])
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()
               for f in files)
    record = json.loads((tmp_path / "a/import.json").read_text())
    assert record["kept_per_bucket"] == {label: 2 for label in LABELS}


def test_block_counts_tell_border_from_no_border(tmp_path, monkeypatch):
    # COUNT 18: blocks of 3, the first 3 // 2 = 1 of each without border, the other 2 with.
    monkeypatch.setattr(nvidia, "COUNT", 18)
    root = fabricate(tmp_path / "nv", [strip(2 * i + 2) for i in range(18)])
    nvidia.build(PUBLISHED, root, tmp_path / "out")
    record = json.loads((tmp_path / "out/import.json").read_text())
    assert record["published_buckets"] == {
        label: {"masks": 3, "no_border": 1, "border": 2} for label in LABELS}


def test_an_nvidia_set_without_its_folder_is_refused_before_reading(tmp_path):
    with pytest.raises(SystemExit, match="pass --nvidia-dir, the folder holding"):
        build_cli.main(["--name", "nvidia_256", "--definitions",
                        str(REPO / "configs/mask_sets.yaml"), "--out", str(tmp_path / "out")])


def test_cli_turns_the_error_into_one_message(tmp_path):
    with pytest.raises(SystemExit) as err:
        build_cli.main(["--name", "nvidia_256", "--definitions",
                        str(REPO / "configs/mask_sets.yaml"), "--out", str(tmp_path / "out"),
                        "--nvidia-dir", str(tmp_path / "absent")])
    assert str(err.value).startswith(f"{tmp_path / 'absent' / 'testing_mask_dataset'}: folder "
                                     "not found")


def test_schema_accepts_the_defined_sets_and_rejects_unknown_keys():
    schema = yaml.safe_load((REPO / "configs/mask_sets.schema.yaml").read_text())
    definitions = yaml.safe_load((REPO / "configs/mask_sets.yaml").read_text())
    jsonschema.validate(definitions, schema)
    assert definitions["nvidia_256_sample"] == {**PUBLISHED, "per_bucket": 20}
    for bad in ({**PUBLISHED, "seed": 1}, {**PUBLISHED, "bucketing": "area"},
                {**PUBLISHED, "resolution": 1024}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"x": bad}, schema)


def test_the_report_states_the_rules_in_words():
    html = mask_set_section("nv", {**MEASURED, "per_bucket": 20}, [], [], {}, "", "")
    assert ("NVIDIA irregular test masks (Liu et al. 2018), resized to 256 px (area average, "
            "hole where ≥ 0.5), bucketed by measured hole ratio after resizing") in html
    assert "; subsample: 20 per bucket" in html
    assert "bucketed by published block</p>" in mask_set_section("nv", PUBLISHED, [], [], {}, "",
                                                                  "")


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """The published set imported at 256, and an independent pass over its 12,000 sources:
    the hole count at 512 and, at 256, the count of 2x2 blocks at least half hole (the rule
    written out for the exact factor 2, without OpenCV)."""
    if not (REAL / "testing_mask_dataset").is_dir():
        pytest.skip(f"{REAL}/testing_mask_dataset is absent (the shared test data is only on "
                    "development machines and CI)")
    out = tmp_path_factory.mktemp("nvidia_256")
    nvidia.build(PUBLISHED, REAL, out)
    holes_512, holes_256 = [], []
    for i in range(12_000):
        with Image.open(REAL / f"testing_mask_dataset/{i:05d}.png") as im:
            hole = np.asarray(im) >> 7  # 0/255 -> 0/1 (the importer has checked it is binary)
        quarters = hole[0::2, 0::2] + hole[1::2, 0::2] + hole[0::2, 1::2] + hole[1::2, 1::2]
        holes_512.append(int(np.count_nonzero(hole)))
        holes_256.append(int(np.count_nonzero(quarters >= 2)))
    return read_manifest(out), json.loads((out / "import.json").read_text()), holes_512, holes_256


def test_real_set_has_2000_per_block_half_border(real):
    manifest, record, _, _ = real
    assert len(manifest) == 12_000
    assert manifest.groupby("published_bucket").size().to_dict() == {b: 2000 for b in LABELS}
    assert list(manifest.border) == ([0] * 1000 + [1] * 1000) * 6
    assert record["published_buckets"] == {
        b: {"masks": 2000, "no_border": 1000, "border": 1000} for b in LABELS}


def test_real_set_at_512_lies_in_its_published_blocks(real):
    _, _, holes_512, _ = real
    outside = [i for i, h in enumerate(holes_512) if bucket_index(h, 512 * 512) != i // 2000]
    assert outside == []  # every one of the 12,000 published masks is in its block at 512


def test_real_set_at_256_matches_the_rule_and_import_json(real):
    manifest, record, _, holes_256 = real
    assert list((manifest.hole_ratio * 256 * 256).round().astype(int)) == holes_256
    measured = [bucket_index(h, 256 * 256) for h in holes_256]
    changes = Counter((i // 2000, m) for i, m in enumerate(measured) if m != i // 2000)
    # Growing holes by the ">= 0.5" rule moves 470 masks (3.9%) up exactly one bucket; 51 of
    # the (0.5,0.6] block pass 0.6 and fall outside the buckets.
    assert changes == {(0, 1): 91, (1, 2): 91, (2, 3): 99, (3, 4): 72, (4, 5): 66, (5, None): 51}
    assert record["changed_bucket"] == sum(changes.values()) == 470
    assert list(manifest.bucket) == list(manifest.published_bucket)
