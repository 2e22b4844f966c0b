"""SSHTransport against real sshd hosts on loopback (see tests/fleet.py): no mocks.

Each host is its own unix user, so what a test finds on disk or in /proc as that user is
exactly what the transport left behind on that "machine".
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fleet import Fleet
from tests.integration.conftest_fleet import fleet  # noqa: F401 - the session fixture
from yaffmpegp.errors import HostError, HostKeyError, TransferError
from yaffmpegp.hosts import parse_host
from yaffmpegp.transport.base import HostRequirements
from yaffmpegp.transport.lease import LEASE
from yaffmpegp.transport.ssh import SSHTransport

pytestmark = [pytest.mark.fleet, pytest.mark.timeout(60)]

HOSTILE = """tape $(touch PWNED) "one" it's ü.mkv"""
LONG_RUN = ["-hide_banner", "-re", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25", "-t", "60",
            "-progress", "pipe:1", "-nostats", "-f", "null", "-"]


def transport(fleet: Fleet, name: str = "h1", **kwargs: object) -> SSHTransport:
    return SSHTransport(parse_host(name), config=[str(fleet.ssh_config)], **kwargs)  # type: ignore[arg-type]


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def ffprobe_frames(path: Path) -> int:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
         "-show_entries", "stream=nb_read_frames", "-of", "json", str(path)],
        capture_output=True, text=True, check=True).stdout
    return int(json.loads(out)["streams"][0]["nb_read_frames"])


async def start_long_run(t: SSHTransport) -> tuple[asyncio.Task, list[str]]:
    """A 60 s real-time ffmpeg run, returned once its first progress line arrived."""
    lines: list[str] = []
    first = asyncio.Event()

    def on_line(line: str) -> None:
        lines.append(line)
        first.set()

    task = asyncio.create_task(t.run_ffmpeg(LONG_RUN, on_line))
    async with asyncio.timeout(15):
        await first.wait()
    return task, lines


# ----- open / close ------------------------------------------------------------------------


def test_open_makes_private_workdir_and_close_removes_it(fleet: Fleet) -> None:
    h = fleet.host("h1")

    async def main() -> tuple[str, str | None, float]:
        t = transport(fleet)
        start = time.perf_counter()
        await t.open(HostRequirements(encoders=("libx264", "ffv1")))
        took = time.perf_counter() - start
        assert t.workdir is not None
        workdir = t.workdir
        st = os.stat(workdir)
        assert stat.S_IMODE(st.st_mode) == 0o700
        assert st.st_uid == h.uid
        assert workdir.startswith(h.tmpdir + "/")  # default root: the remote $TMPDIR
        assert t.path("x.mkv") == workdir + "/x.mkv"
        assert os.listdir(workdir) == [LEASE]  # made with the dir: the run is alive
        await t.close()
        await t.close()  # idempotent
        return workdir, t.cipher, took

    workdir, cipher, took = asyncio.run(main())
    assert not os.path.exists(workdir)
    assert fleet.workdir_leftovers("h1") == []
    assert cipher == "aes128-gcm@openssh.com"
    assert took < 5


def test_remote_workdir_option_and_home_relative_root(fleet: Fleet) -> None:
    h = fleet.host("h2")
    root = Path(h.area) / "custom root"  # made by the transport, removed with the fleet
    relative = root.relative_to(h.home)

    async def main() -> str:
        async with transport(fleet, "h2", remote_workdir=f"~/{relative}") as t:
            await t.open(HostRequirements())
            assert t.workdir is not None
            return t.workdir

    workdir = asyncio.run(main())
    assert workdir.startswith(f"{root}/yaffmpegp.")
    assert not os.path.exists(workdir)
    assert os.listdir(root) == []


def test_path_rejects_anything_but_a_plain_name(fleet: Fleet) -> None:
    async def main() -> None:
        async with transport(fleet) as t:
            await t.open(HostRequirements())
            for bad in ("", ".", "..", "a/b", "../x", "/etc/passwd"):
                with pytest.raises(ValueError):
                    t.path(bad)

    asyncio.run(main())


def test_all_hosts_open_concurrently(fleet: Fleet) -> None:
    async def main() -> float:
        ts = [transport(fleet, name) for name in fleet.names]
        start = time.perf_counter()
        try:
            async with asyncio.TaskGroup() as tg:
                for t in ts:
                    tg.create_task(t.open(HostRequirements(encoders=("libx264",))))
            return time.perf_counter() - start
        finally:
            for t in ts:
                await t.close()

    assert asyncio.run(main()) < 5
    for name in fleet.names:
        assert fleet.workdir_leftovers(name) == []


# ----- files -------------------------------------------------------------------------------


def test_put_get_round_trip_is_verified(fleet: Fleet, tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    back = tmp_path / "back.bin"

    async def main() -> tuple[int, int]:
        up: list[int] = []
        down: list[int] = []
        async with transport(fleet) as t:
            await t.open(HostRequirements())
            before = t.socket_writes()
            await t.put(src, "seg 00001.bin", up.append)
            after = t.socket_writes()
            assert before is not None and after is not None
            packets, writes = after[0] - before[0], after[1] - before[1]
            # 3 MiB in <= 32 KiB channel packets, each after an SSH_MSG_IGNORE: ~200 packets,
            # written to the socket together, a few loop turns' worth at a time
            assert packets >= 2 * src.stat().st_size // 32768
            assert 0 < writes <= packets // 4
            remote = Path(t.path("seg 00001.bin"))  # same machine: root can look
            assert remote.read_bytes() == src.read_bytes()
            assert sorted(os.listdir(t.workdir)) == [LEASE, "seg 00001.bin"]  # no .part left
            await t.get("seg 00001.bin", back, down.append)
            await t.remove("seg 00001.bin")
            await t.remove("seg 00001.bin")  # missing is fine
            assert not remote.exists()
        return sum(up), sum(down)

    up_bytes, down_bytes = asyncio.run(main())
    assert back.read_bytes() == src.read_bytes()
    assert up_bytes == down_bytes == src.stat().st_size  # callbacks get new bytes only
    assert sorted(p.name for p in tmp_path.iterdir()) == ["back.bin", "src.bin"]


def test_the_hosts_digest_is_the_files_sha1(fleet: Fleet, tmp_path: Path) -> None:
    """The transfer check's remote digest (OpenSSL's where installed: it is 4x as fast as
    coreutils' sha1sum here) agrees with hashlib's for the same bytes."""
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(1_000_003))

    async def main() -> tuple[str, tuple[int, str]]:
        async with transport(fleet) as t:
            await t.open(HostRequirements())
            await t.put(src, "x.bin")
            return t._digest, await t._remote_digest(t.path("x.bin"))

    tool, got = asyncio.run(main())
    assert tool == ("openssl dgst -sha1 -r" if shutil.which("openssl") else "sha1sum")
    assert got == (src.stat().st_size, hashlib.sha1(src.read_bytes()).hexdigest())


def test_proxy_command_from_the_ssh_config_is_used(fleet: Fleet, tmp_path: Path) -> None:
    """A ProxyCommand (likewise a ProxyJump) in the ssh config is honoured: asyncssh opens the
    connection through it, and its packets are not coalesced (coalesce.py stays out of it)."""
    h = fleet.host("h1")
    used = tmp_path / "relay-used"
    relay = tmp_path / "relay.py"
    relay.write_text(
        "import socket, sys, threading\n"
        f"open({str(used)!r}, 'w').close()\n"
        "s = socket.create_connection((sys.argv[1], int(sys.argv[2])))\n"
        "def up():\n"
        "    while data := sys.stdin.buffer.read1(65536):\n"
        "        s.sendall(data)\n"
        "    s.shutdown(socket.SHUT_WR)\n"
        "threading.Thread(target=up, daemon=True).start()\n"
        "while data := s.recv(65536):\n"
        "    sys.stdout.buffer.write(data); sys.stdout.buffer.flush()\n")
    config = tmp_path / "ssh_config"
    config.write_text(f"Host viaproxy\n    ProxyCommand {sys.executable} {relay} %h %p\n"
                      + fleet.ssh_config.read_text().replace("Host h1\n", "Host h1 viaproxy\n", 1))
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(300_000))

    async def main() -> tuple[int, int] | None:
        async with SSHTransport(parse_host("viaproxy"), config=[str(config)]) as t:
            await t.open(HostRequirements())
            await t.put(src, "x.bin")
            assert Path(t.path("x.bin")).read_bytes() == src.read_bytes()
            return t.socket_writes()

    assert asyncio.run(main()) is None
    assert used.exists()
    assert fleet.workdir_leftovers(h.name) == []


def test_transfer_failures_raise_transfer_error(fleet: Fleet, tmp_path: Path) -> None:
    async def main() -> None:
        async with transport(fleet) as t:
            await t.open(HostRequirements())
            with pytest.raises(TransferError) as info:
                await t.get("no-such-file.mkv", tmp_path / "x.mkv")
            assert info.value.host == "h1" and info.value.retryable
            with pytest.raises(TransferError):
                await t.put(tmp_path / "missing.mkv", "x.mkv")
            assert os.listdir(t.workdir) == [LEASE]

    asyncio.run(main())
    assert list(tmp_path.iterdir()) == []  # no partial download left behind


def test_hostile_file_name_is_quoted_everywhere(fleet: Fleet, tmp_path: Path) -> None:
    h = fleet.host("h2")
    local = tmp_path / HOSTILE

    async def main() -> tuple[int, int]:
        async with transport(fleet, "h2") as t:
            await t.open(HostRequirements())
            made = await t.run_ffmpeg(["-hide_banner", "-f", "lavfi", "-i", "testsrc=d=1:r=25",
                                       "-c:v", "ffv1", "-y", t.path(HOSTILE)], lambda _: None)
            assert sorted(os.listdir(t.workdir)) == sorted([HOSTILE, LEASE])
            await t.get(HOSTILE, local)
            await t.put(local, HOSTILE + ".copy")
            probe = await t.run_ffmpeg(["-hide_banner", "-i", t.path(HOSTILE + ".copy"),
                                        "-f", "null", "-"], lambda _: None)
            return made.returncode, probe.returncode

    assert asyncio.run(main()) == (0, 0)
    assert ffprobe_frames(local) == 25
    # An injected `touch` would run in the remote shell's cwd (the host's home or work dir)
    # or in a local cwd: look there.
    for dirpath, _dirs, files in os.walk(h.home):
        assert "PWNED" not in files, f"injected command ran in {dirpath}"
    for where in (Path("/tmp"), Path("/"), Path.cwd(), tmp_path, Path.home()):
        assert not (where / "PWNED").exists(), f"injected command ran in {where}"


def test_isolation_host_user_cannot_read_coordinator_files(fleet: Fleet, tmp_path: Path) -> None:
    """A host sees only its own files: inputs must be transferred, never read in place."""
    secret_dir = tmp_path / "private"
    secret_dir.mkdir(mode=0o700)
    clip = secret_dir / "clip.mkv"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=d=1", "-y", str(clip)],
                   check=True)
    assert fleet.run_as("h1", "cat", str(clip)).returncode != 0

    async def main() -> tuple[int, str]:
        async with transport(fleet) as t:
            await t.open(HostRequirements())
            run = await t.run_ffmpeg(["-hide_banner", "-i", str(clip), "-f", "null", "-"], lambda _: None)
            return run.returncode, run.stderr

    returncode, stderr = asyncio.run(main())
    assert returncode != 0
    assert "Permission denied" in stderr


# ----- ffmpeg runs -------------------------------------------------------------------------


def test_progress_lines_stream_while_ffmpeg_runs(fleet: Fleet) -> None:
    async def main() -> tuple[list[tuple[float, str]], float, int]:
        seen: list[tuple[float, str]] = []
        async with transport(fleet) as t:
            await t.open(HostRequirements())
            start = time.perf_counter()
            run = await t.run_ffmpeg(
                ["-hide_banner", "-re", "-f", "lavfi", "-i", "testsrc=d=2:r=25",
                 "-progress", "pipe:1", "-nostats", "-f", "null", "-"],
                lambda line: seen.append((time.perf_counter() - start, line)))
            return seen, time.perf_counter() - start, run.returncode

    seen, total, returncode = asyncio.run(main())
    assert returncode == 0
    progress = [(when, line) for when, line in seen if line.startswith("progress=")]
    assert progress[-1][1] == "progress=end"
    assert len(progress) >= 3
    assert progress[0][0] < total - 1.0  # the first report arrived long before the end
    assert not any(line.startswith("yaffmpegp-pid") for _, line in seen)  # the pid line is ours


def test_failed_run_returns_status_and_stderr(fleet: Fleet) -> None:
    async def main() -> tuple[int, str]:
        async with transport(fleet) as t:
            await t.open(HostRequirements())
            run = await t.run_ffmpeg(["-hide_banner", "-i", t.path("missing.mkv"), "-f", "null", "-"],
                                     lambda _: None)
            return run.returncode, run.stderr

    returncode, stderr = asyncio.run(main())
    assert returncode != 0
    assert "No such file or directory" in stderr


def test_parallel_runs_share_one_connection(fleet: Fleet) -> None:
    async def main() -> list[int]:
        async with transport(fleet, "h3", slots=3) as t:
            await t.open(HostRequirements(encoders=("libx264",)))
            async with asyncio.TaskGroup() as tg:
                runs = [tg.create_task(t.run_ffmpeg(
                    ["-hide_banner", "-f", "lavfi", "-i", "testsrc=d=1:r=25", "-c:v", "libx264",
                     "-y", t.path(f"{i:05d}.mkv")], lambda _: None)) for i in range(3)]
            return [r.result().returncode for r in runs]

    assert asyncio.run(main()) == [0, 0, 0]
    assert fleet.workdir_leftovers("h3") == []


def test_more_runs_than_sshd_allows_sessions_wait_their_turn(fleet: Fleet) -> None:
    """OpenSSH allows 10 sessions per connection (MaxSessions): the 11th would fail to open."""
    quick = ["-hide_banner", "-f", "lavfi", "-i", "testsrc=d=0.5:size=64x64", "-f", "null", "-"]

    async def main() -> list[int]:
        async with transport(fleet, "h3", slots=14) as t:
            await t.open(HostRequirements())
            runs = await asyncio.gather(*(t.run_ffmpeg(quick, lambda _: None) for _ in range(14)))
            return [run.returncode for run in runs]

    assert asyncio.run(main()) == [0] * 14


def test_cancelling_many_runs_kills_them_all(fleet: Fleet) -> None:
    async def main() -> None:
        async with transport(fleet, "h2", slots=12) as t:
            await t.open(HostRequirements())
            tasks = [asyncio.create_task(t.run_ffmpeg(LONG_RUN, lambda _: None)) for _ in range(12)]
            deadline = time.monotonic() + 15
            while len(fleet.host_processes("h2", "ffmpeg")) < 8 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            assert len(fleet.host_processes("h2", "ffmpeg")) == 8  # the others wait for a channel
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            assert all(isinstance(r, asyncio.CancelledError) for r in results)
            assert wait_until(lambda: not fleet.host_processes("h2", "ffmpeg"), 2.0)

    asyncio.run(main())


def test_cancel_kills_the_remote_ffmpeg(fleet: Fleet) -> None:
    async def main() -> None:
        async with transport(fleet, "h2") as t:
            await t.open(HostRequirements())
            task, _ = await start_long_run(t)
            assert fleet.host_processes("h2", "ffmpeg")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # Killed before the cancellation came back, while the connection is still open.
            assert wait_until(lambda: not fleet.host_processes("h2", "ffmpeg"), 1.0)

    asyncio.run(main())


@pytest.mark.parametrize("delay", [0.0, 0.05])
def test_cancel_right_after_start_still_kills(fleet: Fleet, delay: float) -> None:
    """Cancelled before (or while) the pid line arrives: the run waits for it, then kills."""
    async def main() -> None:
        async with transport(fleet, "h2") as t:
            await t.open(HostRequirements())
            task = asyncio.create_task(t.run_ffmpeg(LONG_RUN, lambda _: None))
            await asyncio.sleep(delay)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert wait_until(lambda: not fleet.host_processes("h2", "ffmpeg"), 2.0)

    asyncio.run(main())


def test_close_kills_running_ffmpeg_and_cleans_up(fleet: Fleet) -> None:
    async def main() -> BaseException | int:
        t = transport(fleet, "h3")
        await t.open(HostRequirements())
        task, _ = await start_long_run(t)
        await t.close()
        try:
            return (await task).returncode
        except BaseException as exc:  # noqa: BLE001 - whichever way the run ended, report it
            return exc

    outcome = asyncio.run(main())
    assert isinstance(outcome, (int, HostError)), outcome
    assert wait_until(lambda: not fleet.host_processes("h3", "ffmpeg"))
    assert fleet.workdir_leftovers("h3") == []


def test_connection_drop_mid_run_is_a_host_error(fleet: Fleet) -> None:
    async def main() -> None:
        async with transport(fleet, "h3") as t:
            await t.open(HostRequirements())
            task, _ = await start_long_run(t)
            fleet.kill_host("h3")
            start = time.perf_counter()
            with pytest.raises(HostError) as info:
                await task
            assert info.value.retryable and info.value.host == "h3"
            assert time.perf_counter() - start < 5

    try:
        asyncio.run(main())
    finally:
        fleet.restart_host("h3")
    for leftover in fleet.workdir_leftovers("h3"):  # a crashed host cannot clean up after us
        subprocess.run(["rm", "-rf", "--", str(leftover)], check=True)

    async def reopen() -> None:
        async with transport(fleet, "h3") as t:
            await t.open(HostRequirements())

    asyncio.run(reopen())


# ----- refusals ----------------------------------------------------------------------------


def test_changed_host_key_is_refused_even_with_accept_new(fleet: Fleet, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text(fleet.wrong_known_hosts.read_text())
    before = known.read_text()
    for accept_new in (False, True):
        t = transport(fleet, known_hosts=str(known), accept_new_hostkeys=accept_new)
        with pytest.raises(HostKeyError) as info:
            asyncio.run(t.open(HostRequirements()))
        assert "CHANGED" in str(info.value) and info.value.host == "h1"
        assert not info.value.retryable
    assert known.read_text() == before


def test_unknown_host_key_refused_unless_accept_new(fleet: Fleet, tmp_path: Path) -> None:
    known = tmp_path / "ssh" / "known_hosts"  # does not exist yet
    h = fleet.host("h2")

    with pytest.raises(HostKeyError, match="unknown host key") as info:
        asyncio.run(transport(fleet, "h2", known_hosts=str(known)).open(HostRequirements()))
    assert info.value.host == "h2"
    assert not known.exists()

    async def connect(accept_new: bool) -> None:
        async with transport(fleet, "h2", known_hosts=str(known), accept_new_hostkeys=accept_new) as t:
            await t.open(HostRequirements())

    asyncio.run(connect(True))
    assert known.read_text() == f"[127.0.0.1]:{h.port} {h.host_key}\n"
    assert stat.S_IMODE(known.stat().st_mode) == 0o600
    asyncio.run(connect(False))  # the recorded key is now trusted
    asyncio.run(connect(True))  # and not appended twice
    assert len(known.read_text().splitlines()) == 1


def test_unreachable_port_fails_fast(fleet: Fleet) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: connection refused
    t = SSHTransport(parse_host(f"yaff-h1@127.0.0.1:{port}"), known_hosts=str(fleet.known_hosts),
                     client_keys=[str(fleet.client_key)], config=[])
    start = time.perf_counter()
    with pytest.raises(HostError) as info:
        asyncio.run(t.open(HostRequirements()))
    assert time.perf_counter() - start < 3
    assert not isinstance(info.value, HostKeyError)
    assert str(info.value).startswith(f"host yaff-h1@127.0.0.1:{port}: cannot connect")
    assert "\n" not in str(info.value)


def test_authentication_failure_is_a_host_error(fleet: Fleet) -> None:
    t = transport(fleet, client_keys=[str(fleet.stranger_key)])
    with pytest.raises(HostError, match="authentication failed") as info:
        asyncio.run(t.open(HostRequirements()))
    assert info.value.host == "h1"


def test_host_without_ffmpeg_is_refused(fleet: Fleet) -> None:
    (name,) = fleet.bare_names
    t = transport(fleet, name)
    with pytest.raises(HostError, match="ffmpeg not found") as info:
        asyncio.run(t.open(HostRequirements()))
    assert info.value.host == name
    assert fleet.workdir_leftovers(name) == []


def test_missing_encoder_is_refused(fleet: Fleet) -> None:
    t = transport(fleet)
    with pytest.raises(HostError, match="no encoder no_such_enc") as info:
        asyncio.run(t.open(HostRequirements(encoders=("libx264", "no_such_enc"))))
    assert info.value.host == "h1"
    assert fleet.workdir_leftovers("h1") == []
