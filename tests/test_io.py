"""Atomic writes and the PNG round trip at the harness boundary."""
import numpy as np
import pytest

from datasets.io import atomic_write_text, read_mask, read_rgb, write_png


def test_a_failed_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")

    def fail(*_):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", fail)
    with pytest.raises(OSError):
        atomic_write_text(target, "new")
    assert target.read_text() == "old" and sorted(tmp_path.iterdir()) == [target]
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_eight_bit_values_survive_the_png_round_trip_exactly(tmp_path):
    # Every 8-bit value v is stored as v/255 in float32; writing rounds v/255*255 back to v, so
    # the oracle's composite is bit-identical to the ground truth after saving.
    values = np.arange(256, dtype=np.float32).reshape(1, 16, 16) / 255.0
    image = np.concatenate([values, values[:, ::-1], values.transpose(0, 2, 1)])
    write_png(tmp_path / "x.png", image)
    np.testing.assert_array_equal(read_rgb(tmp_path / "x.png"), image)
    write_png(tmp_path / "m.png", (values > 0.5).astype(np.float32))
    np.testing.assert_array_equal(read_mask(tmp_path / "m.png"), (values > 0.5))


def test_a_grey_level_mask_is_refused_with_its_file_named(tmp_path):
    write_png(tmp_path / "m.png", np.full((1, 4, 4), 0.5, np.float32))
    with pytest.raises(ValueError, match="m.png: mask is not binary"):
        read_mask(tmp_path / "m.png")


def test_an_atomic_write_makes_the_folders_it_needs(tmp_path):
    atomic_write_text(tmp_path / "a" / "b" / "c.txt", "x")
    assert (tmp_path / "a" / "b" / "c.txt").read_text() == "x"
    assert [p.name for p in (tmp_path / "a" / "b").iterdir()] == ["c.txt"]  # no temporary left
