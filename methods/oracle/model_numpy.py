"""Positive control: returns the ground truth (its spec lets the harness show it unmasked)."""
import numpy as np


def build(spec, **overrides):
    return None


def inpaint(model, image, mask):
    return np.array(image, dtype=np.float32)
