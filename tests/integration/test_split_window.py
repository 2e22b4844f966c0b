"""The split stays a bounded window ahead of what was asked for: the segment muxer is
paused, not left to cut the whole input into the work dir."""
from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
from fractions import Fraction
from pathlib import Path

from yaffmpegp.plan import plan_cuts
from yaffmpegp.probe import probe_packets, probe_value
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
