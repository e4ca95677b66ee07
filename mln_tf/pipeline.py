"""Overlap the stages of a frame loop: read frame t+1 and finish frame t-1 while the network runs on t.

The network (LiteRT, TensorFlow) and OpenCV release the GIL while they compute, so three threads
really run at once on a multi-core CPU:

1. the **reader** takes items from the source iterator (reading and decoding a video frame or an
   image file happens inside it) and puts them in a small queue;
2. the **network** thread takes them in order, runs ``stage(item)`` (the network's forward pass)
   and puts ``(item, result)`` in a second small queue;
3. the **caller's** thread takes the results in the same order and does the rest (the decoder,
   the tracker, drawing, writing).

Order is kept (one thread per stage, FIFO queues), so the results are the ones the serial loop
gives, item for item. Both queues are bounded: a slow network makes the reader wait, except for a
**live** source (a camera), whose oldest waiting frame is dropped instead and counted
(``Pipeline.dropped``), so a camera faster than the network shows the latest frame, never a
backlog. An exception in any stage reaches the caller at that item; closing the generator early
(``break``, Ctrl-C) stops the threads.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

_END = object()  # the source is exhausted


@dataclass
class _Raised:
    """An exception of a stage, carried to the caller in order."""

    error: BaseException


@dataclass
class Pipeline:
    """Run ``stage`` on each item in a thread of its own, reading ahead; see the module doc.

    ``passthrough(item)``: items that skip the stage (e.g. a frame that could not be read) travel
    in order with a None result. ``live(item)``: items of a live source, dropped when the network
    is behind. ``depth``: how many items may wait before each stage.
    """

    stage: Callable[[Any], Any]
    passthrough: Callable[[Any], bool] = lambda item: False
    live: Callable[[Any], bool] = lambda item: False
    depth: int = 2
    dropped: int = 0
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise ValueError(f"depth must be >= 1, got {self.depth}")

    def run(self, items: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        """``(item, stage(item))`` in the order of ``items`` (None for passthrough items)."""
        read: queue.Queue = queue.Queue(maxsize=self.depth)
        done: queue.Queue = queue.Queue(maxsize=self.depth)
        self._stop.clear()
        reader = threading.Thread(target=self._read, args=(items, read), name="mln-read", daemon=True)
        network = threading.Thread(target=self._compute, args=(read, done), name="mln-network", daemon=True)
        reader.start()
        network.start()
        try:
            while True:
                got = done.get()
                if got is _END:
                    return
                if isinstance(got, _Raised):
                    raise got.error
                yield got
        finally:
            self._stop.set()
            for q in (read, done):  # unblock a thread waiting to put
                _drain(q)
            reader.join(timeout=5)
            network.join(timeout=5)

    def _put(self, q: queue.Queue, value: Any) -> bool:
        """Put unless stopped (polling, so that a closed loop never leaves a thread blocked)."""
        while not self._stop.is_set():
            try:
                q.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _read(self, items: Iterable[Any], out: queue.Queue) -> None:
        try:
            for item in items:
                if self._stop.is_set():
                    return
                if self.live(item) and out.full():
                    self._drop_oldest(out)
                if not self._put(out, item):
                    return
        except BaseException as exc:  # noqa: BLE001 - a source error reaches the caller in order
            self._put(out, _Raised(exc))
        self._put(out, _END)

    def _drop_oldest(self, q: queue.Queue) -> None:
        """The network is behind a live source: the oldest waiting frame of it gives way to the newest."""
        with q.mutex:
            if q.queue and self.live(q.queue[0]) and not self.passthrough(q.queue[0]):
                q.queue.popleft()
                q.not_full.notify()
                self.dropped += 1

    def _compute(self, inp: queue.Queue, out: queue.Queue) -> None:
        while not self._stop.is_set():
            try:
                item = inp.get(timeout=0.1)
            except queue.Empty:
                continue
            if item is _END or isinstance(item, _Raised):
                self._put(out, item)
                return
            try:
                result = None if self.passthrough(item) else self.stage(item)
            except BaseException as exc:  # noqa: BLE001 - reaches the caller at this item
                self._put(out, _Raised(exc))
                return
            if not self._put(out, (item, result)):
                return


def _drain(q: queue.Queue) -> None:
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return
