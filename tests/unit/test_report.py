import io
import json

from yaffmpegp.events import (AttemptFailed, Checked, HostDown, HostUp, Planned, SegmentDone, Stage,
                              Transferred, event_name)
from yaffmpegp.report import EventLog, RunStats
from yaffmpegp.rate import RateMeter
from yaffmpegp.ui import _Host, _Work, host_line


def test_run_stats_add_up() -> None:
    stats = RunStats(started=100.0)
    for e in [Planned(3, 300, ("a", "b"), at=100.0), HostUp("a"), HostUp("b"), HostDown("c", "no ffmpeg"),
              Transferred("a", 0, "up", 1000, 1000), Transferred("a", 0, "down", 500),
              SegmentDone("a", 0, 100, 2.0), SegmentDone("b", 1, 100, 4.0),
              AttemptFailed("a", 2, 1, "boom", True), SegmentDone("a", 2, 100, 2.0),
              Checked(("ok",), at=110.0)]:
        stats(e)
    s = stats.summary()
    assert s["wall_seconds"] == 10.0 and s["segments"] == 3 and s["frames"] == 300
    assert s["hosts"]["a"] == {"segments": 2, "frames": 200, "fps": 50.0, "bytes_up": 1000, "bytes_down": 500,
                               "busy_seconds": 4.0, "idle_seconds": 6.0, "failed_attempts": 1, "left_out": None}
    assert s["hosts"]["c"]["left_out"] == "no ffmpeg"
    # the best host (50 fps) alone would take 6 s; the run took 10 s
    assert s["speedup_over_best_host"] == 0.6
    assert stats.summary_lines()[-1] == ("total: 3 segments, 300 frames in 10.0 s (30.0 fps), "
                                         "0.60x the best single host")


def test_event_log_writes_json_lines() -> None:
    buf = io.StringIO()
    log = EventLog(buf)
    log(SegmentDone("h1", 4, 250, 3.5, at=1.0))
    log(Planned(2, 10, ("h1",), at=2.0))
    assert [json.loads(x) for x in buf.getvalue().splitlines()] == [
        {"event": "segment_done", "at": 1.0, "host": "h1", "segment": 4, "frames": 250, "seconds": 3.5},
        {"event": "planned", "at": 2.0, "segments": 2, "frames": 10, "hosts": ["h1"]}]
    assert event_name(Stage("h", "send", "idle")) == "stage"


def test_host_line() -> None:
    meter = RateMeter()
    meter.add(97.0, 0)
    meter.add(99.5, 530)  # 424 frames in the 2 s of the window that ended with the last report
    h = _Host(stages={"send": _Work("sending", 12, moved=41, total=100),
                      "encode": _Work("encoding", 11, since=69.0, frame=5000, meter=meter),
                      "get": _Work()}, done=4)
    assert host_line("h1", h, now=100.0, width=4) == \
        "h1   SEND seg 12 41% → ENC seg 11 212 fps 00:00:31 → GET idle | stale: no | done 4"
    h.stages["encode"].state = "stale"
    assert "stale: yes" in host_line("h1", h, now=100.0)
    assert host_line("h2", _Host(down="unreachable"), now=0.0, width=2) == "h2 down: unreachable"
