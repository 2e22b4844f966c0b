"""Bad input gets one clear line on stderr and a non-zero exit, before any work, and
nothing is left next to the input or in the work dir."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import media

X264 = ["-c:v", "libx264", "-preset", "ultrafast"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return media.h264_open_gop(tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=2)


def _one_error_line(r: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert r.returncode != 0
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("yaffmpegp: error: ")
    assert "Traceback" not in r.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _case_dir(tmp_path: Path, clip: Path) -> tuple[Path, Path]:
    d = tmp_path / "case"
    d.mkdir()
    src = d / "in.mp4"
    shutil.copy(clip, src)
    return d, src


def _unchanged(d: Path, names: set[str], yaff) -> None:
    assert {p.name for p in d.iterdir()} == names
    assert list(yaff.work.iterdir()) == []


def test_missing_file(yaff, tmp_path: Path) -> None:
    r = yaff("--file", tmp_path / "nope.mp4", *X264)
    _one_error_line(r, "nope.mp4", "no such file")
    assert r.returncode == 2


def test_unreadable_file(tmp_path: Path) -> None:
    """A file the user may not read. Root reads everything, so as root the CLI runs without
    the capabilities that override file permissions, on a file of another user (mode 600)."""
    src = tmp_path / "private.mp4"
    media.h264_open_gop(src, seconds=1)
    src.chmod(0o600)
    argv = [sys.executable, "-m", "yaffmpegp", "--file", str(src), "-o", str(tmp_path / "o.mp4"), *X264]
    if os.geteuid() == 0:
        os.chown(src, 65534, 65534)  # nobody's
        argv = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--", *argv]
    else:
        src.chmod(0)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    _one_error_line(r, str(src), "permission denied")
    assert r.returncode == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["private.mp4"]


def test_directory_without_videos(yaff, tmp_path: Path) -> None:
    # a directory is a batch of its video files; one with none is a mistake
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    (shelf / "notes.txt").write_text("tapes 1-3\n")
    _one_error_line(yaff("--file", shelf, *X264), "no video file in this directory")


def test_empty_file(yaff, tmp_path: Path) -> None:
    (tmp_path / "empty.mkv").touch()
    _one_error_line(yaff("--file", tmp_path / "empty.mkv", *X264), "empty")


def test_not_a_video(yaff, tmp_path: Path) -> None:
    (tmp_path / "notes.mp4").write_text("these are my holiday notes, not a video\n" * 50)
    r = yaff("--file", tmp_path / "notes.mp4", *X264)
    _one_error_line(r, "not a media file")
    assert r.returncode == 2
    _unchanged(tmp_path, {"notes.mp4", "work"}, yaff)


def test_audio_only(yaff, tmp_path: Path) -> None:
    src = tmp_path / "song.m4a"
    subprocess.run(media.FF + ["-f", "lavfi", "-i", "sine=duration=1", str(src)], check=True)
    _one_error_line(yaff("--file", src, *X264), "no video stream")


def test_truncated_file(yaff, tmp_path: Path, clip: Path) -> None:
    data = clip.read_bytes()
    src = tmp_path / "cut.mp4"
    src.write_bytes(data[: len(data) // 2])  # the moov atom is at the end: gone
    _one_error_line(yaff("--file", src, *X264), "cut.mp4")


@pytest.mark.parametrize("opts,needle", [
    (["-c:v", "nosuchcodec"], "nosuchcodec"),
    (["-c:v", "libx264", "-crf", "abc"], "abc"),
    (["-c:v", "libx264", "-nosuchoption", "1"], "nosuchoption"),
])
def test_options_ffmpeg_rejects(opts: list[str], needle: str, yaff, tmp_path: Path, clip: Path) -> None:
    d, src = _case_dir(tmp_path, clip)
    r = yaff("--file", src, *opts)
    line = _one_error_line(r, needle)
    assert "ffmpeg rejected the options" in line
    assert r.returncode == 2
    _unchanged(d, {"in.mp4"}, yaff)


def test_refused_option_says_why(yaff, tmp_path: Path, clip: Path) -> None:
    d, src = _case_dir(tmp_path, clip)
    _one_error_line(yaff("--file", src, "-filter_complex", "[0:v]null", *X264), "-filter_complex")
    _one_error_line(yaff("--file", src, "-t", "soon", *X264), "is not a time")
    _one_error_line(yaff("--file", src, "-ss", "3", "-to", "2", *X264), "-to must come after -ss")


def test_output_directory_missing(yaff, tmp_path: Path, clip: Path) -> None:
    d, src = _case_dir(tmp_path, clip)
    _one_error_line(yaff("--file", src, "-o", d / "no" / "out.mp4", *X264), "does not exist")
    _unchanged(d, {"in.mp4"}, yaff)


def test_existing_output_is_not_overwritten_without_y(yaff, tmp_path: Path, clip: Path) -> None:
    d, src = _case_dir(tmp_path, clip)
    out = d / "out.mp4"
    out.write_text("precious")
    _one_error_line(yaff("--file", src, "-o", out, *X264), "already exists", "-y")
    assert out.read_text() == "precious"


def test_output_may_not_be_the_input(yaff, tmp_path: Path, clip: Path) -> None:
    d, src = _case_dir(tmp_path, clip)
    _one_error_line(yaff("--file", src, "-o", src, "-y", *X264), "overwrite the input")
    assert src.read_bytes() == clip.read_bytes()


def test_missing_file_option_is_a_usage_error(yaff) -> None:
    r = yaff(*X264)
    _one_error_line(r, "--file")
    assert r.returncode == 2


def test_version_and_help(yaff) -> None:
    r = yaff("--version", workdir=False)
    assert r.returncode == 0 and r.stdout.startswith("yaffmpegp ")
    r = yaff("--help", workdir=False)
    assert r.returncode == 0 and "--hostlist" in r.stdout and "examples:" in r.stdout
