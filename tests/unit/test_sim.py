"""The real WorkQueue and HostPipeline on simulated hosts and a virtual clock: a small fleet
with a host lost mid-run and stragglers finishes every segment exactly once, never starts a
second attempt at a segment no host was encoding, and stays near its lower bound (virtual
time, so the figures are deterministic)."""
import asyncio
from dataclasses import replace

import pytest

from yaffmpegp.sim import clock
from yaffmpegp.sim.scenario import Scenario, foresight, run
from yaffmpegp.sim.transport import SimHost


def test_virtual_clock_jumps_to_the_next_timer() -> None:
    async def go() -> float:
        await asyncio.sleep(3600)
        async with asyncio.timeout(10):
            await asyncio.gather(*(asyncio.sleep(i) for i in range(5)))
        return asyncio.get_running_loop().time()

    assert clock.run(go()) == 3604.0


def test_a_waiting_loop_with_no_timer_is_a_deadlock() -> None:
    async def go() -> None:
        await asyncio.get_running_loop().create_future()

    with pytest.raises(clock.Deadlock):
        clock.run(go())


def test_small_fleet_with_a_lost_host_does_each_segment_once() -> None:
    r = run(Scenario("test", hosts=20, segments=200, lost=0.05, stragglers=0.05, seed=3))
    assert r.done_once
    assert r.not_started_duplicates == 0
    lost = [h for h, v in r.report["hosts"].items() if v["left_out"]]
    assert lost  # the scenario did lose a host
    d = r.report["duplicates"]
    # every encode beyond one per segment is a counted second attempt or one cut short by the loss
    assert r.encodes - 200 <= d["speculative_attempts"] + len(lost) * 4
    assert r.ratio <= 1.5


def test_planner_shaped_tail_shortens_a_few_round_run() -> None:
    """20 hosts, 40 segments: the last round is most of the run unless the planner, knowing
    the slots, cuts shorter segments toward the end (virtual time: deterministic)."""
    plain = run(Scenario("plain", 20, 40, stragglers=0, lost=0))
    shaped = run(Scenario("shaped", 20, 40, stragglers=0, lost=0, tail_shaped=True))
    assert plain.done_once and shaped.done_once
    assert shaped.makespan < 0.85 * plain.makespan, (shaped.makespan, plain.makespan)


def test_foresight_keeps_segments_whole_and_avoids_what_it_knows() -> None:
    sc = Scenario("t", hosts=2, segments=3, bytes_per_frame=1, coordinator_link=1e12)
    fast, slow = SimHost("f", 100.0, 1e12), SimHost("s", 50.0, 1e12)
    # 300, 200, 100 frames: 300 on the fast host (3 s), 200 on the slow (4 s), 100 after the
    # fast one's (4 s): whole segments end at 4 s where divisible work would end at 4 s too
    assert foresight(sc, [fast, slow], [100, 300, 200]) == 4.0
    # two segments of 100: both on the fast host (1 s, then 2 s) or one on each (1 s and 2 s)
    assert foresight(sc, [fast, slow], [100, 100]) == 2.0
    # a host lost at 1 s takes nothing it would not finish by then
    lost = SimHost("l", 1000.0, 1e12, lost_at=1.0)
    assert foresight(sc, [slow, lost], [5000]) == 100.0
    # a host's share of its own link is its speed when slower; the coordinator's link bounds it all
    assert foresight(sc, [SimHost("n", 100.0, 10.0)], [100]) == 10.0
    assert foresight(replace(sc, coordinator_link=1.0), [fast], [100]) == 100.0
