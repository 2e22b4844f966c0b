"""The disk window: how many units may be alive, freeing them, where work dirs go, space."""
from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from yaffmpegp.errors import OutputError
from yaffmpegp.events import SegmentDone
from yaffmpegp.window import (UnitWindow, bytes_needed, check_free_space, default_workdir_base, mount_type,
                              window_size)

MOUNTS = """\
/dev/vda / ext4 rw,relatime 0 0
tmpfs /tmp tmpfs rw,nosuid,nodev 0 0
tmpfs /run tmpfs rw 0 0
/dev/vdb /var/tmp ext4 rw 0 0
"""


def test_window_is_what_hosts_hold_plus_two() -> None:
    assert window_size([1 + 1, 1 + 1]) == 6  # two local workers, prefetch 1
    assert window_size([4 + 2, 1 + 2, 1 + 2]) == 14  # a big host with 4 slots, prefetch 2
    assert window_size([]) == 2


def test_mount_type_takes_the_longest_mount_point() -> None:
    assert mount_type(Path("/tmp/x/y"), MOUNTS) == "tmpfs"
    assert mount_type(Path("/tmp"), MOUNTS) == "tmpfs"
    assert mount_type(Path("/tmpfoo"), MOUNTS) == "ext4"  # not under /tmp
    assert mount_type(Path("/var/tmp/yaffmpegp-1"), MOUNTS) == "ext4"


def test_default_workdir_avoids_a_ram_tmp(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tempfile.gettempdir", lambda: "/tmp")
    assert default_workdir_base("", MOUNTS) == Path("/var/tmp")
    # a TMPDIR the user set is theirs to choose, RAM or not
    assert default_workdir_base("/tmp", MOUNTS) == Path("/tmp")
    on_disk = MOUNTS.replace("tmpfs /tmp tmpfs", "/dev/vda /tmp ext4")
    assert default_workdir_base("", on_disk) == Path("/tmp")
    all_ram = MOUNTS.replace("/dev/vdb /var/tmp ext4", "tmpfs /var/tmp tmpfs")
    assert default_workdir_base("", all_ram) == Path("/tmp")


def test_bytes_needed_is_the_window_and_the_encoded_video() -> None:
    # 144 segments of a 685 MB input, 6 units alive: 8 segments' worth of pieces
    assert bytes_needed(685_000_000, 144, 6, 300_000_000) == 685_000_000 * 8 // 144 + 300_000_000
    assert bytes_needed(1000, 3, 6, 0) == 1000  # never more than the input


def test_free_space_check_names_the_dir_and_the_bytes(tmp_path: Path) -> None:
    check_free_space(tmp_path, 1)
    with pytest.raises(OutputError) as exc:
        check_free_space(tmp_path, 10**18)
    text = str(exc.value)
    assert str(tmp_path) in text and "1000000000.0 GB needed" in text and "--workdir" in text


def test_units_wait_for_room_and_are_deleted_once_done(tmp_path: Path) -> None:
    async def go() -> None:
        window = UnitWindow(size=2)
        units = [tmp_path / f"{i}.nut" for i in range(3)]
        for u in units:
            u.write_bytes(b"x")
        await window.wait_room()
        window.hold(0, units[0])
        await window.wait_room()
        window.hold(1, units[1])
        waiting = asyncio.create_task(window.wait_room())
        await asyncio.sleep(0.01)
        assert not waiting.done()  # two units alive: the split waits
        window(SegmentDone("local1", 0, 25, 1.0))
        await asyncio.wait_for(waiting, 1)
        assert not units[0].exists() and units[1].exists()
        window.hold(2, units[2])
        window.free(2)  # a segment an output trim leaves out
        window.free(2)  # freeing twice is harmless
        assert not units[2].exists() and window.peak == 2
    asyncio.run(go())


def test_a_segment_done_elsewhere_is_not_queued_again() -> None:
    """Its unit is freed once done: a late failure of another attempt must not queue it."""
    from fractions import Fraction

    from yaffmpegp.errors import TransferError
    from yaffmpegp.ffcmd import Trim
    from yaffmpegp.scheduler import WorkQueue
    from yaffmpegp.segment import Segment

    async def go() -> None:
        seg, other = (Segment(i, 25 * i, 25, 25, Fraction(1), Trim(0, None), Path(f"/w/{i}.nut"), "nut")
                      for i in range(2))
        work = WorkQueue([seg, other], 3)
        await work.host_up("h1")
        await work.host_up("h2")
        assert await work.get("h1") == seg
        await work.done(seg, "h1")
        assert await work.failed(seg, TransferError("upload of 00000.in.nut failed", host="h2"), "h2")
        assert [s.index for s in work._waiting] == [1]  # only the other one waits
    asyncio.run(go())
