"""ffmpeg's `-progress` output: blocks of key=value lines, each ending with progress=..."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    frame: int
    fps: float
    out_time_us: int | None
    speed: float | None
    done: bool  # progress=end


def _num(value: str | None, kind: type) -> object:
    if value is None:
        return None
    try:
        return kind(value.strip().rstrip("x"))
    except ValueError:
        return None


class ProgressParser:
    """Feed it stdout lines; it calls `sink` with a Progress at the end of every block."""

    def __init__(self, sink: Callable[[Progress], None]) -> None:
        self._sink = sink
        self._block: dict[str, str] = {}

    def feed(self, line: str) -> None:
        key, sep, value = line.partition("=")
        if not sep:
            return
        key = key.strip()
        if key != "progress":
            self._block[key] = value.strip()
            return
        b, self._block = self._block, {}
        out_time = _num(b.get("out_time_us") or b.get("out_time_ms"), int)
        self._sink(Progress(
            frame=_num(b.get("frame"), int) or 0,  # type: ignore[arg-type]
            fps=_num(b.get("fps"), float) or 0.0,  # type: ignore[arg-type]
            out_time_us=out_time,  # type: ignore[arg-type]
            speed=_num(b.get("speed"), float),  # type: ignore[arg-type]
            done=value.strip() == "end",
        ))
