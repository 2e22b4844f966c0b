"""The live status: a bar and host lines on a terminal, plain lines without one."""
from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests import media

pytestmark = pytest.mark.slow
OPTS = ["-c:v", "libx264", "-preset", "medium", "-c:a", "aac"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return media.vhs_ffv1(tmp_path_factory.mktemp("status") / "clip.mkv", seconds=10)


def _on_terminal(rows: int, columns: int, args: list[str]) -> tuple[int, str]:
    """Run the CLI on a real pseudo-terminal of that size; (exit status, all it printed)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the CLI on the terminal
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        os.execv(sys.executable, [sys.executable, "-m", "yaffmpegp", *args])
    out = b""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.WEXITSTATUS(status), out.decode("utf-8", "replace")


def test_terminal_shows_overall_bar_and_host_lines(clip: Path, tmp_path: Path) -> None:
    code, text = _on_terminal(40, 160, ["--file", str(clip), "-o", str(tmp_path / "out.mp4"), "--workdir",
                                        str(tmp_path), "--segment-length", "2", *OPTS])
    assert code == 0, text[-2000:]
    assert "\x1b[" in text or "\r" in text  # drawn in place
    # the overall bar: frames of the total, segments and queue
    totals = re.findall(r"encode:\s+\d+%.*?(\d+)/(\d+) \[.*?segments (\d+)/(\d+) queue \d+", text)
    assert totals, text[-2000:]
    assert len({t[0] for t in totals}) >= 3, "the bar should move"
    # one line per host with each stage's state
    for host in ("local1", "local2"):
        lines = re.findall(rf"{host}\s+SEND .*? → ENC .*? → GET .*? \| stale: (?:no|yes) \| done \d+", text)
        assert lines, f"no status line for {host}"
    assert re.search(r"ENC seg \d+ \d+ fps \d\d:\d\d:\d\d", text)
    assert "wrote" in text and "checked:" in text


def test_no_terminal_means_no_control_codes(clip: Path, tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    r = subprocess.run([sys.executable, "-m", "yaffmpegp", "--file", str(clip), "-o", str(tmp_path / "o.mp4"),
                        "--workdir", str(tmp_path), "--segment-length", "2", "--log-file", str(log), *OPTS],
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    assert "\x1b" not in r.stderr and "\r" not in r.stderr
    assert re.search(r"^progress: \d+/\d+ frames \(\d+%\), segments \d+/\d+", r.stderr, re.M)
    # the summary: a row per host and a total line
    assert re.search(r"^local1\s+\d+\s+\d+", r.stderr, re.M) and re.search(r"^total: \d+ segments", r.stderr, re.M)
    logged = log.read_text()
    assert "checked:" in logged and "total:" in logged and "wrote" in logged


def test_quiet_prints_nothing_on_success(clip: Path, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "yaffmpegp", "--quiet", "--file", str(clip), "-o",
                        str(tmp_path / "o.mp4"), "--workdir", str(tmp_path), *OPTS],
                       capture_output=True, text=True, timeout=240)
    assert r.returncode == 0 and r.stderr == "" and r.stdout == ""


def test_terminal_of_no_size_gets_plain_progress_lines(tmp_path: Path) -> None:
    """A pty reporting 0 rows and 0 columns (some container consoles, `script` without a
    controlling terminal): tqdm would hide every bar there, so the plain lines are printed.
    The encode is paced at real time (two workers, 20 s: at least 10 s), so the run lasts
    long enough for several lines, and 2 s segments show the current speed in each."""
    clip = media.vhs_ffv1(tmp_path / "clip.mkv", seconds=20)
    code, text = _on_terminal(0, 0, ["--file", str(clip), "-o", str(tmp_path / "out.mkv"), "--workdir",
                                     str(tmp_path), "--segment-length", "2", "--local-workers", "2",
                                     "-vf", "realtime", "-c:v", "ffv1", "-c:a", "copy"])
    assert code == 0, text[-2000:]
    assert "\x1b[" not in text
    lines = re.findall(r"^progress: (\d+)/(\d+) frames \(\d+%\), segments \d+/\d+, \d+ fps avg, (\d+) fps now",
                       text, re.M)
    assert len(lines) >= 2, text
    assert int(lines[-1][0]) > int(lines[0][0])  # it moves
    # from frame counts over the last seconds: ffmpeg's own average read 0 here (each segment
    # lasts 2 s, and it reads 0 for about the first second of each)
    encoding = [int(now) for frames, total, now in lines[1:] if int(frames) < int(total)]
    assert encoding and all(encoding), lines
    assert "checked:" in text and "wrote" in text
