"""The bounded buffer between a stream's receiving side and its consumer.

One small unit, as ``websockets.asyncio.messages`` keeps its assembler: items go in
with the cost of the frame they came from, come out in order. When the items of a frame
would pass a limit (items, bytes), the receiver holds that frame and stops reading
(:meth:`ChunkBuffer.hold`); the buffer calls ``on_room`` as soon as the consumer has
taken enough for it to fit. While reading is paused, TCP flow control pushes back on
the server. A single frame larger than the byte
limit is let through alone (the buffer is then empty), never dropped.

No I/O and no policy here: the receiver decides what an item is and when to stop.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["ChunkBuffer"]

T = TypeVar("T")


class ChunkBuffer(Generic[T]):
    """Items in arrival order, bounded by ``max_items`` and ``max_bytes``.

    ``nbytes`` counts each frame's cost once (with its first item). ``peak_items`` and
    ``peak_bytes`` are the fullest it has been. ``on_room`` is called (once per
    :meth:`hold`) when a held frame may come in.
    """

    __slots__ = (
        "_held",
        "_items",
        "_want_bytes",
        "_want_items",
        "max_bytes",
        "max_items",
        "nbytes",
        "on_room",
        "peak_bytes",
        "peak_items",
    )

    def __init__(self, max_items: int, max_bytes: int, on_room: Callable[[], None]) -> None:
        self._items: deque[tuple[T, int]] = deque()
        self.on_room = on_room
        self._held = False
        # What the receiver holds: the frame that did not fit.
        self._want_items = 0
        self._want_bytes = 0
        self.max_items = max_items
        self.max_bytes = max_bytes
        self.nbytes = 0
        self.peak_items = 0
        self.peak_bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    @property
    def reader_waiting(self) -> bool:
        """True while a frame is held for room (the socket is not read)."""
        return self._held

    def is_full_for(self, count: int, size: int) -> bool:
        """Would ``count`` items of a ``size``-byte frame pass a limit? (Never when
        the buffer is empty: a frame over the byte limit goes through alone.)"""
        items = self._items
        return bool(items) and (
            len(items) + count > self.max_items or self.nbytes + size > self.max_bytes
        )

    def hold(self, count: int, size: int) -> None:
        """A frame of ``count`` items and ``size`` bytes did not fit: call ``on_room``
        once it does (or the buffer is empty)."""
        self._want_items = count
        self._want_bytes = size
        self._held = True

    def push(self, items: list[T], size: int) -> None:
        """Append the items of one ``size``-byte frame (its bytes counted once)."""
        buffer = self._items
        buffer.append((items[0], size))
        if len(items) > 1:  # rare: the per-chunk path skips building the slice
            for item in items[1:]:
                buffer.append((item, 0))
        self.nbytes += size
        if len(buffer) > self.peak_items:
            self.peak_items = len(buffer)
        if self.nbytes > self.peak_bytes:
            self.peak_bytes = self.nbytes

    def pop(self) -> T:
        """The oldest item; calls ``on_room`` once what is held fits (see :meth:`hold`).

        Raises:
            IndexError: the buffer is empty.
        """
        items = self._items
        item, size = items.popleft()
        self.nbytes -= size
        if self._held and (
            not items
            or (
                len(items) + self._want_items <= self.max_items
                and self.nbytes + self._want_bytes <= self.max_bytes
            )
        ):
            self.wake_reader()
        return item

    def push_front(self, items: list[T]) -> None:
        """Put items taken out but not delivered back in front, in order (their bytes
        were already released: they count as 0 bytes)."""
        buffer = self._items
        for item in reversed(items):
            buffer.appendleft((item, 0))

    def clear(self) -> None:
        """Drop every item (a cancel, an expired pause) and let the receiver go on."""
        self._items.clear()
        self.nbytes = 0
        self.wake_reader()

    def wake_reader(self) -> None:
        """Call ``on_room`` if a frame is held (the receiver checks again)."""
        if self._held:
            self._held = False
            self.on_room()
