"""A remote host reached over SSH: SFTP for files, one exec channel per ffmpeg run.

Everything goes over one asyncssh connection per host (channels are multiplexed), never
through the `ssh`/`scp` programs. Remote commands are parsed by the login shell, so every
argument is quoted (`shlex.join`). A closed channel alone does not kill the remote ffmpeg (no
pty, no SIGHUP): each run is tied to its channel's stdin (see `remote.tied_run`), so it ends
by itself when the channel or the connection is gone, and it reports its pid first, so we
kill it explicitly on cancel and close.

Host keys are checked against known_hosts and never accepted silently; with
`accept_new_hostkeys` an unknown key is trusted and recorded (OpenSSH `accept-new`), but a
changed one is still refused.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import posixpath
import shlex
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

import asyncssh

from ..errors import HostError, TransferError
from ..hosts import HostSpec
from .base import (ByteCallback, FFmpegRun, HostInfo, HostRequirements, LineCallback, Transport, parse_description,
                   parse_encoders)
from .connect import ConnectOptions, connect, os_reason
from .lease import LEASE, LeaseTimes, stale_dirs, write_lease
from .remote import KILL_GRACE, kill_script, make_workdir, pump_output, read_pid, tied_run
from .transfer import REMOTE_DIGESTS, local_digest, pick_digest_script, progress_handler, verify

T = TypeVar("T")
U = TypeVar("U")

CHECK_TIMEOUT = 60.0  # seconds for the checks and mkdir in open()
CLOSE_TIMEOUT = 10.0  # close() gives up after this long
SWEEP_TIMEOUT = 20.0  # seconds for removing what runs that are gone left on a host
# OpenSSH's default MaxSessions: channels (exec, SFTP) one connection may have open at once.
# One is the SFTP session's, one is kept for kill scripts and cleanup, the rest are shared.
MAX_SESSIONS = 10
# sshd frees a session slot only once it has reaped the session's process, a moment after the
# channel closed: a new channel opened right then is refused. Retry for this long.
CHANNEL_OPEN_PATIENCE = 5.0  # seconds
STDERR_LINES = 400  # how much of ffmpeg's stderr a run keeps


class SSHTransport(Transport):
    """One SSH host: a private work dir (mode 700), its ffmpeg, `slots` encodes at once.

    `known_hosts=None` and `config=None` mean what they mean to OpenSSH and asyncssh: the
    known_hosts named in the ssh config or ~/.ssh/known_hosts, and ~/.ssh/config.
    `remote_workdir` is the root under which the private work dir is made (default: the
    remote `$TMPDIR`, else /tmp; `~/` is the remote home). `lease` says how often this run
    renews the lease in its work dir, and how old another run's lease must be before that
    run is taken for gone and its work dir removed (see lease.py).
    """

    def __init__(
        self,
        spec: HostSpec,
        *,
        known_hosts: str | None = None,
        accept_new_hostkeys: bool = False,
        client_keys: list[str] | None = None,
        config: list[str] | None = None,
        remote_workdir: str | None = None,
        remote_ffmpeg: str = "ffmpeg",
        slots: int = 1,
        connect_timeout: float = 15,
        lease: LeaseTimes = LeaseTimes(),
    ) -> None:
        self.spec = spec
        self.label = spec.label
        self.slots = slots
        self._options = ConnectOptions(known_hosts, accept_new_hostkeys, client_keys, config, connect_timeout)
        self._workdir_root = remote_workdir
        self._ffmpeg = remote_ffmpeg
        self._lease = lease
        self._renewer: asyncio.Task[None] | None = None  # started by open(), ended by close()
        self._conn: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None
        self._sftp_lock = asyncio.Lock()
        self._dir: str | None = None
        self._digest = "sha1sum"  # the host's SHA-1 command: open() picks the fastest
        self._pids: set[int] = set()  # remote ffmpeg processes still running for us
        self._closing = False
        self._orphans = ""  # cleanup script for a lost connection, run on the next open()
        self._channels = asyncio.Semaphore(MAX_SESSIONS - 2)  # runs and short commands
        self._reserve = asyncio.Lock()  # the channel kept for kills: usable even when all are busy
        #: the cipher the connection negotiated (for diagnostics)
        self.cipher: str | None = None

    def socket_writes(self) -> tuple[int, int] | None:
        """(SSH packets sent, socket writes they took) on this connection, for diagnostics;
        None where asyncssh writes each packet itself (through a ProxyJump or ProxyCommand)."""
        coalescing = self._conn.get_extra_info("coalescing") if self._conn is not None else None
        return (coalescing.writes, coalescing.flushes) if coalescing is not None else None

    @property
    def workdir(self) -> str | None:
        """The remote private work dir, once open."""
        return self._dir

    # ----- open ----------------------------------------------------------------------------

    async def open(self, requirements: HostRequirements) -> None:
        self._conn = await connect(self.spec, self._options, self.label)
        self.cipher = self._conn.get_extra_info("send_cipher")
        try:
            async with asyncio.timeout(CHECK_TIMEOUT):
                if self._orphans:  # left by a connection that was lost: the host is back
                    await self._exec(self._orphans, reserved=True)
                    self._orphans = ""
                encoders, self._digest = await _both(self._check_ffmpeg(), self._pick_digest())
                missing = sorted(set(requirements.encoders) - encoders)
                if missing:
                    raise HostError(f"ffmpeg has no encoder {', '.join(missing)}", host=self.label)
                self._dir = await self._make_workdir()
                if self.tidy:
                    await self._remove_dirs_of_gone_runs(self._dir)
            self._renewer = asyncio.create_task(self._renew_lease(self._dir))
        except TimeoutError:
            await self.close()
            raise HostError(f"host did not answer within {CHECK_TIMEOUT:.0f} s", host=self.label) from None
        except BaseException:
            await self.close()
            raise

    async def _check_ffmpeg(self) -> set[str]:
        result = await self._exec(f"{shlex.quote(self._ffmpeg)} -hide_banner -encoders </dev/null")
        if result.returncode in (126, 127):
            raise HostError(f"ffmpeg not found ({self._ffmpeg}) on the remote PATH", host=self.label,
                            returncode=result.returncode, stderr=str(result.stderr))
        if result.returncode != 0:
            raise HostError(f"ffmpeg does not run ({self._ffmpeg})", host=self.label,
                            returncode=result.returncode, stderr=str(result.stderr))
        return parse_encoders(str(result.stdout))

    async def describe(self) -> HostInfo:
        assert self._dir is not None, "open() first"
        result = await self._exec(f"{shlex.quote(self._ffmpeg)} -version </dev/null | head -n 1; "
                                  f"df -Pk {shlex.quote(self._dir)} | tail -n 1")
        return parse_description(str(result.stdout))

    async def _pick_digest(self) -> str:
        """The host's fastest command for the transfer check's SHA-1 (see transfer.py)."""
        result = await self._exec(f"sh -c {shlex.quote(pick_digest_script())}")
        chosen = str(result.stdout).strip()
        if result.returncode != 0 or chosen not in REMOTE_DIGESTS:
            raise HostError("no SHA-1 tool on the remote PATH (openssl or sha1sum)", host=self.label)
        return chosen

    async def _make_workdir(self) -> str:
        """A private work dir (mode 700, with its lease) under the root; its absolute path."""
        result = await self._exec(make_workdir(self._workdir_root, LEASE))
        lines = [ln for ln in str(result.stdout).splitlines() if ln.startswith("yaffmpegp-dir /")]
        if result.returncode != 0 or not lines:
            raise HostError("cannot create a work dir", host=self.label,
                            returncode=result.returncode, stderr=str(result.stderr))
        return lines[-1].split(" ", 1)[1]

    async def _remove_dirs_of_gone_runs(self, workdir: str) -> None:
        """Renew this run's lease, then remove the work dirs next to it whose leases ran out.
        Best effort: a host where this fails is still usable."""
        try:
            async with asyncio.timeout(SWEEP_TIMEOUT):
                sftp = await self._sftp_client()
                now = await write_lease(sftp, workdir)
                gone = await stale_dirs(sftp, workdir, now, self._lease.expiry)
                if gone:
                    await self._exec("rm -rf -- " + " ".join(shlex.quote(d) for d in gone))
        except Exception:  # noqa: BLE001 - others' leftovers never stop this run; cancellation still propagates
            pass

    async def _renew_lease(self, workdir: str) -> None:
        """Rewrite the lease every `refresh` seconds until close(); a write that fails (the
        host is lost for now) is tried again at the next turn."""
        while True:
            await asyncio.sleep(self._lease.refresh)
            with contextlib.suppress(OSError, asyncssh.Error, HostError, TimeoutError):
                async with asyncio.timeout(self._lease.refresh):
                    await write_lease(await self._sftp_client(), workdir)

    async def remove_stale(self, workdirs: Sequence[str]) -> None:
        """Remove work dirs an earlier run left here (it was killed before it could). Only
        yaffmpegp's own `.../yaffmpegp.XXXXXXXXXX` dirs, never this run's."""
        ours = [d for d in workdirs if d != self._dir and posixpath.basename(d).startswith("yaffmpegp.")
                and posixpath.isabs(d)]
        if ours:
            with contextlib.suppress(Exception):
                await self._exec("rm -rf -- " + " ".join(shlex.quote(d) for d in ours))

    # ----- files ---------------------------------------------------------------------------

    def path(self, name: str) -> str:
        if self._dir is None:
            raise RuntimeError("open() first")
        if not name or name in (".", "..") or "/" in name or "\0" in name:
            raise ValueError(f"not a plain file name: {name!r}")
        return posixpath.join(self._dir, name)  # absolute: SFTP resolves relative paths in $HOME

    async def put(self, local: Path, name: str, on_bytes: ByteCallback | None = None) -> None:
        """Upload to a temp name, verify size and digest remotely, then rename into place.

        `on_bytes` gets the number of NEW bytes sent since its previous call (not a total).
        """
        remote, part = self.path(name), self.path(f".{name}.part")
        done = False
        try:
            sftp = await self._sftp_client()
            (size, digest), _ = await _both(
                asyncio.to_thread(local_digest, local),
                sftp.put(str(local), part, follow_symlinks=True,
                         progress_handler=progress_handler(on_bytes)),
            )
            remote_size, remote_digest = await self._remote_digest(part)
            verify(name, (size, digest), (remote_size, remote_digest), self.label)
            await sftp.posix_rename(part, remote)
            done = True
        except (OSError, asyncssh.Error, TransferError) as exc:
            raise self._transfer_error(f"upload of {name} failed", exc)
        finally:
            if not done:
                await self._forget(part)

    async def get(self, name: str, local: Path, on_bytes: ByteCallback | None = None) -> None:
        """Download to a temp name next to `local`, verify, then rename: a partial file never
        looks complete. `on_bytes` gets the number of NEW bytes since its previous call."""
        remote = self.path(name)
        part = local.with_name(f".{local.name}.part")
        done = False
        try:
            sftp = await self._sftp_client()
            remote_sum, _ = await _both(
                self._remote_digest(remote),
                sftp.get(remote, str(part), progress_handler=progress_handler(on_bytes)),
            )
            verify(name, remote_sum, await asyncio.to_thread(local_digest, part), self.label)
            os.replace(part, local)
            done = True
        except (OSError, asyncssh.Error, TransferError) as exc:
            raise self._transfer_error(f"download of {name} failed", exc)
        finally:
            if not done:
                with contextlib.suppress(OSError):
                    part.unlink()

    async def remove(self, name: str) -> None:
        path = self.path(name)
        try:
            sftp = await self._sftp_client()
            await sftp.remove(path)
        except asyncssh.SFTPNoSuchFile:
            pass
        except (OSError, asyncssh.Error) as exc:
            raise self._transfer_error(f"cannot remove {name}", exc)

    async def _sftp_client(self) -> asyncssh.SFTPClient:
        """The connection's one SFTP session, started on first use."""
        async with self._sftp_lock:
            if self._sftp is None:
                self._sftp = await self._open_channel(lambda conn: conn.start_sftp_client())
            return self._sftp

    async def _remote_digest(self, path: str) -> tuple[int, str]:
        """(size, digest) of a remote file. Read from stdin, so no file name is echoed back."""
        quoted = shlex.quote(path)
        result = await self._exec(f"wc -c < {quoted} && {self._digest} < {quoted}")
        lines = str(result.stdout).split()
        if result.returncode != 0 or len(lines) < 2 or not lines[0].isdigit():
            raise TransferError(f"cannot checksum {posixpath.basename(path)}", host=self.label,
                                returncode=result.returncode, stderr=str(result.stderr))
        return int(lines[0]), lines[1]

    async def _forget(self, part: str) -> None:
        """Best effort removal of a partial upload; close() removes the whole dir anyway."""
        if self._sftp is not None and not self._lost():
            with contextlib.suppress(OSError, asyncssh.Error, TimeoutError):
                async with asyncio.timeout(5):
                    await self._sftp.remove(part)

    def _transfer_error(self, what: str, exc: BaseException) -> HostError | TransferError:
        """The error to raise for a failed transfer, chained to `exc` (unless it is `exc`)."""
        error: HostError | TransferError
        if self._lost():  # whatever failed first, the host is gone: say so
            error = HostError(f"{what}: connection lost", host=self.label)
        elif isinstance(exc, (HostError, TransferError)):
            return exc
        else:
            error = TransferError(f"{what}: {_reason(exc)}", host=self.label)
        error.__cause__ = exc
        return error

    # ----- ffmpeg --------------------------------------------------------------------------

    async def run_ffmpeg(self, args: Sequence[str], on_stdout_line: LineCallback) -> FFmpegRun:
        command = tied_run([self._ffmpeg, *args])  # prints ffmpeg's pid first
        async with self._channels:
            try:
                proc = await self._open_channel(
                    lambda conn: conn.create_process(command, encoding=None))
            except (OSError, asyncssh.Error) as exc:
                raise self._host_error("cannot start ffmpeg", exc) from exc
            pid: int | None = None
            stderr: deque[str] = deque(maxlen=STDERR_LINES)
            try:
                pid = await read_pid(proc)
                if pid is not None:
                    self._pids.add(pid)
                await pump_output(proc, on_stdout_line, stderr.append)
                await proc.wait_closed()
            except (OSError, asyncssh.Error) as exc:
                raise self._host_error("connection lost while ffmpeg was running", exc) from exc
            finally:
                if proc.returncode is None:  # cancelled, a callback raised, or the link failed
                    await asyncio.shield(self._stop_run(proc, pid))
                proc.close()
                if pid is not None:
                    self._pids.discard(pid)
        if proc.returncode is None:
            raise HostError("connection lost while ffmpeg was running", host=self.label)
        return FFmpegRun(proc.returncode, "\n".join(stderr))

    async def _stop_run(self, proc: asyncssh.SSHClientProcess, pid: int | None) -> None:
        """Kill a run's remote ffmpeg; bounded, never raises (it runs while an error propagates)."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(KILL_GRACE + 5):
                if pid is None:  # cancelled before the pid line arrived: wait for it briefly
                    pid = await read_pid(proc)
                if pid is not None and not self._lost():
                    await self._exec(kill_script([pid]), reserved=True)

    # ----- close ---------------------------------------------------------------------------

    async def close(self) -> None:
        conn = self._conn
        if conn is None or self._closing:
            return
        self._closing = True
        renewer, self._renewer = self._renewer, None
        if renewer is not None:
            renewer.cancel()  # before the dir goes: no lease written into a removed dir
        workdir, self._dir = self._dir, None
        pids, self._pids = sorted(self._pids), set()
        script = [kill_script(pids)] if pids else []
        if workdir is not None:
            script.append(f"rm -rf -- {shlex.quote(workdir)}")
        cleaned = not script
        try:
            if renewer is not None:
                await asyncio.wait([renewer])
            if script and not conn.is_closed():
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await self._exec("; ".join(script), reserved=True)
                    cleaned = True
        except Exception:  # noqa: BLE001 - close never raises; CancelledError still propagates
            pass
        finally:
            if not cleaned:  # the connection is gone: clean up when (if) it is opened again
                self._orphans = "; ".join(filter(None, [self._orphans, *script]))
            self._conn = None
            if self._sftp is not None:
                self._sftp.exit()
                self._sftp = None
            conn.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await conn.wait_closed()
            self._closing = False

    # ----- helpers -------------------------------------------------------------------------

    def _require_conn(self) -> asyncssh.SSHClientConnection:
        if self._conn is None:
            raise HostError("not connected", host=self.label)
        return self._conn

    async def _open_channel(self, open_it: Callable[[asyncssh.SSHClientConnection], Awaitable[T]]) -> T:
        """`open_it(connection)`, retried while sshd refuses the channel (see
        CHANNEL_OPEN_PATIENCE): the refusal is transient when we stay within MaxSessions."""
        delay, deadline = 0.02, asyncio.get_running_loop().time() + CHANNEL_OPEN_PATIENCE
        while True:
            try:
                return await open_it(self._require_conn())
            except asyncssh.ChannelOpenError:
                if self._lost() or asyncio.get_running_loop().time() + delay > deadline:
                    raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    def _lost(self) -> bool:
        return self._conn is None or self._conn.is_closed()

    def _host_error(self, what: str, exc: BaseException) -> HostError:
        return HostError(f"{what}: {_reason(exc)}", host=self.label)

    async def _exec(self, command: str, *, reserved: bool = False) -> asyncssh.SSHCompletedProcess:
        """Run a short shell command; connection problems become HostError.

        `reserved` uses the channel kept for kills, so a kill never waits for (or fails on)
        the channels its own runs hold.
        """
        try:
            async with self._reserve if reserved else self._channels:
                return await self._open_channel(
                    lambda conn: conn.run(command, check=False, errors="replace"))
        except (OSError, asyncssh.Error) as exc:
            raise self._host_error("remote command failed", exc) from exc


# ----- module helpers ------------------------------------------------------------------------


async def _both(a: Awaitable[T], b: Awaitable[U]) -> tuple[T, U]:
    """Await two things concurrently and raise the first failure as itself (no ExceptionGroup).

    Unlike a TaskGroup, a failure does not cancel the other one: cancelling an SFTP transfer
    half-way leaves asyncssh's parallel I/O tasks behind. Cancelling the caller cancels both.
    """
    first, second = await asyncio.gather(a, b, return_exceptions=True)
    for result in (first, second):
        if isinstance(result, BaseException):
            raise result
    return first, second  # type: ignore[return-value]


def _reason(exc: BaseException) -> str:
    """A short reason: asyncssh errors carry `reason`, OS errors an errno."""
    if isinstance(exc, OSError):
        return os_reason(exc)
    return str(getattr(exc, "reason", None) or exc)
