"""Image and table I/O at the harness boundary.

Convention (DESIGN.md): images are float32 RGB (3,H,W) in [0,1]; masks float32 (1,H,W), 1 = hole.
On disk both are 8-bit PNG (masks: 255 = hole). Every write goes to a temporary file in the
target folder and is renamed into place, so an interrupted job never leaves a half-written file.
"""
import hashlib
import io
import os
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps


def atomic_write_bytes(path, data):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; results and reports are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def atomic_write_text(path, text):
    atomic_write_bytes(path, text.encode("utf-8"))


def tsv_text(frame):
    """A pandas DataFrame as TSV text (floats in full precision, 'inf' kept)."""
    return frame.to_csv(sep="\t", index=False, float_format="%.10g")


def write_tsv(path, frame):
    """Write tsv_text(frame) atomically."""
    atomic_write_text(path, tsv_text(frame))


# Pillow's default zlib level. Level 1 encodes a 256 px face 3.2x faster (5.7 against 18.3 ms)
# for 7% more bytes, with the same pixels (README "Evaluation at full size"; config
# png_compress_level).
PNG_COMPRESS_LEVEL = 6


def png_bytes(array_u8, compress_level=PNG_COMPRESS_LEVEL):
    """Encode an (H,W) or (H,W,3) uint8 array as PNG. Pillow's encoder is deterministic for a
    given version (pinned in requirements.txt) and level, which makes mask sets and
    predictions byte-identical."""
    buf = io.BytesIO()
    Image.fromarray(array_u8).save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def sha256_file(path):
    """sha256 of a file, read in 1 MiB blocks (backbone weights run to hundreds of MB)."""
    return file_digests(path, {"sha256"})["sha256"]


def file_digests(path, algorithms):
    """{algorithm: hex digest} of a file for each hashlib algorithm named, read once in 1 MiB
    blocks (a released checkpoint is pinned by an md5 or sha1 and recorded by its sha256)."""
    digests = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            for digest in digests.values():
                digest.update(block)
    return {name: digest.hexdigest() for name, digest in digests.items()}


def to_u8(chw):
    """[0,1] float (C,H,W) -> uint8 (H,W,C) or (H,W), rounding to nearest."""
    arr = np.clip(np.rint(np.asarray(chw, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
    return arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)


def write_png(path, chw, compress_level=PNG_COMPRESS_LEVEL):
    """Write a [0,1] float (C,H,W) array as 8-bit PNG; return the file's sha256."""
    data = png_bytes(to_u8(chw), compress_level)
    atomic_write_bytes(path, data)
    return sha256_bytes(data)


class ChangedFile(ValueError):
    """A file is not the one the table that lists it recorded (its sha256 differs)."""


def read_recorded(path, sha256, record):
    """The bytes of path, refused unless they hash to the sha256 that `record` (the manifest or
    predictions table listing the file) holds: a file replaced or edited after its stage wrote
    it is never read as if it were that stage's output."""
    data = Path(path).read_bytes()
    found = sha256_bytes(data)
    if found != sha256:
        raise ChangedFile(
            f"{path} is not the file {record} records (sha256 {found[:16]}..., recorded "
            f"{sha256[:16]}...): it changed after its stage wrote it. Delete {record} and run "
            "the workflow again, which rebuilds it and everything made from it")
    return data


def _open(path, sha256, record):
    return Image.open(path if sha256 is None else io.BytesIO(read_recorded(path, sha256, record)))


def read_rgb(path, sha256=None, record=None):
    """8-bit RGB PNG -> float32 (3,H,W) in [0,1]; with sha256, only the file `record` lists."""
    with _open(path, sha256, record) as im:
        if im.mode != "RGB":
            raise ValueError(f"{path}: expected an 8-bit RGB image, found mode {im.mode}")
        arr = np.asarray(im, dtype=np.float32)
    return arr.transpose(2, 0, 1) / 255.0


def read_mask(path, sha256=None, record=None):
    """8-bit greyscale PNG (255 = hole) -> float32 (1,H,W) with values exactly 0 or 1; with
    sha256, only the file `record` lists."""
    with _open(path, sha256, record) as im:
        if im.mode != "L":
            raise ValueError(f"{path}: expected an 8-bit greyscale mask, found mode {im.mode}")
        arr = np.asarray(im)
    if not np.isin(arr, (0, 255)).all():
        raise ValueError(f"{path}: mask is not binary (values other than 0 and 255)")
    return (arr[None] == 255).astype(np.float32)


# The crop and resize convention of every real dataset (datasets/*/README.md): the centred square
# of side min(width, height) (left offset (width - side) // 2, top offset (height - side) // 2),
# resized to the evaluation resolution with Pillow's bicubic filter, which widens its support
# when shrinking (antialiased, like torchvision's Resize(antialias=True)); a square image already
# at the resolution is left untouched.
CROP_RULE = ("centred square crop of side min(width, height) of the image upright (EXIF "
             "Orientation applied), resized to {size}x{size} with Pillow's antialiased bicubic "
             "filter (untouched if already {size}x{size})")


def square_resize(image, size):
    """A PIL RGB image -> (size, size, 3) uint8 by CROP_RULE."""
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    if (width, height) != (side, side):
        image = image.crop((left, top, left + side, top + side))
    if side != size:
        image = image.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(image, dtype=np.uint8)


# Modes an image file may decode to, and how each becomes 8-bit RGB. 16-bit greyscale is scaled
# (v / 257, rounded): Pillow's convert("RGB") would clip it at 255. Alpha must be opaque, since
# the colour under a transparent pixel is undefined. 32-bit integer and float images (no defined
# range) and images of several frames (no one picture) are refused. Embedded ICC profiles are
# not applied, as the upstream loaders (PIL, OpenCV) do not apply them either.
SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
ALPHA = ("RGBA", "LA", "PA")
RANGELESS = ("I", "F")


def to_rgb(im):
    """A decoded PIL image, upright as an image viewer shows it (EXIF Orientation applied), as
    RGB; ValueError for a mode with no faithful 8-bit RGB reading (the caller names the file)."""
    if getattr(im, "n_frames", 1) > 1:
        raise ValueError(f"an image of {im.n_frames} frames (animated or multi-page): which "
                         "one to score is not defined; save the frame you mean on its own")
    im = ImageOps.exif_transpose(im)
    if im.mode in SIXTEEN_BIT:
        grey = np.rint(np.asarray(im, dtype=np.float64) / 257.0).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    if im.mode in RANGELESS:
        raise ValueError(f"a {im.mode} (32-bit {'float' if im.mode == 'F' else 'integer'})"
                         " image has no defined intensity range; convert it to 8-bit RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ALPHA:
        alpha = np.asarray(im.getchannel("A" if "A" in im.getbands() else "a"))
        if alpha.min() < 255:
            raise ValueError(f"{int((alpha < 255).sum()):,} pixels are transparent "
                             "(alpha < 255), so their colour is undefined; flatten the image "
                             "onto a background first")
    return im.convert("RGB")


def decode_source(data, size):
    """Encoded image bytes -> (size, size, 3) uint8 by CROP_RULE, upright (to_rgb). Decodes the
    whole file, so a truncated or corrupt one raises OSError (Pillow refuses truncated files
    unless ImageFile.LOAD_TRUNCATED_IMAGES is set, which the harness never does)."""
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return square_resize(to_rgb(im), size)
