"""The six hole-ratio buckets of Liu et al. 2018 (Sec. 4.1): (0.01,0.1], (0.1,0.2], ...,
(0.5,0.6], open on the left and closed on the right. Edges are exact fractions and ratios are
compared as hole_pixels / total_pixels, so a mask on an edge is never misfiled by rounding."""
from fractions import Fraction

EDGES = (Fraction(1, 100), Fraction(1, 10), Fraction(2, 10), Fraction(3, 10), Fraction(4, 10),
         Fraction(5, 10), Fraction(6, 10))
BUCKETS = tuple(zip(EDGES[:-1], EDGES[1:]))


def label(index):
    lo, hi = BUCKETS[index]
    return f"({float(lo):g},{float(hi):g}]"


LABELS = tuple(label(i) for i in range(len(BUCKETS)))


def bucket_index(hole_pixels, total_pixels):
    """Index of the bucket holding hole_pixels/total_pixels, or None outside (0.01, 0.6]."""
    ratio = Fraction(int(hole_pixels), int(total_pixels))
    for i, (lo, hi) in enumerate(BUCKETS):
        if lo < ratio <= hi:
            return i
    return None


def midpoint(bucket_label):
    """Hole-ratio midpoint of a bucket label such as '(0.1,0.2]' (for plots)."""
    lo, hi = bucket_label.strip("(]").split(",")
    return (float(lo) + float(hi)) / 2
