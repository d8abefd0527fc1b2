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
from PIL import Image


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


def write_tsv(path, frame):
    """Write a pandas DataFrame as TSV atomically (floats in full precision, 'inf' kept)."""
    atomic_write_text(path, frame.to_csv(sep="\t", index=False, float_format="%.10g"))


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
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def to_u8(chw):
    """[0,1] float (C,H,W) -> uint8 (H,W,C) or (H,W), rounding to nearest."""
    arr = np.clip(np.rint(np.asarray(chw, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)
    return arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)


def write_png(path, chw, compress_level=PNG_COMPRESS_LEVEL):
    """Write a [0,1] float (C,H,W) array as 8-bit PNG; return the file's sha256."""
    data = png_bytes(to_u8(chw), compress_level)
    atomic_write_bytes(path, data)
    return sha256_bytes(data)


def read_rgb(path):
    """8-bit RGB PNG -> float32 (3,H,W) in [0,1]."""
    with Image.open(path) as im:
        if im.mode != "RGB":
            raise ValueError(f"{path}: expected an 8-bit RGB image, found mode {im.mode}")
        arr = np.asarray(im, dtype=np.float32)
    return arr.transpose(2, 0, 1) / 255.0


def read_mask(path):
    """8-bit greyscale PNG (255 = hole) -> float32 (1,H,W) with values exactly 0 or 1."""
    with Image.open(path) as im:
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
CROP_RULE = ("centred square crop of side min(width, height), resized to {size}x{size} with "
             "Pillow's antialiased bicubic filter (untouched if already {size}x{size})")


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


def decode_source(data, size):
    """Encoded image bytes -> (size, size, 3) uint8 by CROP_RULE. Decodes the whole file, so a
    truncated or corrupt one raises OSError (Pillow refuses truncated files unless
    ImageFile.LOAD_TRUNCATED_IMAGES is set, which the harness never does)."""
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return square_resize(im.convert("RGB"), size)
