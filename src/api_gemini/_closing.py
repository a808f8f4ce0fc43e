"""The close-and-context-manager shape every resource-holding object shares.

One rule across the package (``docs/decisions.md``, "Twins"): an async object that
holds a resource (socket, connection pool, task, response) has ``aclose()`` and is an
``async with`` context manager; a sync one has ``close()`` and is a ``with`` context
manager. Leaving the block closes, whatever ended it. The subclass says how to close.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

__all__ = ["AsyncClosing", "SyncClosing"]


class AsyncClosing:
    """An async resource: ``await x.aclose()`` or ``async with x: ...``."""

    async def aclose(self) -> None:
        """Release what this object holds; safe to call twice."""
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


class SyncClosing:
    """A sync resource: ``x.close()`` or ``with x: ...``."""

    def close(self) -> None:
        """Release what this object holds; safe to call twice."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
