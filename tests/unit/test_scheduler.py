"""The shared queue's verdict on failed attempts: the host's fault, or the job's."""
import asyncio
from fractions import Fraction
from pathlib import Path

from yaffmpegp.errors import EncodeError, JobError, StaleError, VerifyError
from yaffmpegp.ffcmd import Trim
from yaffmpegp.scheduler import WorkQueue
from yaffmpegp.segment import Segment


def _seg(i: int) -> Segment:
    return Segment(i, 25 * i, 25, 25, Fraction(1), Trim(0, None), Path(f"/w/{i}.nut"), "nut")


async def _two_hosts(retries: int = 3) -> WorkQueue:
    work = WorkQueue([_seg(0), _seg(1)], retries)
    await work.host_up("h1")
    await work.host_up("h2")
    return work


def test_the_same_failure_on_two_hosts_is_the_jobs() -> None:
    async def go() -> None:
        work = await _two_hosts()
        seg = await work.get("h1")
        assert await work.failed(seg, VerifyError("holds 26 frames, 25 expected", host="h1"), "h1")
        assert work.failure is None
        assert await work.failed(seg, VerifyError("holds 26 frames, 25 expected", host="h2"), "h2") is False
        assert isinstance(work.failure, JobError)
        assert "on h1 and h2" in str(work.failure) and "not the hosts" in str(work.failure)
        assert work.failure.segment == 0
    asyncio.run(go())


def test_different_failures_or_stale_encodes_stay_the_hosts() -> None:
    async def go() -> None:
        work = await _two_hosts()
        seg = await work.get("h1")
        assert await work.failed(seg, EncodeError("ffmpeg failed: No space left on device"), "h1")
        assert await work.failed(seg, EncodeError("ffmpeg failed: Invalid data found"), "h2")
        assert await work.failed(seg, StaleError("no progress for 5 s"), "h1")
        assert await work.failed(seg, StaleError("no progress for 5 s"), "h2")
        assert work.failure is None
    asyncio.run(go())


def test_twice_on_the_only_host_is_the_jobs() -> None:
    async def go() -> None:
        work = WorkQueue([_seg(0)], 3)
        await work.host_up("local")
        seg = await work.get("local")
        assert await work.failed(seg, EncodeError("ffmpeg failed: Error initializing filter"), "local")
        assert await work.failed(seg, EncodeError("ffmpeg failed: Error initializing filter"), "local") is False
        assert "2 times on local" in str(work.failure)
    asyncio.run(go())
