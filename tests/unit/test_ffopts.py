import pytest

from yaffmpegp.errors import UsageError
from yaffmpegp.ffopts import Opt, option_table, parse_options, split_options


@pytest.fixture(scope="module")
def table():
    return option_table()  # read from the installed ffmpeg's own help


def test_parse_keeps_order_and_knows_flags(table) -> None:
    opts = parse_options(["-map", "-0:s", "-an", "-c:v", "libx264", "-nostats", "-shortest"], table)
    assert opts == [Opt("map", "", "-0:s"), Opt("an", "", None), Opt("c", "v", "libx264"),
                    Opt("nostats", "", None), Opt("shortest", "", None)]


def test_routing(table) -> None:
    r = split_options(["-map", "0", "-c:v", "libx264", "-crf", "25", "-preset", "veryfast", "-vf", "bwdif",
                       "-c:a", "aac", "-b:a", "128k", "-c:s", "copy", "-movflags", "+faststart",
                       "-metadata", "title=x", "-metadata:s:v:0", "language=eng", "-pix_fmt", "yuv420p",
                       "-x264-params", "stitchable=1", "-y"], table)
    assert r.segment == ("-c:v", "libx264", "-crf", "25", "-preset", "veryfast", "-pix_fmt", "yuv420p",
                         "-x264-params", "stitchable=1")
    assert r.final == ("-crf", "25", "-preset", "veryfast", "-c:a", "aac", "-b:a", "128k", "-c:s", "copy",
                       "-movflags", "+faststart", "-metadata", "title=x", "-metadata:s:v:0", "language=eng",
                       "-x264-params", "stitchable=1")
    assert r.video_filter == "bwdif"
    assert "-y" not in r.user_argv and r.user_argv[:2] == ["-map", "0"]


def test_last_video_filter_wins(table) -> None:
    assert split_options(["-vf", "yadif", "-filter:v", "bwdif"], table).video_filter == "bwdif"


@pytest.mark.parametrize("argv", [["-filter_complex", "[0]null"], ["-ss", "10"], ["-t", "5"],
                                  ["-pass", "1"], ["-i", "other.mkv"], ["-vn"], ["-crf"], ["stray"]])
def test_refused(argv, table) -> None:
    with pytest.raises(UsageError):
        split_options(argv, table)
