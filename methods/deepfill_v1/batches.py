"""DeepFill v1 training batches, framework-neutral numpy shared by both ports.

Every draw is a pure function of (seed, draw index), as in methods/training.py, so both ports see
the same batches and a resumed run sees what an uninterrupted one would. Upstream draws a fresh
batch and a fresh mask for each of the five critic updates and for the generator update
(train.py: the critic's SecondaryTrainer builds its own graph on the data pipeline); here
generator step s uses the draws s * (critic_steps + 1) + k, k = 0 .. critic_steps, the last
for the generator.

Holes (setting `holes`):
- "rectangles", upstream's (inpaint_ops.py random_bbox and bbox2mask with inpaint.yml's
  HEIGHT = WIDTH = 128, MAX_DELTA_HEIGHT = MAX_DELTA_WIDTH = 32, margins 0 at 256 px): a box of
  half the image side at a uniform place (top and left in [0, side/2), tf.random_uniform's
  maxval being exclusive), the hole being the box shrunk on each side by a uniform
  [0, side/16] px, top/bottom and left/right alike. The box is the local critic's patch.
- "irregular": the harness's free-form masks (methods/training.sample_batch); the local patch
  (half the side) is centred on the hole's bounding box.
"""
import numpy as np

from methods import training

HOLES = ("rectangles", "irregular")
INTERPOLATION = 3_141_593  # tags the WGAN-GP interpolation weights apart from other draws


def check(settings):
    if settings["holes"] not in HOLES:
        raise ValueError(f"deepfill_v1: holes must be one of {HOLES}, not {settings['holes']!r}")
    if settings["critic_steps"] < 0:
        raise ValueError(f"deepfill_v1: critic_steps must be >= 0, got {settings['critic_steps']}")


def local_size(size):
    """The local critic's patch side: inpaint.yml HEIGHT = WIDTH = 128 of IMG_SHAPES 256."""
    return size // 2


def max_shrink(size):
    """Upstream bbox2mask shrinks each side by randint(MAX_DELTA // 2 + 1), MAX_DELTA = 32 at
    256 px: up to size / 16 px."""
    return size // 16


def boxes(rng, batch_size, size):
    """(holes (N,1,H,W) float32, box corners (N,2)): one shrunk box each."""
    side, shrink = local_size(size), max_shrink(size)
    holes = np.zeros((batch_size, 1, size, size), np.float32)
    corners = rng.integers(0, size - side, (batch_size, 2))
    for hole, (top, left) in zip(holes, corners):
        dy, dx = rng.integers(0, shrink + 1, 2)
        hole[0, top + dy:top + side - dy, left + dx:left + side - dx] = 1
    return holes, corners.astype(np.int64)


def draw_index(step, k, settings):
    """The draw of update k (0 .. critic_steps - 1: critic; critic_steps: generator) of
    generator step `step`."""
    return step * (settings["critic_steps"] + 1) + k


def sample_batch(images, draw, settings, seed, part=training.WHOLE):
    """(image, hole, local patch corners, interpolation weights (2, N): local, global); the
    items `part` of the batch (methods/training.py WHOLE)."""
    size, batch_size = images.shape[-1], settings["batch_size"]
    if settings["holes"] == "irregular":
        image, hole = training.sample_batch(images, draw, batch_size, seed, part)
        corners = training.patches_around(hole, local_size(size))
    else:
        rng = training.step_rng(seed, draw)
        image = training.sample_images(images, rng, batch_size, part)
        hole, corners = (a[part] for a in boxes(rng, batch_size, size))
    alphas = np.random.default_rng([seed, training.TRAIN_STREAM, draw, INTERPOLATION])
    return image, hole, corners, alphas.random((2, batch_size))[:, part].astype(np.float32)


def step_batches(images, step, settings, seed, part=training.WHOLE):
    """The batches of generator step `step`: critic_steps critic batches, then the generator's."""
    return [sample_batch(images, draw_index(step, k, settings), settings, seed, part)
            for k in range(settings["critic_steps"] + 1)]
