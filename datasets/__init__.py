"""Dataset recipes (one folder each), the mask sets, pairing, and image I/O."""
