"""Fixtures shared by the test suite: test sources made once per session, and a runner
for the real CLI (a subprocess, as a user runs it)."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import media


@pytest.fixture(scope="session")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The four kinds of source the issue names, a few seconds each."""
    d = tmp_path_factory.mktemp("sources")
    return {
        "vhs": media.vhs_ffv1(d / "vhs.mkv"),
        "h264": media.h264_open_gop(d / "h264.mp4"),
        "ts": media.mpeg2_ts(d / "broadcast.ts"),
        "mkv": media.mkv_many_streams(d / "holiday.mkv"),
    }


Runner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def yaff(tmp_path: Path) -> Runner:
    """Run `python -m yaffmpegp ARGS`; work files go under tmp_path/work so tests can see
    whether anything was left behind."""
    work = tmp_path / "work"
    work.mkdir()

    def run(*args: str | Path, timeout: float = 240, workdir: bool = True) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "yaffmpegp", *map(str, args)]
        if workdir:
            argv += ["--workdir", str(work)]
        env = {**os.environ, "PYTHONWARNINGS": "error"}
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env,
                              stdin=subprocess.DEVNULL)

    run.work = work  # type: ignore[attr-defined]
    return run
