"""Several inputs: which files a batch takes, where their outputs go, its exit code."""
from __future__ import annotations

from pathlib import Path

import pytest

from yaffmpegp.batch import InputResult, exit_code, expand_inputs, is_batch, outputs_for, summary_lines
from yaffmpegp.errors import ExitCode, UsageError


def _touch(*paths: Path) -> None:
    for p in paths:
        p.write_bytes(b"x")


def test_directory_gives_its_video_files_sorted(tmp_path: Path) -> None:
    _touch(tmp_path / "b.MKV", tmp_path / "a.mp4", tmp_path / "notes.txt", tmp_path / ".hidden.mkv")
    (tmp_path / "sub.avi").mkdir()
    assert expand_inputs([tmp_path]) == [tmp_path / "a.mp4", tmp_path / "b.MKV"]


def test_glob_and_files_each_once_in_order(tmp_path: Path) -> None:
    _touch(tmp_path / "t1.mkv", tmp_path / "t2.mkv", tmp_path / "x.mp4")
    got = expand_inputs([tmp_path / "x.mp4", str(tmp_path / "t*.mkv"), tmp_path / "t1.mkv"])
    assert got == [tmp_path / "x.mp4", tmp_path / "t1.mkv", tmp_path / "t2.mkv"]


def test_a_file_named_with_glob_characters_is_that_file(tmp_path: Path) -> None:
    odd = tmp_path / "tape [1].mkv"
    _touch(odd, tmp_path / "tape 1.mkv")
    assert expand_inputs([odd]) == [odd]
    assert not is_batch([odd])


@pytest.mark.parametrize("what", ["dir", "glob"])
def test_nothing_found_is_one_line(tmp_path: Path, what: str) -> None:
    item = tmp_path if what == "dir" else str(tmp_path / "*.mkv")
    with pytest.raises(UsageError, match="no video file|no file matches"):
        expand_inputs([item])


def test_is_batch(tmp_path: Path) -> None:
    one = tmp_path / "a.mkv"
    _touch(one)
    assert not is_batch([one])
    assert not is_batch([tmp_path / "missing.mkv"])  # the job says "no such file"
    assert is_batch([one, one]) and is_batch([tmp_path]) and is_batch([str(tmp_path / "*.mkv")])


def test_outputs_named_as_for_one_input(tmp_path: Path) -> None:
    a, b = tmp_path / "in" / "a.mkv", tmp_path / "in" / "b.mp4"
    assert outputs_for([a, b], None) == [tmp_path / "in" / "a.yaffmpegp.mkv", tmp_path / "in" / "b.yaffmpegp.mp4"]
    assert outputs_for([a, b], tmp_path / "out") == [tmp_path / "out" / "a.yaffmpegp.mkv",
                                                    tmp_path / "out" / "b.yaffmpegp.mp4"]
    assert not (tmp_path / "out").exists()  # made by the run, not while checking


def test_outputs_refused(tmp_path: Path) -> None:
    _touch(tmp_path / "file")
    with pytest.raises(UsageError, match="names a directory"):
        outputs_for([tmp_path / "a.mkv", tmp_path / "b.mkv"], tmp_path / "file")
    with pytest.raises(UsageError, match="would both be written"):
        outputs_for([tmp_path / "x" / "a.mkv", tmp_path / "y" / "a.mkv"], tmp_path / "out")


def _r(result: str, code: int = 0) -> InputResult:
    return InputResult(1, Path("in.mkv"), Path("out.mkv"), result, "boom" if result == "failed" else "", code)


def test_exit_code() -> None:
    assert exit_code([_r("done"), _r("skipped")]) == ExitCode.OK
    assert exit_code([_r("done"), _r("failed", 2)]) == 2
    assert exit_code([_r("failed", 2), _r("failed", 3)]) == ExitCode.FAILED
    assert summary_lines([_r("done"), _r("failed", 2)])[-1] == "batch: 1 done, 0 skipped, 1 failed, of 2 inputs"


def test_host_description_parsed() -> None:
    from yaffmpegp.transport.base import HostInfo, parse_description

    text = ("ffmpeg version 5.1.9-0+deb12u1 Copyright (c) 2000-2025 the FFmpeg developers\n"
            "/dev/sda1         102626232 19612460  77754508      21% /tmp\n")
    assert parse_description(text) == HostInfo("ffmpeg version 5.1.9-0+deb12u1", 77754508 * 1024)
    assert parse_description("sh: 1: ffmpeg: not found\n") == HostInfo(None, None)
