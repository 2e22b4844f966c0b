"""How many neighbouring frames a segment's filters must see so that every frame it owns
comes out as in a single pass.

Filters that look at neighbours (deinterlacers, temporal denoisers) need context frames
before and after each segment: they are decoded and filtered, never encoded, and trimmed
after the filters. Filters with a finite reach need a frame or two and are then exact.
Recursive ones (hqdn3d's temporal part, lagfun: each output feeds the next) remember the
whole past; a warm-up of a few seconds makes them converge to the single pass (how fast
depends on the content and the strength: measured in the README). Chains without such
filters get no context and cost nothing.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction

from .filtergraph import Filter, parse

DEFAULT_WARMUP = 3.0  # seconds of context before each segment for recursive filters


def _number(f: Filter, key: str, position: int, default: float) -> float:
    for o in f.options:
        if o.key == key or (o.key is None and o.position == position):
            try:
                return float(o.received)
            except ValueError:
                return default
    return default


# Filters with a finite reach: (frames before, frames after) each output frame depends on,
# with a frame to spare.
FINITE: dict[str, Callable[[Filter], tuple[int, int]]] = {
    "bwdif": lambda f: (2, 2),
    "yadif": lambda f: (2, 2),
    "estdif": lambda f: (2, 2),
    "w3fdif": lambda f: (3, 3),
    "tblend": lambda f: (2, 1),
    "tlut2": lambda f: (2, 1),
    "tmix": lambda f: (int(_number(f, "frames", 0, 3)) + 1, int(_number(f, "frames", 0, 3)) + 1),
    "tmedian": lambda f: (int(_number(f, "radius", 0, 1)) + 1,) * 2,
    "tmidequalizer": lambda f: (int(_number(f, "radius", 0, 5)) + 1,) * 2,
    "amplify": lambda f: (int(_number(f, "radius", 0, 2)) + 1,) * 2,
    "atadenoise": lambda f: (int(_number(f, "s", 9, 9)) + 1,) * 2,
    "deflicker": lambda f: (int(_number(f, "size", 0, 5)) + 1,) * 2,
    "fftdnoiz": lambda f: (int(_number(f, "prev", 3, 0)) + 1, int(_number(f, "next", 4, 0)) + 1),
    "photosensitivity": lambda f: (int(_number(f, "frames", 0, 30)) + 1, 0),
}


def _recursive(f: Filter) -> bool:
    """Each output feeds the next: no finite reach."""
    if f.name == "hqdn3d":  # its temporal strengths are the 3rd and 4th values
        return _number(f, "luma_tmp", 2, 1) != 0 or _number(f, "chroma_tmp", 3, 1) != 0
    return f.name in ("lagfun", "mcdeint")


def context_frames(chain: str | None, frame_rate: Fraction | None, seconds: float | None) -> tuple[int, int]:
    """(frames before, frames after) each segment needs for `chain`. `seconds`: the user's
    --context (None: the default warm-up for recursive filters, 0: no context at all)."""
    if not chain or seconds == 0:
        return 0, 0
    fps = float(frame_rate) if frame_rate else 30.0
    warmup = math.ceil((DEFAULT_WARMUP if seconds is None else seconds) * fps)
    before = after = 0
    for f in parse(chain):  # reaches add up along the chain
        if _recursive(f):
            before += warmup
        elif f.name in FINITE:
            b, a = FINITE[f.name](f)
            before, after = before + b, after + a
    return before, after
