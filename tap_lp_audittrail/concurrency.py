"""Many windows read at once, their records handed on in window order."""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from tap_lp_audittrail.windows import Window

#: Pages each window may have fetched ahead of the one being emitted.
BUFFERED_PAGES = 1
#: Windows open at once per request slot: enough that one slow window stalls nobody.
LANES_PER_SLOT = 2
#: Seconds a thread runs before another may take the interpreter (Python's default: 0.005).
SWITCH_INTERVAL = 0.001

_END = object()


class CancelledError(Exception):
    """The run stopped reading; a window thread ends without another request."""


def in_order(
    windows: Iterable[Window],
    produce: Callable[[Window, threading.Event], Iterator[Any]],
    concurrency: int,
) -> Iterator[tuple[Window, Any]]:
    """Run `produce` for many windows at once; yield their items in window order.

    Up to LANES_PER_SLOT * `concurrency` windows are open at once, so a slow window does not
    hold the others up (the client's slots bound the requests in flight). Each window buffers
    at most BUFFERED_PAGES items: memory stays flat however large the backfill. The first
    error of any window stops the run and is raised here.
    """
    stop = threading.Event()
    lanes: list[tuple[Window, queue.Queue[Any]]] = []
    pending = iter(windows)

    def put(lane: queue.Queue[Any], item: Any) -> bool:
        while not stop.is_set():
            try:
                lane.put(item, timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def work(window: Window, lane: queue.Queue[Any]) -> None:
        items = produce(window, stop)
        try:
            while not stop.is_set():
                item = next(items, _END)
                if not put(lane, item) or item is _END:
                    return
        except BaseException as exc:  # handed to the consumer to raise
            put(lane, exc)

    def launch() -> None:
        window = next(pending, None)
        if window is not None:
            lane: queue.Queue[Any] = queue.Queue(maxsize=BUFFERED_PAGES)
            lanes.append((window, lane))
            threading.Thread(
                target=work, args=(window, lane), daemon=True, name=f"window-{window.from_date}"
            ).start()

    interval = sys.getswitchinterval()
    # Window threads mostly wait on the network; a shorter switch interval lets them send the
    # next request soon after an answer, instead of waiting out the emitting thread's slice.
    sys.setswitchinterval(min(interval, SWITCH_INTERVAL))
    try:
        for _ in range(LANES_PER_SLOT * max(1, concurrency)):
            launch()
        while lanes:
            window, lane = lanes[0]
            item = lane.get()
            if item is _END:
                lanes.pop(0)
                launch()
                continue
            if isinstance(item, BaseException):
                raise item
            yield window, item
    finally:
        stop.set()
        sys.setswitchinterval(interval)
