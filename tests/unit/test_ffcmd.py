from fractions import Fraction

import pytest

from yaffmpegp.ffcmd import (Mapping, Trim, autorotate_filter, concat_list, final_args, head_args, parse_mapping,
                             segment_args, split_args)


def test_split_args_exact() -> None:
    assert split_args("in.mp4", 0, [198, 398], "p%05d.nut", "nut") == [
        "-nostdin", "-hide_banner", "-v", "error", "-y", "-copyts", "-i", "in.mp4", "-f", "segment",
        "-c", "copy", "-map", "0:0", "-map_chapters", "-1", "-map_metadata", "-1",
        "-reset_timestamps", "0", "-segment_format", "nut", "-segment_frames", "198,398", "p%05d.nut"]


def test_split_args_for_open_gop_h264_repeat_parameter_sets_in_ts() -> None:
    args = split_args("in.mp4", 0, [10], "p%05d.ts", "mpegts", "h264")
    assert args[args.index("-bsf:v") + 1] == "h264_mp4toannexb,dump_extra=freq=keyframe"
    assert args[args.index("-muxdelay") + 1] == "0" and args[args.index("-muxpreload") + 1] == "0"


def test_head_args() -> None:
    assert head_args("p1.ts", 3, "h.ts", "mpegts") == [
        "-nostdin", "-hide_banner", "-v", "error", "-y", "-copyts", "-i", "p1.ts", "-f", "mpegts",
        "-c", "copy", "-frames:v", "3", "-map", "0:0", "-muxdelay", "0", "-muxpreload", "0", "h.ts"]


def test_segment_args_put_the_trim_before_the_users_filter_and_keep_user_order() -> None:
    args = segment_args("/w/00001.in.ts", "/w/00001.out.nut", Trim(3073, 412673),
                        ["-c:v", "libx264", "-crf", "25", "-preset", "veryfast"], "bwdif", "nut", threads=1)
    assert args == ["-nostdin", "-hide_banner", "-v", "error", "-nostats", "-progress", "pipe:1",
                    "-copyts", "-i", "/w/00001.in.ts", "-map", "0:v:0", "-an", "-sn", "-dn",
                    "-map_metadata", "-1", "-map_chapters", "-1", "-threads", "1",
                    "-c:v", "libx264", "-crf", "25", "-preset", "veryfast",
                    "-vf", "trim=start_pts=3073:end_pts=412673,bwdif", "-f", "nut", "-y", "/w/00001.out.nut"]
    last = segment_args("i", "o", Trim(5, None), [], None, "nut")
    assert last[last.index("-vf") + 1] == "trim=start_pts=5"


def test_concat_list_quotes_paths() -> None:
    text = concat_list([("/w/it's a $(x).nut", Fraction(8)), ("/w/b.nut", None)])
    assert text == ("ffconcat version 1.0\nfile '/w/it'\\''s a $(x).nut'\nduration 8.000000\n"
                    "file '/w/b.nut'\n")
    # the last file cut short: its first packets only
    assert concat_list([("/w/a.nut", Fraction(1)), ("/w/b.nut", None)], Fraction(200316, 10**6)).endswith(
        "file '/w/b.nut'\noutpoint 0.200316\n")


STDERR = """\
Input #0, matroska,webm, from 'in.mkv':
  Stream #0:0: Video: h264 (High), yuv420p, 320x240, 25 fps
Stream mapping:
  Stream #0:2 -> #0:0 (aac (native) -> aac (native))
  Stream #0:0 -> #0:1 (h264 (native) -> h264 (libx264))
  Stream #0:3 -> #0:2 (copy)
  Stream #0:1 -> #0:3 (h264 (native) -> ffv1 (native))
Press [q] to stop, [?] for help
Output #0, matroska, to 'out.mkv':
"""


def test_parse_mapping() -> None:
    assert parse_mapping(STDERR) == [Mapping(2, 0, "aac"), Mapping(0, 1, "libx264"), Mapping(3, 2, None),
                                     Mapping(1, 3, "ffv1")]
    assert parse_mapping("no mapping here") == []


def test_final_args_rebuild_maps_and_copy_the_joined_video() -> None:
    mapping = [Mapping(2, 0, "aac"), Mapping(0, 1, "libx264"), Mapping(3, 2, None)]
    args = final_args("in.mkv", "j.ffconcat", 0.04, mapping, 1, ["-c:a", "aac", "-metadata", "title=x"],
                      [1], "out.mkv", [("language", "eng")], "tb")
    assert args == ["-nostdin", "-hide_banner", "-v", "error", "-nostats", "-progress", "pipe:1",
                    "-i", "in.mkv", "-itsoffset", "0.040000", "-f", "concat", "-safe", "0", "-i", "j.ffconcat",
                    "-map", "0:2", "-map", "1:0", "-map", "0:3", "-metadata:s:1", "language=eng",
                    "-c:a", "aac", "-metadata", "title=x", "-c:1", "copy", "-field_order:1", "tb",
                    "-y", "out.mkv"]


@pytest.mark.parametrize("rotation,filters", [(90, "transpose=cclock"), (-90, "transpose=clock"),
                                              (-180, "hflip,vflip"), (180, "hflip,vflip"),
                                              (45, "rotate=315.000000*PI/180"), (0, None), (0.4, None)])
def test_autorotate_filter_as_ffmpeg_chooses_it(rotation, filters) -> None:
    assert autorotate_filter(rotation) == filters


def test_segment_args_name_the_single_pass_encoder_and_turn_the_video_upright_first() -> None:
    args = segment_args("i", "o", Trim(5, 90), ["-crf", "20"], "scale=320:-2", "nut",
                        encoder="libx264", upright="transpose=clock")
    assert args[args.index("-c:v"):args.index("-vf") + 2] == [
        "-c:v", "libx264", "-crf", "20", "-vf", "transpose=clock,trim=start_pts=5:end_pts=90,scale=320:-2"]


def test_final_args_keep_a_display_matrix_the_single_pass_keeps() -> None:
    args = final_args("s.mp4", "l", 0, [Mapping(0, 0, "libx264")], 0, [], [0], "o.mp4", rotation=-90)
    assert args[args.index("-metadata:s:0") + 1] == "rotate=270"
    assert "-metadata:s:0" not in final_args("s.mp4", "l", 0, [Mapping(0, 0, "libx264")], 0, [], [0], "o.mp4")
