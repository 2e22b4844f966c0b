"""Ctrl-C stops the run: exit 130, no ffmpeg of ours left, no work files, no partial output."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import media
from tests.signals import interrupt_when

pytestmark = pytest.mark.slow


def _our_ffmpegs(marker: str, also: str = "") -> list[int]:
    """Pids of ffmpeg processes whose command line holds `marker` (and `also`)."""
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "ffmpeg" in cmd and marker in cmd and also in cmd:
                pids.append(int(d.name))
    return pids


def test_sigint_mid_run_cleans_up(tmp_path: Path) -> None:
    src = media.vhs_ffv1(tmp_path / "long.mkv", seconds=20)
    work = tmp_path / "work"
    work.mkdir()
    out = tmp_path / "out.mp4"
    proc = subprocess.Popen([sys.executable, "-m", "yaffmpegp", "--file", str(src), "-o", str(out),
                             "--workdir", str(work), "--segment-length", "2",
                             "-c:v", "libx264", "-preset", "slow", "-c:a", "aac"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    err = interrupt_when(proc, lambda: bool(_our_ffmpegs(str(work) + "/") and list(work.glob("*/encoded"))),
                         "the run never started encoding")
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    time.sleep(0.5)
    assert _our_ffmpegs(str(work) + "/") == []
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    # what is kept is only the resume state: the journal and the segments it lists
    kept = list(work.iterdir())
    if kept:
        assert "run the same command again to resume" in err
        (job,) = kept
        journal = json.loads((job / "journal.json").read_text())
        assert sorted(p.name for p in job.iterdir()) == ["encoded", "journal.json", "lock"]
        assert sorted(p.name for p in (job / "encoded").iterdir()) == sorted(e["file"] for e in journal["done"].values())
    # and the same command again finishes the job, then removes it all
    again = subprocess.run(proc.args, capture_output=True, text=True, timeout=240)
    assert again.returncode == 0, again.stderr
    assert media.count_frames(out) == media.count_frames(src)
    assert list(work.iterdir()) == []


def test_second_sigint_exits_at_once(tmp_path: Path) -> None:
    src = media.vhs_ffv1(tmp_path / "long.mkv", seconds=20)
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "yaffmpegp", "--file", str(src), "-o", str(tmp_path / "o.mp4"),
                             "--workdir", str(work), "--segment-length", "2",
                             "-c:v", "libx264", "-preset", "slow", "-c:a", "aac"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not _our_ffmpegs(str(work) + "/"):
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    # 130 from us, or death by SIGINT when the second one lands while the interpreter is
    # already exiting after a fast clean stop (a shell shows that as 130 too)
    assert proc.returncode in (130, -signal.SIGINT), err
    assert "Ctrl-C again to exit at once" in err
    time.sleep(0.5)
    assert _our_ffmpegs(str(work) + "/") == []  # no local encoder outlives us


def _done_segments(events: Path) -> list[dict]:
    if not events.exists():
        return []
    return [e for e in map(json.loads, events.read_text().splitlines()) if e["event"] == "segment_done"]


def test_sigkill_and_rerun_encodes_only_what_was_missing(tmp_path: Path) -> None:
    """The coordinator killed with SIGKILL (no cleanup at all): its encoders die with it, and
    the same command again re-encodes only the segments that were not finished. A changed
    option starts afresh."""
    src = media.vhs_ffv1(tmp_path / "tape.mkv", seconds=12)
    work = tmp_path / "work"
    work.mkdir()
    out = tmp_path / "out.mkv"
    lossless = ["-c:v", "libx264", "-preset", "medium", "-qp", "0", "-c:a", "copy"]

    def cli(events: Path, *opts: str) -> list[str]:
        return [sys.executable, "-m", "yaffmpegp", "--file", str(src), "-o", str(out), "-y", "--workdir",
                str(work), "--segment-length", "1", "--events", str(events), *opts]

    first = tmp_path / "first.jsonl"
    proc = subprocess.Popen(cli(first, *lossless), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(_done_segments(first)) < 3:
            assert proc.poll() is None and time.monotonic() < deadline, "never got 3 segments done"
            time.sleep(0.05)
        proc.kill()
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    time.sleep(1)
    assert _our_ffmpegs(str(work) + "/") == [], "encoders outlived the coordinator"
    done_before = {e["segment"] for e in _done_segments(first)}

    fresh = tmp_path / "fresh.jsonl"  # another option: another job, nothing to resume
    r = subprocess.run(cli(fresh, *lossless[:-2], "-an"), capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    assert not [e for e in _done_segments(fresh) if e["host"] == "(resumed)"]

    second = tmp_path / "second.jsonl"
    r = subprocess.run(cli(second, *lossless), capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr
    resumed = {e["segment"] for e in _done_segments(second) if e["host"] == "(resumed)"}
    again = {e["segment"] for e in _done_segments(second) if e["host"] != "(resumed)"}
    planned = next(e for e in map(json.loads, second.read_text().splitlines()) if e["event"] == "planned")
    assert resumed and resumed <= done_before  # only verified segments are taken over
    assert sorted(resumed | again) == list(range(planned["segments"])) and not resumed & again
    assert media.frame_hashes(out) == media.frame_hashes(src)  # exact, resumed or not
    assert list(work.iterdir()) == []


def test_sigkill_mid_segment_ends_local_encoders(tmp_path: Path) -> None:
    """A long segment paced at real time is encoding when the coordinator is SIGKILLed: its
    ffmpeg dies with it (PR_SET_PDEATHSIG), not when the segment would have ended."""
    src = media.vhs_ffv1(tmp_path / "tape.mkv", seconds=60)
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "yaffmpegp", "--file", str(src), "-o", str(tmp_path / "o.mkv"),
                             "--workdir", str(work), "--segment-length", "30", "--local-workers", "2",
                             "-vf", "realtime", "-c:v", "ffv1", "-c:a", "copy"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not _our_ffmpegs(str(work) + "/", "-progress"):  # a segment's encode, not the split
            assert proc.poll() is None and time.monotonic() < deadline, "the run never encoded"
            time.sleep(0.1)
        time.sleep(1)
        proc.kill()
        proc.wait()
        killed = time.monotonic()
        while _our_ffmpegs(str(work) + "/"):
            assert time.monotonic() - killed < 10, "local encoders outlived the coordinator"
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
