"""The real WorkQueue and HostPipeline on simulated hosts and a virtual clock: a small fleet
with a host lost mid-run and stragglers finishes every segment exactly once, never starts a
second attempt at a segment no host was encoding, and stays near its lower bound (virtual
time, so the figures are deterministic)."""
import asyncio

import pytest

from yaffmpegp.sim import clock
from yaffmpegp.sim.scenario import Scenario, run


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
