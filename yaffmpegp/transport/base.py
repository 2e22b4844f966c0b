"""The interface every host implements: put, run ffmpeg with progress, get, clean up."""
from __future__ import annotations

import abc
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ByteCallback = Callable[[int], None]
LineCallback = Callable[[str], None]


@dataclass(frozen=True)
class HostRequirements:
    """What a host must offer before it is given work."""

    encoders: tuple[str, ...] = ()  # ffmpeg encoder names, e.g. ("libx264",)


@dataclass(frozen=True)
class FFmpegRun:
    """A finished ffmpeg run on a host."""

    returncode: int
    stderr: str = field(repr=False)


@dataclass(frozen=True)
class HostInfo:
    """What a dry run tells of an open host."""

    ffmpeg_version: str | None = None  # the first line of `ffmpeg -version`
    free_bytes: int | None = None  # free space where the host's work dir is


def parse_description(text: str) -> HostInfo:
    """HostInfo from `ffmpeg -version | head -n 1; df -Pk DIR | tail -n 1` output."""
    version = free = None
    for line in text.splitlines():
        if line.startswith("ffmpeg version "):
            version = line.split(" Copyright", 1)[0].strip()
        fields = line.split()
        if len(fields) >= 6 and fields[3].isdigit():  # Filesystem 1024-blocks Used Available ...
            free = int(fields[3]) * 1024
    return HostInfo(version, free)


_ENCODER_LINE = re.compile(r"^\s*[VASDT.][F.][S.][X.][B.][D.]\s+(\S+)", re.MULTILINE)


def parse_encoders(text: str) -> set[str]:
    """Encoder names from `ffmpeg -hide_banner -encoders` output."""
    return {m.group(1) for m in _ENCODER_LINE.finditer(text) if m.group(1) != "="}


class Transport(abc.ABC):
    """One host's private work dir and its ffmpeg.

    File names given to put/get/remove/path are plain names inside the host's work dir;
    `path()` turns one into the absolute path to use in that host's ffmpeg arguments.
    """

    #: short label shown to the user ("local", "alice@box:2222")
    label: str
    #: how many encodes this host runs at once
    slots: int = 1
    #: whether put/get move bytes (False: the host sees the files on shared storage)
    transfers: bool = True

    @abc.abstractmethod
    async def open(self, requirements: HostRequirements) -> None:
        """Connect, create a private work dir, check ffmpeg and the encoders. Raises HostError."""

    @abc.abstractmethod
    def path(self, name: str) -> str:
        """Absolute path of `name` inside this host's work dir, as that host sees it."""

    @abc.abstractmethod
    async def put(self, local: Path, name: str, on_bytes: ByteCallback | None = None) -> None:
        """Copy a local file into the work dir and verify it arrived whole. Raises TransferError."""

    @abc.abstractmethod
    async def get(self, name: str, local: Path, on_bytes: ByteCallback | None = None) -> None:
        """Copy a file from the work dir to `local` and verify it. Raises TransferError."""

    @abc.abstractmethod
    async def remove(self, name: str) -> None:
        """Delete a file from the work dir; a missing file is fine."""

    @abc.abstractmethod
    async def run_ffmpeg(self, args: Sequence[str], on_stdout_line: LineCallback) -> FFmpegRun:
        """Run this host's ffmpeg with `args` (without the program name).

        Each stdout line goes to `on_stdout_line` as it arrives (ffmpeg's `-progress pipe:1`).
        Returns when ffmpeg exits, whatever its status. If the calling task is cancelled, the
        ffmpeg process is killed (a closed channel alone does not kill it) before the
        cancellation propagates.
        """

    #: the host's private work dir once open, where it can outlive a killed coordinator
    workdir: str | None = None
    #: remove what runs that are gone left on the host when it opens (not in a dry run)
    tidy: bool = True

    async def describe(self) -> HostInfo:
        """Once open: the ffmpeg version and the free space of the work dir."""
        return HostInfo()

    async def remove_stale(self, workdirs: Sequence[str]) -> None:
        """Remove work dirs an earlier run of the same job left on this host."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Kill any ffmpeg still running for us and remove the work dir. Never raises."""

    async def __aenter__(self) -> Transport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
