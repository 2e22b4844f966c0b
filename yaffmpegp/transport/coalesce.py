"""One socket write per turn of the event loop for an SSH connection, not one per SSH packet.

asyncssh hands every SSH packet to its transport as it is made: a 255 KiB SFTP write goes out
as 8 channel packets of at most 32 KiB (OpenSSH's limit) each preceded by an empty
SSH_MSG_IGNORE packet (asyncssh adds one before every packet once encryption is on), so 16
`socket.send` calls, each a system call and a pass through the kernel's TCP path. OpenSSH's
`ssh` gathers its packets in a buffer and writes them together. `CoalescingTransport` does
the same for asyncssh: writes made in one turn of the loop are joined and passed on in one
write at its end. Order and content are unchanged; nothing waits longer than that turn.

It is put under asyncssh through its `tunnel` argument, which takes any object with a
`create_connection(factory, host, port)` method: `DirectTunnel` opens the plain TCP
connection asyncssh would open. Connections through a ProxyJump or ProxyCommand keep
asyncssh's own path.
"""
from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any


class CoalescingTransport(asyncio.Transport):
    """Passes writes on to `inner` once per loop turn, joined. `writes` and `flushes` count
    what it was given and what it passed on."""

    def __init__(self, inner: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._inner = inner
        self._loop = loop
        self._pending: list[bytes] = []
        self._scheduled = False
        self.writes = 0
        self.flushes = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes += 1
        self._pending.append(bytes(data))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def writelines(self, list_of_data: Any) -> None:
        for data in list_of_data:
            self.write(data)

    def _flush(self) -> None:
        self._scheduled = False
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        self.flushes += 1
        if not self._inner.is_closing():
            self._inner.write(data)

    def write_eof(self) -> None:
        self._flush()
        self._inner.write_eof()

    def can_write_eof(self) -> bool:
        return self._inner.can_write_eof()

    def close(self) -> None:
        self._flush()  # as a socket transport does: what was written still goes out
        self._inner.close()

    def abort(self) -> None:
        self._pending.clear()
        self._inner.abort()

    def is_closing(self) -> bool:
        return self._inner.is_closing()

    def get_write_buffer_size(self) -> int:
        return self._inner.get_write_buffer_size() + sum(len(d) for d in self._pending)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._inner.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._inner.set_write_buffer_limits(high, low)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._inner.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._inner.pause_reading()

    def resume_reading(self) -> None:
        self._inner.resume_reading()

    def is_reading(self) -> bool:
        return self._inner.is_reading()


class _Relay(asyncio.Protocol):
    """The socket's protocol: gives `target` the coalescing transport, then relays to it."""

    def __init__(self, target: asyncio.Protocol) -> None:
        self._target = target
        self.transport: CoalescingTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = CoalescingTransport(transport, asyncio.get_running_loop())  # type: ignore[arg-type]
        self._target.connection_made(self.transport)

    def data_received(self, data: bytes) -> None:
        self._target.data_received(data)

    def eof_received(self) -> bool | None:
        return self._target.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._target.connection_lost(exc)

    def pause_writing(self) -> None:
        self._target.pause_writing()

    def resume_writing(self) -> None:
        self._target.resume_writing()


class DirectTunnel:
    """What asyncssh's `tunnel=` takes: the plain TCP connection asyncssh would open itself
    (`family` and `local_addr` from the ssh config), under a `CoalescingTransport`, which the
    connection's extra info names (`coalescing`)."""

    def __init__(self, family: int = socket.AF_UNSPEC, local_addr: tuple[str, int] | None = None) -> None:
        self._family = family
        self._local_addr = local_addr

    async def create_connection(self, factory: Callable[[], Any], host: str,
                                port: int) -> tuple[asyncio.BaseTransport, Any]:
        session = factory()
        relay = _Relay(session)
        await asyncio.get_running_loop().create_connection(
            lambda: relay, host, port, family=self._family, local_addr=self._local_addr)
        assert relay.transport is not None
        session.set_extra_info(coalescing=relay.transport)  # SSHConnection.set_extra_info
        return relay.transport, session

    def close(self) -> None:
        """Nothing of its own to close: the connection closes its transport."""

    async def wait_closed(self) -> None:
        return None
