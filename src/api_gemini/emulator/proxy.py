"""A fault-injecting TCP proxy: added latency, a bandwidth cap, cuts, resets, black holes.

Put it between a client and the emulator (or any TCP server) to make the network worse
on purpose. It forwards raw bytes, so HTTP, WebSocket and TLS all pass through untouched
(a certificate issued for ``127.0.0.1`` still verifies through the proxy).

From tests or benchmarks, as an async context manager::

    from api_gemini.emulator import Emulator
    from api_gemini.emulator.proxy import FaultProxy

    async with Emulator() as emu, FaultProxy("127.0.0.1", emu.port, latency=0.010) as proxy:
        base_url = f"http://{proxy.host}:{proxy.port}"  # 10 ms each way: +20 ms RTT
        ...
        proxy.latency = 0.025   # settings may change at any time, for new bytes
        await proxy.reset_all() # RST every open connection now
        proxy.black_hole_all()  # stop forwarding, keep the sockets open

From the command line (one line on stdout when ready, whose last word is ``HOST:PORT``;
serves until SIGINT or SIGTERM)::

    python -m api_gemini.emulator.proxy --target 127.0.0.1:8123 --latency-ms 10
    # api_gemini proxy to 127.0.0.1:8123 (latency 10 ms each way) listening on 127.0.0.1:40713
    # -> use base_url=http://127.0.0.1:40713

Faults (constructor keywords, also attributes; CLI flags in brackets):

- ``latency`` [``--latency-ms``, or ``--rtt-ms`` for twice as much]: seconds added to
  each direction, so the round-trip time grows by ``2 * latency``. Bytes are pipelined
  (throughput is not capped by the delay) and keep their order. A new connection also
  pays one round trip before its first byte reaches the server, as a TCP handshake would.
- ``bandwidth`` [``--bandwidth-kbps``]: bytes per second, per connection and direction.
- ``cut_after`` [``--cut-after-bytes``]: after this many server-to-client bytes (exactly
  that many are delivered), close both sides cleanly (FIN).
- ``reset_after`` [``--reset-after-bytes``]: the same, but with a TCP reset (RST).
- ``black_hole_after`` [``--black-hole-after-bytes``]: after this many server-to-client
  bytes, forward nothing more in either direction and keep both sockets open: a dead
  peer. ``0`` never even connects upstream.

Counters of what passed are in :attr:`FaultProxy.stats`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import struct
import sys
from collections import deque
from collections.abc import Coroutine
from dataclasses import asdict, dataclass
from typing import Any

from ._running import Running, run_command, serve_until_signalled

__all__ = ["FaultProxy", "ProxyStats", "main"]

_READ_SIZE = 64 * 1024
# Bytes read but not yet written, per direction, before the proxy stops reading: keeps
# memory bounded and lets TCP push back on the sender, as a real slow link would.
_MAX_IN_FLIGHT = 4 * 1024 * 1024
# A bandwidth cap is applied in slices this big, so delivery is smooth, not bursty.
_SLICE = 16 * 1024


@dataclass(slots=True)
class ProxyStats:
    """What the proxy forwarded; read at any time."""

    connections: int = 0
    active: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    cuts: int = 0
    resets: int = 0
    black_holes: int = 0

    def as_dict(self) -> dict[str, int]:
        """A snapshot of every counter as a plain dict."""
        return asdict(self)


def _abort_with_rst(writer: asyncio.StreamWriter) -> None:
    """Close ``writer``'s socket with a TCP reset instead of a FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        # SO_LINGER on with a zero timeout: close() sends RST and drops unsent data.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Direction:
    """One direction of a connection: a reader task, a queue of stamped chunks, a writer."""

    def __init__(self, conn: _Connection, *, downstream: bool) -> None:
        self.conn = conn
        self.downstream = downstream
        self.queue: deque[tuple[float, bytes]] = deque()
        self.queued_bytes = 0
        self.data_ready = asyncio.Event()
        self.space = asyncio.Event()
        self.eof_delivered = False

    async def read_loop(self, reader: asyncio.StreamReader) -> None:
        loop = asyncio.get_running_loop()
        while True:
            data = await reader.read(_READ_SIZE)
            stamp = loop.time()
            if self.conn.black_holed:
                if not data:
                    return
                continue  # read and drop: the sender sees a peer that never answers
            while self.queued_bytes >= _MAX_IN_FLIGHT:
                self.space.clear()
                await self.space.wait()
            self.queue.append((stamp, data))
            self.queued_bytes += len(data)
            self.data_ready.set()
            if not data:
                return

    async def write_loop(self, get_writer: asyncio.Future[asyncio.StreamWriter]) -> None:
        proxy = self.conn.proxy
        loop = asyncio.get_running_loop()
        writer = await get_writer
        next_free = 0.0
        while True:
            while not self.queue:
                self.data_ready.clear()
                await self.data_ready.wait()
            stamp, data = self.queue.popleft()
            self.queued_bytes -= len(data)
            self.space.set()
            deliver_at = max(stamp, self.conn.connected_at) + proxy.latency
            delay = deliver_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.conn.black_holed:
                continue
            if not data:
                if writer.can_write_eof():
                    with contextlib.suppress(OSError):
                        writer.write_eof()
                self.eof_delivered = True
                self.conn.eof_sent()
                return
            limit = self.conn.down_limit() if self.downstream else None
            if limit is not None:
                data = data[: max(limit - self.conn.bytes_down, 0)]
            rate = proxy.bandwidth
            step = _SLICE if rate else max(len(data), 1)
            for start in range(0, len(data), step):
                piece = data[start : start + step]
                if rate:
                    # Each slice leaves when the link would have finished sending it.
                    now = loop.time()
                    next_free = max(now, next_free) + len(piece) / rate
                    await asyncio.sleep(next_free - now)
                writer.write(piece)
                self.conn.count(len(piece), downstream=self.downstream)
                await writer.drain()
            if limit is not None and self.conn.bytes_down >= limit:
                self.conn.limit_reached()


class _Connection:
    """One client connection and its upstream twin."""

    def __init__(
        self, proxy: FaultProxy, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.proxy = proxy
        self.client_reader = reader
        self.client_writer = writer
        self.upstream_writer: asyncio.StreamWriter | None = None
        self.connected_at = 0.0
        self.black_holed = False
        self.bytes_down = 0
        self._eofs = 0
        self._finish_reset: bool | None = None
        self._finished = asyncio.Event()

    # -- accounting and faults ---------------------------------------------------

    def count(self, n: int, *, downstream: bool) -> None:
        if downstream:
            self.bytes_down += n
            self.proxy.stats.bytes_down += n
        else:
            self.proxy.stats.bytes_up += n

    def down_limit(self) -> int | None:
        limits = [
            v
            for v in (self.proxy.cut_after, self.proxy.reset_after, self.proxy.black_hole_after)
            if v is not None
        ]
        return min(limits) if limits else None

    def limit_reached(self) -> None:
        p = self.proxy
        if p.black_hole_after is not None and self.bytes_down >= p.black_hole_after:
            self.black_hole()
        elif p.reset_after is not None and self.bytes_down >= p.reset_after:
            p.stats.resets += 1
            self.finish(reset=True)
        elif p.cut_after is not None and self.bytes_down >= p.cut_after:
            p.stats.cuts += 1
            self.finish(reset=False)

    def black_hole(self) -> None:
        if not self.black_holed:
            self.black_holed = True
            self.proxy.stats.black_holes += 1

    def eof_sent(self) -> None:
        self._eofs += 1
        if self._eofs == 2:
            self.finish(reset=False)

    def finish(self, *, reset: bool) -> None:
        """End the connection: FIN both sides, or RST both when ``reset``."""
        if self._finish_reset is None:
            self._finish_reset = reset
        self._finished.set()

    # -- life ---------------------------------------------------------------------

    async def run(self) -> None:
        proxy = self.proxy
        loop = asyncio.get_running_loop()
        up_writer: asyncio.Future[asyncio.StreamWriter] = loop.create_future()
        down_writer: asyncio.Future[asyncio.StreamWriter] = loop.create_future()
        down_writer.set_result(self.client_writer)
        up = _Direction(self, downstream=False)
        down = _Direction(self, downstream=True)
        tasks = [
            asyncio.create_task(up.read_loop(self.client_reader), name="proxy-read-up"),
            asyncio.create_task(up.write_loop(up_writer), name="proxy-write-up"),
        ]
        for task in tasks:
            task.add_done_callback(self._on_task_done)
        try:
            if proxy.black_hole_after == 0:
                self.black_hole()
            else:
                # One round trip for the handshake a real link would cost.
                if proxy.latency:
                    await asyncio.sleep(2 * proxy.latency)
                try:
                    up_reader, writer = await asyncio.open_connection(
                        proxy.target_host, proxy.target_port
                    )
                except OSError:
                    self.finish(reset=True)
                else:
                    self.upstream_writer = writer
                    self.connected_at = loop.time()
                    up_writer.set_result(writer)
                    more = [
                        asyncio.create_task(down.read_loop(up_reader), name="proxy-read-down"),
                        asyncio.create_task(down.write_loop(down_writer), name="proxy-write-down"),
                    ]
                    for task in more:
                        task.add_done_callback(self._on_task_done)
                    tasks += more
            await self._finished.wait()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if not up_writer.done():
                up_writer.cancel()
            await self._close(reset=bool(self._finish_reset))

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        if task.exception() is not None:
            # A socket error on one side: pass it on as a reset to the other.
            self.finish(reset=True)

    async def _close(self, *, reset: bool) -> None:
        writers = [w for w in (self.client_writer, self.upstream_writer) if w is not None]
        for w in writers:
            if reset:
                _abort_with_rst(w)
            else:
                w.close()
        for w in writers:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await asyncio.wait_for(w.wait_closed(), 1.0)


class FaultProxy(Running):
    """A TCP proxy to ``target_host:target_port`` that injects network faults.

    Use ``async with FaultProxy(...) as proxy`` (or ``await start()`` / ``await stop()``)
    and connect to ``proxy.host:proxy.port``. See the module docstring for the faults.
    Stopping closes every connection and leaves no task or socket behind.
    """

    _what = "proxy"

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        bandwidth: float | None = None,
        cut_after: int | None = None,
        reset_after: int | None = None,
        black_hole_after: int | None = None,
    ) -> None:
        if latency < 0:
            raise ValueError("latency must be >= 0")
        if bandwidth is not None and bandwidth <= 0:
            raise ValueError("bandwidth must be > 0 (or None)")
        for name, value in (
            ("cut_after", cut_after),
            ("reset_after", reset_after),
            ("black_hole_after", black_hole_after),
        ):
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0 (or None)")
        self.target_host = target_host
        self.target_port = target_port
        self._bind_host = host
        self._bind_port = port
        #: Seconds added to each direction (round trip grows by twice this).
        self.latency = latency
        #: Bytes per second per connection and direction; None: unlimited.
        self.bandwidth = bandwidth
        #: Close (FIN) after this many server-to-client bytes.
        self.cut_after = cut_after
        #: Reset (RST) after this many server-to-client bytes.
        self.reset_after = reset_after
        #: Stop forwarding (sockets stay open) after this many server-to-client bytes.
        self.black_hole_after = black_hole_after
        self.stats = ProxyStats()
        self._server: asyncio.Server | None = None
        self._conns: dict[_Connection, asyncio.Task[None]] = {}

    @property
    def host(self) -> str:
        """The address the proxy listens on."""
        return self._bind_host

    @property
    def address(self) -> str:
        """``HOST:PORT`` of the proxy."""
        return f"{self.host}:{self.port}"

    @property
    def connection_count(self) -> int:
        """How many client connections are open right now."""
        return len(self._conns)

    async def start(self) -> FaultProxy:
        """Bind and start accepting; returns ``self``."""
        if self._server is not None:
            raise RuntimeError("the proxy is already started")
        self._server = await asyncio.start_server(
            self._accept, self._bind_host, self._bind_port, backlog=1024
        )
        self._port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        """Stop accepting and close every connection (FIN)."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for conn in list(self._conns):
            conn.finish(reset=False)
        tasks = list(self._conns.values())
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    # -- faults on every open connection, now -----------------------------------

    async def cut_all(self) -> int:
        """Close every open connection cleanly (FIN) now; returns how many."""
        return await self._end_all(reset=False)

    async def reset_all(self) -> int:
        """Reset (RST) every open connection now; returns how many."""
        return await self._end_all(reset=True)

    def black_hole_all(self) -> int:
        """Stop forwarding on every open connection, keeping the sockets open."""
        conns = list(self._conns)
        for conn in conns:
            conn.black_hole()
        return len(conns)

    async def _end_all(self, *, reset: bool) -> int:
        conns = list(self._conns.items())
        for conn, _ in conns:
            if reset:
                self.stats.resets += 1
            else:
                self.stats.cuts += 1
            conn.finish(reset=reset)
        if conns:
            await asyncio.wait([task for _, task in conns])
        return len(conns)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Connection(self, reader, writer)
        task = asyncio.current_task()
        assert task is not None
        self._conns[conn] = task
        self.stats.connections += 1
        self.stats.active += 1
        try:
            await conn.run()
        finally:
            self.stats.active -= 1
            self._conns.pop(conn, None)


# -- command line ------------------------------------------------------------------


def _target(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT")
    return host.strip("[]"), int(port)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m api_gemini.emulator.proxy``."""
    parser = argparse.ArgumentParser(
        prog="python -m api_gemini.emulator.proxy",
        description="A fault-injecting TCP proxy (latency, bandwidth, cut, reset, black hole).",
    )
    parser.add_argument("--target", type=_target, required=True, help="HOST:PORT to forward to")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (0 picks a free one)")
    delay = parser.add_mutually_exclusive_group()
    delay.add_argument("--latency-ms", type=float, default=0.0, help="ms added each way")
    delay.add_argument("--rtt-ms", type=float, default=None, help="ms added to the round trip")
    parser.add_argument(
        "--bandwidth-kbps", type=float, default=None, help="cap, kilobytes/s per direction"
    )
    parser.add_argument("--cut-after-bytes", type=int, default=None, help="FIN after N bytes down")
    parser.add_argument(
        "--reset-after-bytes", type=int, default=None, help="RST after N bytes down"
    )
    parser.add_argument(
        "--black-hole-after-bytes",
        type=int,
        default=None,
        help="stop forwarding after N bytes down (0: never connect upstream)",
    )
    return parser


async def _serve(proxy: FaultProxy) -> None:
    await serve_until_signalled(
        proxy,
        lambda: (
            f"api_gemini proxy to {proxy.target_host}:{proxy.target_port} "
            f"(latency {proxy.latency * 1000:g} ms each way) listening on {proxy.address}"
        ),
    )


def main(argv: list[str] | None = None) -> int:
    """Run the proxy from command line arguments; returns the exit status."""
    args = build_parser().parse_args(argv)
    latency_ms = args.rtt_ms / 2 if args.rtt_ms is not None else args.latency_ms

    def build() -> Coroutine[Any, Any, None]:
        proxy = FaultProxy(
            args.target[0],
            args.target[1],
            host=args.host,
            port=args.port,
            latency=latency_ms / 1000,
            bandwidth=args.bandwidth_kbps * 1000 if args.bandwidth_kbps else None,
            cut_after=args.cut_after_bytes,
            reset_after=args.reset_after_bytes,
            black_hole_after=args.black_hole_after_bytes,
        )
        return _serve(proxy)

    return run_command(build)


if __name__ == "__main__":
    sys.exit(main())
