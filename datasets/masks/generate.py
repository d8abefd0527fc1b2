"""Deterministic mask generators. Every random draw comes from the generator passed in."""
import math

import cv2
import numpy as np

from datasets.masks.buckets import BUCKETS


def _stroke(canvas, rng, size):
    """Draw one free-form brush stroke: a random walk of 4-12 straight segments with round
    joints, in the spirit of the free-form masks of Yu et al. 2019 (DeepFill v2, Alg. 1) and
    the irregular masks of Liu et al. 2018. Widths and lengths scale with the image size (the
    constants are fractions of a 256-pixel image: width 8-24 px, segment 10-40 px)."""
    width = max(1, int(round(rng.uniform(8, 24) * size / 256)))
    x, y = rng.uniform(0, size, 2)
    angle = rng.uniform(0, 2 * math.pi)
    for _ in range(int(rng.integers(4, 13))):
        angle += rng.normal(0, math.pi / 4)
        length = rng.uniform(10, 40) * size / 256
        nx = float(np.clip(x + length * math.cos(angle), 0, size - 1))
        ny = float(np.clip(y + length * math.sin(angle), 0, size - 1))
        cv2.line(canvas, (int(x), int(y)), (int(nx), int(ny)), 255, width, cv2.LINE_8)
        x, y = nx, ny
        yield


def irregular_mask(rng, size, bucket):
    """A size x size uint8 mask (255 = hole) whose hole ratio lies in BUCKETS[bucket].

    A target ratio is drawn uniformly inside the bucket (so ratios spread over the bucket
    instead of piling up at its lower edge) and strokes are added one segment at a time until
    the target is reached; if that segment overshoots the upper edge the canvas is cleared and
    drawing starts again from the same generator, so the mask is a pure function of its seed."""
    lo, hi = BUCKETS[bucket]
    total = size * size
    while True:
        target = rng.uniform(float(lo), float(hi)) * total
        canvas = np.zeros((size, size), np.uint8)
        holes = 0
        while holes < target:
            for _ in _stroke(canvas, rng, size):
                holes = np.count_nonzero(canvas)
                if holes >= target:
                    break
        if lo * total < holes <= hi * total:
            return canvas


def box_mask(size, box):
    """A centred box x box hole in a size x size mask (255 = hole)."""
    canvas = np.zeros((size, size), np.uint8)
    top = (size - box) // 2
    canvas[top:top + box, top:top + box] = 255
    return canvas
