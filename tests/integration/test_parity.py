"""Parity with a single ffmpeg pass for command lines people actually type.

Each row is one recipe from ffmpeg's encoding guides (H.264, H.265, VP9, AV1), the filter
and audio docs, and common how-tos: the same options are given to yaffmpegp and to
`ffmpeg [input options] -i SOURCE <options> OUTPUT`, and the two outputs are compared.

Expectations:
- LOSSLESS: the video codec is lossless (ffv1, libx264 -qp 0), so every decoded frame must
  equal the single pass's (framemd5), at the same timestamps, with the same decoded audio; and
  everything SAME checks.
- SAME: lossy, compared by shape: streams in order (type, codec, codec tag), per video stream
  the frame count (ffprobe -count_frames), width, height, pix_fmt, r_frame_rate and rotation
  (display matrix, absent = 0); the duration within one frame; per audio stream the decoded
  sample count, sample rate and channels; per subtitle stream the packet count; the title,
  the number of chapters, and for MP4/MOV the order of the top-level boxes (+faststart).
- REFUSED: yaffmpegp exits with code 2 and one line `yaffmpegp: error: ...` on stderr, and
  leaves no file. Plain ffmpeg accepts the same command (checked), so the refusal is
  yaffmpegp's own.

Options may name files that filters read: {srt}, {logo}, {lut} (made once per session in
their own directory) and {src}, the source itself; on the fleet such a file exists only on the
coordinator, as it would for a user.

Options that are ffmpeg *input* options (-noautorotate) are given to yaffmpegp among the
pass-through options, as users type them; the single pass puts them before -i.

Rows with mode FLEET run a second time on the real sshd fleet (tests/integration/conftest_fleet.py).

NOTE on frame-rate changes: `-r`, a trailing `fps=R` or linear `setpts` (a speed change) and
a variable-rate source into a constant-rate container are exact: the single pass's output
slots are worked out ahead (yaffmpegp/retime.py). A filter
that counts frames (select on n, drawtext with %{n}) cannot be cut into segments and must be
REFUSED.

KNOWN lists the rows that do not yet match, each with why: they run as strict xfails, so a
fix shows up as a failure until the row leaves the list.
"""
from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import pytest

from tests import media
from tests.integration.conftest_fleet import fleet  # noqa: F401

pytestmark = pytest.mark.slow

LOSSLESS, SAME, REFUSED = "lossless", "same", "refused"
LOCAL, FLEET = "local", "fleet"

# ffmpeg input options a user may type among the output options; the single pass puts them
# before -i. name -> number of values
INPUT_OPTIONS = {"-noautorotate": 0}

SEGMENT_LENGTH = "1"  # 4-5 s sources: three or more segments, so several joins

X264 = ("-c:v", "libx264", "-preset", "ultrafast")


@dataclass(frozen=True)
class Row:
    id: str
    source: str  # a key of parity_sources
    options: tuple[str, ...]
    ext: str
    expect: str
    mode: str = LOCAL


def _r(id: str, source: str, options: str | tuple[str, ...], ext: str, expect: str, mode: str = LOCAL) -> Row:
    opts = tuple(options.split()) if isinstance(options, str) else tuple(options)
    return Row(id, source, opts, ext, expect, mode)


ROWS: list[Row] = [
    # --- H.264 (trac.ffmpeg.org/wiki/Encode/H.264)
    _r("x264-crf", "phone", "-c:v libx264 -preset ultrafast -crf 23 -c:a copy", ".mp4", SAME, FLEET),
    _r("x264-bitrate-aac128k", "phone", "-c:v libx264 -preset ultrafast -b:v 500k -c:a aac -b:a 128k",
       ".mp4", SAME),
    _r("x264-tune-film", "phone", "-c:v libx264 -preset veryfast -tune film -crf 20 -c:a copy", ".mkv", SAME),
    _r("x264-tune-animation", "phone", "-c:v libx264 -preset slow -tune animation -crf 18 -c:a copy",
       ".mp4", SAME),
    _r("x264-qp0-lossless", "phone", "-c:v libx264 -preset ultrafast -qp 0 -c:a copy", ".mkv", LOSSLESS),
    _r("x264-10bit", "phone", X264 + ("-crf", "23", "-pix_fmt", "yuv420p10le", "-c:a", "copy"), ".mkv", SAME),
    _r("x264-422", "phone", X264 + ("-crf", "23", "-pix_fmt", "yuv422p", "-c:a", "copy"), ".mkv", SAME),
    # --- H.265 (trac.ffmpeg.org/wiki/Encode/H.265); hvc1 so Apple players take it
    _r("x265-crf-hvc1", "phone", "-c:v libx265 -preset ultrafast -crf 28 -tag:v hvc1 -c:a copy", ".mp4", SAME),
    _r("x265-bitrate", "phone", "-c:v libx265 -preset ultrafast -b:v 300k -c:a aac", ".mkv", SAME),
    # --- VP9 (trac.ffmpeg.org/wiki/Encode/VP9): constant quality needs -b:v 0
    _r("vp9-crf-opus", "phone",
       "-c:v libvpx-vp9 -crf 30 -b:v 0 -deadline realtime -cpu-used 8 -row-mt 1 -c:a libopus", ".webm", SAME),
    _r("vp9-bitrate-opus", "phone",
       "-c:v libvpx-vp9 -b:v 400k -deadline realtime -cpu-used 8 -row-mt 1 -c:a libopus -b:a 96k", ".webm", SAME),
    # --- AV1 (trac.ffmpeg.org/wiki/Encode/AV1): libaom and SVT-AV1 are both in Debian's 5.1
    _r("av1-aom-crf", "phone", "-c:v libaom-av1 -crf 35 -cpu-used 8 -row-mt 1 -c:a libopus", ".mkv", SAME),
    _r("av1-svt-crf", "phone", "-c:v libsvtav1 -preset 12 -crf 35 -c:a copy", ".mkv", SAME),
    _r("av1-svt-bitrate", "phone", "-c:v libsvtav1 -preset 12 -b:v 300k -c:a copy", ".mkv", SAME),
    # --- geometry filters
    _r("scale", "phone", X264 + ("-vf", "scale=160:-2", "-crf", "23", "-c:a", "copy"), ".mp4", SAME),
    _r("scale-ffv1", "phone", ("-vf", "scale=160:-2", "-c:v", "ffv1", "-c:a", "copy"), ".mkv", LOSSLESS),
    _r("crop", "phone", X264 + ("-vf", "crop=240:180:40:30", "-c:a", "copy"), ".mp4", SAME),
    _r("letterbox-pad", "phone", X264 + (
        "-vf", "scale=320:180:force_original_aspect_ratio=decrease,pad=320:180:(ow-iw)/2:(oh-ih)/2",
        "-c:a", "copy"), ".mp4", SAME),
    _r("transpose", "phone", X264 + ("-vf", "transpose=1", "-c:a", "copy"), ".mp4", SAME),
    _r("transpose-ffv1", "phone", ("-vf", "transpose=1", "-c:v", "ffv1", "-c:a", "copy"), ".mkv", LOSSLESS),
    # --- deinterlacing a VHS capture (480i, tff)
    _r("vhs-bwdif", "vhs", X264 + ("-vf", "bwdif", "-crf", "20", "-c:a", "aac"), ".mp4", SAME),
    _r("vhs-yadif", "vhs", X264 + ("-vf", "yadif", "-crf", "20", "-c:a", "aac"), ".mp4", SAME),
    _r("vhs-yadif-send-field", "vhs", X264 + ("-vf", "yadif=mode=send_field", "-c:a", "aac"), ".mkv", SAME),
    _r("vhs-bwdif-ffv1", "vhs", ("-vf", "bwdif", "-c:v", "ffv1", "-c:a", "copy"), ".mkv", LOSSLESS),
    _r("vhs-yadif-ffv1", "vhs", ("-vf", "yadif", "-c:v", "ffv1", "-c:a", "copy"), ".mkv", LOSSLESS),
    _r("vhs-archive-ffv1-flac", "vhs", "-c:v ffv1 -level 3 -g 1 -slices 4 -slicecrc 1 -c:a flac", ".mkv", LOSSLESS),
    _r("vhs-small-ar44100", "vhs", X264 + ("-vf", "bwdif=mode=send_frame,scale=320:-2", "-c:a", "aac",
                                          "-ar", "44100"), ".mp4", SAME),
    # --- frame rate and speed (source: 25 fps)
    _r("fps-filter-30", "phone", X264 + ("-vf", "fps=30", "-c:a", "copy"), ".mp4", SAME),
    _r("fps-filter-ffv1-vfr", "vfr", ("-vf", "scale=160:-2,fps=25", "-c:v", "ffv1", "-c:a", "copy"), ".mkv", LOSSLESS),
    _r("r-30", "phone", X264 + ("-r", "30", "-c:a", "copy"), ".mp4", SAME),
    _r("r-10", "phone", X264 + ("-r", "10", "-c:a", "copy"), ".mkv", SAME),
    _r("setpts-double-speed", "phone", X264 + ("-vf", "setpts=0.5*PTS", "-an"), ".mp4", SAME),
    _r("r-30-ffv1", "phone", "-r 30 -c:v ffv1 -c:a copy", ".mkv", LOSSLESS),
    _r("r-10-lossless-mp4", "phone", X264 + ("-qp", "0", "-r", "10", "-c:a", "copy"), ".mp4", LOSSLESS),
    _r("setpts-half-speed-ffv1", "phone", ("-vf", "scale=160:-2,setpts=2*PTS", "-c:v", "ffv1", "-an"),
       ".mkv", LOSSLESS),
    _r("vfr-r-ntsc-film", "vfr", X264 + ("-r", "24000/1001", "-c:a", "copy"), ".mp4", SAME),
    _r("select-every-7th-refused", "phone",
       X264 + ("-vf", "select='not(mod(n\\,7))',setpts=N/FRAME_RATE/TB", "-c:a", "copy"), ".mp4", REFUSED),
    _r("drawtext-frame-number-refused", "phone",
       X264 + ("-vf", "drawtext=text='%{n}':fontsize=24:fontcolor=white", "-c:a", "copy"), ".mp4", REFUSED),
    # --- filters that read a file: burnt-in subtitles (also the source's own), a watermark, a LUT
    _r("burn-subtitles", "phone", X264 + ("-vf", "subtitles={srt}", "-c:a", "copy"), ".mp4", SAME, FLEET),
    _r("burn-subtitles-ffv1", "phone", ("-vf", "subtitles={srt}", "-c:v", "ffv1", "-c:a", "copy"), ".mkv", LOSSLESS),
    _r("burn-own-subtitles", "mkv", X264 + ("-vf", "subtitles={src}", "-c:a", "aac"), ".mp4", SAME),
    _r("watermark-overlay", "phone", X264 + ("-vf", "movie={logo}[wm];[in][wm]overlay=W-w-8:8", "-c:a", "copy"),
       ".mp4", SAME),
    _r("lut3d", "phone", X264 + ("-vf", "lut3d={lut}", "-c:a", "copy"), ".mkv", SAME),
    # --- a phone video shot upright (90° display matrix)
    _r("rotated-autorotate", "rotated", X264 + ("-crf", "23", "-c:a", "copy"), ".mp4", SAME),
    _r("rotated-noautorotate", "rotated", ("-noautorotate",) + X264 + ("-crf", "23", "-c:a", "copy"),
       ".mp4", SAME, FLEET),
    _r("rotated-autorotate-ffv1", "rotated", "-c:v ffv1 -c:a copy", ".mkv", LOSSLESS),
    _r("rotated-noautorotate-ffv1", "rotated", "-noautorotate -c:v ffv1 -c:a copy", ".mkv", LOSSLESS),
    # --- variable frame rate (dropped frames, jittered timestamps)
    _r("vfr-to-mp4", "vfr", X264 + ("-crf", "23", "-c:a", "copy"), ".mp4", SAME),
    _r("vfr-to-mkv", "vfr", X264 + ("-crf", "23", "-c:a", "copy"), ".mkv", SAME),
    _r("vfr-ffv1", "vfr", "-c:v ffv1 -c:a copy", ".mkv", LOSSLESS, FLEET),
    # --- audio
    _r("audio-flac", "phone", X264 + ("-c:a", "flac"), ".mkv", SAME),
    _r("audio-mono-aac", "phone", X264 + ("-c:a", "aac", "-ac", "1"), ".mp4", SAME),
    _r("avi-xvid-mp3", "phone", "-c:v mpeg4 -vtag xvid -q:v 5 -c:a libmp3lame -q:a 4", ".avi", SAME),
    _r("mov-prores-pcm", "phone", "-c:v prores_ks -profile:v 3 -c:a pcm_s16le", ".mov", SAME),
    _r("ts-x264-aac", "phone", X264 + ("-crf", "23", "-c:a", "aac", "-b:a", "128k"), ".ts", SAME),
    # --- stream selection, subtitles, metadata, muxer flags (source: 2 audio, SRT, chapters, title)
    _r("map-all-subs-copy", "mkv", ("-map", "0") + X264 + ("-crf", "23", "-c:a", "copy", "-c:s", "copy"),
       ".mkv", SAME, FLEET),
    _r("map-all-default-codecs", "mkv", ("-map", "0") + X264, ".mkv", SAME),
    _r("map-video-second-audio", "mkv", ("-map", "0:v", "-map", "0:a:1") + X264 + ("-c:a", "aac"), ".mp4", SAME),
    _r("subs-mov-text", "mkv", ("-map", "0") + X264 + ("-c:a", "aac", "-c:s", "mov_text"), ".mp4", SAME),
    _r("an", "phone", X264 + ("-an",), ".mp4", SAME),
    _r("metadata-title", "phone", X264 + ("-c:a", "copy", "-metadata", "title=Summer at the lake"), ".mp4", SAME),
    _r("map-metadata-off", "mkv", X264 + ("-map_metadata", "-1", "-c:a", "copy"), ".mkv", SAME),
    _r("faststart", "phone", X264 + ("-crf", "23", "-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart"),
       ".mp4", SAME),
    # --- every common container with no codec options: ffmpeg picks its default encoders
    _r("bare-mkv", "phone", (), ".mkv", SAME),
    _r("bare-mp4", "phone", (), ".mp4", SAME),
    _r("bare-mov", "phone", (), ".mov", SAME),
    _r("bare-webm", "phone", (), ".webm", SAME),
    _r("bare-avi", "phone", (), ".avi", SAME),
    _r("bare-ts", "phone", (), ".ts", SAME),
]

assert len({r.id for r in ROWS}) == len(ROWS)

KNOWN: dict[str, str] = {}


def _param(row: Row):  # noqa: ANN202
    marks = [pytest.mark.xfail(strict=True, reason=KNOWN[row.id])] if row.id in KNOWN else []
    return pytest.param(row, id=row.id, marks=marks)


FILE_KEYS = ("srt", "logo", "lut")  # {name} in options: a file filters read


@pytest.fixture(scope="session")
def parity_sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("parity-sources")
    files = tmp_path_factory.mktemp("parity-filter-files")
    return {
        "srt": media.subtitles_srt(files / "subs.srt"),
        "logo": media.logo_png(files / "logo.png"),
        "lut": media.lut_cube(files / "warm.cube"),
        "phone": media.h264_open_gop(d / "phone.mp4", seconds=4),
        "vhs": media.vhs_ffv1(d / "vhs.mkv", seconds=4),
        "mkv": media.mkv_many_streams(d / "holiday.mkv", seconds=5),
        "rotated": media.phone_rotated(d / "upright.mp4", seconds=4),
        "vfr": media.phone_vfr(d / "vfr.mp4", seconds=4),
    }


# --- comparing two outputs


def _ffprobe(*args: str) -> str:
    return subprocess.run(["ffprobe", "-v", "error", *args], check=True, capture_output=True, text=True).stdout


def _rotation(stream: dict) -> int:
    for sd in stream.get("side_data_list", []):
        if "rotation" in sd:
            return int(sd["rotation"])
    return 0


def _title(info: dict) -> str | None:
    tags = {k.lower(): v for k, v in info["format"].get("tags", {}).items()}
    return tags.get("title")


def _count_frames(path: Path, spec: str) -> int:
    """Decoded frames of one stream (media.count_frames reads MPEG-TS programs as streams too)."""
    out = _ffprobe("-select_streams", spec, "-count_frames", "-show_entries", "stream=nb_read_frames",
                   "-of", "json", str(path))
    return int(json.loads(out)["streams"][0]["nb_read_frames"])


def _audio_samples(path: Path, spec: str) -> int:
    out = _ffprobe("-select_streams", spec, "-show_entries", "frame=nb_samples", "-of", "csv=p=0", str(path))
    return sum(int(x.strip(",")) for x in out.split() if x.strip(","))


def _packets(path: Path, spec: str) -> int:
    out = _ffprobe("-select_streams", spec, "-count_packets", "-show_entries", "stream=nb_read_packets",
                   "-of", "json", str(path))
    return int(json.loads(out)["streams"][0]["nb_read_packets"])


def _top_level_boxes(path: Path) -> list[str]:
    """The top-level ISO-BMFF boxes in file order (moov before mdat with +faststart)."""
    boxes: list[str] = []
    with path.open("rb") as f:
        size_total = path.stat().st_size
        pos = 0
        while pos + 8 <= size_total:
            f.seek(pos)
            head = f.read(16)
            size = int.from_bytes(head[:4], "big")
            kind = head[4:8].decode("latin-1")
            if size == 1:
                size = int.from_bytes(head[8:16], "big")
            elif size == 0:
                size = size_total - pos
            boxes.append(kind)
            if size < 8:
                break
            pos += size
    return boxes


def _frame_rate(s: dict) -> Fraction:
    for key in ("avg_frame_rate", "r_frame_rate"):
        num, _, den = s.get(key, "0/0").partition("/")
        if int(den or 0) and int(num):
            return Fraction(int(num), int(den))
    return Fraction(25)


def _facts(path: Path) -> dict:
    """What 'same' compares, each key one fact about the file."""
    info = media.probe(path)
    streams = info["streams"]
    facts: dict = {
        "streams": [(s["codec_type"], s["codec_name"]) for s in streams],
        "codec tags": [s.get("codec_tag_string") for s in streams],
        "title": _title(info),
        "chapters": len(info.get("chapters", [])),
    }
    n = {"video": 0, "audio": 0, "subtitle": 0}
    for s in streams:
        kind = s["codec_type"]
        if kind not in n:
            continue
        spec = f"{kind[0]}:{n[kind]}"
        n[kind] += 1
        if kind == "video":
            facts[f"{spec} frames"] = _count_frames(path, spec)
            facts[f"{spec} size"] = (s.get("width"), s.get("height"))
            facts[f"{spec} pix_fmt"] = s.get("pix_fmt")
            facts[f"{spec} r_frame_rate"] = s.get("r_frame_rate")
            facts[f"{spec} rotation"] = _rotation(s)
        elif kind == "audio":
            facts[f"{spec} samples"] = _audio_samples(path, spec)
            facts[f"{spec} sample_rate/channels"] = (s.get("sample_rate"), s.get("channels"))
        else:
            facts[f"{spec} packets"] = _packets(path, spec)
    if path.suffix in (".mp4", ".mov", ".m4v"):
        facts["top-level boxes"] = _top_level_boxes(path)
    return facts


def _frame_times(path: Path) -> list[float]:
    out = _ffprobe("-select_streams", "v:0", "-show_entries", "frame=best_effort_timestamp_time",
                   "-of", "csv=p=0", str(path))
    return [float(x.strip(",")) for x in out.split() if x.strip(",") not in ("", "N/A")]


def _differences(ours: Path, single: Path, expect: str) -> list[str]:
    """Every way ours differs from the single pass, most telling first."""
    a, b = _facts(ours), _facts(single)
    diffs = [f"{k}: ours {a.get(k)!r} != single {b.get(k)!r}" for k in b if a.get(k) != b.get(k)]
    diffs += [f"{k}: ours {a[k]!r}, absent from single" for k in a if k not in b]
    info_a, info_b = media.probe(ours), media.probe(single)
    da, db = float(info_a["format"].get("duration", 0)), float(info_b["format"].get("duration", 0))
    vids = [s for s in info_b["streams"] if s["codec_type"] == "video"]
    frame = 1 / _frame_rate(vids[0]) if vids else Fraction(1, 25)
    if abs(da - db) > float(frame) + 1e-6:
        diffs.append(f"duration: ours {da:.3f} s != single {db:.3f} s (more than one frame, {float(frame):.3f} s)")
    if expect == LOSSLESS:
        ha, hb = media.frame_hashes(ours), media.frame_hashes(single)
        if ha != hb:
            first = next((i for i, (x, y) in enumerate(zip(ha, hb)) if x != y), min(len(ha), len(hb)))
            bad = sum(x != y for x, y in zip(ha, hb))
            diffs.insert(0, f"framemd5: {bad} of {len(hb)} frames differ (first at {first}), "
                            f"{len(ha)} frames vs {len(hb)}")
        ta, tb = _frame_times(ours), _frame_times(single)
        if len(ta) != len(tb) or any(abs(x - y) > 0.0015 for x, y in zip(ta, tb)):
            first = next((i for i, (x, y) in enumerate(zip(ta, tb)) if abs(x - y) > 0.0015), min(len(ta), len(tb)))
            diffs.append(f"frame timestamps differ from frame {first}: ours {ta[first:first + 3]} "
                         f"single {tb[first:first + 3]}")
        for i in range(sum(s["codec_type"] == "audio" for s in info_b["streams"])):
            if media.decoded_md5(ours, f"a:{i}") != media.decoded_md5(single, f"a:{i}"):
                diffs.append(f"a:{i} decoded audio differs")
    return diffs


# --- running both


def _split_input_options(options: tuple[str, ...]) -> tuple[list[str], list[str]]:
    before: list[str] = []
    after: list[str] = []
    i = 0
    while i < len(options):
        n = INPUT_OPTIONS.get(options[i])
        if n is None:
            after.append(options[i])
            i += 1
        else:
            before.extend(options[i:i + 1 + n])
            i += 1 + n
    return before, after


def _single_pass(src: Path, out: Path, options: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    before, after = _split_input_options(options)
    return subprocess.run(media.FF + [*before, "-i", str(src), *after, str(out)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)


def _options(row: Row, sources: dict[str, Path]) -> tuple[str, ...]:
    """The row's options with {srt}, {logo}, {lut} and {src} replaced by real paths."""
    names = {**{k: sources[k] for k in FILE_KEYS}, "src": sources[row.source]}
    out = []
    for opt in row.options:
        for key, path in names.items():
            opt = opt.replace("{%s}" % key, str(path))
        out.append(opt)
    return tuple(out)


def _why(r: subprocess.CompletedProcess[str]) -> str:
    """yaffmpegp's error line, and the first warning before it (often the real cause)."""
    lines = [ln.strip() for ln in r.stderr.splitlines() if ln.strip()]
    error = next((ln for ln in reversed(lines) if ln.startswith("yaffmpegp:")), lines[-1] if lines else "")
    warning = next((ln for ln in lines if ln.startswith("warning:")), None)
    return f"exit {r.returncode}: {error}" + (f" [first warning: {warning}]" if warning else "")


def _check_row(row: Row, sources: dict[str, Path], yaff, tmp_path: Path, hosts: tuple[str, ...] = ()) -> None:
    src = sources[row.source]
    options = _options(row, sources)
    ours = tmp_path / f"ours{row.ext}"
    single = tmp_path / f"single{row.ext}"
    ref = _single_pass(src, single, options)
    assert ref.returncode == 0, f"plain ffmpeg refuses this row: {ref.stderr.strip()[-500:]}"
    beside_src = sorted(p.name for p in src.parent.iterdir())
    r = yaff("--file", src, "-o", ours, "--segment-length", SEGMENT_LENGTH, *hosts, *options)
    assert "Traceback" not in r.stderr, r.stderr
    if row.expect == REFUSED:
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == 2, f"expected a refusal (exit 2), got {_why(r)}"
        assert len(lines) == 1 and lines[0].startswith("yaffmpegp: error: "), r.stderr
        assert not ours.exists()
    else:
        assert r.returncode == 0, f"{_why(r)}\n{r.stderr}"
        diffs = _differences(ours, single, row.expect)
        assert not diffs, f"{len(diffs)} difference(s): " + "; ".join(diffs)
    assert list(yaff.work.iterdir()) == [], "work dir not cleaned up"
    assert sorted(p.name for p in src.parent.iterdir()) == beside_src, "files left beside the input"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        {"work", single.name} | ({ours.name} if row.expect != REFUSED else set())), "stray files beside the output"


@pytest.mark.parametrize("row", [_param(r) for r in ROWS])
def test_parity(row: Row, parity_sources, yaff, tmp_path: Path) -> None:
    _check_row(row, parity_sources, yaff, tmp_path)


@pytest.mark.fleet
@pytest.mark.parametrize("row", [_param(r) for r in ROWS if r.mode == FLEET])
def test_parity_on_fleet(row: Row, fleet, parity_sources, yaff, tmp_path: Path) -> None:  # noqa: F811
    _check_row(row, parity_sources, yaff, tmp_path,
               hosts=("--hostlist", *fleet.names, "--ssh-config", str(fleet.ssh_config)))
    for name in fleet.names:
        assert fleet.host_processes(name, "ffmpeg") == [], f"ffmpeg left running on {name}"
        assert fleet.workdir_leftovers(name) == [], f"files left on {name}"


def test_table_covers_the_brief() -> None:
    """At least 32 rows, about four on the fleet, every expectation and container present."""
    assert len(ROWS) >= 32
    assert 3 <= sum(r.mode == FLEET for r in ROWS) <= 5
    assert {r.expect for r in ROWS} == {LOSSLESS, SAME, REFUSED}
    assert {".mkv", ".mp4", ".mov", ".webm", ".avi", ".ts"} <= {r.ext for r in ROWS if not r.options}
