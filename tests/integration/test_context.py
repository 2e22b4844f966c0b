"""Temporal filters at every join, against a real single pass: deinterlacers and a
denoiser see real neighbours (context frames), and the owned frames are kept after them."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests import media

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("captures")
    return {"noisy480i": media.vhs_ffv1(d / "tape.mkv", seconds=4, noise=20), "camcorder": media.h264_open_gop(d / "cam.mp4", seconds=5, noise=12),
            "broadcast": media.mpeg2_ts(d / "dvb.ts", seconds=5)}


def _differing(a: Path, b: Path) -> int:
    ha, hb = media.frame_hashes(a), media.frame_hashes(b)
    assert len(ha) == len(hb)
    return sum(x != y for x, y in zip(ha, hb))


@pytest.mark.parametrize("source,vf", [
    ("noisy480i", "bwdif"), ("noisy480i", "bwdif,hqdn3d"), ("noisy480i", "yadif=mode=send_field"),
    ("camcorder", "bwdif"), ("camcorder", "yadif=mode=send_field,hqdn3d"),
    ("broadcast", "bwdif"), ("broadcast", "yadif=mode=send_field"),
])
def test_temporal_filters_are_frame_identical_at_every_join(source, vf, capture, yaff, tmp_path) -> None:
    opts = ["-vf", vf, "-c:v", "ffv1", "-c:a", "copy"]
    single = media.single_pass(capture[source], tmp_path / "single.mkv", opts)
    ours = tmp_path / "ours.mkv"
    r = yaff("--file", capture[source], "-o", ours, "--segment-length", "1", *opts)
    assert r.returncode == 0, r.stderr
    assert _differing(ours, single) == 0
    assert media.decoded_md5(ours, "a:0") == media.decoded_md5(single, "a:0")
    assert list(yaff.work.iterdir()) == []


def test_without_context_the_joins_differ(capture, yaff, tmp_path) -> None:
    """--context 0 turns it off: the frames next to each join then differ (what every
    split-and-join tool gives, and what the test above would catch)."""
    opts = ["-vf", "bwdif,hqdn3d", "-c:v", "ffv1", "-c:a", "copy"]
    single = media.single_pass(capture["noisy480i"], tmp_path / "single.mkv", opts)
    ours = tmp_path / "ours.mkv"
    r = yaff("--file", capture["noisy480i"], "-o", ours, "--segment-length", "1", "--context", "0", *opts)
    assert r.returncode == 0, r.stderr
    assert _differing(ours, single) > 0


def test_hevc_open_gop_source(yaff, tmp_path) -> None:
    """CRA keyframes with leading RASL pictures: cut, given context, frame-identical."""
    src = media.hevc_open_gop(tmp_path / "hevc.mp4")
    for vf in ([], ["-vf", "bwdif"]):
        opts = [*vf, "-c:v", "ffv1", "-c:a", "copy"]
        single = media.single_pass(src, tmp_path / "single.mkv", opts)
        r = yaff("--file", src, "-o", tmp_path / "ours.mkv", "--segment-length", "1", "-y", *opts)
        assert r.returncode == 0, r.stderr
        assert _differing(tmp_path / "ours.mkv", single) == 0


def test_interlaced_encode_keeps_field_order_and_flags(capture, yaff, tmp_path) -> None:
    """Encoding interlaced, no deinterlacer: field order and each frame's interlaced and
    top-field-first flags as a single pass writes them."""
    opts = ["-c:v", "libx264", "-preset", "ultrafast", "-flags", "+ilme+ildct", "-x264-params", "tff=1",
            "-c:a", "copy"]
    single = media.single_pass(capture["broadcast"], tmp_path / "single.mkv", opts)
    ours = tmp_path / "ours.mkv"
    r = yaff("--file", capture["broadcast"], "-o", ours, "--segment-length", "1", *opts)
    assert r.returncode == 0, r.stderr
    order, flags = media.field_flags(ours)
    assert (order, flags) == media.field_flags(single)
    assert order == "tb" and set(flags) == {"1,1"}
    assert media.count_frames(ours) == media.count_frames(single)
