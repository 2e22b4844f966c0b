from pathlib import Path

from yaffmpegp.cli import separate, settings_from
from yaffmpegp.job import partial_path
from yaffmpegp.timing import on_grid
from yaffmpegp.probe import first_error_line, first_value, parse_packets, Packet
from yaffmpegp.progress import Progress, ProgressParser
from yaffmpegp.settings import default_output
from yaffmpegp.transport.base import parse_encoders
from fractions import Fraction


def test_separate_keeps_ffmpeg_args_in_order() -> None:
    ours, theirs = separate(["--hostlist", "a", "b:22", "--segment-length", "50", "--file", "x.mp4",
                             "-c:a", "copy", "-metadata", "comment=--file", "-y", "-an", "-c:v", "libx264",
                             "-crf", "25", "-o", "out.mkv"])
    assert ours == ["--hostlist", "a", "b:22", "--segment-length", "50", "--file", "x.mp4", "-y", "-o", "out.mkv"]
    assert theirs == ["-c:a", "copy", "-metadata", "comment=--file", "-an", "-c:v", "libx264", "-crf", "25"]


def test_settings_defaults() -> None:
    s, _ = settings_from(["--file", "/v/tape.avi", "-c:v", "libx264"])
    assert s.output == Path("/v/tape.yaffmpegp.avi") == default_output(Path("/v/tape.avi"))
    assert s.segment_length == 50 and s.hosts == () and s.ffmpeg_args == ("-c:v", "libx264")
    assert partial_path(Path("/v/o.mp4")) == Path("/v/.o.yaffmpegp-partial.mp4")


def test_progress_blocks() -> None:
    seen: list[Progress] = []
    p = ProgressParser(seen.append)
    for line in ["frame=12", "fps=24.5", "out_time_us=480000", "speed=1.5x", "progress=continue",
                 "frame=20", "progress=end"]:
        p.feed(line)
    assert seen == [Progress(12, 24.5, 480000, 1.5, False), Progress(20, 0.0, None, None, True)]


def test_on_grid() -> None:
    assert on_grid(Fraction(23, 1000), Fraction(25)) == Fraction(1, 25)
    assert on_grid(Fraction(1, 100), Fraction(25)) == 0
    assert on_grid(Fraction(23, 1000), None) == Fraction(23, 1000)


def test_probe_helpers() -> None:
    assert first_value("\n1/90000,\n\n1/90000\n") == "1/90000"
    assert parse_packets("0,-1024,512,K_\n2048,-512,N/A,__,\nN/A,N/A,512,__\n\n") == [
        Packet(0, True, 512), Packet(2048, False, 0)]
    err = "[libx264 @ 0x1] Error setting option crf to value abc.\nError initializing output stream 0:0 --\nConversion failed!\n"
    assert first_error_line(err) == "[libx264 @ 0x1] Error setting option crf to value abc."


def test_parse_encoders() -> None:
    text = " V..... = Video\n ------\n V....D libx264              libx264 H.264\n A..... aac                  AAC\n"
    assert parse_encoders(text) == {"libx264", "aac"}


def test_trim_end_on_the_encoders_grid() -> None:
    """MPEG-TS whose timeline starts at 1.429978 s, fields at 50/s: the field 0.01 s before
    -ss 2.3 -t 2 ends rounds onto 2.0 s, and a single pass does not write it."""
    from fractions import Fraction as F

    from yaffmpegp.trim import Span

    span = Span(F(23, 10), F(43, 10))
    grid = span.on_grid(F(50))
    assert grid.start == span.start and grid.end == F(23, 10) + F(995, 500)
    assert F(4290022, 10**6) >= grid.end  # rounds to 100 frames: not kept
    assert F(4270022, 10**6) < grid.end
    assert span.on_grid(None) == Span(span.start) and Span(F(1)).on_grid(F(25)) == Span(F(1))
    # the encoder's own end only: the trim's end counts from the first frame kept (kept_frames)
    assert Span(F(0), F(213, 100)).on_grid(F(10)).end == F(215, 100)


def test_trim_duration_counts_from_the_first_frame_kept() -> None:
    """ffmpeg's trim filter counts -t (and -to less -ss) from the first frame it keeps:
    -ss 2.31 -to 5 on 25 fps keeps 2.32 ... 5.00, 68 frames, where 5.00 is past -to."""
    from fractions import Fraction as F

    from yaffmpegp.plan import Cut, Plan
    from yaffmpegp.trim import Span, kept_frames

    shown = tuple(range(0, 150 * 512, 512))  # 6 s at 25 fps, time base 1/12800
    plan = Plan((Cut(0, 0, 0), Cut(75, 75 * 512, 0)), (75, 75), 150, shown=shown)
    span = Span(F(231, 100), F(5)).on_grid(F(25))
    kept = kept_frames(plan, F(1, 12800), F(0), F(1), span, F(5) - F(231, 100))
    assert sum(k.frames for k in kept.values()) == 68
    assert kept[0].first == F(232, 100) and kept[1].first == F(3)
    without = kept_frames(plan, F(1, 12800), F(0), F(1), Span(F(231, 100), F(5)))
    assert sum(k.frames for k in without.values()) == 67  # what -to alone would keep


def test_video_move_in_whole_ticks_of_every_time_base() -> None:
    """The final mux keeps a copied video packet only if its decode time is in [-ss, -ss + -t):
    two B-frames at 29.97 fps decode 66.73 ms early, so the video moves later, in whole
    milliseconds into Matroska (67 ms) and exactly into MP4's 1/30000; a first frame shown
    after -ss moves earlier when the last one would reach -t."""
    from fractions import Fraction as F

    from yaffmpegp.trim import common_step, video_move

    ntsc, frame = F(30000, 1001), F(1001, 30000)
    assert common_step([F(1, 30000), F(1, 1000)]) == F(1, 1000)
    assert common_step([F(1, 25), F(1, 12800)]) == F(1, 25)
    delay = 2 / ntsc
    assert video_move(F(0), F(10), delay, F(1, 1000), None) == F(67, 1000)
    assert video_move(F(0), F(10), delay, F(1, 30000), F(20)) == 2 * frame
    assert video_move(F(1, 50), F(10), F(0), F(1, 1000), F(20)) == 0  # nothing to move
    # -ss 2.31 -to 5 at 25 fps: first frame at 0.02 (on the grid: 0.04), last at 2.69 = -t
    assert video_move(F(1, 25), F(269, 100), F(0), F(1, 25), F(269, 100)) == F(-1, 25)
    assert video_move(F(0), F(10) - F(1, 10000), delay, F(1, 1000), F(10)) is None  # 67 ms does not fit
    assert video_move(F(0), F(10) - F(1, 10000), delay, F(1, 1000), F(10), seeks=False) == 0  # without -ss


def test_parse_framecrc_reads_time_base_flags_and_unset_timestamps() -> None:
    from yaffmpegp.probe import NOPTS, Packet, parse_framecrc
    text = ("#software: Lavf59.27.100\n#tb 0: 1/64000\n#media_type 0: video\n"
            "0,          0,          0,     2135,   319391, 0xbc4b9a21\n"
            "0,       2112,       4288,     2135,     1000, 0x00000001, F=0x0\n"
            f"0,      -2112, {NOPTS},        0,     1000, 0x00000002, F=0x3\n"
            f"0, {NOPTS}, {NOPTS},        0,       10, 0x00000003\n")
    tb, packets, earliest = parse_framecrc(text)
    assert tb == Fraction(1, 64000)
    assert packets == [Packet(0, True, 2135), Packet(4288, False, 2135), Packet(-2112, True, 0)]
    assert earliest == -2112
