"""The current fps: frame counts over a sliding window, as pure arithmetic."""
from __future__ import annotations

import pytest

from yaffmpegp.rate import RateMeter, window_rate


def test_steady_count_gives_its_rate() -> None:
    samples = [(t / 2, 15 * t) for t in range(11)]  # 30 per second, reported every 0.5 s
    assert window_rate(samples, now=5.0, window=2.5) == pytest.approx(30)
    assert window_rate(samples, now=5.3, window=2.5) == pytest.approx(30)  # between two reports


def test_only_the_window_counts() -> None:
    samples = [(0.0, 0), (10.0, 1000), (11.0, 1010), (12.0, 1020)]  # fast once, slow now
    assert window_rate(samples, now=12.0, window=2.0) == pytest.approx(10)


def test_start_inside_an_interval_is_interpolated() -> None:
    samples = [(0.0, 0), (2.0, 100), (3.0, 400)]
    # window [1.5, 3.0]: the count at 1.5 is 75 (evenly between 0 and 100), so 325 in 1.5 s
    assert window_rate(samples, now=3.0, window=1.5) == pytest.approx(325 / 1.5)


def test_a_young_count_is_divided_by_its_age_not_the_window() -> None:
    # an encode that started 1 s ago (its start marked with 0) and reported 30 frames
    assert window_rate([(9.0, 0), (10.0, 30)], now=10.0, window=2.5) == pytest.approx(30)
    # ffmpeg's own average would still read 0 here; one report alone says nothing yet
    assert window_rate([(10.0, 30)], now=10.0, window=2.5) == 0
    assert window_rate([], now=10.0) == 0


def test_a_count_that_stops_reads_zero_once_its_reports_leave_the_window() -> None:
    samples = [(0.0, 0), (1.0, 30), (2.0, 60)]
    assert window_rate(samples, now=3.0, window=2.5) == pytest.approx(30)  # the last reports
    assert window_rate(samples, now=4.6, window=2.5) == 0


def test_samples_after_now_are_ignored() -> None:
    assert window_rate([(0.0, 0), (1.0, 30), (5.0, 1000)], now=1.0, window=2.5) == pytest.approx(30)


def test_meter_counts_increments_and_forgets_old_samples() -> None:
    m = RateMeter(window=2.0)
    m.add(0.0, 0)
    for i in range(1, 41):  # 40 s at 20 frames per 0.5 s
        m.add(i / 2, 20)
    assert m.total == 800
    assert m.rate(20.0) == pytest.approx(40)
    assert len(m._samples) <= 6  # noqa: SLF001 - only the window and one sample before it
    m.add(20.5, 0)  # a new segment starts on this slot: no jump
    assert m.rate(20.5) == pytest.approx(30)  # 60 frames in the last 2 s
