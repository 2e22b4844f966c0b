"""The host inventory (--hosts) on the real sshd fleet: per-host entries, a disabled host, a
mounted host on a shared directory (nothing transferred), and mistakes refused in one line.

The fleet's hosts are separate unix users on this machine, so "shared storage" is a directory
in /tmp whose group is the mounted host's user's group (mode 2770, as a NAS share would be),
and the host sees it under another prefix (a symlink), as `paths` describes.
"""
from __future__ import annotations

import asyncio
import json
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import media
from tests.fleet import Fleet
from tests.integration.conftest_fleet import fleet  # noqa: F401 - the session fixture
from yaffmpegp.hosts import parse_host
from yaffmpegp.inventory import parse_inventory
from yaffmpegp.settings import Settings, SSHSettings
from yaffmpegp.transport.factory import make_transports
from yaffmpegp.transport.base import HostRequirements
from yaffmpegp.transport.mounted import MountedTransport

LOSSLESS = ["-c:v", "ffv1", "-c:a", "copy"]
MOUNTED = "h2"  # the fleet host that plays the mounted host


@pytest.fixture
def nas(fleet: Fleet) -> Iterator[tuple[Path, Path]]:  # noqa: F811
    """(the share as the coordinator sees it, the same place as the mounted host sees it)."""
    here = Path(tempfile.mkdtemp(prefix="yaff-nas-", dir="/tmp"))
    there = here.with_name(here.name + "-there")
    try:
        os.chown(here, -1, pwd.getpwnam(fleet.host(MOUNTED).user).pw_gid)
        os.chmod(here, 0o2770)
        there.symlink_to(here)
        yield here, there
    finally:
        there.unlink(missing_ok=True)
        shutil.rmtree(here, ignore_errors=True)


def _mounted(fleet: Fleet, here: Path, there: Path, src: Path, job_dir: Path) -> MountedTransport:  # noqa: F811
    return MountedTransport(parse_host(MOUNTED), label="nas", source="inv.toml", paths=((str(here), str(there)),),
                            input=src, job_dir=job_dir, config=[str(fleet.ssh_config)])


@pytest.mark.fleet
@pytest.mark.timeout(60)
def test_entries_become_hosts_with_their_own_settings(fleet: Fleet, tmp_path: Path) -> None:  # noqa: F811
    """An entry with no keys is its name through ~/.ssh/config; an entry with every key
    connects as it says; a disabled one is not made."""
    h3 = fleet.host("h3")
    inv = parse_inventory(f'''
[hosts.h1]
[hosts.third]
address = "127.0.0.1"
port = {h3.port}
user = "{h3.user}"
identity = "{fleet.client_key}"
ffmpeg = "ffmpeg"
workdir = "{h3.area}"
slots = 3
[hosts.h2]
enabled = false
''', "inv.toml")
    s = Settings(input=tmp_path / "in.mkv", output=tmp_path / "out.mkv", ffmpeg_args=(), inventory=inv,
                 ssh=SSHSettings(config=(str(fleet.ssh_config),), known_hosts=str(fleet.known_hosts)))
    transports = make_transports(s, tmp_path / "job" / "hosts")
    assert [(t.label, t.slots) for t in transports] == [("h1", 1), ("third", 3)]

    async def main() -> list[str]:
        try:
            await asyncio.gather(*(t.open(HostRequirements(("ffv1",))) for t in transports))
            return [str(t.workdir) for t in transports]
        finally:
            await asyncio.gather(*(t.close() for t in transports))

    h1_dir, third_dir = asyncio.run(main())
    assert h1_dir.startswith(fleet.host("h1").tmpdir + "/") and third_dir.startswith(h3.area + "/")
    assert not os.path.exists(third_dir) and fleet.workdir_leftovers("h3") == []


@pytest.mark.fleet
@pytest.mark.timeout(60)
def test_mounted_transport_shares_files_instead_of_sending_them(fleet: Fleet, nas, tmp_path: Path) -> None:  # noqa: F811
    here, there = nas
    src = media.vhs_ffv1(here / "in.mkv", seconds=1)
    job_dir = here / "yaffmpegp-job"
    job_dir.mkdir(mode=0o700)
    piece = job_dir / "piece.nut"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), "-map", "0:v", "-c", "copy", str(piece)], check=True)
    h = fleet.host(MOUNTED)
    # the job dir stays private: the host's user cannot read the piece where it was cut
    assert fleet.run_as(MOUNTED, "cat", str(piece)).returncode != 0
    got = tmp_path / "out.mkv"
    seen: dict[str, object] = {}

    async def main() -> None:
        t = _mounted(fleet, here, there, src, job_dir)
        await t.open(HostRequirements(("ffv1",)))
        try:
            assert t.share is not None and t.workdir is not None
            share, workdir = t.share, t.workdir
            seen["share"], seen["workdir"] = share, workdir
            assert stat.S_IMODE(share.stat().st_mode) & 0o7777 in (0o3770,)
            # the host's own work dir is in the share (it reports its physical path), private
            assert Path(os.path.realpath(workdir)).parent == share.resolve(), workdir
            st = os.stat(workdir)
            assert st.st_uid == h.uid and stat.S_IMODE(st.st_mode) & 0o777 == 0o700
            assert fleet.workdir_leftovers(MOUNTED) == []  # nothing made in its own temp dir
            sent: list[int] = []
            await t.put(piece, "seg.in.nut", sent.append)
            assert t.path("seg.in.nut") == f"{there}/{share.name}/seg.in.nut"
            assert stat.S_IMODE((share / "seg.in.nut").stat().st_mode) == 0o640
            run = await t.run_ffmpeg(["-v", "error", "-i", t.path("seg.in.nut"), "-c:v", "ffv1",
                                      t.path("seg.out.mkv")], lambda _: None)
            assert run.returncode == 0, run.stderr
            await t.get("seg.out.mkv", got, sent.append)
            assert sent == []  # not a byte moved through the coordinator
            await t.remove("seg.in.nut")
            await t.remove("seg.out.mkv")
            assert sorted(p.name for p in share.iterdir()) == ["visible", Path(workdir).name]
        finally:
            await t.close()

    asyncio.run(main())
    assert media.count_frames(got) == media.count_frames(src)
    assert not Path(str(seen["share"])).exists() and not os.path.exists(str(seen["workdir"]))
    assert sorted(p.name for p in here.iterdir()) == ["in.mkv", "yaffmpegp-job"]
    assert piece.exists()  # the coordinator's own file is untouched
    assert fleet.host_processes(MOUNTED, "ffmpeg") == []


@pytest.mark.fleet
def test_mounted_host_that_cannot_see_the_workdir_is_refused(fleet: Fleet, sources, yaff, tmp_path: Path) -> None:  # noqa: F811
    """No `paths`, and --workdir is the coordinator's private dir: exit 2 before any encode,
    one line naming the file, the host and the key; nothing left anywhere."""
    inv = tmp_path / "fleet.toml"
    inv.write_text(f'[hosts.h1]\n[hosts.nas]\naddress = "{MOUNTED}"\nkind = "mounted"\n')
    out = tmp_path / "out.mkv"
    r = yaff("--hosts", inv, "--ssh-config", fleet.ssh_config, "--file", sources["vhs"], "-o", out, *LOSSLESS)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"yaffmpegp: error: {inv}: host nas: paths: mounted host does not see --workdir {yaff.work}"), r.stderr
    assert not out.exists() and list(yaff.work.iterdir()) == []
    for name in fleet.names:
        assert fleet.workdir_leftovers(name) == [] and fleet.host_processes(name, "ffmpeg") == []


def test_a_bad_line_is_one_error_before_any_work(yaff, sources, tmp_path: Path) -> None:
    inv = tmp_path / "fleet.toml"
    inv.write_text('[hosts.h1]\nslots = 2\n\n[hosts.h2]\nport = "2222"\n')
    out = tmp_path / "out.mkv"
    r = yaff("--hosts", inv, "--file", sources["vhs"], "-o", out, *LOSSLESS)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [
        f"yaffmpegp: error: {inv}: host h2: port: must be an integer, not a string"]
    assert not out.exists() and list(yaff.work.iterdir()) == []


@pytest.mark.slow
@pytest.mark.fleet
def test_inventory_with_a_disabled_and_a_mounted_host(fleet: Fleet, nas, yaff, tmp_path: Path) -> None:  # noqa: F811
    here, there = nas
    src = media.vhs_ffv1(here / "tape.mkv", seconds=6)
    os.chmod(src, 0o640)  # the group's, not everyone's
    single = media.single_pass(src, tmp_path / "single.mkv", LOSSLESS)
    inv = tmp_path / "fleet.toml"
    inv.write_text(f'''
[hosts.h1]          # streaming, reached through the ssh config alias

[hosts.h3]
enabled = false

[hosts.nas]
address = "{MOUNTED}"
kind = "mounted"
paths = {{ "{here}" = "{there}" }}
''')
    out, report, events = tmp_path / "out.mkv", tmp_path / "report.json", tmp_path / "events.jsonl"
    r = yaff("--hosts", inv, "--ssh-config", fleet.ssh_config, "--file", src, "-o", out, "--workdir", here,
             "--segment-length", "1", "--report", report, "--events", events, *LOSSLESS, workdir=False)
    assert r.returncode == 0, r.stderr
    assert media.frame_hashes(out) == media.frame_hashes(single)
    hosts = json.loads(report.read_text())["hosts"]
    assert set(hosts) == {"h1", "nas"}  # h3 is disabled: never used
    assert hosts["nas"]["segments"] >= 1 and hosts["h1"]["segments"] >= 1, hosts
    assert hosts["nas"]["bytes_up"] == hosts["nas"]["bytes_down"] == 0
    assert hosts["h1"]["bytes_up"] > 0 and hosts["h1"]["bytes_down"] > 0
    lines = [json.loads(x) for x in events.read_text().splitlines()]
    assert not [e for e in lines if e["event"] == "transferred" and e["host"] == "nas"]
    assert {e["nbytes"] for e in lines if e["event"] == "uploaded" and e["host"] == "nas"} == {0}
    assert any(e["event"] == "segment_done" and e["host"] == "nas" for e in lines)
    assert not [e for e in lines if e.get("host") == "h3"]
    # the share dir and the job dir are gone; nothing on any host
    assert sorted(p.name for p in here.iterdir()) == ["tape.mkv"]
    for name in fleet.names:
        assert fleet.workdir_leftovers(name) == [], name
        assert fleet.host_processes(name, "ffmpeg") == [], name
