"""Mask sets: the free-form generator, centre boxes, hole-ratio buckets, the set builder."""
