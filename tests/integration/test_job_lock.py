"""The same job run twice at once: the second run says so in one line and leaves; the
first one finishes unharmed."""
from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import media

pytestmark = pytest.mark.slow
# `realtime` paces the encode at the clip's own speed: the first run lasts as long as the
# clip, however fast or loaded the machine, and ffv1 keeps every frame checkable.
PACED_LOSSLESS = ["-vf", "realtime", "-c:v", "ffv1", "-c:a", "copy"]


def test_second_run_of_a_running_job_refuses_and_the_first_finishes(tmp_path: Path) -> None:
    src = media.vhs_ffv1(tmp_path / "tape.mkv", seconds=12)
    work = tmp_path / "work"
    work.mkdir()
    out = tmp_path / "out.mkv"
    argv = [sys.executable, "-m", "yaffmpegp", "--file", str(src), "-o", str(out), "--workdir", str(work),
            "--segment-length", "4", "--local-workers", "1", *PACED_LOSSLESS]
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not list(work.glob("yaffmpegp-*/encoded")):  # the first run is under way
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first run never started"
            time.sleep(0.1)
        (job,) = work.iterdir()
        second = subprocess.run(argv, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert first.poll() is None, "the first run should still be encoding"
        entries = sorted(p.name for p in job.iterdir())
        _, err = first.communicate(timeout=240)
    finally:
        if first.poll() is None:
            first.kill()
    assert second.returncode == 4, second.stderr
    lines = second.stderr.splitlines()
    assert len(lines) == 1 and second.stdout == "", second.stderr
    assert lines[0].startswith("yaffmpegp: error: this job is already running "
                               f"(pid {first.pid} on {socket.gethostname()})"), lines[0]
    assert "lock" in entries and "split" in entries  # the second run cleaned nothing up
    assert first.returncode == 0, err
    assert media.frame_hashes(out) == media.frame_hashes(src)
    assert media.decoded_md5(out, "a:0") == media.decoded_md5(src, "a:0")
    assert list(work.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mkv", "tape.mkv", "work"]
