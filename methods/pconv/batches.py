"""Partial Convolutions training batches, framework-neutral numpy shared by both ports.

Every draw is a pure function of (seed, step), as in methods/training.py, so both ports see the
same batches and a resumed run sees what an uninterrupted one would.

Holes (setting `holes`):
- "irregular", the paper's kind (Sec. 4.1, irregular masks only): the harness's free-form
  masks in a uniformly drawn bucket (methods/training.sample_batch).
- "mixed": the odd items of each batch get one rectangle instead, its height and width drawn
  uniformly in [3/8, 1/2] of the image side at a uniform place (GLCIC's training rectangles,
  methods/glcic/batches.py), from a stream of their own. A deviation from the paper, for test
  sets with box holes: trained on irregular holes alone, the demo's network (400 steps) filled
  demo_box's centred square with L1 4.72 % against mean_fill's 3.36 %, darker than its
  surroundings; trained mixed, 3.04 % (150 steps, a probe) and 3.23 % (the demo's 120 steps).
"""
import numpy as np

from methods import training

HOLES = ("irregular", "mixed")
RECTANGLE_SIDE = (3, 8), (1, 2)  # of the image side: GLCIC's [96, 128] px at 256 px
RECTANGLES = 5_318_009  # tags the rectangle draws apart from the free-form holes' streams


def check(settings):
    """Refuse a misspelt `holes`, which would otherwise train on one kind without a word."""
    if settings["holes"] not in HOLES:
        raise ValueError(f"pconv: holes must be one of {HOLES}, not {settings['holes']!r}")


def sample_batch(images, step, settings, seed, part=training.WHOLE):
    """(image, hole) for one step, hole (N,1,H,W) 1 = hole; the items `part` of the batch."""
    batch_size = settings["batch_size"]
    image, hole = training.sample_batch(images, step, batch_size, seed, part)
    if settings["holes"] == "mixed":
        rng = np.random.default_rng([seed, training.TRAIN_STREAM, step, RECTANGLES])
        boxes = training.rectangles(rng, batch_size, images.shape[-1], RECTANGLE_SIDE)
        odd = (np.arange(batch_size) % 2 == 1)
        hole[odd[part]] = boxes[part][odd[part]]
    return image, hole
