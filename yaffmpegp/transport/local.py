"""This machine's own cores as a host: files are hard-linked, ffmpeg runs as a child process."""
from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..children import die_with_parent
from ..errors import HostError, TransferError
from .base import (ByteCallback, FFmpegRun, HostInfo, HostRequirements, LineCallback, Transport, parse_description,
                   parse_encoders)

KILL_GRACE = 3.0  # seconds between SIGTERM and SIGKILL


async def _read_lines(stream: asyncio.StreamReader, sink: LineCallback) -> None:
    while line := await stream.readline():
        sink(line.decode("utf-8", "replace").rstrip("\r\n"))


async def terminate_group(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM the process group, then SIGKILL if it lingers; wait for the child."""
    if proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        async with asyncio.timeout(KILL_GRACE):
            await proc.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        await proc.wait()


class LocalTransport(Transport):
    """A local worker. `parent` is the job's work dir; each worker gets a private subdir."""

    def __init__(self, parent: Path, *, ffmpeg: str = "ffmpeg", label: str = "local", slots: int = 1):
        self.label = label
        self.slots = slots
        self._parent = parent
        self._ffmpeg = ffmpeg
        self._dir: Path | None = None
        self._procs: set[asyncio.subprocess.Process] = set()

    async def open(self, requirements: HostRequirements) -> None:
        exe = shutil.which(self._ffmpeg)
        if exe is None:
            raise HostError(f"ffmpeg not found ({self._ffmpeg})", host=self.label)
        self._ffmpeg = exe
        if requirements.encoders:
            proc = await asyncio.create_subprocess_exec(
                exe, "-hide_banner", "-encoders",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            )
            out, _ = await proc.communicate()
            missing = set(requirements.encoders) - parse_encoders(out.decode("utf-8", "replace"))
            if missing:
                raise HostError(f"ffmpeg has no encoder {', '.join(sorted(missing))}", host=self.label)
        self._dir = Path(tempfile.mkdtemp(prefix=f"{self.label}-", dir=self._parent))

    async def describe(self) -> HostInfo:
        assert self._dir is not None, "open() first"
        proc = await asyncio.create_subprocess_exec(self._ffmpeg, "-version", stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.DEVNULL)
        out, _ = await proc.communicate()
        version = parse_description(out.decode("utf-8", "replace").split("\n", 1)[0]).ffmpeg_version
        return HostInfo(version, shutil.disk_usage(self._dir).free)

    def path(self, name: str) -> str:
        assert self._dir is not None, "open() first"
        return str(self._dir / name)

    async def put(self, local: Path, name: str, on_bytes: ByteCallback | None = None) -> None:
        await self._link(local, Path(self.path(name)), on_bytes)

    async def get(self, name: str, local: Path, on_bytes: ByteCallback | None = None) -> None:
        await self._link(Path(self.path(name)), local, on_bytes)

    async def _link(self, src: Path, dst: Path, on_bytes: ByteCallback | None) -> None:
        try:
            with contextlib.suppress(FileNotFoundError):
                dst.unlink()
            try:
                os.link(src, dst)
            except OSError:  # another filesystem: copy instead
                await asyncio.to_thread(shutil.copyfile, src, dst)
            if on_bytes:
                on_bytes(dst.stat().st_size)
        except OSError as exc:
            raise TransferError(f"cannot copy {src.name}: {exc.strerror or exc}", host=self.label) from exc

    async def remove(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            Path(self.path(name)).unlink()

    async def run_ffmpeg(self, args: Sequence[str], on_stdout_line: LineCallback) -> FFmpegRun:
        proc = await asyncio.create_subprocess_exec(
            self._ffmpeg, *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group, so a kill takes its children too
            preexec_fn=die_with_parent,
        )
        self._procs.add(proc)
        err: list[str] = []
        try:
            assert proc.stdout is not None and proc.stderr is not None
            async with asyncio.TaskGroup() as tg:
                tg.create_task(_read_lines(proc.stdout, on_stdout_line))
                tg.create_task(_read_lines(proc.stderr, err.append))
            await proc.wait()
        finally:
            await asyncio.shield(terminate_group(proc))
            self._procs.discard(proc)
        return FFmpegRun(proc.returncode if proc.returncode is not None else -1, "\n".join(err[-200:]))

    async def close(self) -> None:
        for proc in list(self._procs):
            with contextlib.suppress(Exception):
                await terminate_group(proc)
        if self._dir is not None:
            await asyncio.to_thread(shutil.rmtree, self._dir, True)
            self._dir = None
