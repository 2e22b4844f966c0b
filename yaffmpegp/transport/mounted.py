"""A host that sees the coordinator's --workdir on shared storage: nothing is transferred.

The encode runs over SSH as on any host (same checks, watchdog, progress, kill on cancel,
lease), but files are not sent: `put` makes a split piece readable in a share dir under
--workdir, and the host's ffmpeg reads it there, at the path the host sees it under (the
inventory's `paths`, `/srv/nas` here = `/mnt/nas` there); its output goes to its own private
work dir, also in the share dir, and `get` has the host hand it over (chmod, rename), then the
coordinator moves it into the results. The bytes cross the network once, through the storage.

Permissions. The job's work dir stays private (mode 700): a host logged in as another user
cannot enter it. Each mounted host gets a share dir next to it, `<job dir>.share-NAME.XXXX`,
mode 3770 (setgid, sticky): the group that new dirs get in --workdir may read and write it,
nobody else may enter. With a --workdir of mode 2770 owned by a group both the coordinator's
user and the hosts' users belong to (`chgrp video DIR && chmod 2770 DIR`), that group is the
dir's; otherwise it is the coordinator's own group, which serves a host logging in as the same
user. Pieces in it are mode 640; the host's private work dir in it is mode 700 (its files get
the share dir's group through setgid), and each output is made mode 640 when handed over, so
the coordinator can read it through the group. Nothing is ever made readable by others. The
share dir is removed on close, and leftovers of a killed run of the same job on the next open.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import posixpath
import re
import secrets
import shlex
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..errors import HostError, TransferError, UsageError
from ..hosts import HostSpec
from ..inventory import inventory_error, map_path
from .base import ByteCallback, HostRequirements
from .ssh import SSHTransport

SHARE_MODE = 0o3770  # setgid: files inherit the group; sticky: only owners remove their files
FILE_MODE = 0o640
TOKEN = "visible"  # a file in the share dir the host must read back: proves it sees the dir
HANDED = "out."  # prefix of outputs handed over into the share dir


class MountedTransport(SSHTransport):
    """An SSH host that reads and writes the shared --workdir instead of receiving files.

    `job_dir` is this run's (private) job dir; the share dir is made next to it. `source`
    names the inventory file in messages; `paths` maps prefixes here to prefixes there;
    `input` is the run's input, which the host must see as well."""

    transfers = False

    def __init__(self, spec: HostSpec, *, label: str, source: str, paths: tuple[tuple[str, str], ...],
                 input: Path, job_dir: Path, **kwargs: Any) -> None:
        super().__init__(spec, **kwargs)
        self.label = label
        self._source = source
        self._paths = paths
        self._input = Path(os.path.abspath(input))
        self._job_dir = Path(os.path.abspath(job_dir))
        self._share: Path | None = None
        self._token = ""
        self._shared: set[str] = set()  # names put into the share dir
        self._checked = False  # passed the visibility check once: later failures are the host's

    @property
    def share(self) -> Path | None:
        """This host's share dir (local path), while open."""
        return self._share

    def _prefix(self) -> str:
        return f"{self._job_dir.name}.share-{re.sub(r'[^A-Za-z0-9_-]', '_', self.label)}."

    def there(self, local: Path | str) -> str:
        """Where the host sees a local path."""
        return map_path(self._paths, os.path.abspath(local))

    # ----- open ----------------------------------------------------------------------------

    async def open(self, requirements: HostRequirements) -> None:
        self._share = await asyncio.to_thread(self._make_share)
        self._workdir_root = self.there(self._share)
        await super().open(requirements)  # closes (and removes the share) if it fails

    def _make_share(self) -> Path:
        share = Path(tempfile.mkdtemp(prefix=self._prefix(), dir=self._job_dir.parent))
        try:
            os.chmod(share, SHARE_MODE)
            self._token = secrets.token_hex(16)
            token = share / TOKEN
            token.write_text(self._token + "\n")
            os.chmod(token, FILE_MODE)
        except BaseException:
            shutil.rmtree(share, ignore_errors=True)
            raise
        return share

    async def _make_workdir(self) -> str:
        await self._check_visible()
        return await super()._make_workdir()

    async def _check_visible(self) -> None:
        """The host must read the share dir's token and the input, at the paths it sees them."""
        assert self._share is not None
        token_there = self.there(self._share / TOKEN)
        got = await self._exec(f"cat -- {shlex.quote(token_there)}")
        if got.returncode != 0 or str(got.stdout).strip() != self._token:
            raise self._refusal(f"does not see --workdir {self._job_dir.parent} at "
                                f"{posixpath.dirname(token_there)} ({_why(got)})")
        input_there = self.there(self._input)
        got = await self._exec(f"wc -c < {shlex.quote(input_there)}")
        size = str(got.stdout).strip()
        if got.returncode != 0 or not size.isdigit() or int(size) != self._input.stat().st_size:
            raise self._refusal(f"cannot read the input {self._input} at {input_there} ({_why(got)})")
        self._checked = True

    def _refusal(self, what: str) -> UsageError | HostError:
        """Before the run: the inventory's mistake, the run stops. Later (the host came back
        without its mount): the host's trouble, it is left out until it sees the storage."""
        if self._checked:
            return HostError(what, host=self.label)
        hint = "" if self._paths else "; give it paths, or a --workdir it sees at the same path"
        return inventory_error(self._source, self.label, "paths", f"mounted host {what}{hint}")

    # ----- files ---------------------------------------------------------------------------

    def path(self, name: str) -> str:
        if name in self._shared:
            assert self._share is not None
            return self.there(self._share / name)
        return super().path(name)

    async def put(self, local: Path, name: str, on_bytes: ByteCallback | None = None) -> None:
        """No transfer: the file is linked (copied if it cannot be) into the share dir."""
        super().path(name)  # checks the name
        if self._share is None:
            raise HostError("not connected", host=self.label)
        try:
            await asyncio.to_thread(_share_file, local, self._share / name)
        except OSError as exc:
            raise TransferError(f"cannot share {name}: {exc.strerror or exc}", host=self.label) from exc
        self._shared.add(name)

    async def get(self, name: str, local: Path, on_bytes: ByteCallback | None = None) -> None:
        """The host hands its output over into the share dir; it is then moved to `local`."""
        if self._share is None:
            raise HostError("not connected", host=self.label)
        handed = self._share / f"{HANDED}{name}"
        result = await self._exec(f"chmod {FILE_MODE:o} -- {shlex.quote(super().path(name))} && "
                                  f"mv -f -- {shlex.quote(super().path(name))} {shlex.quote(self.there(handed))}")
        if result.returncode != 0:
            raise TransferError(f"cannot hand {name} over ({_why(result)})", host=self.label)
        try:
            await asyncio.to_thread(shutil.move, handed, local)
        except OSError as exc:
            raise TransferError(f"cannot move {name} from the share dir: {exc.strerror or exc}",
                                host=self.label) from exc
        finally:
            with contextlib.suppress(OSError):
                handed.unlink()

    async def remove(self, name: str) -> None:
        if name in self._shared:
            self._shared.discard(name)
            if self._share is not None:
                with contextlib.suppress(FileNotFoundError):
                    (self._share / name).unlink()
            return
        await super().remove(name)

    # ----- cleanup -------------------------------------------------------------------------

    async def remove_stale(self, workdirs: Any) -> None:
        """Also the share dirs an earlier, killed run of this job left (this run holds the
        job's lock: any other share dir of the job is a dead run's)."""
        await super().remove_stale(workdirs)
        if not self.tidy:
            return
        for old in self._job_dir.parent.glob(self._prefix() + "*"):
            if old != self._share and old.is_dir() and not old.is_symlink():
                await asyncio.to_thread(shutil.rmtree, old, True)

    async def close(self) -> None:
        try:
            await super().close()  # kills our encodes, removes the host's private dir
        finally:
            share, self._share = self._share, None
            self._shared.clear()
            if share is not None:
                await asyncio.shield(asyncio.to_thread(shutil.rmtree, share, True))


def _share_file(local: Path, shared: Path) -> None:
    """`local` at `shared`, mode 640, in the share dir's group: a hard link where possible
    (no copy: a piece is already on the shared storage), else a copy."""
    with contextlib.suppress(FileNotFoundError):
        shared.unlink()
    gid = shared.parent.stat().st_gid
    try:
        os.link(local, shared)
        if shared.stat().st_gid != gid:
            os.chown(shared, -1, gid)
        os.chmod(shared, FILE_MODE)
        return
    except OSError:  # another filesystem, not ours to link or chmod, or a group we may not give
        with contextlib.suppress(FileNotFoundError):
            shared.unlink()
    shutil.copyfile(local, shared)  # made in the setgid share dir: the dir's group
    os.chmod(shared, FILE_MODE)


def _why(result: Any) -> str:
    """The first line a failed remote command printed, or its status."""
    lines = [ln for ln in str(result.stderr or "").splitlines() if ln.strip()]
    return lines[0].strip() if lines else f"exit status {result.returncode}"
