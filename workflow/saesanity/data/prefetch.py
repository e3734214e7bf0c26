"""Reading ahead: batches are read and shuffled in a background thread while the trainer computes, so a step
never waits on Parquet decoding or the shuffle (both release the GIL for their heavy parts)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


def prefetched(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Yields what `items` yields, in the same order, computed up to `depth` items ahead in a thread. An
    exception in `items` is raised here, at the item where it happened; closing this generator early stops
    the thread."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_DONE, None))
        except BaseException as err:  # handed to the consumer, which re-raises it
            put((_DONE, err))

    thread = threading.Thread(target=produce, name="saesanity-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, err = q.get()
            if err is not None:
                raise err
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        thread.join()
