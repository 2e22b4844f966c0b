"""Keeping a child segment muxer a bounded window ahead of its consumer (SIGSTOP/SIGCONT)."""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable

PACE = 0.005  # seconds between looks while the muxer runs ahead: it copies fast


class Pacer:
    """Keeps the segment muxer from running far ahead of the units asked for, so the pieces
    on disk stay a bounded window instead of the whole video: the muxer is stopped
    (SIGSTOP) once it is past what was allowed (the caller's test: the file after the last
    one allowed exists, or a muxer's list names it), and continued (SIGCONT) when more is
    allowed. It runs in short bursts, watched closely while it
    runs (a stream copy writes tens of MB a second), not at all while stopped. Only this
    machine's own child is paused."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc
        self._watch: Callable[[], bool] | None = None  # true once the muxer is past what is allowed
        self._stopped = False
        self._more = asyncio.Event()

    def _past(self) -> bool:
        return self._watch is not None and self._watch()

    def _signal(self, sig: int) -> None:
        if self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self._proc.pid, sig)

    def allow(self, past: Callable[[], bool] | None) -> None:
        """Write on until `past()` (None: to the end); callers only ever allow more."""
        self._watch = past
        self._more.set()

    async def run(self) -> None:
        while self._proc.returncode is None:
            if self._past():
                if not self._stopped:
                    self._signal(signal.SIGSTOP)
                    self._stopped = True
                self._more.clear()
                await self._more.wait()
            elif self._stopped:
                self._signal(signal.SIGCONT)
                self._stopped = False
            else:
                await asyncio.sleep(PACE)
