"""The shared queue's verdict on failed attempts: the host's fault, or the job's."""
import asyncio
import contextlib
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


def test_a_running_encode_is_started_again_only_once_its_own_rate_shows() -> None:
    """Its first report comes after the encoder's start-up (frame 1 of 25 after 0.3 s would
    project 7 s): no second attempt on that; on a second report as slow, yes."""
    async def go() -> None:
        work = await _two_hosts()
        work.fleet.measured("h2", fps=25.0)  # h2 would encode the 25 frames in 1 s
        att = await work.take("h1")
        assert att is not None and att.seg.index == 0 and work.encoding(att)
        await work.close()
        other = await work.take("h1")  # segment 1: the queue is empty after it
        assert other is not None and other.seg.index == 1 and work.encoding(other)
        await asyncio.sleep(0.3)
        att.wrote(1)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                assert await work.take("h2", idle=lambda: True) is None, "started again on a first report"
        assert work.speculated == 0
        att.wrote(2)  # 2 frames in 0.8 s: 9 s more here, 1 s on h2
        async with asyncio.timeout(3):
            again = await work.take("h2", idle=lambda: True)
        assert again is not None and again.speculative and again.seg.index == 0
    asyncio.run(go())


def test_a_busy_host_leaves_the_last_segment_to_the_host_that_finishes_it_sooner() -> None:
    """h1 asks for a segment to upload ahead while its own encode has seconds to go; h2's is
    about to end: the one segment left waits for h2 rather than being uploaded to h1 and
    moved (uploaded again) once h2 is idle."""
    async def go() -> None:
        work = WorkQueue([_seg(0), _seg(1), _seg(2)], 3)
        for host in ("h1", "h2"):
            await work.host_up(host)
            work.fleet.measured(host, fps=25.0)
        first = await work.take("h1")
        second = await work.take("h2")
        assert first is not None and second is not None
        assert work.encoding(first) and work.encoding(second)
        await asyncio.sleep(0.2)
        first.wrote(1)
        second.wrote(20)
        await asyncio.sleep(0.2)
        first.wrote(2)  # 2 of 25 frames in 0.4 s: ~4.6 s to go on h1
        second.wrote(24)  # h2 is about to be free: it would encode segment 2 in ~1 s
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.3):
                assert await work.take("h1", idle=lambda: False) is None, "taken ahead by the later host"
        async with asyncio.timeout(1):
            ahead = await work.take("h2", idle=lambda: False)
        assert ahead is not None and ahead.seg.index == 2 and not ahead.moved_from
    asyncio.run(go())


def test_next_start_counts_what_a_host_runs_and_holds_and_its_upload() -> None:
    from yaffmpegp.forecast import next_start

    # idle, 2 slots: as soon as the upload is through
    assert next_start(10.0, 2, [], [], ask_at=10.0, upload=3.0) == 13.0
    # one slot, 4 s to go, a held segment ready at 11 that encodes in 5 s: free at 19
    assert next_start(10.0, 1, [4.0], [(11.0, 5.0)], ask_at=14.0, upload=1.0) == 19.0
    # the same, but its upload would end after that
    assert next_start(10.0, 1, [4.0], [(11.0, 5.0)], ask_at=14.0, upload=7.0) == 21.0
    # two slots, one busy for 4 s: the free one takes the held segment, the next starts at 14
    assert next_start(10.0, 2, [4.0], [(10.0, 5.0)], ask_at=10.0, upload=0.0) == 14.0
    # what cannot be told
    assert next_start(10.0, 1, [None], [], ask_at=10.0, upload=0.0) is None
    assert next_start(10.0, 1, [1.0], [(10.0, None)], ask_at=10.0, upload=0.0) is None
