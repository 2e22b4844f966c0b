"""Output trims (-ss, -t, -to after the input), as archivists cut a tape's leader and tail:
the same frames at the same times and the same decoded audio as a single pass, and only
the segments that hold wanted frames are encoded."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import media

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tapes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("tapes")
    return {"capture": media.vhs_ffv1(d / "tape.mkv", seconds=5, noise=20),
            "camcorder": media.h264_open_gop(d / "cam.mp4", seconds=6, noise=12),
            "broadcast": media.mpeg2_ts(d / "dvb.ts", seconds=5),
            "phone": media.phone_vfr(d / "phone.mp4", seconds=4)}


def _same_as_single(src: Path, trim: list[str], vf: list[str], yaff, tmp_path: Path) -> list[dict]:
    opts = [*trim, *vf, "-c:v", "ffv1", "-c:a", "pcm_s16le"]
    single = media.single_pass(src, tmp_path / "single.mkv", opts)
    ours, events = tmp_path / "ours.mkv", tmp_path / "events.jsonl"
    r = yaff("--file", src, "-o", ours, "--segment-length", "1", "--events", events, *opts)
    assert r.returncode == 0, r.stderr
    assert media.frames_with_times(ours) == media.frames_with_times(single)
    assert media.video_pts(ours) == media.video_pts(single)  # in the container's own ticks, not on the frame grid
    assert media.decoded_md5(ours, "a:0") == media.decoded_md5(single, "a:0")
    return [json.loads(line) for line in events.read_text().splitlines()]


@pytest.mark.parametrize("source,trim,vf", [
    ("capture", ["-ss", "1.2", "-t", "2"], ["-vf", "bwdif,hqdn3d"]),
    ("capture", ["-ss", "0.5", "-to", "2.5"], []),
    ("camcorder", ["-ss", "2.3", "-t", "2.5"], ["-vf", "yadif=mode=send_field"]),
    ("camcorder", ["-t", "3.1"], []),
    # the last frame before the end rounds onto it on the encoder's grid (found by the Slurm tests)
    ("camcorder", ["-ss", "1.3", "-t", "4"], ["-vf", "bwdif=mode=send_frame"]),
])
def test_trim_is_frame_exact(source, trim, vf, tapes, yaff, tmp_path) -> None:
    events = _same_as_single(tapes[source], trim, vf, yaff, tmp_path)
    planned = next(e for e in events if e["event"] == "planned")["segments"]
    encoded = {e["segment"] for e in events if e["event"] == "segment_done"}
    assert 0 < len(encoded) < planned  # the leader and tail were never encoded


def test_trim_on_mpeg_ts(tapes, yaff, tmp_path) -> None:
    """The timeline starts at the audio's 1.429978 s: the last field before -ss + -t rounds
    onto the end on the encoder's grid, and a single pass leaves it out."""
    _same_as_single(tapes["broadcast"], ["-ss", "2.3", "-t", "2"], ["-vf", "yadif=mode=send_field"], yaff, tmp_path)


def test_trim_that_keeps_nothing_is_refused(tapes, yaff, tmp_path) -> None:
    r = yaff("--file", tapes["capture"], "-o", tmp_path / "o.mkv", "-ss", "60", "-c:v", "ffv1")
    assert r.returncode == 2 and "keep no video frame" in r.stderr


@pytest.mark.parametrize("source,ext,opts", [
    ("capture", "mkv", ["-ss", "1.2", "-t", "2", "-c:v", "libx264", "-preset", "veryfast", "-c:a", "copy"]),
    ("capture", "mp4", ["-ss", "1.2", "-t", "2", "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac"]),
    ("camcorder", "mov", ["-ss", "1.23", "-to", "4.5", "-c:v", "libx264", "-preset", "veryfast", "-c:a", "copy"]),
    # into MP4 at a constant rate: the first frame, half a frame after -ss, is written twice;
    # -to counts from that first frame, so the frame at 5.00 s is kept
    ("camcorder", "mp4", ["-ss", "2.3", "-to", "5", "-c:v", "libx264", "-preset", "ultrafast", "-bf", "0",
                          "-c:a", "copy"]),
    ("camcorder", "mp4", ["-ss", "2.31", "-to", "5", "-c:v", "libx264", "-preset", "veryfast", "-c:a", "aac"]),
    # Opus encodes frames of 20 ms: a single pass drops the last partial one at -t
    ("capture", "webm", ["-ss", "1.3", "-t", "2.5", "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8",
                         "-c:a", "libopus"]),
    # MPEG-TS: no second mux (its muxer adds a delay of its own); the source is read up to the end
    ("broadcast", "ts", ["-ss", "2.3", "-t", "2", "-c:v", "libx264", "-preset", "veryfast", "-bf", "0",
                         "-c:a", "mp2"]),
])
def test_trim_with_a_lossy_encoder(source, ext, opts, tapes, yaff, tmp_path) -> None:
    """Lossy encodes, B-frames by default: the same frames at the same times, the same
    decoded audio, the same start times and edit lists. The final mux trims as the single
    pass does, with the joined video moved so that ffmpeg keeps all of it, and moved back by
    a second mux (trim.video_move)."""
    single = media.single_pass(tapes[source], tmp_path / f"single.{ext}", opts)
    ours = tmp_path / f"ours.{ext}"
    r = yaff("--file", tapes[source], "-o", ours, "--segment-length", "1", *opts)
    assert r.returncode == 0, r.stderr
    assert media.video_pts(ours) == media.video_pts(single)
    assert media.decoded_md5(ours, "a:0") == media.decoded_md5(single, "a:0")
    assert media.packet_times(ours, "a:0") == media.packet_times(single, "a:0")
    assert media.timeline(ours) == media.timeline(single)
    assert list(yaff.work.iterdir()) == []


def test_ss_with_a_reordering_encoder_into_other_containers_is_refused(tapes, yaff, tmp_path) -> None:
    """ffmpeg judges copied packets by their decode time: with B-frames the joined video
    moves later for the final mux and back in a second one, which is exact only where the
    container gives them back as they were. MPEG-TS, and Opus in Matroska, are refused before
    any work."""
    r = yaff("--file", tapes["capture"], "-o", tmp_path / "o.ts", "--segment-length", "1", "-ss", "1.2",
             "-c:v", "libx264", "-preset", "veryfast", "-c:a", "mp2")
    assert r.returncode == 2 and "B-frames" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "o.ts").exists() and list(yaff.work.iterdir()) == []
    # Opus in Matroska: ffmpeg 5.1's remux moves the video by Opus's codec delay
    r = yaff("--file", tapes["capture"], "-o", tmp_path / "o.mkv", "--segment-length", "1", "-ss", "1.2",
             "-c:v", "libx264", "-preset", "veryfast", "-c:a", "libopus")
    assert r.returncode == 2 and "Opus" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_trim_of_a_variable_frame_rate_video(tapes, yaff, tmp_path) -> None:
    """Into Matroska a phone's irregular timestamps stay as they are: exact. Into MP4 ffmpeg
    repeats and drops frames to keep a constant rate (75 frames where ours had 65): refused
    in one line until that is worked out for trims."""
    opts = ["-ss", "0.5", "-t", "2.5", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"]
    single = media.single_pass(tapes["phone"], tmp_path / "single.mkv", opts)
    r = yaff("--file", tapes["phone"], "-o", tmp_path / "ours.mkv", "--segment-length", "1", *opts)
    assert r.returncode == 0, r.stderr
    assert media.video_pts(tmp_path / "ours.mkv") == media.video_pts(single)
    r = yaff("--file", tapes["phone"], "-o", tmp_path / "ours.mp4", "--segment-length", "1", *opts)
    assert r.returncode == 2 and "variable-frame-rate" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not (tmp_path / "ours.mp4").exists() and list(yaff.work.iterdir()) == []
