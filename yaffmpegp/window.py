"""How far the split runs ahead of the hosts, and what the work dir needs on disk.

Units (the cut video a host encodes) are made only while fewer than `size` of them are
alive, and each is deleted once its segment is done (encoded and verified: a failed
attempt still needs it, to retry). With `size` = every host's slots and prefetch, plus 2,
the work dir holds a bounded window of the input, whatever its length, plus the encoded
segments kept for resume.
"""
from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

from .errors import OutputError
from .events import Event, SegmentDone

#: units alive before the hosts are known (the split overlaps the preflight and connects)
INITIAL = 2
# RAM-backed filesystems: a temp dir there competes with the encoders for memory
RAM_FILESYSTEMS = {"tmpfs", "ramfs"}


def window_size(holds: Iterable[int]) -> int:
    """Units alive at most: what every host may hold at once (its slots + prefetch), plus
    one unit waiting in the queue and one being cut."""
    return sum(holds) + 2


class UnitWindow:
    """Units cut but not yet done. The feeder waits for room before it asks the split for
    the next unit; `SegmentDone` events free them (use the window as an events listener)."""

    def __init__(self, size: int = INITIAL) -> None:
        self.size = size
        self._alive: dict[int, Path] = {}
        self._room = asyncio.Event()
        self.peak = 0

    def resize(self, size: int) -> None:
        self.size = max(1, size)
        self._room.set()

    async def wait_room(self) -> None:
        while len(self._alive) >= self.size:
            self._room.clear()
            await self._room.wait()

    def hold(self, index: int, unit: Path) -> None:
        self._alive[index] = unit
        self.peak = max(self.peak, len(self._alive))

    def free(self, index: int) -> None:
        unit = self._alive.pop(index, None)
        if unit is not None:
            unit.unlink(missing_ok=True)
            self._room.set()

    def forget(self) -> None:
        """A split given up (the video stream was guessed wrong): its units stay in its own
        dir, removed with the work dir, and no longer count."""
        self._alive.clear()
        self._room.set()

    def __call__(self, event: Event) -> None:
        if isinstance(event, SegmentDone):
            self.free(event.segment)


def mount_type(path: Path, mounts: str) -> str:
    """The filesystem type of the mount that holds `path`, from /proc/mounts text."""
    best, kind = "", ""
    target = str(path)
    for line in mounts.splitlines():
        parts = line.split()
        if len(parts) < 3:
            continue
        point = parts[1].replace("\\040", " ")
        inside = target == point or target.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, parts[2]
    return kind


def default_workdir_base(env_tmpdir: str | None = None, mounts: str | None = None) -> Path:
    """Where work dirs go when --workdir is not given: the system temp dir, unless it lives
    in RAM (tmpfs /tmp) and nobody chose it through TMPDIR; then /var/tmp, which is on
    disk on every usual system."""
    system = Path(tempfile.gettempdir())
    chosen = os.environ.get("TMPDIR") if env_tmpdir is None else env_tmpdir
    if chosen:
        return system
    if mounts is None:
        try:
            mounts = Path("/proc/self/mounts").read_text()
        except OSError:
            return system
    var_tmp = Path("/var/tmp")
    if (mount_type(system.resolve(), mounts) in RAM_FILESYSTEMS and var_tmp.is_dir()
            and os.access(var_tmp, os.W_OK | os.X_OK) and mount_type(var_tmp.resolve(), mounts) not in RAM_FILESYSTEMS):
        return var_tmp
    return system


def bytes_needed(input_video: int, segments: int, window: int, encoded: int) -> int:
    """About what the work dir needs at its peak: the pieces and units of the window (one
    more unit being cut, one piece partly written) and the encoded segments, which are
    all kept until the output is checked (for resume)."""
    per_segment = input_video / max(1, segments)
    return int(min(input_video, per_segment * (window + 2)) + encoded)


def check_free_space(where: Path, needed: int) -> None:
    """One clear line when the filesystem of `where` (the dir work dirs are made in) has
    less free space than `needed`."""
    free = shutil.disk_usage(where).free
    if free < needed:
        raise OutputError(f"not enough free space in {where} for the work dir: about {_mb(needed)} needed "
                          f"(the split's window and the encoded video), {_mb(free)} free; "
                          "free some, or choose another place with --workdir DIR")


def _mb(n: int) -> str:
    return f"{n / 1e9:.1f} GB" if n >= 1e9 else f"{max(1, round(n / 1e6))} MB"
