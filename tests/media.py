"""Small test videos made with ffmpeg's lavfi sources, and ways to compare outputs.

Each maker writes one file of a kind users bring (a VHS capture, a camcorder/phone H.264,
a broadcast MPEG-TS, a Matroska with many streams) and returns its path.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

FF = ["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y"]


def _run(args: list[str]) -> None:
    subprocess.run(args, check=True)


def vhs_ffv1(path: Path, seconds: float = 6) -> Path:
    """480i FFV1, intra-only (-g 1), tff, 29.97 fps, PCM audio: a VHS capture."""
    _run(FF + ["-f", "lavfi", "-i", f"testsrc2=size=720x480:rate=30000/1001:duration={seconds}",
               "-f", "lavfi", "-i", f"sine=frequency=1000:sample_rate=48000:duration={seconds}",
               "-vf", "setfield=tff", "-c:v", "ffv1", "-level", "3", "-g", "1", "-field_order", "tt",
               "-c:a", "pcm_s16le", "-ac", "2", str(path)])
    return path


def h264_open_gop(path: Path, seconds: float = 8) -> Path:
    """Long-GOP H.264 with open GOPs and 3 B-frames, AAC, in MP4: a camcorder/phone file."""
    _run(FF + ["-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=25:duration={seconds}",
               "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=44100:duration={seconds}",
               "-c:v", "libx264", "-preset", "veryfast",
               "-x264-params", "keyint=25:min-keyint=25:open-gop=1:bframes=3:scenecut=0",
               "-c:a", "aac", "-shortest", str(path)])
    return path


def mpeg2_ts(path: Path, seconds: float = 6) -> Path:
    """Interlaced MPEG-2 with B-frames and open GOPs, MP2 audio, in MPEG-TS (starts near 1.4 s)."""
    _run(FF + ["-f", "lavfi", "-i", f"testsrc2=size=720x576:rate=25:duration={seconds}",
               "-f", "lavfi", "-i", f"sine=frequency=300:sample_rate=48000:duration={seconds}",
               "-vf", "setfield=tff", "-c:v", "mpeg2video", "-flags", "+ilme+ildct", "-top", "1",
               "-bf", "2", "-g", "12", "-b:v", "3M", "-c:a", "mp2", "-b:a", "192k", "-f", "mpegts", str(path)])
    return path


def mkv_many_streams(path: Path, seconds: float = 6) -> Path:
    """H.264 + two audio tracks (languages), SRT subtitles, three chapters and a title."""
    work = path.parent
    srt = work / f"{path.stem}.srt"
    srt.write_text("1\n00:00:00,500 --> 00:00:02,000\nHello\n\n2\n00:00:03,000 --> 00:00:05,000\nWorld\n")
    meta = work / f"{path.stem}.ffmeta"
    ms = int(seconds * 1000)
    meta.write_text(";FFMETADATA1\ntitle=Holiday 1994\n"
                    f"[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=2000\ntitle=Beach\n"
                    f"[CHAPTER]\nTIMEBASE=1/1000\nSTART=2000\nEND=4000\ntitle=Dinner\n"
                    f"[CHAPTER]\nTIMEBASE=1/1000\nSTART=4000\nEND={ms}\ntitle=Home\n")
    _run(FF + ["-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=25:duration={seconds}",
               "-f", "lavfi", "-i", f"sine=frequency=500:duration={seconds}",
               "-f", "lavfi", "-i", f"sine=frequency=700:duration={seconds}",
               "-i", str(srt), "-i", str(meta),
               "-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:s", "-map_metadata", "4",
               "-map_chapters", "4", "-c:v", "libx264", "-preset", "veryfast", "-g", "25",
               "-c:a", "aac", "-c:s", "srt",
               "-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=ger",
               "-metadata:s:s:0", "language=eng", str(path)])
    return path


def probe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-of", "json", "-show_format", "-show_streams",
                          "-show_chapters", str(path)], check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def frame_hashes(path: Path, spec: str = "v:0") -> list[str]:
    """Per-frame MD5 of the decoded frames of one stream, in order (timestamps left out)."""
    out = subprocess.run(FF[:-1] + ["-i", str(path), "-map", f"0:{spec}", "-f", "framemd5", "-"],
                         check=True, capture_output=True, text=True).stdout
    return [line.rsplit(",", 1)[1].strip() for line in out.splitlines() if line and not line.startswith("#")]


def decoded_md5(path: Path, spec: str) -> str:
    """MD5 of one stream decoded whole (for audio: every sample, so any gap or click shows)."""
    out = subprocess.run(FF[:-1] + ["-i", str(path), "-map", f"0:{spec}", "-f", "md5", "-"],
                         check=True, capture_output=True, text=True).stdout
    return out.strip()


def count_frames(path: Path, spec: str = "v:0") -> int:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", spec, "-count_frames",
                          "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return int(out.strip().strip(","))


def single_pass(src: Path, out: Path, options: list[str]) -> Path:
    """What the user would get from plain ffmpeg."""
    _run(FF + ["-i", str(src), *options, str(out)])
    return out


def rotated_phone(path: Path, seconds: float = 4, rotation: int = 90) -> Path:
    """A phone video: H.264 with B-frames and AAC in MP4, recorded sideways (a display
    matrix that players and ffmpeg apply: `rotate` as the old MP4 tag writes it)."""
    plain = path.with_name(f"{path.stem}.plain.mp4")
    _run(FF + ["-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=30:duration={seconds}",
               "-f", "lavfi", "-i", f"sine=frequency=600:sample_rate=48000:duration={seconds}",
               "-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-bf", "2",
               "-c:a", "aac", "-shortest", str(plain)])
    _run(FF + ["-i", str(plain), "-c", "copy", "-metadata:s:v:0", f"rotate={rotation}", str(path)])
    plain.unlink()
    return path


def video_shape(path: Path) -> tuple[int, int, float]:
    """(width, height, rotation) of the first video stream, rotation 0 when there is none."""
    s = next(s for s in probe(path)["streams"] if s["codec_type"] == "video")
    rotation = next((float(d["rotation"]) for d in s.get("side_data_list", []) if "rotation" in d), 0.0)
    return s["width"], s["height"], rotation


def vfr_phone(path: Path, seconds: float = 5) -> Path:
    """Variable frame rate as phones record: ~30 fps with irregular gaps (timestamps in a
    1/90000 time base), B-frames, AAC."""
    _run(FF + ["-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=30:duration={seconds}",
               "-f", "lavfi", "-i", f"sine=frequency=800:duration={seconds}",
               "-vf", "settb=1/90000,setpts='(N/30+0.011*sin(N*1.7))/TB'", "-fps_mode", "passthrough",
               "-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-video_track_timescale", "90000",
               "-c:a", "aac", str(path)])
    return path


def video_pts(path: Path) -> list[str]:
    """The video's presentation timestamps, in its own time base, in display order."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts",
                          "-of", "csv=p=0", str(path)], check=True, capture_output=True, text=True).stdout
    return sorted((x.strip(",") for x in out.split()), key=int)
