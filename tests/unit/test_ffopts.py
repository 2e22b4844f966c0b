from fractions import Fraction

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


@pytest.mark.parametrize("argv", [["-filter_complex", "[0]null"], ["-ss", "-1"], ["-t", "0"], ["-t", "5m"],
                                  ["-pass", "1"], ["-i", "other.mkv"], ["-vn"], ["-crf"], ["stray"]])
def test_refused(argv, table) -> None:
    with pytest.raises(UsageError):
        split_options(argv, table)


def test_noautorotate_is_an_input_option(table) -> None:
    r = split_options(["-c:v", "libx264", "-noautorotate", "-c:a", "copy"], table)
    assert r.input == ("-noautorotate",) and not r.autorotate
    assert r.user_argv == ["-c:v", "libx264", "-c:a", "copy"]
    assert "-noautorotate" not in r.segment + r.final
    assert split_options(["-c:v", "libx264"], table).autorotate


@pytest.mark.parametrize("argv,codec", [(["-c:v", "libx265"], "libx265"), (["-vcodec", "ffv1"], "ffv1"),
                                        (["-c", "copy", "-c:v", "libx264"], "libx264"),
                                        (["-c:a", "aac"], None), ([], None)])
def test_video_codec_the_user_named(argv, codec, table) -> None:
    assert split_options(argv, table).video_codec == codec


@pytest.mark.parametrize("argv,words", [(["-fpsmax", "30"], "-fpsmax converts"),
                                        (["-vf", "setpts=0.5*PTS,scale=320:-2"], "'setpts'"),  # not at the end
                                        (["-vf", "setpts=PTS+1/TB"], "'setpts'"),  # not a speed
                                        (["-vf", "fps=30:round=up"], "'fps'"),  # only a plain fps=R
                                        (["-vf", "select='not(mod(n\\,7))'"], "'select'")])
def test_retiming_refused_before_any_work(argv, words, table) -> None:
    with pytest.raises(UsageError, match=words):
        split_options(argv, table)


@pytest.mark.parametrize("argv", [["-r", "30"], ["-r:v", "10"], ["-vf", "scale=320:-2,setpts=0.5*PTS"], ["-vf", "fps=30"],
                                  ["-vf", "setpts=PTS/2"]])
def test_rate_and_speed_changes_are_taken(argv, table) -> None:
    """Worked out ahead (retime.py): -r and a speed change at the end of the filters."""
    split_options(argv, table)


def test_codec_tag_goes_to_the_final_mux(table) -> None:
    r = split_options(["-c:v", "libx265", "-tag:v", "hvc1"], table)
    assert r.segment == ("-c:v", "libx265") and r.final == ("-tag:v", "hvc1")


@pytest.mark.parametrize("argv,start,end", [
    (["-ss", "3.5", "-t", "20"], Fraction(7, 2), Fraction(47, 2)),
    (["-ss", "00:01:02.5", "-to", "1:10"], Fraction(125, 2), Fraction(70)),
    (["-t", "1500ms"], Fraction(0), Fraction(3, 2)),
    (["-ss", "4", "-to", "10", "-t", "2"], Fraction(4), Fraction(6)),  # -t wins, as in ffmpeg
    ([], Fraction(0), None),
])
def test_output_trims_are_read_as_ffmpeg_reads_them(argv, start, end, table) -> None:
    r = split_options([*argv, "-c:v", "libx264"], table)
    assert (r.span.start, r.span.end) == (start, end)
    assert all(a not in r.segment for a in ("-ss", "-t", "-to"))
    assert "-ss" not in r.sample_argv and "-t" not in r.final_without_end
