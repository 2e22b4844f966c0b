"""The split stays a bounded window ahead of what was asked for: the segment muxer is
paused, not left to cut the whole input into the work dir."""
from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import pytest

from tests import media

from yaffmpegp.piececlock import PieceClock
from yaffmpegp.plan import add_context, plan_cuts
from yaffmpegp.probe import probe_packets, probe_value
from yaffmpegp.ffcmd import Trim
from yaffmpegp.segment import Segment
from yaffmpegp import split as split_module
from yaffmpegp.split import split


def _stopped_muxers() -> list[int]:
    """Our own child ffmpeg segment muxers that are stopped (state T)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) == os.getpid() and b"segment" in cmd and state == "T":
            found.append(int(entry.name))
    return found


def test_the_muxer_waits_for_the_units_asked_for(tmp_path: Path) -> None:
    src = tmp_path / "src.mp4"
    # 40 pieces of about 0.5 MB: a muxer left alone cuts them all in a moment
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=320x240:rate=25:duration=40,noise=alls=40:allf=t", "-c:v", "libx264",
                    "-preset", "ultrafast", "-g", "25", str(src)], check=True)

    async def go() -> None:
        packets = await probe_packets(src, 0)
        tb = Fraction(await probe_value(src, "stream=time_base", "v:0"))
        plan = plan_cuts(packets, tb, 1)
        assert plan.segments >= 30
        work = tmp_path / "work"
        work.mkdir()
        async with contextlib.aclosing(split(src, 0, plan, tb, work)) as units:
            first = await anext(units)
            async with asyncio.timeout(60):  # paused soon: it may cut the next unit, no more
                while not _stopped_muxers():
                    await asyncio.sleep(0.05)
            on_disk = sorted([*(work / "pieces").iterdir(), *(work / "units").iterdir()])
            assert first.unit in on_disk
            # the next unit's pieces and one begun; a few more when this process was slow to
            # look (a loaded machine), never the whole video
            assert len(on_disk) < plan.segments, [p.name for p in on_disk]
            await asyncio.sleep(0.3)
            assert sorted([*(work / "pieces").iterdir(), *(work / "units").iterdir()]) == on_disk
            rest = [seg async for seg in units]  # asked for: the muxer goes on to the end
        assert [s.index for s in [first, *rest]] == list(range(plan.segments))
        assert sum(s.frames for s in [first, *rest]) == len(packets)
    asyncio.run(go())


def _closed_gop_mp4(path: Path) -> Path:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=12",
                    "-c:v", "libx264", "-preset", "ultrafast", "-bf", "3", "-g", "25", str(path)], check=True)
    return path


@pytest.mark.parametrize("make, context, fewer, fewer_cuts", [
    (_closed_gop_mp4, None, True, False),  # units are pieces: known from the index after the first
    # open-GOP heads, joined in MPEG-TS: 1/12800 does not divide into its 1/90000, no map
    (lambda p: media.h264_open_gop(p.with_suffix(".mp4")), None, False, False),
    # context, every unit joined; intra-only, so its head is taken by the concat demuxer
    (lambda p: media.vhs_ffv1(p.with_suffix(".mkv")), (2, 2), True, True),
    (lambda p: media.mpeg2_ts(p.with_suffix(".ts")), (2, 2), True, False),  # open GOPs, joined in TS
], ids=["closed-gop-mp4", "open-gop-mp4", "ffv1-context", "mpeg2-ts-context"])
def test_units_known_from_the_index_are_the_units_read_back(tmp_path: Path, make, context, fewer,
                                                            fewer_cuts) -> None:
    """Splitting with the source's index (pieces' packets derived, checked against the
    segment muxer's list; heads taken without a cut of their own) gives the same units, byte
    for byte, and the same segments as reading every piece back with ffprobe and cutting
    every head, with fewer ffprobes and ffmpegs."""
    src = make(tmp_path / "src.mp4")
    log = tmp_path / "tools.log"
    for tool in ("ffprobe", "ffmpeg"):
        (tmp_path / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> {log}\nexec {tool} "$@"\n')
        (tmp_path / tool).chmod(0o755)

    def calls(tool: str) -> int:
        return sum(1 for line in log.read_text().splitlines() if line.startswith(tool + " "))

    async def cut(index: bool) -> tuple[list, list[bytes], int, int]:
        packets = await probe_packets(src, 0)
        tb = Fraction(await probe_value(src, "stream=time_base", "v:0"))
        codec = await probe_value(src, "stream=codec_name", "v:0")
        plan = plan_cuts(packets, tb, 1.5)
        if context:
            plan = add_context(plan, packets, *context)
        work = tmp_path / f"work-{index}"
        work.mkdir()
        log.unlink(missing_ok=True)
        segs, data = [], []
        async with contextlib.aclosing(split(src, 0, plan, tb, work, codec=codec, ffprobe=str(tmp_path / "ffprobe"),
                                             ffmpeg=str(tmp_path / "ffmpeg"),
                                             index=packets if index else None)) as units:
            async for seg in units:
                segs.append(replace(seg, unit=Path(seg.unit.name)))
                data.append(seg.unit.read_bytes())
        return segs, data, calls("ffprobe"), calls("ffmpeg")

    probed, probed_data, probes, cuts = asyncio.run(cut(False))
    derived, derived_data, probes_with_index, cuts_with_index = asyncio.run(cut(True))
    assert len(probed) >= 3
    if src.suffix == ".mkv":
        # intra-only with context: with the index each unit is written whole by a second
        # segment muxer (paired_cuts), on the source's own timestamps: the same frames at
        # the same times, the same trims once each unit's shift is taken off
        assert [_on_source_time(s) for s in derived] == [_on_source_time(s) for s in probed]
        assert [_decoded(d, tmp_path) for d in derived_data] == [_decoded(d, tmp_path) for d in probed_data]
    else:
        assert derived == probed
        assert derived_data == probed_data
    assert (probes_with_index < probes) if fewer else (probes_with_index == probes), (probes_with_index, probes)
    assert (cuts_with_index < cuts) if fewer_cuts else (cuts_with_index == cuts), (cuts_with_index, cuts)


def _on_source_time(s: Segment) -> tuple:
    """A segment with its unit's timestamps taken back to the source's (less its size)."""
    def back(t):
        return None if t is None else Trim(t.start - s.shift, None if t.end is None else t.end - s.shift)
    return replace(s, trim=back(s.trim), window=back(s.window), shift=0, nbytes=0)


def _decoded(data: bytes, tmp: Path) -> list[str]:
    """Each frame's MD5 and timestamp of a unit (framemd5), timestamps from its first frame."""
    f = tmp / "unit.nut"
    f.write_bytes(data)
    out = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(f), "-map", "0:0", "-f", "framemd5", "-"],
                         capture_output=True, text=True, check=True).stdout
    return [line.split(",")[-1].strip() for line in out.splitlines() if not line.startswith("#")]


def test_a_start_time_that_does_not_hold_is_read_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The safety net under the derived start times: if one were wrong, the joined unit would
    not follow the clock, and the unit is joined again from start times ffprobe reads."""
    src = media.vhs_ffv1(tmp_path / "src.mkv")

    async def cut(work: Path) -> list[tuple[Segment, bytes]]:
        packets = await probe_packets(src, 0)
        tb = Fraction(await probe_value(src, "stream=time_base", "v:0"))
        plan = add_context(plan_cuts(packets, tb, 1.5), packets, 2, 2)
        work.mkdir()
        async with contextlib.aclosing(split(src, 0, plan, tb, work, codec="ffv1", index=packets)) as units:
            return [(replace(s, unit=Path(s.unit.name)), s.unit.read_bytes()) async for s in units]

    right = asyncio.run(cut(tmp_path / "right"))
    late = PieceClock.start_time
    # off by 0-20 ms, not all alike (the same error in every start would cancel out)
    monkeypatch.setattr(PieceClock, "start_time",
                        lambda self, source, start: late(self, source, start) + Fraction(start % 3, 100))
    assert asyncio.run(cut(tmp_path / "wrong")) == right


def _vp9_webm(path: Path) -> Path:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=8",
                    "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-g", "25",
                    str(path.with_suffix(".webm"))], check=True)
    return path.with_suffix(".webm")


@pytest.mark.parametrize("make", [lambda p: media.vhs_ffv1(p.with_suffix(".mkv")), _vp9_webm],
                         ids=["ffv1", "vp9"])
def test_joined_units_listed_by_their_join_are_the_units_read_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   make) -> None:
    """A unit joined in NUT is known from the packets its joining ffmpeg lists (framecrc),
    not read back: the same segments as reading every joined unit back, fewer ffprobes.
    (Without the source's index: with it, an intra-only source's units are written whole.)"""
    src = make(tmp_path / "src")
    log = tmp_path / "tools.log"
    (tmp_path / "ffprobe").write_text(f'#!/bin/sh\necho "ffprobe $*" >> {log}\nexec ffprobe "$@"\n')
    (tmp_path / "ffprobe").chmod(0o755)

    async def cut(work: Path) -> tuple[list[Segment], int]:
        packets = await probe_packets(src, 0)
        tb = Fraction(await probe_value(src, "stream=time_base", "v:0"))
        codec = await probe_value(src, "stream=codec_name", "v:0")
        plan = add_context(plan_cuts(packets, tb, 1.5), packets, 2, 2)
        work.mkdir()
        log.unlink(missing_ok=True)
        async with contextlib.aclosing(split(src, 0, plan, tb, work, codec=codec, index=None,
                                             ffprobe=str(tmp_path / "ffprobe"))) as units:
            segs = [replace(s, unit=Path(s.unit.name)) async for s in units]
        return segs, len(log.read_text().splitlines())

    listed, listed_probes = asyncio.run(cut(tmp_path / "listed"))
    monkeypatch.setattr(split_module, "parse_framecrc", lambda text: (None, [], None))
    read_back, read_back_probes = asyncio.run(cut(tmp_path / "read-back"))
    assert len(listed) >= 4 and all(s.unit.suffix == ".nut" for s in listed)
    assert listed == read_back
    assert listed_probes <= read_back_probes - (len(listed) - 2), (listed_probes, read_back_probes)


def test_intra_only_units_are_written_whole_with_nothing_between(tmp_path: Path) -> None:
    """FFV1 with context: each unit is written whole by one of two segment muxers; what lies
    between a muxer's units never reaches the disk, and the muxers wait for the consumer."""
    src = media.vhs_ffv1(tmp_path / "src.mkv", seconds=24)

    async def go() -> None:
        packets = await probe_packets(src, 0)
        tb = Fraction(await probe_value(src, "stream=time_base", "v:0"))
        plan = add_context(plan_cuts(packets, tb, 1), packets, 2, 2)
        assert plan.segments >= 20
        work = tmp_path / "work"
        work.mkdir()
        async with contextlib.aclosing(split(src, 0, plan, tb, work, codec="ffv1", index=packets)) as units:
            first = await anext(units)
            async with asyncio.timeout(60):
                while not _stopped_muxers():
                    await asyncio.sleep(0.05)
            files = list((work / "pieces").iterdir())
            written = [f for f in files if not f.is_symlink()]
            # the next unit and one or two begun (units overlap); a few more when this process
            # was slow to look (units of 1 s are written in milliseconds), never the whole video
            assert len(written) < plan.segments // 2, written
            assert all(os.readlink(f) == os.devnull for f in files if f.is_symlink())
            rest = [seg async for seg in units]
        assert list((work / "pieces").iterdir()) == []
        assert [s.index for s in [first, *rest]] == list(range(plan.segments))
        assert sum(s.frames for s in [first, *rest]) == len(packets)
        assert not any(f.suffix == ".ffconcat" for f in (work / "units").iterdir())
    asyncio.run(go())
