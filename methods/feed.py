"""Training batches drawn ahead of the step, in worker processes.

A training batch is a pure function of (seed, step) (methods/training.py), so worker processes
can draw the batches of the next steps (decode, crop, flip, holes) while the training process
runs the current one, and the batches, hence the weights, are the same whatever their number
(tested): `workers` 0 draws each batch in the training process, when its step needs it. Workers
are processes, not threads: the free-form hole generator and the PNG/JPEG decoding are Python
and numpy work that holds the GIL for much of its time. They are started with "spawn", which
copies no state of the training process (its framework's threads and device context).
"""
import multiprocessing
from collections import deque
from concurrent.futures import ProcessPoolExecutor

AHEAD = 2  # batches queued per worker: enough to hide one slow draw, bounded memory

_draw = None


def _start(draw):
    global _draw
    _draw = draw


def _call(step):
    return _draw(step)


def batches(draw, start, stop, workers):
    """Yield (step, draw(step)) for step = start .. stop - 1, in order; draw must be picklable
    (a module-level function, or functools.partial of one) when workers > 0."""
    if workers < 0:
        raise ValueError(f"feed: workers must be >= 0, got {workers}")
    if workers == 0:
        for step in range(start, stop):
            yield step, draw(step)
        return
    steps = iter(range(start, stop))
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_start, initargs=(draw,)) as pool:
        queue = deque()
        for step in steps:
            queue.append((step, pool.submit(_call, step)))
            if len(queue) >= workers * AHEAD:
                break
        while queue:
            step, future = queue.popleft()
            following = next(steps, None)
            if following is not None:
                queue.append((following, pool.submit(_call, following)))
            yield step, future.result()
