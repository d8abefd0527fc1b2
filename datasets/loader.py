"""Reading and writing images in a thread pool, ahead of and behind the batch being computed.

The predict, score and FID-reference stages decode PNGs (and predict encodes them) while the
model or the metrics work on the current batch. Pillow's PNG decoder and encoder and zlib release
the GIL, and so do torch and paddle kernels, so threads overlap with each other and with the
computation. Results always come back in item order, so outputs do not depend on the number of
threads; at most `ahead` batches are read ahead and `behind` batches wait to be written, which
bounds memory whatever the set's size.
"""
from collections import deque
from concurrent.futures import ThreadPoolExecutor

AHEAD = 2  # batches decoded ahead of the one being computed
BEHIND = 2  # batches of outputs being encoded while the next ones are computed


def pool(threads):
    """A thread pool of `threads` workers (at least one)."""
    return ThreadPoolExecutor(max_workers=max(1, int(threads)), thread_name_prefix="io")


def prefetched(executor, rows, batch_size, load, ahead=AHEAD):
    """Yield (batch rows, [load(row) for row in batch rows]) batch by batch, in order, with the
    loads of the next `ahead` batches already submitted to executor."""
    starts = iter(range(0, len(rows), batch_size))
    queue = deque()

    def submit():
        start = next(starts, None)
        if start is not None:
            batch = rows[start:start + batch_size]
            queue.append((batch, [executor.submit(load, row) for row in batch]))

    for _ in range(ahead + 1):
        submit()
    while queue:
        batch, futures = queue.popleft()
        submit()
        yield batch, [future.result() for future in futures]


class Writer:
    """Runs write(*args) for each item in executor; results() returns their values in the
    order submitted. At most `behind` batches are pending: submitting one more waits for the
    oldest."""

    def __init__(self, executor, write, behind=BEHIND):
        self.executor, self.write, self.behind = executor, write, behind
        self.pending, self.done = deque(), []

    def submit_batch(self, argument_lists):
        self.pending.append([self.executor.submit(self.write, *args) for args in argument_lists])
        while len(self.pending) > self.behind:
            self.done += [future.result() for future in self.pending.popleft()]

    def results(self):
        while self.pending:
            self.done += [future.result() for future in self.pending.popleft()]
        return self.done
