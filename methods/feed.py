"""Training batches drawn ahead of the step, in worker processes.

A training batch is a pure function of (seed, step) (methods/training.py), so worker processes
can draw the batches of the next steps (decode, crop, flip, holes) while the training process
runs the current one, and the batches, hence the weights, are the same whatever their number
(tested): `workers` 0 draws each batch in the training process, when its step needs it. Workers
are processes, not threads: the free-form hole generator and the PNG/JPEG decoding are Python
and numpy work that holds the GIL for much of its time. They are started with "spawn", which
copies no state of the training process (its framework's threads and device context).

A batch crosses from a worker as 8-bit values where its float32 arrays are exactly k / 255
(images, holes), a quarter of the bytes: on this project's 2-core machine a 16-image 256 px
batch (16.8 MB as float32) took 77 ms to cross a process pipe. The training process turns them
back into the same float32 values (checked in the worker, so the round trip is exact, up to
the sign of a zero, which images and holes never hold).
"""
import ctypes
import multiprocessing
import signal
import sys
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from datasets.loader import prefetched

AHEAD = 2  # batches queued per worker: enough to hide one slow draw, bounded memory
EIGHT_BIT = np.float32(255)

_draw = None


class Bytes(np.ndarray):
    """An array of k / 255 values sent as its uint8 k (a marker type: see _compact)."""


def _start(draw):
    global _draw
    _draw = draw
    if sys.platform == "linux":  # die with the training process, even one killed by SIGKILL
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _compact(value):
    """value with each float32 array that is exactly uint8 / 255 sent as the uint8 array."""
    if isinstance(value, (tuple, list)):
        return type(value)(_compact(v) for v in value)
    if isinstance(value, np.ndarray) and value.dtype == np.float32:
        levels = np.rint(value * EIGHT_BIT)
        if levels.min(initial=0) >= 0 and levels.max(initial=0) <= 255:
            small = levels.astype(np.uint8)
            if np.array_equal(small / EIGHT_BIT, value):
                return small.view(Bytes)
    return value


def _expand(value):
    if isinstance(value, (tuple, list)):
        return type(value)(_expand(v) for v in value)
    if isinstance(value, Bytes):
        return np.ascontiguousarray(value.view(np.ndarray) / EIGHT_BIT)
    return value


def _call(step):
    return _compact(_draw(step))


def batches(draw, start, stop, workers):
    """Yield (step, draw(step)) for step = start .. stop - 1, in order; draw must be picklable
    (a module-level function, or functools.partial of one) when workers > 0."""
    if workers < 0:
        raise ValueError(f"feed: workers must be >= 0, got {workers}")
    if workers == 0:
        for step in range(start, stop):
            yield step, draw(step)
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start, initargs=(draw,))
    try:  # the evaluation stages' read-ahead (datasets/loader.py), one step a "batch"
        for steps, (batch,) in prefetched(pool, range(start, stop), 1, _call,
                                          ahead=workers * AHEAD - 1):
            yield steps[0], _expand(batch)
    finally:  # a failed step, or the end: drop the batches drawn ahead, not draw them all
        pool.shutdown(wait=True, cancel_futures=True)
