"""Atomic writes, the PNG round trip at the harness boundary, and how source images are decoded:
upright (EXIF Orientation), and refused, naming the file, when they have no faithful RGB reading
(issue 12, fault 4)."""
import io

import numpy as np
import pytest
from PIL import Image

from datasets import prepare
from datasets.io import (atomic_write_text, decode_source, read_mask, read_rgb, square_resize,
                         write_png)


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


def jpeg(pixels, orientation=None):
    buffer = io.BytesIO()
    image = Image.fromarray(pixels)
    exif = image.getexif()
    if orientation is not None:
        exif[0x0112] = orientation
    image.save(buffer, format="JPEG", quality=95, exif=exif)
    return buffer.getvalue()


def test_a_photograph_stored_rotated_is_prepared_upright():
    """Fault 4. A viewer shows a JPEG with EXIF Orientation 6 turned 90 degrees clockwise
    (EXIF 2.32, Table 4: row 0 is the visual right-hand side). Stored 40 wide x 20 tall, it is
    seen 20 wide x 40 tall, so the centred square is the middle of the tall picture. Reference:
    the same file decoded without its tag, turned clockwise with numpy, cropped by CROP_RULE."""
    rng = np.random.default_rng([12, 2])
    stored = np.kron(rng.integers(0, 256, (5, 10, 3)), np.ones((4, 4, 1))).astype(np.uint8)
    with Image.open(io.BytesIO(jpeg(stored))) as im:
        upright = np.rot90(np.asarray(im.convert("RGB")), k=-1)  # clockwise
    assert upright.shape == (40, 20, 3)
    expected = square_resize(Image.fromarray(np.ascontiguousarray(upright)), 16)
    got = decode_source(jpeg(stored, orientation=6), 16)
    np.testing.assert_array_equal(got, expected)
    sideways = decode_source(jpeg(stored), 16)
    assert np.abs(sideways.astype(int) - expected).mean() > 20


def encoded(image, fmt="PNG", **options):
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_sixteen_bit_grey_is_scaled_not_clipped():
    """Pillow's convert('RGB') clips a 16-bit value at 255; 65535 is white, 257 x v is v."""
    values = np.array([[0, 257 * 10, 257 * 128, 65535]], dtype=np.uint16).repeat(4, axis=0)
    got = decode_source(encoded(Image.fromarray(values)), 4)
    np.testing.assert_array_equal(got[0, :, 0], [0, 10, 128, 255])
    assert (got == got[..., :1]).all()  # grey in all three channels


def test_opaque_alpha_grey_and_palette_images_read_as_their_colours():
    rng = np.random.default_rng([12, 3])
    rgb = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    rgba = np.concatenate([rgb, np.full((8, 8, 1), 255, np.uint8)], axis=2)
    np.testing.assert_array_equal(decode_source(encoded(Image.fromarray(rgba)), 8), rgb)
    grey = rgb[..., 0]
    np.testing.assert_array_equal(decode_source(encoded(Image.fromarray(grey)), 8),
                                  np.stack([grey] * 3, axis=2))
    palette = Image.fromarray(rgb).quantize(16)
    np.testing.assert_array_equal(decode_source(encoded(palette), 8),
                                  np.asarray(palette.convert("RGB")))


@pytest.mark.parametrize("image, expected", [
    (Image.fromarray(np.zeros((4, 4, 4), np.uint8)), "16 pixels are transparent"),
    (Image.new("P", (4, 4)), "16 pixels are transparent"),
    (Image.fromarray(np.zeros((4, 4), np.int32)), "32-bit integer"),
    (Image.fromarray(np.zeros((4, 4), np.float32)), "32-bit float"),
    (Image.new("RGB", (4, 4)), "an image of 2 frames")],
    ids=["rgba", "palette", "int32", "float", "animated"])
def test_images_with_no_faithful_rgb_reading_are_refused_naming_the_file(tmp_path, image,
                                                                         expected):
    options = {"transparency": 0} if image.mode == "P" else {}
    fmt = "TIFF" if image.mode in ("I", "F") else "PNG"
    if image.mode == "RGB":  # two frames, an animated GIF
        fmt, options = "GIF", {"save_all": True, "append_images": [Image.new("RGB", (4, 4), "red")]}
    path = tmp_path / "odd.img"
    path.write_bytes(encoded(image, fmt, **options))
    pixels, _, error = prepare.decode_task((path, 4))
    assert pixels is None and expected in error
    failures = []
    assert list(prepare.decoded([("odd", path)], tmp_path, 4, 1, failures)) == []
    assert failures[0].startswith(f"{path}: ") and expected in failures[0]
