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


def vhs_ffv1(path: Path, seconds: float = 6, noise: int = 0) -> Path:
    """480i FFV1, intra-only (-g 1), tff, 29.97 fps, PCM audio: a VHS capture. `noise`:
    temporal noise as tapes come off a VCR, what a denoiser works on (so a join shows)."""
    grain = f",noise=alls={noise}:allf=t" if noise else ""
    _run(FF + ["-f", "lavfi", "-i", f"testsrc2=size=720x480:rate=30000/1001:duration={seconds}{grain}",
               "-f", "lavfi", "-i", f"sine=frequency=1000:sample_rate=48000:duration={seconds}",
               "-vf", "setfield=tff", "-c:v", "ffv1", "-level", "3", "-g", "1", "-field_order", "tt",
               "-c:a", "pcm_s16le", "-ac", "2", str(path)])
    return path


def h264_open_gop(path: Path, seconds: float = 8, noise: int = 0) -> Path:
    """Long-GOP H.264 with open GOPs and 3 B-frames, AAC, in MP4: a camcorder/phone file
    (`noise`: with temporal noise)."""
    grain = f",noise=alls={noise}:allf=t" if noise else ""
    _run(FF + ["-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=25:duration={seconds}{grain}",
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


def timeline(path: Path) -> list[tuple[str, str | None, str | None]]:
    """Where each stream starts and how long it lasts, and the file (an MP4's edit lists
    show here)."""
    info = probe(path)
    return [(s["codec_type"], s.get("start_time"), s.get("duration")) for s in info["streams"]] + \
        [("format", info["format"].get("start_time"), info["format"].get("duration"))]


def packet_times(path: Path, spec: str) -> list[tuple[int, int]]:
    """(pts, duration) of one stream's packets, in its own time base, in display order."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", spec, "-show_entries",
                          "packet=pts,duration", "-of", "csv=p=0", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return sorted(tuple(int(x) for x in line.strip(",").split(",")[:2]) for line in out.split())


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


def video_shape(path: Path) -> tuple[int, int, float]:
    """(width, height, rotation) of the first video stream, rotation 0 when there is none."""
    s = next(s for s in probe(path)["streams"] if s["codec_type"] == "video")
    rotation = next((float(d["rotation"]) for d in s.get("side_data_list", []) if "rotation" in d), 0.0)
    return s["width"], s["height"], rotation



def video_pts(path: Path) -> list[str]:
    """The video's presentation timestamps, in its own time base, in display order."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts",
                          "-of", "csv=p=0", str(path)], check=True, capture_output=True, text=True).stdout
    return sorted((x.strip(",") for x in out.split()), key=int)


def phone_rotated(path: Path, seconds: float = 4) -> Path:
    """A phone video shot upright: H.264 stored as 320x180 (closed GOPs of 30 frames, 30 fps),
    AAC 48 kHz, and a 90° display matrix in the MP4 (ffprobe: rotation=90), so players and
    ffmpeg's autorotate show it as 180x320."""
    flat = path.with_name(f"{path.stem}.flat{path.suffix}")
    _run(FF + ["-f", "lavfi", "-i", f"testsrc2=size=320x180:rate=30:duration={seconds}",
               "-f", "lavfi", "-i", f"sine=frequency=600:sample_rate=48000:duration={seconds}",
               "-c:v", "libx264", "-preset", "veryfast", "-g", "30", "-keyint_min", "30",
               "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2", "-shortest", str(flat)])
    # ffmpeg 5.1 has no -display_rotation; its MP4 muxer still turns this tag into the matrix
    _run(FF + ["-i", str(flat), "-map", "0", "-c", "copy", "-metadata:s:v:0", "rotate=90", str(path)])
    flat.unlink()
    return path


def phone_vfr(path: Path, seconds: float = 4) -> Path:
    """Variable frame rate as phones record it: frames dropped here and there (select) and the
    rest a few milliseconds off the 30 fps grid (setpts with jitter), H.264 + AAC 48 kHz in MP4
    written with -fps_mode passthrough and a 90 kHz time base, so no frame is duplicated."""
    vf = ("select='not(eq(mod(n\\,10)\\,3))*not(eq(mod(n\\,17)\\,5))',"
          "settb=1/90000,setpts=PTS+floor(360*sin(N*1.7))")
    _run(FF + ["-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=30:duration={seconds}",
               "-f", "lavfi", "-i", f"sine=frequency=800:sample_rate=48000:duration={seconds}",
               "-vf", vf, "-fps_mode", "passthrough", "-enc_time_base", "1/90000",
               "-c:v", "libx264", "-preset", "veryfast", "-g", "30",
               "-video_track_timescale", "90000", "-c:a", "aac", "-shortest", str(path)])
    return path


# Files that filters read (burnt-in subtitles, a watermark, a colour LUT): a filter that names
# a file must find it wherever the segment is encoded.

def subtitles_srt(path: Path) -> Path:
    """Two SRT cues in the first four seconds, to burn in with -vf subtitles=FILE."""
    path.write_text("1\n00:00:00,200 --> 00:00:01,500\nFirst line\n\n"
                    "2\n00:00:02,000 --> 00:00:03,800\nSecond line\n")
    return path


def logo_png(path: Path) -> Path:
    """A 48x24 half-transparent red logo (RGBA PNG) for -vf movie=FILE[wm];[in][wm]overlay."""
    _run(FF + ["-f", "lavfi", "-i", "color=c=red:s=48x24,format=rgba,colorchannelmixer=aa=0.6",
               "-frames:v", "1", str(path)])
    return path


def lut_cube(path: Path) -> Path:
    """A small warm-tint 3D LUT in .cube format, for -vf lut3d=FILE."""
    path.write_text('TITLE "warm"\nLUT_3D_SIZE 2\n'
                    "0.05 0.0 0.0\n1.0 0.0 0.0\n0.0 0.9 0.0\n1.0 0.95 0.0\n"
                    "0.0 0.0 0.85\n1.0 0.0 0.8\n0.05 0.9 0.8\n1.0 0.95 0.85\n")
    return path


def hevc_open_gop(path: Path, seconds: float = 5) -> Path:
    """HEVC with open GOPs (CRA pictures and their leading RASL pictures), AAC, in MP4."""
    _run(FF + ["-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=25:duration={seconds},noise=alls=8:allf=t",
               "-f", "lavfi", "-i", f"sine=frequency=350:duration={seconds}", "-c:v", "libx265",
               "-preset", "ultrafast",
               "-x265-params", "keyint=25:min-keyint=25:open-gop=1:bframes=3:scenecut=0:log-level=error",
               "-c:a", "aac", "-shortest", str(path)])
    return path


def field_flags(path: Path, seconds: float = 1) -> tuple[str, list[str]]:
    """(the stream's field order, each decoded frame's 'interlaced,top field first' flags)."""
    order = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                            "stream=field_order", "-of", "csv=p=0", str(path)],
                           check=True, capture_output=True, text=True).stdout.strip().strip(",")
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-read_intervals", f"%+{seconds}",
                          "-show_entries", "frame=interlaced_frame,top_field_first", "-of", "csv=p=0", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return order, [line.strip(",") for line in out.split()]


def frames_with_times(path: Path, spec: str = "v:0") -> list[tuple[str, str]]:
    """(timestamp, MD5) of each decoded frame of one stream: frames and where they sit."""
    out = subprocess.run(FF[:-1] + ["-i", str(path), "-map", f"0:{spec}", "-f", "framemd5", "-"],
                         check=True, capture_output=True, text=True).stdout
    rows = [line.split(",") for line in out.splitlines() if line and not line.startswith("#")]
    return [(r[2].strip(), r[5].strip()) for r in rows]
