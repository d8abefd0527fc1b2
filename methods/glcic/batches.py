"""GLCIC training batches, framework-neutral numpy shared by both ports.

Every draw is a pure function of (seed, step), as in methods/training.py, so both ports see the
same batches and a resumed run sees what an uninterrupted one would.

Holes (setting `holes`):
- "rectangles", the paper's ("Training"): one rectangular hole at a random place, each side
  drawn uniformly in [96, 128] px at 256 px, i.e. [3/8, 1/2] of the image side at any
  resolution.
- "irregular": the harness's free-form masks (methods/training.sample_batch).
The local discriminator's patch, half the image side (128 of 256 px), is "centered around the
completed region" (paper, Sec. 3.2): centred on the hole's bounding box, moved inside the image
where the hole lies near an edge (a hole of at most half the side then stays inside it).
The real images' local patches are drawn uniformly (the paper's Algorithm 1 draws a second set
of random holes, M_d, only for their position).
"""
import numpy as np

from methods import training

HOLES = ("rectangles", "irregular")
HOLE_SIDE = (3, 8), (1, 2)  # the paper's [96, 128] px at 256 px, as fractions of the side
PATCHES = 7_457_311  # tags the patch draws of irregular-hole batches apart from the holes'


def check(settings):
    """Refuse settings this schedule cannot mean (a misspelt `holes` would otherwise train on
    rectangles without a word)."""
    if settings["holes"] not in HOLES:
        raise ValueError(f"glcic: holes must be one of {HOLES}, not {settings['holes']!r}")
    shares = settings["completion_fraction"], settings["discriminator_fraction"]
    if min(shares) < 0 or sum(shares) > 1:
        raise ValueError(f"glcic: completion_fraction and discriminator_fraction must be >= 0 "
                         f"and sum to at most 1, got {shares}")


def local_size(size):
    """The local discriminator's patch side: 128 px at 256 px (paper, Table 2)."""
    return size // 2


def hole_side_range(size):
    return training.side_range(size, HOLE_SIDE)


def sample_batch(images, step, settings, seed, part=training.WHOLE):
    """(image, hole, fake corners, real corners) for one step; the items `part` of the batch
    (methods/training.py WHOLE)."""
    size, batch_size = images.shape[-1], settings["batch_size"]
    if settings["holes"] == "irregular":
        image, hole = training.sample_batch(images, step, batch_size, seed, part)
        rng = np.random.default_rng([seed, training.TRAIN_STREAM, step, PATCHES])
    else:
        rng = training.step_rng(seed, step)
        image = training.sample_images(images, rng, batch_size, part)
        hole = training.rectangles(rng, batch_size, size, HOLE_SIDE)[part]
    real = rng.integers(0, size - local_size(size) + 1, (batch_size, 2))[part]
    return image, hole, training.patches_around(hole, local_size(size)), real


def phase(step, settings):
    """1: completion network alone (MSE), 2: discriminator alone, 3: both (paper, Algorithm 1:
    T_C = 90,000, T_D = 10,000 of T_train = 500,000 iterations; the shares are settings)."""
    steps = settings["steps"]
    completion_end = int(round(steps * settings["completion_fraction"]))
    discriminator_end = completion_end + int(round(steps * settings["discriminator_fraction"]))
    return 1 if step < completion_end else 2 if step < discriminator_end else 3


def mean_pixel(images):
    """The training set's mean pixel value, per channel (paper: holes are filled with it)."""
    return images.channel_mean().astype(np.float32).reshape(1, 3, 1, 1)
